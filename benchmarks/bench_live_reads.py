"""Live reads (issue 13): query latency through the socket of a running `cockpit watch`, and
how old its answers are.

A history of 600k points is imported, then a real `cockpit watch` subprocess owns it while
20 runs append 20 lines a second each (what the soak logs). Three queries a user or the
second app asks (`cockpit runs`' query, one series of one run, a count over everything) are
timed through the owner's socket (`LiveClient`, what `cockpit query`, `runs` and
`cockpit.history()` use); the reference is the same queries on the file itself with nobody
holding it (a read-only connection), in the same process. Staleness: a line is appended
with a unique step and the time until a live query returns it is measured.

Targets: live query p95 <= 100 ms; answers no older than 1 s (staleness p95 <= 1 s).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.run_all import row
from cockpit.cli.ingest_cmds import RUNS_SQL
from cockpit.store.db import connect
from cockpit.store.live import LiveClient, socket_path
from cockpit.store.sql import run as run_sql

TARGET_P95_MS = 100.0
TARGET_STALE_S = 1.0
RUNS = 20
HZ = 20.0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _history(work: Path, lines: int) -> tuple[Path, Path]:
    root = work / "runs"
    for r in range(RUNS):
        (root / f"run{r:02d}").mkdir(parents=True)
    big = root / "run00" / "metrics.jsonl"
    with open(big, "w") as fh:
        for i in range(lines):
            fh.write(json.dumps({"step": i, "loss": 2.0 / (1 + i / 1000), "lr": 1e-3}) + "\n")
    for r in range(1, RUNS):
        with open(root / f"run{r:02d}" / "metrics.jsonl", "w") as fh:
            for i in range(200):
                fh.write(json.dumps({"step": i, "loss": 2.0, "lr": 1e-3}) + "\n")
    db = work / "h.duckdb"
    subprocess.run([sys.executable, "-m", "cockpit", "import", str(root), "--db", str(db)],
                   check=True, capture_output=True)
    return root, db


class _Appenders:
    """RUNS files grow by one line every 1/HZ s each, like training runs logging."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.step = 1_000_000

    def _loop(self) -> None:
        handles = [open(self.root / f"run{r:02d}" / "metrics.jsonl", "a")  # noqa: SIM115
                   for r in range(RUNS)]
        try:
            while not self.stop.wait(1.0 / HZ):
                self.step += 1
                for fh in handles:
                    fh.write(json.dumps({"step": self.step, "loss": 1.0, "lr": 1e-3}) + "\n")
                    fh.flush()
        finally:
            for fh in handles:
                fh.close()


QUERIES = {
    "runs": RUNS_SQL,
    "one series": "SELECT step, value FROM metrics WHERE run_id = (SELECT run_id FROM runs "
                  "WHERE name = 'run05') AND key = 'loss' ORDER BY step",
    "count": "SELECT key, count(*) FROM metrics GROUP BY key",
}


def _time(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 20 if quick else 100
    work = Path(tempfile.mkdtemp(prefix="cockpit-bench-live-"))
    root, db = _history(work, 50_000 if quick else 200_000)
    rows: list[dict[str, Any]] = []
    # Reference: the file itself, nobody holding it.
    con = connect(db, read_only=True)
    reference = {name: _p95(_time(lambda q=q: run_sql(con, q), n)) for name, q in QUERIES.items()}
    con.close()
    appenders = _Appenders(root)
    log = open(work / "watch.log", "w")  # noqa: SIM115
    watch = subprocess.Popen([sys.executable, "-m", "cockpit", "watch", str(root), "--db",
                              str(db), "--json"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not socket_path(db).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        client = LiveClient.open(db)
        assert client is not None, (work / "watch.log").read_text()
        appenders.thread.start()
        time.sleep(2.0)  # ingest is running
        for name, q in QUERIES.items():
            live = _p95(_time(lambda q=q: client.query(q), n))
            rows.append(row(f"live read p95, {name} (ms)", round(live, 1),
                             round(reference[name], 1), TARGET_P95_MS,
                             "while a watch ingests 20 runs x 20 Hz; ref: the file, unheld"))
        stale = []
        probe = root / "run00" / "metrics.jsonl"
        for i in range(10 if quick else 40):
            step = 10_000_000 + i
            with open(probe, "a") as fh:
                fh.write(json.dumps({"step": step, "loss": 0.5}) + "\n")
            t0 = time.perf_counter()
            while not client.query("SELECT count(*) FROM metrics WHERE step = ?",
                                   [step]).rows()[0][0]:
                time.sleep(0.005)
            stale.append(time.perf_counter() - t0)
        rows.append(row("live answer staleness p95 (s)", round(_p95(stale), 3), None,
                         TARGET_STALE_S, "append -> visible through the socket (watch --poll "
                         "0.25 s)"))
        client.close()
    finally:
        appenders.stop.set()
        os.kill(watch.pid, signal.SIGTERM)
        watch.wait(60)
        log.close()
    return rows


if __name__ == "__main__":
    from benchmarks.run_all import print_table

    print_table(run(quick=bool(os.environ.get("QUICK"))))
