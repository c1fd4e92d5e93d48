"""Run lifecycle with real processes: they write, hang with the file open, exit 0, crash with a
traceback and get SIGKILLed, under `cockpit watch` (a real subprocess) and the app's backend.
Nothing is simulated: states come from the processes Cockpit finds writing each run.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHILD = Path(__file__).with_name("lifecycle_child.py")
STALL_AFTER = 3.0
pytestmark = pytest.mark.slow


def start_child(run: Path, style: str, end: str, lines: int = 60) -> subprocess.Popen[bytes]:
    """A training process whose stdout and stderr go to the run folder, like a shell redirect."""
    run.mkdir(parents=True, exist_ok=True)
    log = open(run / ("train.log" if style == "text" else "stdout.log"), "ab")  # noqa: SIM115
    try:
        return subprocess.Popen([sys.executable, str(CHILD), str(run), "--style", style,
                                 "--end", end, "--lines", str(lines)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE)
    finally:
        log.close()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               context: Callable[[], Any] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {context()}"
        time.sleep(0.05)


class Watch:
    """`cockpit watch ROOT --json` as a subprocess; its lines parsed as they come."""

    def __init__(self, root: Path, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cockpit", "watch", str(root), "--db", str(db), "--json",
             "--stall-after", str(STALL_AFTER)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[dict[str, Any]] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)

    def seen(self) -> list[dict[str, Any]]:
        while not self._queue.empty():
            self.lines.append(json.loads(self._queue.get()))
        return self.lines

    def states(self, run: str) -> list[str]:
        return [x["lifecycle"] for x in self.seen() if "lifecycle" in x and x["run"] == run]

    def alerts(self, run: str) -> list[dict[str, Any]]:
        return [x for x in self.seen() if "detector" in x and x["run"] == run]

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return err


def test_watch_tells_running_hung_finished_failed_and_killed_apart(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    watch = Watch(root, tmp_path / "h.duckdb")
    children: list[subprocess.Popen[bytes]] = []
    try:
        hang = start_child(root / "hang", "text", "hang")
        ok = start_child(root / "ok", "text", "exit0")
        crash = start_child(root / "crash", "jsonl", "crash")
        killed = start_child(root / "killed", "jsonl", "wait")
        children = [hang, ok, crash, killed]
        for name in ("hang", "ok", "crash", "killed"):
            wait_until(lambda n=name: "running" in watch.states(n), 30, f"{name} running")

        # exit 0 (reaped at once by its parent: the exit status is not visible) -> finished.
        assert ok.wait(30) == 0
        wait_until(lambda: "finished" in watch.states("ok"), 15, "ok finished", watch.seen)
        # SIGKILL, not reaped yet: the zombie shows the signal -> failed.
        wait_until(lambda: (root / "killed" / "metrics.jsonl").stat().st_size > 200, 15, "logs")
        killed.send_signal(signal.SIGKILL)
        wait_until(lambda: "failed" in watch.states("killed"), 15, "killed failed")
        killed.wait()
        # A traceback at the end of the stdout log beside the JSONL metrics -> failed.
        wait_until(lambda: "failed" in watch.states("crash"), 30, "crash failed")
        # Alive, files open, silent -> hung within stall-after + 10 s of its last line.
        last_line = wait_until(lambda: _quiet_since(root / "hang" / "train.log"), 30, "quiet")
        wait_until(lambda: "hung" in watch.states("hang"), 40, "hang hung")
        assert time.time() - last_line <= STALL_AFTER + 10
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
        err = watch.stop()
    assert "Traceback" not in err

    lines = watch.seen()
    changes = {x["run"]: x for x in lines if "lifecycle" in x and x["lifecycle"] != "running"}
    assert watch.states("ok") == ["running", "finished"]
    assert not [a for a in watch.alerts("ok") if a["severity"] != "info"]
    assert watch.states("hang")[:2] == ["running", "hung"]
    hung = [a for a in watch.alerts("hang") if a["detector"] == "stall"]
    assert [(a["severity"], a["evidence"]["classification"]) for a in hung] == [("warning", "hung")]
    assert [p["pid"] for p in hung[0]["evidence"]["processes"]] == [hang.pid]
    assert f"PID {hang.pid} is sleeping" in hung[0]["message"]
    crash_reason = changes["crash"]["reason"]
    assert crash_reason.startswith("RuntimeError: CUDA error: an illegal memory access")
    crashes = [a for a in watch.alerts("crash") if a["detector"] == "crash"]
    assert [a["severity"] for a in crashes] == ["critical"], crashes
    assert "CUDA error" in crashes[0]["message"]
    assert changes["killed"]["reason"] == f"writer PID {killed.pid} killed by SIGKILL"
    kills = [a for a in watch.alerts("killed") if a["detector"] == "crash"]
    assert len(kills) == 1 and "killed" in kills[0]["message"]

    from cockpit.store.db import connect

    con = connect(tmp_path / "h.duckdb", read_only=True)
    try:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT name, status, ended_at IS NOT NULL, updated_at IS NOT NULL, host "
            "FROM runs").fetchall()}
    finally:
        con.close()
    assert rows["ok"][:3] == ("finished", True, True)  # a text log with no timestamps
    assert rows["crash"][:2] == ("failed", True) and rows["killed"][:2] == ("failed", True)
    assert rows["hang"][:3] == ("hung", False, True)
    assert rows["hang"][3] == os.uname().nodename


def _quiet_since(log: Path) -> float | None:
    """The log's last write once it has stopped growing (the hung child logged its last line)."""
    text = log.read_text()
    if text.count("iter ") < 60:
        return None
    return log.stat().st_mtime


def test_the_app_backend_reads_the_same_decision(tmp_path: Path) -> None:
    from cockpit.monitor.backend import Backend, BackendOptions

    root = tmp_path / "runs"
    root.mkdir()
    backend = Backend(BackendOptions(tmp_path / "app.duckdb", [root], gpu="off",
                                     stall_after=STALL_AFTER, poll_interval=0.05))
    changes: list[Any] = []
    backend.lifecycle_listeners.append(changes.extend)
    children = []
    try:
        backend.start()
        # What a reader sees of a run at the moment its alerts are handed to the writer:
        # the state those alerts announce must not be committed ahead of them.
        stored_before: list[tuple[str, str | None]] = []
        annotate = backend.engine.annotate

        def watching_annotate(alerts: list[Any]) -> None:
            backend.writer.flush()
            probe = backend.cursor()
            try:
                for a in alerts:
                    row = probe.execute("SELECT status FROM runs WHERE run_id = ?",
                                        [a.run_id]).fetchone()
                    stored_before.append((a.run, row[0] if row else None))
            finally:
                probe.close()
            if annotate is not None:
                annotate(alerts)

        backend.engine.annotate = watching_annotate
        hang = start_child(root / "hang", "jsonl", "hang")
        ok = start_child(root / "ok", "jsonl", "exit0")
        crash = start_child(root / "crash", "text", "crash")
        children = [hang, ok, crash]
        cur = backend.cursor()

        def status(name: str) -> str | None:
            row = cur.execute("SELECT status FROM runs WHERE name = ?", [name]).fetchone()
            return row[0] if row else None

        wait_until(lambda: status("ok") == "finished", 40, "ok finished")
        wait_until(lambda: status("crash") == "failed", 40, "crash failed")
        wait_until(lambda: status("hang") == "hung", 40, "hang hung")
        alerts = cur.execute("SELECT r.name, a.detector, a.severity FROM alerts a "
                             "JOIN runs r USING (run_id)").fetchall()
        assert ("hang", "stall", "warning") in alerts and ("crash", "crash", "critical") in alerts
        assert not [a for a in alerts if a[0] == "ok" and a[2] != "info"]
        assert ("hang", "hung") not in stored_before and ("crash", "failed") not in stored_before
        assert ("hang", "running") in stored_before  # the probe did look
        assert {(c.run, c.state) for c in changes} >= {("ok", "finished"), ("crash", "failed"),
                                                      ("hang", "hung")}
        cur.close()
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
        backend.close()
