"""`make bench`: runs every benchmark module and prints one markdown table.

Each module exposes `run(quick: bool) -> list[dict]` with the keys name, ours, reference,
ratio, target, note. Results are recorded by hand in benchmarks/RESULTS.md with the
command that produced them (timings depend on the machine; ratios much less).
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from typing import Any

MODULES = ["bench_ingest", "bench_tfevents", "bench_sampler", "bench_evals", "bench_ui",
           "bench_prometheus", "bench_notify", "bench_remote", "bench_lifecycle",
           "bench_live_reads", "bench_watch", "bench_soak"]
COLUMNS = ("name", "ours", "reference", "ratio", "target", "note")


def row(name: str, ours: Any, reference: Any = None, target: Any = None, note: str = "") -> dict:
    """One result row; the ratio is ours / reference when both are numbers."""
    ratio = None
    if isinstance(ours, int | float) and isinstance(reference, int | float) and reference:
        ratio = round(ours / reference, 3)
    return {"name": name, "ours": ours, "reference": reference, "ratio": ratio,
            "target": target, "note": note}


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")) for c in COLUMNS) + " |", flush=True)


def main() -> int:
    quick = bool(os.environ.get("QUICK"))
    only = sys.argv[1:]
    print(f"<!-- {time.strftime('%Y-%m-%d %H:%M')} {platform.node()} {os.cpu_count()} cores, "
          f"python {platform.python_version()}, quick={quick} -->")
    rows: list[dict[str, Any]] = []
    for name in MODULES:
        if only and name not in only:
            continue
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as err:
            print(f"<!-- {name}: not available ({err}) -->")
            continue
        rows.extend(module.run(quick=quick))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
