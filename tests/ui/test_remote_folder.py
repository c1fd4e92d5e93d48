"""File ▸ Add Remote Folder… against the real sshd: the connection is made off the GUI thread,
the runs arrive, the folder is remembered and watched again at the next start; a refused host
key is one sentence in the status bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cockpit.ui import app as ui_app
from cockpit.ui.remote_dialog import RemoteFolderDialog
from cockpit.ui.settings import AppSettings, open_settings
from tests.sshd_server import SshServer, sshd_unavailable

pytestmark = [pytest.mark.skipif(sshd_unavailable() is not None, reason=str(sshd_unavailable())),
              pytest.mark.usefixtures("ssh_config")]


def build(tmp_path: Path):
    return ui_app.build(ui_app.AppOptions(db_path=tmp_path / "h.duckdb",
                                          settings_path=tmp_path / "s.ini", gpu="off"))


def close(window, backend, cache) -> None:
    window.close()
    cache.stop()
    backend.close()
    ui_app._release(window)


def run_names(backend) -> list[str]:
    cur = backend.cursor()
    try:
        return [r[0] for r in cur.execute("SELECT name FROM runs ORDER BY name").fetchall()]
    finally:
        cur.close()


@pytest.mark.slow
def test_add_remote_folder_watches_it_and_remembers_it(qtbot: QtBot, sshd: SshServer,
                                                       tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "remote_run").mkdir(parents=True)
    (runs / "remote_run" / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": i, "loss": 1.0 / (i + 1)}) + "\n" for i in range(5)))
    url = f"ssh://{sshd.alias}{runs}"
    dialog = RemoteFolderDialog(text=f"  {url} ")
    assert dialog.value() == url
    dialog.deleteLater()

    window, backend, cache = build(tmp_path)
    try:
        qtbot.waitUntil(lambda: backend.started, timeout=10_000)
        assert window.watch_remote(url)
        assert "connecting to" in window.statusBar().currentMessage()  # the GUI did not wait
        qtbot.waitUntil(lambda: run_names(backend) == ["remote_run"], timeout=20_000)
        qtbot.waitUntil(lambda: window.statusBar().currentMessage() == f"watching {url}",
                        timeout=10_000)
        assert url in [a.text() for a in window.recent_menu.actions()]
        assert not window.watch_remote("gpu1:/runs")  # not a URL: said, nothing started
        assert "is not an ssh://" in window.statusBar().currentMessage()
    finally:
        close(window, backend, cache)
    assert AppSettings(open_settings(tmp_path / "s.ini")).remote_folders() == [url]

    # Next start: the remembered remote folder is watched again, connecting in the background.
    (runs / "second_run").mkdir()
    (runs / "second_run" / "metrics.jsonl").write_text('{"step": 0, "loss": 1.0}\n')
    window, backend, cache = build(tmp_path)
    try:
        qtbot.waitUntil(lambda: run_names(backend) == ["remote_run", "second_run"],
                        timeout=20_000)
        assert [str(r) for r in backend.roots] == [url]
    finally:
        close(window, backend, cache)


def test_a_refused_host_key_is_one_sentence_in_the_status_bar(qtbot: QtBot, sshd: SshServer,
                                                             tmp_path: Path) -> None:
    window, backend, cache = build(tmp_path)
    try:
        qtbot.waitUntil(lambda: backend.started, timeout=10_000)
        with qtbot.waitSignal(window.remoteDone, timeout=30_000) as done:
            window.watch_remote(f"ssh://{sshd.stranger_alias}{tmp_path}")
        url, error = done.args
        assert "host key is not in known_hosts" in error, error
        assert window.statusBar().currentMessage() == error
        assert AppSettings(open_settings(tmp_path / "s.ini")).remote_folders() == []
    finally:
        close(window, backend, cache)
