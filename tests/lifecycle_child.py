"""A real training-like process for the lifecycle tests: it logs, then ends the way it is told.

    python tests/lifecycle_child.py RUN_DIR --style text|jsonl --end exit0|hang|crash|wait

`text`: nanoGPT-style lines on stdout with no timestamps (the test points stdout at
RUN_DIR/train.log, as `python train.py > run/train.log 2>&1` does). `jsonl`: metrics in
RUN_DIR/metrics.jsonl, held open, while stdout only gets a banner (and a traceback on crash).
`hang` keeps every file open and sleeps; `wait` blocks on stdin until the test kills it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--style", choices=("text", "jsonl"), default="text")
    parser.add_argument("--end", choices=("exit0", "hang", "crash", "wait"), default="exit0")
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--every", type=float, default=0.1)
    args = parser.parse_args()
    args.run_dir.mkdir(parents=True, exist_ok=True)
    print(f"training in {args.run_dir} ({args.end})", flush=True)
    metrics = open(args.run_dir / "metrics.jsonl", "a") if args.style == "jsonl" else None  # noqa: SIM115
    for step in range(args.lines):
        loss = 4.0 * math.exp(-step / 40) + 1.0
        if metrics is not None:
            metrics.write(json.dumps({"step": step, "loss": loss, "lr": 1e-3}) + "\n")
            metrics.flush()
        else:
            print(f"iter {step}: loss {loss:.4f}, time {args.every * 1000:.2f}ms", flush=True)
        time.sleep(args.every)
    if args.end == "crash":
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    if args.end == "hang":
        while True:  # a deadlock: alive, files open, nothing logged
            time.sleep(3600)
    if args.end == "wait":
        sys.stdin.readline()
    print("done", flush=True)


if __name__ == "__main__":
    main()
