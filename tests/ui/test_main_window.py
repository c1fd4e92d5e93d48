"""The main window on a hand-filled history: panels, selection, alerts, SQL, palette, layout."""

from __future__ import annotations

import math
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication

from cockpit.ui import theme
from cockpit.ui.live_cache import LiveSeriesCache
from cockpit.ui.main_window import MainWindow
from cockpit.ui.settings import SettingsDialog
from tests.ui.conftest import History, fill


class Harness:
    """A window whose cache is polled by the test (no poller thread: deterministic)."""

    def __init__(self, qtbot, history: History, settings_path: Path) -> None:  # noqa: ARG002
        self.history = history
        self.cache = LiveSeriesCache(history.cursor, history.path)
        self.roots: list[Path] = []
        self.settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
        self.window = MainWindow(
            self.cache, history.cursor, self.settings, add_root=self.roots.append
        )
        self.window.show()

    def pump(self, times: int = 1) -> None:
        for _ in range(times):
            self.cache.poll(self.history.cursor())
            self.window.on_frame()

    def close(self) -> None:
        self.window.close()
        self.window.deleteLater()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        self.cache.stop()


@pytest.fixture(scope="module")
def shared(qapp, tmp_path_factory):
    """One window for the tests that only read (building one costs ~1.5 s on CI)."""
    folder = tmp_path_factory.mktemp("ui")
    history = fill(History(folder / "history.duckdb"))
    theme.apply(theme.DARK)
    h = Harness(None, history, folder / "settings.ini")
    h.pump()
    yield h
    h.close()
    history.close()


@pytest.fixture
def ui(shared: Harness):
    """The shared window, back to its start state: all runs charted, dark, default layout."""
    theme.apply(theme.DARK)
    shared.window.apply_theme(theme.DARK)
    shared.window.reset_layout()
    shared.window.runs.filter.clear()
    shared.window.runs.select_runs(["a", "b", "c"])
    shared.window.charts.follow_all()
    shared.pump()
    return shared


@pytest.fixture
def fresh(qtbot, filled: History, tmp_path: Path):
    """A window of its own, for tests that change the history."""
    theme.apply(theme.DARK)
    h = Harness(qtbot, filled, tmp_path / "settings.ini")
    yield h
    h.close()


def _cell(ui: Harness, run_id: str, col: int) -> str:
    return ui.window.runs._rows[run_id][col].text()


def test_runs_tree_shows_status_last_loss_alerts_and_gpu(ui: Harness) -> None:
    assert _cell(ui, "a", 1) == "finished" and _cell(ui, "b", 1) == "failed"
    assert _cell(ui, "b", 2) == "NaN" and _cell(ui, "c", 2) == "40.0000"
    assert _cell(ui, "b", 3) == "1" and _cell(ui, "c", 4) == "0"
    assert not ui.window.runs._rows["a"][1].icon().isNull()  # the status badge
    ui.window.runs.filter.setText("diverg")
    proxy = ui.window.runs.proxy
    root = proxy.index(0, 0)
    assert proxy.rowCount(root) == 1
    assert proxy.index(0, 0, root).data() == "diverging"
    assert set(ui.window.runs.selected) == {"a", "b", "c"}  # filtering does not un-chart


def test_few_runs_are_all_charted_at_start(fresh: Harness) -> None:
    fresh.pump()
    assert set(fresh.window.runs.selected) == {"a", "b", "c"}


def test_runs_are_charted_per_metric_and_selection_drives_the_charts(ui: Harness) -> None:
    ui.pump(2)
    assert set(ui.window.charts.charts) == {"loss", "lr"}
    assert set(ui.window.charts.charts["loss"].curves) == {"a", "b", "c"}
    ui.window.runs.select_runs(["a"])
    ui.pump()
    assert set(ui.window.charts.charts["loss"].curves) == {"a"}
    assert ui.cache.subscribed == {"a"}
    assert ui.window.charts.tick() >= 0


def test_selecting_an_alert_charts_its_run_and_centres_the_chart_on_it(ui: Harness, qtbot) -> None:
    ui.window.runs.select_runs(["a"])
    ui.pump()
    alerts = ui.window.alerts
    alerts.table.clearSelection()
    alerts.table.setCurrentIndex(alerts.proxy.index(-1, -1))
    row = next(
        r for r in range(alerts.proxy.rowCount()) if alerts.proxy.index(r, 3).data() == "nan"
    )
    with qtbot.waitSignal(alerts.alertActivated) as got:
        alerts.select_row(row)
    assert got.args[0].run_id == "b"
    assert "b" in ui.window.runs.selected
    ui.pump(2)
    chart = ui.window.charts.charts["loss"]
    (x0, x1), _ = chart.view.viewRange()
    assert x0 < 300 < x1 and x1 - x0 < 250
    assert "first_bad_step" in alerts.detail.toPlainText()


def test_alerts_filter_by_severity(ui: Harness) -> None:
    alerts = ui.window.alerts
    assert alerts.proxy.rowCount() == 3
    alerts.severity.setCurrentIndex(alerts.severity.findData("critical"))
    assert alerts.proxy.rowCount() == 1
    alerts.severity.setCurrentIndex(0)


def test_new_warning_alerts_notify_in_app_when_there_is_no_tray(fresh: Harness) -> None:
    fresh.pump()
    notifier = fresh.window.notifier
    assert notifier.sent == []  # the backlog at start is not news
    now = time.time()
    fresh.history.alert(
        "c", "grad_explosion", "critical", 420, "grad_norm", "grad norm x50", ts=now
    )
    fresh.history.alert("c", "spike", "info", 421, "loss", "small spike", ts=now)
    fresh.history.alert("a", "nan", "critical", 10, "loss", "an imported run's old NaN")
    fresh.pump()
    assert not notifier.use_tray
    assert len(notifier.sent) == 1 and notifier.sent[0][0] == "critical"
    assert notifier.toast.isVisible()
    assert "grad_explosion" in notifier.toast.text()


def test_gpu_panel_has_a_card_per_gpu_and_attributes_processes(ui: Harness) -> None:
    gpu = ui.window.gpu
    assert set(gpu.cards) == {("h", 0), ("h", 1)}
    x, y = gpu.cards[("h", 1)].curves["util_gpu"].getData()
    assert len(x) == 50 and y[-1] == 15.0
    rows = {
        gpu.procs.item(r, 1).text(): gpu.procs.item(r, 5).text()
        for r in range(gpu.procs.rowCount())
    }
    assert rows == {"4242": "diverging", "4343": "—"}


def test_sql_console_is_read_only_runs_off_thread_and_exports(
    ui: Harness, qtbot, tmp_path: Path
) -> None:
    sql = ui.window.sql
    with qtbot.waitSignal(sql.queryFinished) as got:
        assert not sql.run_query("DELETE FROM runs")
    assert got.args == [False] and "read-only" in sql.status.text()
    sql.editor.setPlainText("SELECT name, status FROM runs ORDER BY name")
    ui.window.show_dock(ui.window.docks["sql"])
    ui.window.activateWindow()
    sql.editor.setFocus()
    qtbot.waitUntil(sql.editor.hasFocus)
    with qtbot.waitSignal(sql.queryFinished, timeout=10_000) as got:
        qtbot.keyClick(sql.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert got.args == [True]
    assert sql.model.rows == [
        ("diverging", "running"),
        ("healthy", "finished"),
        ("nan_run", "failed"),
    ]
    assert sql.tsv().splitlines()[:2] == ["name\tstatus", "diverging\trunning"]
    sql.copy_tsv()
    assert QGuiApplication.clipboard().text().startswith("name\tstatus")
    for fmt in ("csv", "parquet"):
        target = tmp_path / f"out.{fmt}"
        with qtbot.waitSignal(sql.queryFinished, timeout=10_000):
            assert sql.export_to(target, fmt)
        got_rows = duckdb.sql(f"SELECT count(*) FROM '{target}'").fetchall()
        assert got_rows == [(3,)]
    with qtbot.waitSignal(sql.queryFinished, timeout=10_000):
        sql.run_query("SELECT step, value FROM metrics WHERE run_id = 'a' AND key = 'loss'")
    assert sql.plot_selected("value") and sql.plot.isVisible()


def test_sql_console_allows_writes_only_when_opted_in(ui: Harness, qtbot) -> None:
    sql = ui.window.sql
    sql.allow_writes.setChecked(True)
    try:
        with qtbot.waitSignal(sql.queryFinished, timeout=10_000) as got:
            sql.run_query("CREATE OR REPLACE TABLE notes AS SELECT 1 AS x")
    finally:
        sql.allow_writes.setChecked(False)
    assert got.args == [True]
    assert ui.history.cursor().execute("SELECT x FROM notes").fetchone() == (1,)


def test_saved_queries_persist_in_settings(ui: Harness) -> None:
    ui.window.sql.save_query("mine", "SELECT 42")
    assert ui.window.sql.saved.findText("mine") >= 0
    again = QSettings(ui.settings.fileName(), QSettings.Format.IniFormat)
    assert dict(again.value("sql/saved"))["mine"] == "SELECT 42"


def test_one_command_registry_feeds_menus_shortcuts_and_the_palette(ui: Harness, qtbot) -> None:
    commands = ui.window.commands
    assert commands.shortcut_conflicts() == []
    palette_cmd = commands.commands["palette"].action
    assert palette_cmd.shortcut().toString() == "Ctrl+Shift+P"
    assert palette_cmd in commands.menu("&View").actions()
    palette = ui.window.palette_dialog
    palette.open_fresh()
    qtbot.keyClicks(palette.input, "theme light")
    assert palette.list.currentItem().text().startswith("Theme: Light")
    qtbot.keyClick(palette.input, Qt.Key.Key_Return)
    assert theme.current().name == "light"
    assert ui.window.settings.theme == "light"


def test_layout_persists_across_windows(ui: Harness, qtbot) -> None:
    ui.window.docks["gpu"].hide()
    ui.window.save_layout()
    ui.window.reset_layout()
    second = MainWindow(LiveSeriesCache(ui.history.cursor), ui.history.cursor, ui.settings)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    assert not second.docks["gpu"].isVisible()
    assert second.docks["runs"].isVisible()
    second.reset_layout()
    assert second.docks["gpu"].isVisible()


def test_dropping_a_folder_watches_it_and_remembers_it(ui: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "more-runs"
    folder.mkdir()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    ui.window.dropEvent(event)
    assert ui.roots[-1] == folder
    assert ui.window.settings.recent_folders()[0] == str(folder)
    assert any(a.text() == str(folder) for a in ui.window.recent_menu.actions())


def test_settings_dialog_saves_thresholds_and_endpoint_but_never_a_key(
    ui: Harness, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    dialog = SettingsDialog(ui.window.settings, ui.window)
    assert "(set)" in dialog.key_note.text()
    dialog.base_url.setText("http://localhost:8000/v1")
    dialog.detector_edits["spike_ratio"].setText("2.5")
    dialog.accept()
    assert ui.window.settings.detector_overrides() == {"spike_ratio": 2.5}
    assert ui.window.settings.llm_base_url == "http://localhost:8000/v1"
    text = Path(ui.settings.fileName()).read_text()
    assert "sk-secret-value" not in text


def test_compare_view_overlays_runs_with_final_and_best_values(ui: Harness, qtbot) -> None:
    compare = ui.window.compare
    ui.window.show_dock(ui.window.docks["compare"])
    with qtbot.waitSignal(compare.compared, timeout=10_000):
        assert compare.compare(["a", "b", "c"])
    assert compare.key.currentText() == "loss"
    rows = {compare.summary.item(r, 0).text(): compare.summary.item(r, 2).text()
            for r in range(compare.summary.rowCount())}
    best = 8.0 * math.exp(-399 / 150) + 2.0  # the lowest loss, just before it diverged
    assert rows["diverging"] == f"{best:.5g}" and set(rows) == {"healthy", "nan_run",
                                                                 "diverging"}
    chart = compare.chart
    assert set(chart.curves) == {"a", "b", "c"}
    assert chart.legend.shown_names() == ["healthy", "nan_run", "diverging"]  # all three
    QApplication.processEvents()
    # Room by default: a chart one can read and a table showing every run.
    assert chart.plot.height() >= 180 and chart.width() >= 400
    assert compare.summary.viewport().height() >= 3 * 22
    compare.key.setCurrentText("lr")
    assert chart.key == "lr" and chart.curves["a"].raw.getData()[0].size == 500


def test_status_bar_shows_database_size_and_runs(ui: Harness) -> None:
    assert (
        ui.window.db_label.text().startswith("DB ")
        and "KB" in ui.window.db_label.text()
        or "MB" in ui.window.db_label.text()
    )
    assert ui.window.runs_label.text() == "3 runs (1 running)"


def test_evals_panel_lists_stored_evals_and_summarises_one(ui: Harness, qtbot) -> None:
    con = ui.history.con
    con.execute("DELETE FROM eval_samples; DELETE FROM evals")
    con.execute(
        "INSERT INTO evals (eval_id, name, path, model, created_at) "
        "VALUES ('e1', 'mcqa', '/x.jsonl', 'gpt', 1.7e9)"
    )
    for i in range(40):
        con.execute(
            "INSERT INTO eval_samples (eval_id, sample_id, input, target, output, score, "
            "correct, metadata) VALUES ('e1', ?, 'q', 'a', ?, ?, ?, '{}')",
            [f"s{i}", "a" if i % 4 else "b", float(i % 4 != 0), i % 4 != 0],
        )
    panel = ui.window.evals
    with qtbot.waitSignal(panel.bridge.listed, timeout=10_000):
        panel.refresh()
    assert panel.evals.count() == 1
    with qtbot.waitSignal(panel.viewLoaded, timeout=20_000):
        panel.evals.setCurrentRow(0)
    assert "accuracy" in panel.summary.toPlainText()
    assert "0.750" in panel.summary.toPlainText()
    assert panel.model.rowCount() == 40
    assert panel.model.index(0, 1).data() == "no"  # failures first


def test_a_run_that_starts_later_is_charted_until_the_user_picks(fresh: Harness) -> None:
    fresh.pump()
    fresh.history.run("live", "live-run", "running", updated_at=time.time())
    fresh.history.metrics("live", "loss", np.arange(10), np.ones(10))
    fresh.pump(2)
    assert "live" in fresh.window.runs.selected
    fresh.window.runs.tree.clearSelection()  # the user's own choice from now on
    fresh.window.runs._emit_selection()
    fresh.history.run("later", "later-run", "running", updated_at=time.time() + 1)
    fresh.pump(2)
    assert "later" not in fresh.window.runs.selected
