"""Load for the `watch` benchmarks: a child process that writes training logs at a fixed rate,
and the measurement of another process's CPU and RSS over time.

The writer is its own process so its cost never counts as the watcher's; the watcher is a real
`python -m cockpit watch` child, measured from outside through /proc (psutil), all threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent

# One line per tick per run, like the torch integration writes: step, time and 4 metrics.
WRITER = r"""
import math, os, random, sys, time
root, runs, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
files = []
for i in range(runs):
    d = os.path.join(root, f"run{i:05d}")
    os.makedirs(d, exist_ok=True)
    files.append(open(os.path.join(d, "metrics.jsonl"), "a", buffering=1))
rnd = random.Random(0)
start = time.monotonic()
step = 0
while seconds <= 0 or time.monotonic() - start < seconds:
    now = time.time()
    for f in files:
        loss = 2.0 + math.exp(-step / 2000.0) + rnd.random() * 0.05
        f.write(f'{{"step": {step}, "time": {now:.3f}, "loss": {loss:.6f}, "lr": 0.0003, '
                f'"grad_norm": {0.5 + rnd.random() * 0.1:.5f}, '
                f'"tokens_per_s": {300000 + rnd.random() * 1000:.1f}}}\n')
    step += 1
    delay = start + step / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
"""

POINTS_PER_LINE = 4


def start_writer(root: Path, runs: int, rate_hz: float, seconds: float = 0) -> subprocess.Popen:
    """Append one line per run every 1/rate_hz seconds (forever when seconds is 0)."""
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(runs), str(rate_hz),
                             str(seconds)])


def make_idle_runs(root: Path, runs: int, lines: int = 20) -> None:
    """`runs` finished run folders, each with a short metrics.jsonl."""
    for i in range(runs):
        d = root / f"idle{i:05d}"
        d.mkdir(parents=True, exist_ok=True)
        body = "".join(f'{{"step": {s}, "loss": {1.0 / (s + 1):.5f}, "lr": 0.0003}}\n'
                       for s in range(lines))
        (d / "metrics.jsonl").write_text(body)


def start_watch(paths: list[Path], db: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "cockpit", "watch", *map(str, paths), "--db", str(db), "--json",
         *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)


def stop(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Window:
    """CPU and memory of a process over one stretch of wall time."""

    t0: float
    t1: float
    cpu_s: float
    rss_mb: float

    @property
    def core_pct(self) -> float:
        return 100.0 * self.cpu_s / max(self.t1 - self.t0, 1e-9)


class ProcessMeter:
    """CPU seconds (user + system, all threads) and RSS of a running process."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self._t = time.monotonic()
        self._cpu = self._cpu_now()

    def _cpu_now(self) -> float:
        times = self.proc.cpu_times()
        return times.user + times.system

    def window(self) -> Window:
        """CPU used since the previous call (or creation) and the RSS now."""
        t, cpu = time.monotonic(), self._cpu_now()
        win = Window(self._t, t, cpu - self._cpu, self.proc.memory_info().rss / 2**20)
        self._t, self._cpu = t, cpu
        return win

    def measure(self, seconds: float) -> Window:
        self.window()
        time.sleep(seconds)
        return self.window()

    def settle(self, below_pct: float, every: float = 2.0, timeout: float = 600.0) -> float:
        """Wait until a window of `every` seconds uses less than `below_pct` of a core
        (an initial backlog ingested); returns the seconds it took."""
        start = time.monotonic()
        self.window()
        while time.monotonic() - start < timeout:
            time.sleep(every)
            if self.window().core_pct < below_pct:
                break
        return time.monotonic() - start
