"""The GUI thread's work per event-loop turn stays bounded: chart repaints are charged to the
frame budget, new charts are built a few per frame, and a live runs table does not re-measure
its columns on every cell change."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from cockpit.ui.charts_panel import ChartsPanel
from cockpit.ui.live_cache import AlertRow, RunInfo, Snapshot
from cockpit.ui.runs_panel import RunsPanel
from cockpit.ui.series import SeriesBuffer


class _Cache:
    """The parts of LiveSeriesCache the charts panel uses."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, str], SeriesBuffer] = {}

    def series(self, run_id: str, key: str) -> SeriesBuffer | None:
        return self.buffers.get((run_id, key))

    def set_smoothing(self, weight: float) -> None:
        pass

    def loaded(self, run_id: str) -> bool:
        return True


def _grow(buffer: SeriesBuffer, n: int = 10) -> None:
    start = float(len(buffer))
    x = np.arange(start, start + n)
    buffer.append(x, x, np.sin(x / 50.0))


@pytest.fixture
def panel_and_cache(qtbot: QtBot) -> Iterator[tuple[ChartsPanel, _Cache]]:
    cache = _Cache()
    panel = ChartsPanel(cache)  # type: ignore[arg-type]
    panel.resize(1400, 2000)  # every chart inside the viewport
    panel.show()
    qtbot.waitExposed(panel)
    yield panel, cache
    panel.close()
    panel.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def _charts_for(panel: ChartsPanel, cache: _Cache, keys: list[str]) -> None:
    for key in keys:
        buffer = cache.buffers[("r", key)] = SeriesBuffer()
        _grow(buffer, 500)
    panel.set_runs([("r", "run", "#4cc9f0")])
    panel.update_from(Snapshot(seq=1, keys=keys))
    while panel.make_missing_charts():
        pass
    QApplication.processEvents()  # lay the grid out
    for chart in panel.charts.values():
        chart.refresh(force=True)


def test_a_chart_whose_repaint_does_not_fit_waits_for_the_next_tick(
    panel_and_cache: tuple[ChartsPanel, _Cache],
) -> None:
    panel, cache = panel_and_cache
    keys = ["loss", "lr", "grad_norm", "tokens_per_s"]
    _charts_for(panel, cache, keys)
    for key in keys:
        _grow(cache.buffers[("r", key)])
    for chart in panel.charts.values():
        chart.plot.paint_s = 0.015  # each repaint takes most of a 20 ms frame
    drawn_per_tick = [panel.tick(budget_ms=20.0) for _ in range(len(keys))]
    assert drawn_per_tick == [1, 1, 1, 1]  # one chart per frame, round-robin
    assert not any(chart.needs_redraw() for chart in panel.charts.values())
    assert panel.tick(budget_ms=20.0) == 0


def test_cheap_repaints_let_one_tick_redraw_every_changed_chart(
    panel_and_cache: tuple[ChartsPanel, _Cache],
) -> None:
    panel, cache = panel_and_cache
    keys = ["loss", "lr", "grad_norm"]
    _charts_for(panel, cache, keys)
    for key in keys:
        _grow(cache.buffers[("r", key)])
    for chart in panel.charts.values():
        chart.plot.paint_s = 0.0001
    assert panel.tick(budget_ms=500.0) == 3


def test_charts_are_built_a_few_per_frame_and_late_ones_get_their_alerts(
    panel_and_cache: tuple[ChartsPanel, _Cache],
) -> None:
    panel, cache = panel_and_cache
    keys = [f"metric_{i:02d}" for i in range(8)]
    for key in keys:
        _grow(cache.buffers.setdefault(("r", key), SeriesBuffer()), 100)
    alert = AlertRow(1, "r", "run", "spike", "warning", 50, None, "metric_07", "a spike",
                     {}, time.time())
    panel.set_runs([("r", "run", "#4cc9f0")])
    panel.update_from(Snapshot(seq=1, keys=keys, alerts=[alert]))
    assert 1 <= len(panel.charts) < len(keys)  # not all eight in one frame
    for _ in range(len(keys)):
        panel.make_missing_charts(budget_ms=0.0)  # at least one per call
    assert list(panel.charts) == keys
    assert [a.message for a in panel.charts["metric_07"].alerts] == ["a spike"]
    assert panel.grid.count() == len(keys)


def _runs(step: int, names: tuple[str, ...]) -> list[RunInfo]:
    return [RunInfo(f"id{i}", name, f"/r/{name}", "/r", "running", 1.7e9, time.time(), step + i,
                    None, 3.0 / (1 + step + i)) for i, name in enumerate(names)]


def test_live_cells_do_not_remeasure_columns_but_new_runs_fit(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = RunsPanel()
    qtbot.addWidget(panel)
    panel.resize(440, 500)
    panel.show()
    names = ("healthy_baseline", "spike", "a_much_longer_run_name_here")
    panel.update_runs(_runs(100, names))
    for col in (1, 2):  # status and last loss fit their text (and header)
        assert panel.tree.columnWidth(col) >= panel.tree.sizeHintForColumn(col)
    fits: list[int] = []
    original = panel.tree.resizeColumnToContents

    def counted(col: int) -> None:
        fits.append(col)
        original(col)

    monkeypatch.setattr(panel.tree, "resizeColumnToContents", counted)
    for step in range(101, 121):  # live: loss and step change, text widths do not
        panel.update_runs(_runs(step, names))
    assert fits == []
    panel.update_runs(_runs(121, (*names, "new_run")))
    assert fits  # a new row: columns fitted again
