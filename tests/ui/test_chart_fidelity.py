"""What a chart draws, read back from its pixels and compared with the raw data, at several
zoom levels: no pixel column shows a value its data never reached, every column shows the
full range its data spans (a one-step spike included), and zoomed in every raw point is on
screen. The reference is computed here from the raw arrays, not from the chart's code: the
heights a full-resolution polyline touches inside each pixel column (its points there, and
where the line to the neighbouring points crosses the column's edges)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from cockpit.ui.chart import MetricChart

CURVE = "#ff00ff"  # a colour nothing else on the chart uses


@pytest.fixture
def chart(lone_chart) -> MetricChart:  # noqa: ANN001
    return lone_chart(700, 360)


def _noisy(n: int, seed: int = 0) -> np.ndarray:
    """A loss curve with per-step noise, one-step spikes and a few NaN holes."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    y = 3.0 * np.exp(-steps / (n / 5)) + 1.0 + rng.normal(0, 0.15, n)
    y[rng.integers(0, n, 6)] += rng.uniform(1.0, 3.0, 6)
    y[rng.integers(0, n, 4)] = np.nan
    return y


def _show(chart: MetricChart, y: np.ndarray, x_range: tuple[float, float] | None) -> None:
    chart.cache.add("r", y)  # type: ignore[attr-defined]
    chart.set_runs([("r", "run", CURVE)])
    chart.full_y = True  # every value inside the view: this test is about x fidelity
    QApplication.processEvents()  # the layout settles (the legend strip takes its row)
    chart.refresh(force=True)
    if x_range is not None:
        chart.view.setXRange(*x_range, padding=0)
        chart.refresh()
    chart.edge_markers.setVisible(False)  # the NaN markers share the curve's colour
    QApplication.processEvents()
    assert not chart.needs_redraw()


def _frame(chart: MetricChart) -> tuple[QImage, np.ndarray]:
    """The plot's pixels and a boolean mask of the curve's colour."""
    image = chart.plot.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    w, h = image.width(), image.height()
    ptr = image.constBits()
    pixels = np.frombuffer(ptr, dtype=np.uint32, count=image.bytesPerLine() * h // 4)
    pixels = pixels.reshape(h, image.bytesPerLine() // 4)[:, :w] & 0xFFFFFF
    return image, pixels == (QColor(CURVE).rgb() & 0xFFFFFF)


def _reference(chart: MetricChart, y: np.ndarray) -> dict[int, tuple[float, float]]:
    """Per pixel column of the view: (top row, bottom row) the raw polyline touches there."""
    view = chart.view
    rect = view.sceneBoundingRect()
    x = np.arange(len(y), dtype=np.float64)
    out: dict[int, tuple[float, float]] = {}
    for col in range(int(np.ceil(rect.left())), int(rect.right())):
        a = view.mapSceneToView(QPointF(col, 0)).x()
        b = view.mapSceneToView(QPointF(col + 1, 0)).x()
        inside = (x >= a) & (x < b)
        vals = list(y[inside][np.isfinite(y[inside])])
        for edge in (a, b):  # where the line crosses the column's edges
            i = int(np.searchsorted(x, edge))
            if 0 < i < len(x) and np.isfinite(y[i - 1]) and np.isfinite(y[i]):
                vals.append(np.interp(edge, x[i - 1:i + 1], y[i - 1:i + 1]))
        if not vals:
            continue
        top = view.mapViewToScene(QPointF(a, max(vals))).y()
        bottom = view.mapViewToScene(QPointF(a, min(vals))).y()
        out[col] = (top, bottom)
    return out


@pytest.mark.parametrize(("n", "per_column", "mode"), [
    (200_000, None, "envelope"),  # the whole run: ~300 points per column
    (200_000, 7.0, "envelope"),  # where the sawtooth was (a block of 16 over several px)
    (200_000, 2.3, "envelope"),  # just above the threshold
    (200_000, 1.5, "raw"),  # just under it: raw points
    (5_000, 0.1, "raw"),  # ~10 px between points
])
def test_every_pixel_column_shows_exactly_the_range_its_data_spans(
    chart: MetricChart, n: int, per_column: float | None, mode: str
) -> None:
    start = n // 2
    width = chart.view.width()
    x_range = None if per_column is None else (start, start + per_column * width)
    y = _noisy(n)
    _show(chart, y, x_range)
    drawn = chart.curves["r"].raw
    assert (drawn.connect == "pairs") == (mode == "envelope")
    _, mask = _frame(chart)
    reference = _reference(chart, y)
    assert len(reference) > 100
    checked = 0
    for col, (top, bottom) in reference.items():
        rows = np.flatnonzero(mask[:, col])
        if len(rows) == 0:
            continue
        checked += 1
        # Nothing drawn outside what the data reaches in this column: 1 px of rounding for a
        # column's segment, 2 where Qt rasterises a steep line between two raw points.
        slack = 1 if mode == "envelope" else 2
        assert rows.min() >= np.floor(top) - slack, f"column {col}: drawn above the data's max"
        assert rows.max() <= np.ceil(bottom) + slack, f"column {col}: drawn below its min"
        if mode == "envelope":  # and the whole span is there: spikes, dips
            assert rows.min() <= np.ceil(top) + 1, f"column {col}: the column's max is missing"
            assert rows.max() >= np.floor(bottom) - 1, f"column {col}: its min is missing"
    assert checked >= 0.9 * len(reference)


def test_zoomed_in_every_raw_point_is_on_screen(chart: MetricChart) -> None:
    y = _noisy(50_000, seed=3)
    _show(chart, y, (30_000, 30_200))
    _, mask = _frame(chart)
    view = chart.view
    seen = 0
    for step in range(30_000, 30_201):
        if not np.isfinite(y[step]):
            continue
        p = view.mapViewToScene(QPointF(step, y[step]))
        r, c = int(round(p.y())), int(round(p.x()))
        if c >= mask.shape[1] - 1:
            continue
        assert mask[r - 1:r + 2, c - 1:c + 2].any(), f"step {step} is not drawn"
        seen += 1
    assert seen >= 195


def test_a_lone_point_between_nans_is_drawn(chart: MetricChart) -> None:
    y = np.full(400, np.nan)
    y[100:150] = 2.0
    y[200] = 3.0  # nothing to connect to on either side
    y[300:350] = 1.0
    _show(chart, y, None)
    _, mask = _frame(chart)
    p = chart.view.mapViewToScene(QPointF(200, 3.0))
    r, c = int(round(p.y())), int(round(p.x()))
    assert mask[r - 1:r + 2, c - 1:c + 2].any()


def test_a_one_step_spike_is_one_column_tall_not_a_ramp(chart: MetricChart) -> None:
    y = np.full(100_000, 1.0)
    y[61_234] = 9.0
    _show(chart, y, (60_000, 63_000))  # ~4 points per pixel column
    _, mask = _frame(chart)
    spike = chart.view.mapViewToScene(QPointF(61_234, 9.0))
    base = chart.view.mapViewToScene(QPointF(61_234, 1.0))
    tall = [c for c in range(mask.shape[1])
            if mask[:, c].any() and np.flatnonzero(mask[:, c]).min() < (spike.y() + base.y()) / 2]
    assert tall and max(tall) - min(tall) <= 2  # the spike's column (and the line's crossing)
    assert abs(np.mean(tall) - spike.x()) <= 2
