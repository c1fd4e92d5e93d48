"""What `cockpit watch` costs per live run, and with thousands of idle runs (issues 13, 17).

A real `python -m cockpit watch` child tails runs that another child process writes; its CPU
(all threads, user + system) and RSS are read from outside. Reference: the same watcher
with no run at all (one empty folder), measured the same way, so the per-run cost is the
difference. CPU seconds are robust on a shared machine; RSS is what the kernel reports.

    python -m benchmarks.bench_watch [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.watch_load import (
    ROOT,
    ProcessMeter,
    make_idle_runs,
    start_watch,
    start_writer,
    stop,
)

LIVE_RUNS = (1, 20, 100)
RATE_HZ = 10.0
IDLE_RUNS = 5000
TARGET_IDLE_PCT = 5.0


def _measure(watch: subprocess.Popen, warmup: float, seconds: float) -> tuple[float, float]:
    """% of a core and RSS of `watch` over `seconds` after `warmup`; stops it."""
    try:
        meter = ProcessMeter(watch.pid)
        time.sleep(warmup)
        win = meter.measure(seconds)
        return win.core_pct, win.rss_mb
    finally:
        stop(watch)


def _live(work: Path, runs: int, warmup: float, seconds: float) -> tuple[float, float]:
    root = work / f"live{runs}"
    root.mkdir()
    writer = start_writer(root, runs, RATE_HZ)
    time.sleep(1.0)  # the folders exist before the watcher starts
    try:
        return _measure(start_watch([root], work / f"live{runs}.duckdb"), warmup, seconds)
    finally:
        stop(writer)


def _baseline(work: Path, warmup: float, seconds: float) -> tuple[float, float]:
    root = work / "empty"
    root.mkdir()
    return _measure(start_watch([root], work / "empty.duckdb"), warmup, seconds)


def _import(root: Path, db: Path) -> tuple[int, float, str]:
    """`cockpit import` of every run folder: exit code, seconds, its last line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cockpit", "import", str(root), "--db", str(db)],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    last = (done.stdout.strip() or done.stderr.strip()).splitlines()[-1:] or [""]
    return done.returncode, time.monotonic() - t0, last[0]


def _idle(work: Path, runs: int, seconds: float) -> tuple[float, float, float, tuple]:
    root = work / "idle"
    make_idle_runs(root, runs)
    db = work / "idle.duckdb"
    imported = _import(root, db)
    watch = start_watch([root], db)
    meter = ProcessMeter(watch.pid)
    ingest_s = meter.settle(below_pct=25.0)
    cpu, rss = _measure(watch, 5.0, seconds)
    return cpu, rss, ingest_s, imported


def run(quick: bool = False) -> list[dict[str, Any]]:
    warmup, seconds = (5.0, 10.0) if quick else (15.0, 40.0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-watch-") as tmp:
        work = Path(tmp)
        base_cpu, base_rss = _baseline(work, warmup, seconds)
        rows.append({"name": "watch, no run (reference)", "ours": f"{base_cpu:.2f} % of a core, "
                     f"{base_rss:.0f} MB", "reference": "-", "ratio": "-", "target": "-",
                     "note": f"{seconds:.0f} s after {warmup:.0f} s warm-up"})
        for runs in LIVE_RUNS if not quick else (1, 20):
            cpu, rss = _live(work, runs, warmup, seconds)
            per_run = (cpu - base_cpu) / runs
            rows.append({
                "name": f"watch, {runs} live run(s) x {RATE_HZ:.0f} Hz (4 metrics a line)",
                "ours": f"{cpu:.2f} % of a core, {rss:.0f} MB",
                "reference": f"no run: {base_cpu:.2f} %, {base_rss:.0f} MB",
                "ratio": "-", "target": "-",
                "note": f"{per_run:.3f} % of a core and {(rss - base_rss) / runs:.2f} MB per run"})
        idle = 500 if quick else IDLE_RUNS
        cpu, rss, ingest_s, (code, import_s, said) = _idle(work, idle, seconds)
        rows.append({
            "name": f"`cockpit import` of {idle:,} run folders",
            "ours": f"exit {code} in {import_s:.0f} s", "reference": "-", "ratio": "-",
            "target": "exit 0 (was: exit 1, writer did not commit within 30 s)",
            "note": said})
        rows.append({
            "name": f"watch, {idle:,} idle runs (all stored, nothing changing)",
            "ours": f"{cpu:.2f} % of a core, {rss:.0f} MB",
            "reference": f"no run: {base_cpu:.2f} %", "ratio": "-",
            "target": f"<= {TARGET_IDLE_PCT:g} % of a core",
            "note": f"watch started on the imported history; settled after {ingest_s:.0f} s; "
                    f"measured {seconds:.0f} s"})
    return rows


if __name__ == "__main__":
    from benchmarks.run_all import print_table

    print_table(run(quick="--quick" in sys.argv or bool(os.environ.get("QUICK"))))
