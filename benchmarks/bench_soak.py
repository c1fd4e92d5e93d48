"""Soak: `cockpit watch` tailing 20 runs x 20 Hz for 30 minutes; is its cost flat? (issue 13)

Targets: CPU of every minute from the 5th to the last within +-15 % of their mean, and RSS
growth <= 30 MB from the end of the 5th minute (warm-up) to the end. The writer is a separate
process; the watcher is a real `python -m cockpit watch` child measured from outside.

    python -m benchmarks.bench_soak [--minutes 30] [--runs 20] [--rate 20] [--quick]

`--quick` (and `QUICK=1 make bench`) runs 3 minutes with 30-second windows and judges from
the 2nd window on: a smoke test of the harness, not a soak.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.watch_load import POINTS_PER_LINE, ProcessMeter, start_watch, start_writer, stop

TARGET_FLAT = 0.15
TARGET_RSS_MB = 30.0


def soak(minutes: float, runs: int, rate_hz: float, window_s: float, warm_windows: int,
         log: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cockpit-soak-") as tmp:
        work = Path(tmp)
        root = work / "runs"
        root.mkdir()
        writer = start_writer(root, runs, rate_hz)
        time.sleep(1.0)
        watch = start_watch([root], work / "soak.duckdb")
        windows = []
        try:
            meter = ProcessMeter(watch.pid)
            start = time.monotonic()
            n = int(minutes * 60 / window_s)
            for i in range(n):
                deadline = start + (i + 1) * window_s
                time.sleep(max(0.0, deadline - time.monotonic()))
                if watch.poll() is not None:
                    raise RuntimeError(f"watch exited early: {watch.stderr.read()!r}")
                win = meter.window()
                windows.append(win)
                if log is not None:
                    with open(log, "a") as f:
                        f.write(json.dumps({"window": i + 1, "t": round(win.t1 - start, 1),
                                            "core_pct": round(win.core_pct, 2),
                                            "rss_mb": round(win.rss_mb, 1)}) + "\n")
        finally:
            stop(watch)
            stop(writer)
    judged = windows[warm_windows - 1:]
    cpus = [w.core_pct for w in judged[1:]]
    mean = statistics.fmean(cpus)
    spread = max(abs(c - mean) / mean for c in cpus) if mean else 0.0
    growth = judged[-1].rss_mb - judged[0].rss_mb
    points = int(minutes * 60 * rate_hz * runs * POINTS_PER_LINE)
    return {"windows": [(round(w.core_pct, 2), round(w.rss_mb, 1)) for w in windows],
            "cpu_mean": mean, "cpu_spread": spread, "cpu_first": cpus[0], "cpu_last": cpus[-1],
            "rss_warm": judged[0].rss_mb, "rss_end": judged[-1].rss_mb, "rss_growth": growth,
            "points": points}


def _rows(r: dict[str, Any], minutes: float, runs: int, rate_hz: float, window_s: float,
          warm_windows: int) -> list[dict[str, Any]]:
    span = f"windows {warm_windows + 1}-{len(r['windows'])} of {window_s:.0f} s"
    return [{
        "name": f"soak: watch, {runs} runs x {rate_hz:.0f} Hz, {minutes:g} min "
                f"(~{r['points']:,} points)",
        "ours": f"CPU {r['cpu_first']:.1f} % -> {r['cpu_last']:.1f} % of a core "
                f"(mean {r['cpu_mean']:.1f} %, max deviation {r['cpu_spread']:.1%})",
        "reference": "its own mean over " + span, "ratio": round(r["cpu_spread"], 3),
        "target": f"within +-{TARGET_FLAT:.0%}",
        "note": "per-window CPU: " + ", ".join(f"{c:.0f}" for c, _ in r["windows"]),
    }, {
        "name": "  soak RSS growth after warm-up",
        "ours": f"{r['rss_warm']:.0f} MB -> {r['rss_end']:.0f} MB "
                f"({r['rss_growth']:+.1f} MB)",
        "reference": "-", "ratio": "-", "target": f"<= {TARGET_RSS_MB:g} MB",
        "note": "per-window RSS: " + ", ".join(f"{m:.0f}" for _, m in r["windows"]),
    }]


def run(quick: bool = False) -> list[dict[str, Any]]:
    minutes, window_s, warm = (3.0, 30.0, 2) if quick else (30.0, 60.0, 5)
    r = soak(minutes, 20, 20.0, window_s, warm)
    return _rows(r, minutes, 20, 20.0, window_s, warm)


def main() -> None:
    from benchmarks.run_all import print_table

    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--window", type=float, default=60.0)
    p.add_argument("--warm", type=int, default=5, help="windows of warm-up before judging")
    p.add_argument("--log", type=Path, help="append one JSON line per window here")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.quick or os.environ.get("QUICK"):
        print_table(run(quick=True))
        return
    r = soak(a.minutes, a.runs, a.rate, a.window, a.warm, a.log)
    print_table(_rows(r, a.minutes, a.runs, a.rate, a.window, a.warm))


if __name__ == "__main__":
    main()
