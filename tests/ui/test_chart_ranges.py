"""The y range a chart opens with: outliers and diverged tails left out and marked, one click
for everything, alert focus fitted to the episode, log ticks that do not overlap, and a
legend that names every colour."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from cockpit.ui import theme
from cockpit.ui.chart import MetricChart
from cockpit.ui.chart_items import format_power, log_ticks
from cockpit.ui.live_cache import AlertRow
from cockpit.ui.y_range import robust_range

RNG = np.random.default_rng(7)
STEPS = np.arange(2000)
LOSS = 8 * np.exp(-STEPS / 150) + 2 + RNG.normal(0, 0.05, 2000)


# ---- the rule, on values ---------------------------------------------------------------------
def test_a_steep_start_is_the_curve_not_an_outlier() -> None:
    r = robust_range(LOSS)
    assert r is not None and not r.clips
    assert r.lo <= LOSS.min() and r.hi >= LOSS.max()


def test_a_lone_spike_is_left_out_but_a_small_one_stays() -> None:
    y = LOSS.copy()
    y[1000] = 50.0
    r = robust_range(y)
    assert r is not None and r.clips and r.hi < 12 and r.data_hi == 50.0
    y[1000] = 4.5  # within the curve's own spread
    assert not robust_range(y).clips  # type: ignore[union-attr]


def test_a_diverged_run_does_not_flatten_the_others() -> None:
    diverged = LOSS.copy()
    diverged[1750:] = np.geomspace(3, 4e12, 250)
    r = robust_range(np.concatenate([LOSS, LOSS + 0.3, diverged]))
    assert r is not None and r.clips
    assert r.hi < 50  # the healthy curves (2 to 10) keep most of the height


def test_protected_values_are_always_inside_and_full_means_everything() -> None:
    y = LOSS.copy()
    y[1000] = 50.0
    assert robust_range(y, protect=np.array([50.0])).hi >= 50  # type: ignore[union-attr]
    full = robust_range(y, full=True)
    assert full is not None and not full.clips and full.hi >= 50


def test_flat_then_warmup_and_constants_have_a_range() -> None:
    lr = np.concatenate([np.linspace(0, 6e-4, 200), np.full(1800, 6e-4)])
    r = robust_range(lr)
    assert r is not None and r.lo < 0 < 6e-4 < r.hi  # the warmup is kept
    const = robust_range(np.full(50, 3.0))
    assert const is not None and const.lo < 3.0 < const.hi
    assert robust_range(np.array([np.nan, np.inf])) is None


# ---- on a chart ------------------------------------------------------------------------------
@pytest.fixture
def chart(lone_chart) -> MetricChart:  # noqa: ANN001
    return lone_chart(1000, 420)  # the size of one chart in the default window


def _add(chart: MetricChart, run_id: str, y: np.ndarray) -> None:
    chart.cache.add(run_id, y)  # type: ignore[attr-defined]


def _alert(run_id: str, step: int, severity: str, evidence: dict) -> AlertRow:
    return AlertRow(1, run_id, run_id, "divergence", severity, step, 1.7e9 + step, "loss",
                    "loss is running away", evidence, time.time())


def _three_runs(chart: MetricChart) -> np.ndarray:
    diverged = LOSS.copy()
    diverged[1500:] = np.geomspace(2.5, 4e12, 500)
    _add(chart, "a", LOSS)
    _add(chart, "b", LOSS + 0.5)
    _add(chart, "c", diverged)
    chart.set_runs([("a", "healthy", "#4cc9f0"), ("b", "healthy-2", "#b5e48c"),
                    ("c", "diverged", "#f72585")])
    chart.set_alerts([_alert("c", 1530, "critical", {"excursion_start_step": 1500})])
    QApplication.processEvents()
    chart.refresh(force=True)
    return diverged


def test_a_critical_episode_does_not_set_the_scale_and_is_marked_with_its_value(
    chart: MetricChart,
) -> None:
    _three_runs(chart)
    _, (y0, y1) = chart.view.viewRange()
    assert y1 < 12.0 and y0 < 2.0  # the healthy runs fill the chart
    above = [m for m in chart.clip_marks if m.above and m.run_id == "c"]
    assert len(above) == 1 and above[0].value == pytest.approx(4e12)
    label = next(lab for lab in chart.clip_labels if lab.isVisible())
    assert "4e+12" in label.toPlainText()
    assert chart.range_button.isVisible() and chart.range_button.text() == "Full range"


def test_one_click_shows_the_full_range_and_another_fits_again(chart: MetricChart,
                                                               qtbot: QtBot) -> None:
    _three_runs(chart)
    qtbot.mouseClick(chart.range_button, Qt.MouseButton.LeftButton)
    _, (y0, y1) = chart.view.viewRange()
    assert y1 >= 4e12 and not chart.clip_marks
    assert chart.range_button.text() == "Fit range"
    qtbot.mouseClick(chart.range_button, Qt.MouseButton.LeftButton)
    assert chart.view.viewRange()[1][1] < 12.0


def test_log_y_fits_the_same_way(chart: MetricChart) -> None:
    _three_runs(chart)
    chart.set_log_y(True)
    chart.refresh(force=True)
    _, (y0, y1) = chart.view.viewRange()
    assert y1 < np.log10(20) and y0 > np.log10(1.0)  # decades of 10^12 do not count


def test_log_y_turned_on_by_the_user_stays_fitted_after_the_repaint(chart: MetricChart) -> None:
    """The checkbox on a chart already drawn in linear y: pyqtgraph re-enables its auto-range
    with the log mode, and its next paint used to move the range behind the chart's back
    (the fit was dropped as if the user had zoomed, the decades of a diverged run filled the
    chart and clip marks of the old linear range stood over values that were in view)."""
    _three_runs(chart)
    for _ in range(3):
        QApplication.processEvents()
        chart.refresh()
    chart.set_log_y(True)
    for _ in range(5):  # paints, and the frames that follow them
        QApplication.processEvents()
        chart.refresh()
    _, (y0, y1) = chart.view.viewRange()
    assert chart.fit_y
    assert y1 < np.log10(20) and y0 > np.log10(1.0)
    assert chart.clip_marks and all(m.run_id == "c" and m.above for m in chart.clip_marks)
    for m in chart.clip_marks:
        assert np.log10(m.value) > y1  # each mark stands for a value really out of view


def test_alert_focus_fits_x_and_y_to_the_episode(chart: MetricChart) -> None:
    y = LOSS.copy()
    y[1200:1260] = np.linspace(2.5, 30.0, 60)  # an excursion, then back to normal
    _add(chart, "a", y)
    _add(chart, "b", LOSS + 0.5)
    chart.set_runs([("a", "spiky", "#4cc9f0"), ("b", "calm", "#b5e48c")])
    alert = _alert("a", 1230, "warning", {"excursion_start_step": 1200,
                                         "recovered_at_step": 1260})
    chart.set_alerts([alert])
    QApplication.processEvents()
    chart.refresh(force=True)
    chart.focus(1230.0, alert)
    (x0, x1), (y0, y1) = chart.view.viewRange()
    assert x0 < 1200 and x1 > 1260 and x1 - x0 < 400  # the episode with some context
    assert y1 >= 30.0 and y0 <= 2.2  # its peak and the level it left from
    assert chart.focus_line.isVisible()
    chart.follow()
    (x0, x1), _ = chart.view.viewRange()
    assert x0 == 0 and x1 == 1999


def test_zooming_x_keeps_y_fitted_to_what_is_in_view(chart: MetricChart) -> None:
    _add(chart, "a", LOSS)
    chart.set_runs([("a", "run", "#4cc9f0")])
    QApplication.processEvents()
    chart.refresh(force=True)
    chart.view.setXRange(1500, 1900, padding=0)  # as the wheel does (x only)
    chart.refresh()
    _, (y0, y1) = chart.view.viewRange()
    window = LOSS[1500:1901]
    assert not chart.follow_x and chart.fit_y
    assert y0 <= window.min() and y1 >= window.max() and y1 - y0 < 1.0  # not 2..10 any more


def test_log_ticks_are_labelled_apart_and_readable() -> None:
    for lo, hi, px in ((-10.0, 20.0, 160.0), (0.0, 4.0, 300.0), (2.9, 4.1, 150.0),
                       (0.3, 0.9, 200.0), (-3.2, -2.1, 80.0)):
        levels = log_ticks(lo, hi, px)
        labelled = levels[0][1]
        assert labelled, (lo, hi)
        gaps = np.diff(labelled) * px / (hi - lo)
        assert len(gaps) == 0 or gaps.min() >= 28.0, (lo, hi, px)
    assert format_power(3.0) == "1000" and format_power(-2.0) == "0.01"
    assert format_power(12.0) == "10\u00b9\u00b2" and format_power(-6.0) == "10\u207b\u2076"


def test_the_y_axis_in_log_mode_draws_no_overlapping_labels(chart: MetricChart) -> None:
    y = np.geomspace(2e3, 9e3, 2000) + RNG.normal(0, 50, 2000)  # tokens/s: within a decade
    _add(chart, "a", y)
    chart.set_runs([("a", "run", "#4cc9f0")])
    chart.set_log_y(True)
    QApplication.processEvents()
    chart.refresh(force=True)
    axis = chart.plot.getPlotItem().getAxis("left")
    for _ in range(2):  # the axis widens to its labels after the first paint
        chart.plot.grab()
        QApplication.processEvents()
    painter = _painter_for(chart)
    _, _, texts = axis.generateDrawSpecs(painter)
    painter.end()
    rects = sorted((r for r, _, _ in texts), key=lambda r: r.top())
    assert len(rects) >= 2
    for a, b in zip(rects, rects[1:], strict=False):
        assert a.bottom() <= b.top() + 1, "tick labels overlap"


def _painter_for(chart: MetricChart):  # noqa: ANN202
    from PySide6.QtGui import QImage, QPainter

    image = QImage(chart.plot.size(), QImage.Format.Format_RGB32)
    chart._keep_painter_image = image  # type: ignore[attr-defined]
    return QPainter(image)


def test_every_chart_names_its_runs_with_their_colours(chart: MetricChart, qtbot: QtBot) -> None:
    long = "sweep/lr=3e-4/warmup=2000/seed=1234/a-very-long-descriptive-run-name"
    runs = [(f"r{i}", f"run-{i}" if i else long, theme.series_color(i)) for i in range(6)]
    for run_id, _, _ in runs:
        _add(chart, run_id, LOSS)
    chart.set_runs(runs)
    chart.set_tooltips({"r0": f"{long}\n/runs/{long}"})
    chart.resize(540, 300)  # one of two chart columns in the default window
    QApplication.processEvents()
    legend = chart.legend
    shown = legend.shown_names()
    assert len(shown) == 6 and shown[1:] == [f"run-{i}" for i in range(1, 6)]
    assert "\u2026" in shown[0]  # elided, not cut
    rect, _, entry = legend._placed[0]
    assert entry.color == runs[0][2]
    assert legend.tooltip_at(rect.center().x(), rect.center().y()).startswith(long)
    chart.resize(260, 300)  # too narrow for all: the rest are counted
    QApplication.processEvents()
    assert legend.hidden() and len(legend.shown_names()) + len(legend.hidden()) == 6


def test_clip_marks_sit_at_the_edge_the_values_left_through(chart: MetricChart) -> None:
    y = LOSS.copy()
    y[900] = -40.0  # a lone dip
    _add(chart, "a", y)
    chart.set_runs([("a", "run", "#4cc9f0")])
    QApplication.processEvents()
    chart.refresh(force=True)
    marks = chart.clip_marks
    assert [(m.above, m.value) for m in marks] == [(False, -40.0)]
    assert abs(marks[0].x - 900) <= 2000 / chart.view.width()  # its pixel column
    (_, _), (y0, y1) = chart.view.viewRange()
    spot = chart.clip_markers.data[0]
    assert spot["y"] < y0 + 0.1 * (y1 - y0)
    assert chart.view.mapViewToScene(QPointF(spot["x"], spot["y"])).x() > 0
