"""Notifications in the app: the settings page, secrets kept out of the settings file, the
desktop notification that opens its run and alert, `cockpit app --run NAME`, and a slow
receiver that leaves ingest and the GUI running."""

from __future__ import annotations

import base64
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from PySide6.QtCore import QEvent, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from cockpit.notify.config import Route
from cockpit.ui import app as ui_app
from cockpit.ui.settings import AppSettings, SettingsDialog
from tests.notify_receivers import free_port
from tests.notify_receivers import memory_keyring as use_memory_keyring
from tests.ui.conftest import History
from tests.ui.test_main_window import Harness


@pytest.fixture
def memory_keyring():
    with use_memory_keyring() as backend:
        yield backend


@pytest.fixture
def no_keyring():
    keyring = pytest.importorskip("keyring", reason="pip install keyring")
    from keyring.backends.fail import Keyring as FailKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    yield
    keyring.set_keyring(previous)


def dialog_for(qtbot, path: Path) -> SettingsDialog:
    dialog = SettingsDialog(AppSettings(QSettings(str(path), QSettings.Format.IniFormat)))
    qtbot.addWidget(dialog)
    return dialog


def test_the_notifications_page_saves_routes_quiet_hours_and_the_desktop_level(qtbot, tmp_path):
    path = tmp_path / "settings.ini"
    dialog = dialog_for(qtbot, path)
    page = dialog.notifications
    row = page.add_route(None)
    page.table.item(row, 0).setText("ntfys://ntfy.sh/cockpit-alerts")
    page.table.cellWidget(row, 1).setCurrentIndex(1)  # critical only
    page.table.item(row, 2).setText("nan, stall")
    page.table.item(row, 3).setText("prod/*")
    page.table.cellWidget(row, 4).setCurrentIndex(page.table.cellWidget(row, 4).findData("all"))
    row = page.add_route(None)
    page.table.item(row, 0).setText("json://u:{env:HOOK_PASSWORD}@hooks.example/alerts")
    page.add_route(None)  # added and left empty: not a route
    page.quiet.setChecked(True)
    page.desktop.setCurrentIndex(page.desktop.findData("critical"))
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted

    settings = AppSettings(QSettings(str(path), QSettings.Format.IniFormat))
    routes = settings.notify_routes()
    assert routes == [
        Route("ntfys://ntfy.sh/cockpit-alerts", "critical", frozenset({"nan", "stall"}),
              ("prod/*",), "all"),
        Route("json://u:{env:HOOK_PASSWORD}@hooks.example/alerts"),
    ]
    config = settings.notify_config(tmp_path / "h.duckdb")
    assert config.quiet_hours.spec() == "22:00-07:00" and config.quiet_hours.critical_overrides
    assert config.open_app == f"cockpit app --db {tmp_path / 'h.duckdb'}"
    assert settings.desktop_min_severity == "critical"
    again = dialog_for(qtbot, path)
    reopened = again.notifications
    assert reopened.table.rowCount() == 2
    assert reopened.route_at(0) == routes[0] and reopened.route_at(1) == routes[1]
    assert reopened.table.item(1, 0).toolTip() == "json://u:****@hooks.example/alerts"


def test_a_url_with_a_token_in_clear_goes_to_the_keyring_not_the_settings_file(
        qtbot, tmp_path, memory_keyring):
    path = tmp_path / "settings.ini"
    dialog = dialog_for(qtbot, path)
    page = dialog.notifications
    clear = "json://bot:hunter2-token-8842@hooks.example/alerts"
    page.table.item(page.add_route(None), 0).setText(clear)
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    text = path.read_text()
    assert "hunter2-token-8842" not in text
    ((service, name), value), = memory_keyring.values.items()
    assert service == "cockpit" and value == clear
    (route,) = AppSettings(QSettings(str(path), QSettings.Format.IniFormat)).notify_routes()
    assert route.url == f"{{keyring:{name}}}"
    assert "json://bot:****@hooks.example/alerts" in text  # the label shown in the table


def test_without_a_keyring_a_clear_token_is_refused_with_the_way_out(qtbot, tmp_path, no_keyring):
    path = tmp_path / "settings.ini"
    dialog = dialog_for(qtbot, path)
    dialog.show()
    page = dialog.notifications
    page.table.item(page.add_route(None), 0).setText("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkc")
    dialog.accept()
    assert dialog.isVisible() and dialog.tabs.currentWidget() is page
    assert page.error.text().startswith("route 1 (slack://T...2/A...D/T...c//) holds a token or "
                                        "password in clear and no OS keyring is available")
    assert "{env:NAME}" in page.error.text()
    assert not path.exists() or "TIiajkdnlazkc" not in path.read_text()


def test_send_test_runs_off_the_gui_thread_and_says_what_happened(qtbot, tmp_path, http):
    dialog = dialog_for(qtbot, tmp_path / "settings.ini")
    page = dialog.notifications
    page.table.item(page.add_route(None), 0).setText(f"json://{http.url_base}/test")
    http.hold = threading.Event()  # the receiver takes its time
    page.test_button.click()
    assert http.wait_arrived(1)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 10, timeout=5000)  # the event loop runs meanwhile
    assert page.test_result.text() == "sending…" and not page.test_button.isEnabled()
    http.hold.set()
    qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=10000)
    timer.stop()
    assert page.test_result.text() == f"sent a sample alert to json://{http.url_base}/test"
    assert http.received[0].json["title"] == "Cockpit · CRITICAL nan in example/run-7"


def test_clicking_the_desktop_notification_opens_its_run_and_alert(qtbot, filled, tmp_path):
    h = Harness(qtbot, filled, tmp_path / "settings.ini")
    try:
        h.pump()
        h.window.runs.select_runs(["a"])
        h.pump()
        filled.alert("c", "grad_explosion", "critical", 420, "grad_norm", "grad norm x50",
                     ts=time.time())
        h.pump()
        notifier = h.window.notifier
        assert notifier.toast.isVisible() and notifier.last.detector == "grad_explosion"
        with qtbot.waitSignal(h.window.alerts.alertActivated) as got:
            qtbot.mouseClick(notifier.toast, Qt.MouseButton.LeftButton)
        assert got.args[0].run_id == "c" and got.args[0].detector == "grad_explosion"
        assert "c" in h.window.runs.selected
        current = h.window.alerts.table.currentIndex()
        assert h.window.alerts.proxy.index(current.row(), 3).data() == "grad_explosion"
        assert not notifier.toast.isVisible()
    finally:
        h.close()


def test_desktop_notifications_follow_the_settings_level(qtbot, filled, tmp_path):
    path = tmp_path / "settings.ini"
    q = QSettings(str(path), QSettings.Format.IniFormat)
    q.setValue("notify/desktop_min_severity", "off")
    q.sync()
    h = Harness(qtbot, filled, path)
    try:
        h.pump()
        filled.alert("c", "grad_explosion", "critical", 420, "grad_norm", "x50", ts=time.time())
        h.pump()
        assert h.window.notifier.sent == []
    finally:
        h.close()


def test_app_run_flag_charts_the_named_run_once_it_is_seen(qtbot, history: History, tmp_path):
    h = Harness(qtbot, history, tmp_path / "settings.ini")
    try:
        h.window.select_run_named("later/run")
        history.run("x", "other")
        h.pump()
        assert h.window.runs.selected == ["x"]  # not there yet: the usual choice
        history.run("y", "later/run")
        h.pump()
        assert h.window.runs.selected == ["y"]
        history.run("z", "third")
        h.pump()
        assert h.window.runs.selected == ["y"]  # the user's choice now: no auto-select
    finally:
        h.close()


def test_app_cli_takes_run_flag():
    from cockpit.cli.main import build_parser

    args = build_parser().parse_args(["app", "--run", "exp/a"])
    assert args.select_run == "exp/a"


@pytest.mark.slow
def test_a_slow_receiver_leaves_ingest_and_the_gui_running(qtbot, tmp_path, http):
    """The app with a route whose receiver holds every request: while it holds the first
    alert's, points keep reaching the database and the window keeps applying snapshots."""
    runs = tmp_path / "runs"
    (runs / "exp").mkdir(parents=True)
    log = runs / "exp" / "metrics.jsonl"
    log.write_text("".join(json.dumps({"step": i, "loss": 2.0, "ts": time.time()}) + "\n"
                           for i in range(20)))
    settings = tmp_path / "settings.ini"
    AppSettings(QSettings(str(settings), QSettings.Format.IniFormat)).set_notify_entries(
        [(f"json://{http.url_base}/slow", "")])
    http.hold = threading.Event()
    window, backend, cache = ui_app.build(ui_app.AppOptions(
        db_path=tmp_path / "h.duckdb", roots=[runs], settings_path=settings, gpu="off"))
    try:
        qtbot.waitUntil(lambda: backend.started and window.snapshot_seq > 0, timeout=30000)
        with log.open("a") as f:
            f.write(json.dumps({"step": 20, "loss": float("nan"), "ts": time.time()}) + "\n")
        assert http.wait_arrived(1, timeout=30)  # the receiver now holds the alert's request
        seq = window.snapshot_seq
        with log.open("a") as f:
            f.write("".join(json.dumps({"step": i, "loss": 2.0, "ts": time.time()}) + "\n"
                            for i in range(21, 200)))

        def stored() -> int:
            cur = backend.cursor()
            try:
                return int(cur.execute("SELECT count(*) FROM metrics").fetchone()[0])
            finally:
                cur.close()

        qtbot.waitUntil(lambda: stored() == 200, timeout=30000)
        qtbot.waitUntil(lambda: window.snapshot_seq >= seq + 3, timeout=30000)
        assert http.received == []  # all of that while the message was still on its way
        http.hold.set()
        assert http.wait_for(1)
        assert "CRITICAL nan in exp" in http.received[0].json["title"]
    finally:
        http.hold.set()
        window.close()
        cache.stop()
        backend.close()
        window.deleteLater()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()


@pytest.mark.slow
def test_a_secret_from_the_environment_never_reaches_the_database_logs_or_settings(
        qtbot, tmp_path, http, memory_keyring):
    secret = "s3cr3t-" + base64.b32encode(os.urandom(10)).decode().lower()
    env = dict(os.environ, COCKPIT_TEST_WEBHOOK_TOKEN=secret)
    runs = tmp_path / "runs"
    (runs / "exp").mkdir(parents=True)
    (runs / "exp" / "metrics.jsonl").write_text(
        json.dumps({"step": 0, "loss": 2.0, "ts": time.time()}) + "\n"
        + json.dumps({"step": 1, "loss": float("nan"), "ts": time.time()}) + "\n")
    db = tmp_path / "h.duckdb"
    route = f"json://bot:{{env:COCKPIT_TEST_WEBHOOK_TOKEN}}@{http.url_base}/hook"
    dead = f"json://{{env:COCKPIT_TEST_WEBHOOK_TOKEN}}@127.0.0.1:{free_port()}/{{env:COCKPIT_TEST_WEBHOOK_TOKEN}}"
    watch = subprocess.run(
        [sys.executable, "-m", "cockpit", "watch", str(runs), "--db", str(db), "--once",
         "--notify", route, "--notify", dead],
        capture_output=True, text=True, timeout=120, env=env)
    assert watch.returncode == 0, watch.stderr
    assert http.wait_for(1)
    auth = base64.b64decode(http.received[0].headers["Authorization"].split()[1]).decode()
    assert auth == f"bot:{secret}"  # it was really expanded and sent
    assert "failed" in watch.stderr and "not delivered before exit" in watch.stderr

    # The app's settings page with the same route and a pasted clear one.
    path = tmp_path / "settings.ini"
    dialog = dialog_for(qtbot, path)
    page = dialog.notifications
    page.table.item(page.add_route(None), 0).setText(route)
    page.table.item(page.add_route(None), 0).setText(
        f"json://bot:{secret}@{http.url_base}/pasted")
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted

    logs = watch.stdout + watch.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:  # every table as text: DuckDB compresses strings, so grep the values as well
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables")
                  .fetchall()]
        dumped = "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    finally:
        con.close()
    assert "exp" in dumped and "nan" in dumped
    assert "{env:COCKPIT_TEST_WEBHOOK_TOKEN}" in logs  # the reference is what is shown
    for where, data in (("the database", db.read_bytes() + dumped.encode()),
                        ("the logs", logs.encode()),
                        ("the settings file", path.read_bytes())):
        assert secret.encode() not in data, f"the secret is in {where}"
        assert base64.b64encode(f"bot:{secret}".encode()) not in data
