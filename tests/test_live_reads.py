"""Reading the history while `cockpit watch` (a real subprocess) owns it: `cockpit query`,
`cockpit runs` and a notebook's `cockpit.history()` read through the owner's socket, see
what was committed a moment ago, and compare the stored series with the file exactly while
the file is truncated, rewritten, replaced and rotated under the running watch."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import cockpit
from cockpit.store.db import StoreLocked, connect
from cockpit.store.live import socket_path
from tests.livewatch import LiveWatch, wait_for, watched_run
from tests.livewatch import cockpit as run_cockpit
from tests.test_generations import SCENARIOS, file_says, lines


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveWatch]:
    watch = watched_run(tmp_path, lines(range(30)))
    wait_for(lambda: watch.rows("SELECT count(*) FROM metrics")[0][0] == 90)
    yield watch
    watch.stop()


def test_query_runs_and_a_notebook_read_the_history_a_watch_holds(live: LiveWatch) -> None:
    db = str(live.db)
    with pytest.raises(StoreLocked):  # the file itself is locked by the watch
        connect(db, read_only=True)
    out = run_cockpit("query", "--db", db, "--format", "json",
                      "SELECT key, count(*) AS n FROM metrics GROUP BY key ORDER BY key")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"key": "loss", "n": 30}, {"key": "lr/0", "n": 30},
                                      {"key": "lr/1", "n": 30}]
    runs = run_cockpit("runs", "--db", db, "--json")
    assert runs.returncode == 0, runs.stderr
    assert [(r["name"], r["last_step"], r["skipped"]) for r in json.loads(runs.stdout)] == [
        ("a", 29, 0)]
    rel = cockpit.history("SELECT step, value FROM metrics WHERE key = 'loss' ORDER BY step",
                          db=db)
    rows = rel.fetchall()
    assert len(rows) == 30 and rows[0] == (0, 1.0)
    assert rel.filter("step >= 10").aggregate("count(*)").fetchall() == [(20,)]
    assert [c.lower() for c in rel.columns] == ["step", "value"]


def test_the_socket_is_private_to_the_user(live: LiveWatch) -> None:
    path = socket_path(live.db)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()
    if os.geteuid() != 0:
        pytest.skip("needs root to try the socket as another user")
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.seteuid(65534)  # nobody
    try:
        with pytest.raises(PermissionError):
            sock.connect(str(path))
    finally:
        os.seteuid(0)
        sock.close()


def test_live_results_include_what_was_just_committed(live: LiveWatch) -> None:
    """Every query is a fresh snapshot of the owner's committed data; the watch commits
    each poll, so a line appended now is visible within a poll or two (well under 1 s;
    benchmarks/bench_live_reads.py measures it)."""
    path = live.root / "a" / "m.jsonl"
    lags = []
    for step in range(1000, 1010):
        with open(path, "a") as fh:
            fh.write(lines(range(step, step + 1)))
        t0 = time.monotonic()
        wait_for(lambda s=step: live.rows("SELECT count(*) FROM metrics WHERE step = ?", [s])
                 [0][0] == 3, timeout=20)
        lags.append(time.monotonic() - t0)
    assert sorted(lags)[len(lags) // 2] < 5.0  # generous: the median, on a loaded CI box


def _stored(live: LiveWatch, source: str) -> list[tuple[str, int, str]]:
    rows = live.rows("SELECT key, step, value FROM metrics WHERE source = ?", [source])
    return sorted((k, s, repr(v)) for k, s, v in rows)


@pytest.mark.slow
def test_stored_series_equals_the_file_while_watch_runs(live: LiveWatch) -> None:
    path = live.root / "a" / "m.jsonl"
    for name, change in SCENARIOS.items():
        change(path)
        with open(path, "a") as fh:
            fh.write(lines(range(200, 203)))  # and it keeps growing
        expected = file_says(path)
        try:
            wait_for(lambda exp=expected: _stored(live, "m.jsonl") == exp, timeout=20)
        except AssertionError:
            assert _stored(live, "m.jsonl") == expected, name
    os.rename(path, path.with_name("m.jsonl.1"))
    path.write_text(lines(range(300, 305)))
    wait_for(lambda: _stored(live, "m.jsonl") == file_says(path), timeout=20)
    assert _stored(live, "m.jsonl.1") == file_says(path.with_name("m.jsonl.1"))
    assert _stored(live, "m.jsonl") == file_says(path)


def test_a_second_reader_is_refused_in_one_sentence_when_no_owner_serves(tmp_path: Path) -> None:
    """An owner that serves no live reads (an older Cockpit): the locked sentence, exit 2."""
    import subprocess
    import sys
    import textwrap

    db = tmp_path / "h.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from cockpit.store.writer import StoreWriter
        w = StoreWriter({str(db)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        w.close()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        out = run_cockpit("query", "--db", str(db), "SELECT 1")
        assert out.returncode == 2 and "in use by another process" in out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    finally:
        holder.communicate("\n", timeout=30)
