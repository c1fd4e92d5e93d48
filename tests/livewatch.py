"""A real `cockpit watch` subprocess owning a history, for the live-read tests.

The watch holds the database; everything else reads it through the owner's socket
(cockpit.store.live), as a user's `cockpit query`, notebook or second app would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cockpit.store.live import LiveClient, socket_path
from cockpit.store.sql import Result


def cockpit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cockpit", *args], capture_output=True,
                          text=True, timeout=timeout)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.02) -> Any:
    """Poll a condition on another process until it holds (a subprocess offers no event)."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {predicate}")
        time.sleep(every)


class LiveWatch:
    """`cockpit watch ROOT --db DB` in a subprocess, with a client of its socket."""

    def __init__(self, root: Path, db: Path, poll: float = 0.05) -> None:
        self.root, self.db = root, db
        self.log = db.with_suffix(".watch.log")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cockpit", "watch", str(root), "--db", str(db),
                 "--poll", str(poll), "--json"], stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or socket_path(db).exists(), 60)
        assert self.proc.poll() is None, self.log.read_text()
        client = LiveClient.open(db)
        assert client is not None, self.log.read_text()
        self.client = client

    def query(self, sql: str, params: list[Any] | None = None) -> Result:
        return self.client.query(sql, params)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.query(sql, params).rows()

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def watched_run(tmp_path: Path, content: str) -> LiveWatch:
    """A watch over `tmp_path/runs` holding one run `a` whose `m.jsonl` says `content`."""
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (run / "m.jsonl").write_text(content)
    return LiveWatch(tmp_path / "runs", tmp_path / "h.duckdb")
