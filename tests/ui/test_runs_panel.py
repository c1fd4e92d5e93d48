"""The runs table shows each run's GPU-hours and the GPU-hours its failures wasted."""

from __future__ import annotations

from cockpit.ui.live_cache import LiveSeriesCache
from cockpit.ui.runs_panel import COLUMNS, RunsPanel
from tests.ui.conftest import History


def test_gpu_hours_and_wasted_gpu_hours_columns(qtbot, history: History) -> None:
    history.run("a", "diverged", status="failed")
    history.run("b", "cpu_only", status="finished")
    history.con.execute("UPDATE runs SET gpu_hours = 12.5, wasted_gpu_hours = 3.25 "
                        "WHERE run_id = 'a'")
    snap = LiveSeriesCache(history.cursor, history.path).poll(history.cursor())
    panel = RunsPanel()
    qtbot.addWidget(panel)
    panel.update_runs(snap.runs)
    gpu_h, wasted = COLUMNS.index("GPU-h"), COLUMNS.index("Wasted GPU-h")
    cells = {name: [panel._rows[run_id][col].text() for col in (gpu_h, wasted)]
             for run_id, name in (("a", "diverged"), ("b", "cpu_only"))}
    assert cells == {"diverged": ["12.5", "3.25"], "cpu_only": ["", ""]}  # no telemetry: blank
    assert not panel.tree.isColumnHidden(gpu_h) and not panel.tree.isColumnHidden(wasted)
    cpu_only = [r for r in snap.runs if r.gpu_hours is None]
    fresh = RunsPanel()
    qtbot.addWidget(fresh)
    fresh.update_runs(cpu_only)  # no run with GPU telemetry: the columns stay out of the way
    assert fresh.tree.isColumnHidden(gpu_h) and fresh.tree.isColumnHidden(wasted)
