"""The fleet panel: host x GPU grid, the table sorted by wasted GPU-hours, "idle right now",
the source's outage; fed by a real FleetView, and reached from the main window in one click."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QSettings, Qt
from PySide6.QtWidgets import QApplication

from cockpit.telemetry.fleet import FleetView
from cockpit.telemetry.rows import SourceOutage, TelemetryBatch, new_process_row, new_sample
from cockpit.ui import theme
from cockpit.ui.fleet_panel import WASTED_COLUMN, FleetPanel
from cockpit.ui.gpu_card import GpuCard
from cockpit.ui.gpu_fields import gap_breaks, with_gaps
from cockpit.ui.live_cache import GpuTrace, LiveSeriesCache
from cockpit.ui.main_window import MainWindow
from tests.ui.conftest import History

GIB = 1024**3
# (host, gpu, util %, pod, run id)
GPUS = [("node-a", 0, 12.0, "train-starved-7c9fd", "r1"), ("node-a", 1, 80.0, "train-ok-0", None),
        ("node-b", 0, 0.0, None, None), ("node-b", 1, 1.0, "stuck-4", None)]


def _fleet() -> FleetView:
    view = FleetView(clock=lambda: 1600.0)
    view.set_run_names({"r1": "train-starved"})
    for i in range(600):
        ts = 1000.0 + i
        batch = TelemetryBatch(ts=ts)
        for host, gpu, util, pod, run_id in GPUS:
            batch.process_ticks[(host, gpu)] = {}
            if pod:
                batch.processes.append(new_process_row(ts, host, gpu, None, 20 * GIB, None,
                                                       run_id=run_id, job=f"pod/ml/{pod}"))
            sample = new_sample(ts, host, gpu)
            sample.update(util_gpu=util, mem_used=20 * GIB if pod else 0, mem_total=80 * GIB)
            batch.samples.append(sample)
        view.observe(batch)
    return view


def _cell(panel: FleetPanel, host: str, gpu: int) -> str:
    row = [panel.grid.verticalHeaderItem(r).text() for r in range(panel.grid.rowCount())].index(host)
    return panel.grid.item(row, gpu).text()


def test_grid_table_and_idle_right_now(qtbot) -> None:
    theme.apply(theme.DARK)
    view = _fleet()
    panel = FleetPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_source(lambda: (view.snapshot(), view.outage))
    panel.refresh()
    assert panel.grid.rowCount() == 2 and panel.grid.columnCount() == 2
    assert _cell(panel, "node-a", 0) == "starved 12%\ntrain-starved"
    assert _cell(panel, "node-a", 1) == "busy 80%\nml/train-ok-0"
    assert _cell(panel, "node-b", 0) == "idle 0%"
    busy = panel.grid.item(0, 1).background().color().name()
    starved = panel.grid.item(0, 0).background().color().name()
    assert busy == theme.current().status["running"] and busy != starved
    assert panel.summary.text().startswith("4 GPUs on 2 host(s): 1 busy, 1 starved, 2 idle")
    # The table, most wasted GPU-hours first: the held-but-starved and the held-but-idle GPUs.
    first = [panel.proxy.index(r, 5).data() for r in range(panel.proxy.rowCount())]
    assert first[:2] in (["ml/train-starved-7c9fd", "ml/stuck-4"],
                         ["ml/stuck-4", "ml/train-starved-7c9fd"])
    wasted = [float(panel.proxy.index(r, WASTED_COLUMN).data()) for r in range(4)]
    assert wasted == sorted(wasted, reverse=True) and wasted[0] > 0.1
    qtbot.mouseClick(panel.idle_button, Qt.MouseButton.LeftButton)  # one click
    states = {panel.proxy.index(r, 2).data() for r in range(panel.proxy.rowCount())}
    assert panel.proxy.rowCount() == 3 and states == {"starved", "idle"}
    dimmed = panel.grid.item(0, 1).background().color().alpha()
    assert dimmed < panel.grid.item(0, 0).background().color().alpha()
    assert not panel.outage.isVisible()


def test_outage_is_said_in_the_panel(qtbot) -> None:
    view = _fleet()
    view.observe(TelemetryBatch(ts=1600.0, outages=[
        SourceOutage("Prometheus at http://p:9090", 1600.0, "connection refused")]))
    panel = FleetPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_source(lambda: (view.snapshot(now=1700.0), view.outage))
    panel.refresh()
    assert panel.outage.isVisible()
    assert "Prometheus at http://p:9090 unreachable since" in panel.outage.text()
    assert "no data" in panel.summary.text()


def test_gpu_sparklines_draw_a_gap_as_a_gap(qtbot) -> None:
    ts = np.concatenate([np.arange(0.0, 30.0), np.arange(90.0, 120.0)])
    assert list(gap_breaks(ts)) == [29]
    x, y = with_gaps(ts, np.ones_like(ts), gap_breaks(ts))
    assert len(x) == 61 and np.isnan(y[30]) and np.isnan(x[30])
    card = GpuCard("node-a", 0)
    qtbot.addWidget(card)
    fields = {name: np.full(len(ts), 50.0) for name in
              ("util_gpu", "sm_active", "tensor_active", "mem_used", "power_w", "temp_c")}
    card.update_trace(GpuTrace("node-a", 0, ts, fields, 80.0 * GIB, 700.0))
    assert card.gaps == 1


@pytest.fixture
def qtapp_window(qtbot, tmp_path: Path):
    history = History(tmp_path / "h.duckdb")
    cache = LiveSeriesCache(history.cursor, history.path)
    window = MainWindow(cache, history.cursor,
                        QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    view = _fleet()
    window.fleet.set_source(lambda: (view.snapshot(), view.outage))
    window.show()
    yield window, view
    window.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    cache.stop()
    history.close()


def test_the_main_window_shows_what_is_idle_in_one_click(qtapp_window) -> None:
    window, view = qtapp_window
    window.commands.commands["idle_gpus"].action.trigger()
    assert window.docks["fleet"].isVisible() and window.fleet.idle_button.isChecked()
    assert window.fleet.proxy.rowCount() == 3
