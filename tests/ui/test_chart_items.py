"""The lean chart items: one bundle item per curve layer, a grid in device pixels, and a chart
that ranges its view before painting (one repaint per update, not two)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from cockpit.ui import theme
from cockpit.ui.chart import MetricChart
from cockpit.ui.chart_items import CurveBundle
from cockpit.ui.series import SeriesBuffer


class _Cache:
    """Just the part of LiveSeriesCache a chart reads."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, str], SeriesBuffer] = {}

    def series(self, run_id: str, key: str) -> SeriesBuffer | None:
        return self.buffers.get((run_id, key))


class _PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def test_bundle_bounds_are_the_union_of_visible_traces_and_skip_nan() -> None:
    bundle = CurveBundle()
    a, b = bundle.add_trace(), bundle.add_trace()
    a.set_data(np.array([0.0, 1.0, 2.0]), np.array([1.0, np.nan, 3.0]))
    b.set_data(np.array([5.0, 6.0]), np.array([-2.0, 0.5]))
    bundle.commit()
    assert bundle.dataBounds(0) == (0.0, 6.0)
    assert bundle.dataBounds(1) == (-2.0, 3.0)
    assert bundle.dataBounds(1, orthoRange=(0.0, 2.0)) == (1.0, 3.0)  # x in [0, 2] only
    b.setVisible(False)
    bundle.commit()
    assert bundle.dataBounds(0) == (0.0, 2.0)
    bundle.remove_trace(a)
    bundle.commit()
    assert bundle.dataBounds(0) == (None, None)
    assert bundle.boundingRect().isNull()


def test_all_nan_trace_has_no_bounds_and_draws_nothing() -> None:
    bundle = CurveBundle()
    t = bundle.add_trace()
    t.set_data(np.array([0.0, 1.0]), np.array([np.nan, np.nan]))
    bundle.commit()
    assert bundle.dataBounds(1) == (None, None)


@pytest.fixture
def chart_and_cache(qtbot: QtBot) -> Iterator[tuple[MetricChart, _Cache]]:
    theme.apply(theme.DARK)
    cache = _Cache()
    chart = MetricChart("loss", cache)  # type: ignore[arg-type]
    chart.resize(600, 300)
    chart.show()
    qtbot.waitExposed(chart)
    yield chart, cache
    # Destroyed now, not at interpreter exit (where a live chart keeps duckdb's module alive
    # through its slots and nanobind prints a leak report).
    chart.close()
    chart.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def test_twenty_runs_are_two_graphics_items_and_keep_every_spike(
    chart_and_cache: tuple[MetricChart, _Cache],
) -> None:
    chart, cache = chart_and_cache
    n = 200_000
    steps = np.arange(n, dtype=np.float64)
    runs = []
    for i in range(20):
        y = np.full(n, 1.0 + i * 0.01)
        y[1000 * (i + 1)] = 50.0 + i  # a one-step spike in every run
        buf = SeriesBuffer()
        buf.append(steps, steps, y)
        cache.buffers[(f"r{i}", "loss")] = buf
        runs.append((f"r{i}", f"run {i}", theme.series_color(i)))
    chart.set_runs(runs)
    chart.refresh(force=True)
    curves = [item for item in chart.view.addedItems if isinstance(item, CurveBundle)]
    assert len(curves) == 2 and len(chart.raw_layer.traces) == 20
    width = int(chart.view.width())
    for i in range(20):
        x, y = chart.curves[f"r{i}"].raw.getData()
        assert y.max() == 50.0 + i
        assert len(x) <= 2 * width + 4  # about two vertices per pixel column, not more


def test_a_live_update_repaints_the_chart_once(
    chart_and_cache: tuple[MetricChart, _Cache],
) -> None:
    chart, cache = chart_and_cache
    buf = SeriesBuffer()
    rng = np.random.default_rng(1)
    buf.append(np.arange(5000.0), np.arange(5000.0), rng.uniform(1.0, 2.0, 5000))
    cache.buffers[("r", "loss")] = buf
    chart.set_runs([("r", "run", "#4cc9f0")])
    chart.refresh(force=True)
    QApplication.processEvents()
    counter = _PaintCounter()
    chart.plot.viewport().installEventFilter(counter)
    for frame in range(5):
        step = 5000.0 + 10 * frame
        new = np.arange(step, step + 10)
        buf.append(new, new, rng.uniform(1.0, 2.0, 10))
        assert chart.refresh()
        counter.paints = 0
        QApplication.processEvents()
        assert counter.paints == 1
    chart.plot.viewport().removeEventFilter(counter)


def test_grid_lines_use_the_theme_and_sit_under_the_curves(
    chart_and_cache: tuple[MetricChart, _Cache],
) -> None:
    chart, cache = chart_and_cache
    buf = SeriesBuffer()
    buf.append(np.arange(100.0), np.arange(100.0), np.linspace(0.0, 10.0, 100))
    cache.buffers[("r", "loss")] = buf
    chart.set_runs([("r", "run", "#ff0000")])
    chart.refresh(force=True)
    QApplication.processEvents()
    image = chart.plot.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    colors = {image.pixel(x, y) for x in range(image.width()) for y in range(image.height())}
    bg, fg = QColor(theme.DARK.chart_bg), QColor(theme.DARK.chart_fg)
    a = theme.DARK.grid_alpha
    major = QColor(*(round(b + (f - b) * a) for b, f in ((bg.red(), fg.red()),
                                                          (bg.green(), fg.green()),
                                                          (bg.blue(), fg.blue()))))
    assert major.rgb() in colors  # the grid colour, already blended onto the background
    assert chart.grid.zValue() < chart.raw_layer.zValue()
