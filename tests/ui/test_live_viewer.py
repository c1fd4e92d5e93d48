"""A second app on a history that `cockpit watch` (a real subprocess) holds: it opens
read-only through the watch's socket, shows the runs and their live points, answers SQL,
and says in one sentence that folders are added in the Cockpit that holds the history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cockpit.monitor.engine import IngestError
from cockpit.ui import app as ui_app
from tests.livewatch import LiveWatch, watched_run
from tests.test_generations import lines


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveWatch]:
    watch = watched_run(tmp_path, lines(range(20)))
    yield watch
    watch.stop()


def test_a_second_app_shows_the_live_history(qtbot: QtBot, live: LiveWatch,
                                             tmp_path: Path) -> None:
    window, backend, cache = ui_app.build(ui_app.AppOptions(
        db_path=live.db, settings_path=tmp_path / "s.ini", gpu="off"))
    try:
        assert backend.writer is None and backend.owner == live.proc.pid
        qtbot.waitUntil(lambda: backend.started and bool(cache.snapshot.runs), timeout=30_000)
        assert [r.name for r in cache.snapshot.runs] == ["a"]
        qtbot.waitUntil(lambda: bool(window.runs.selected) and all(
            cache.loaded(r) for r in window.runs.selected), timeout=30_000)
        with open(live.root / "a" / "m.jsonl", "a") as fh:  # the watch stores it, we see it
            fh.write(lines(range(20, 25)))
        qtbot.waitUntil(lambda: any(r.last_step == 24 for r in cache.snapshot.runs),
                        timeout=30_000)
        with pytest.raises(IngestError, match="held by another Cockpit"):
            backend.add_root(tmp_path)
        assert "read-only" in (backend.last_error() or "")
        with qtbot.waitSignal(window.sql.queryFinished, timeout=30_000):
            assert window.sql.run_query("SELECT count(*) AS n FROM metrics WHERE key = 'loss'")
        assert window.sql.result is not None and window.sql.result.rows == [(25,)]
    finally:
        window.close()
        cache.stop()
        backend.close()
        ui_app._release(window)


def test_the_sql_file_access_setting_opens_the_history_with_file_access(
        qtbot: QtBot, tmp_path: Path) -> None:
    """Off by default: the console's SQL sees the history only. The setting (from the next
    start) opens the app's history with file access, and live reads of it then need
    --unsafe-sql."""
    from PySide6.QtCore import QSettings

    from cockpit.monitor.backend import Backend, BackendOptions
    from cockpit.store.live import LiveClient
    from cockpit.store.sql import SqlRefused
    from cockpit.ui import sql_runner
    from cockpit.ui.settings import AppSettings, SettingsDialog

    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert not settings.sql_file_access
    dialog = SettingsDialog(settings)
    dialog.sql_files.setChecked(True)
    dialog.accept()
    dialog.deleteLater()
    assert settings.sql_file_access
    data = tmp_path / "extra.csv"
    data.write_text("a\n1\n2\n")
    sql = f"SELECT sum(a) AS s FROM read_csv('{data}')"
    for allowed in (False, True):
        backend = Backend(BackendOptions(db_path=tmp_path / f"h{allowed}.duckdb", gpu="off",
                                         sql_file_access=allowed))
        try:
            cur = backend.cursor()
            if allowed:
                assert sql_runner.run(cur, sql).rows == [(3,)]
                client = LiveClient.open(backend.options.db_path)
                assert client is not None
                with client, pytest.raises(SqlRefused, match="--unsafe-sql"):
                    client.query("SELECT 1")
            else:
                with pytest.raises(sql_runner.QueryRejected, match="Settings"):
                    sql_runner.run(cur, sql)
            cur.close()
        finally:
            backend.close()
