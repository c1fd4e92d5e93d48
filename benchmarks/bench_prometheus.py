"""A cluster through Prometheus: 64 GPUs on 8 hosts, polled every 5 s (issue 19).

A real Prometheus (Debian's package, tests/prometheus_server.py) scrapes 8 dcgm-exporter-
format endpoints (tests/dcgm_exporter.py, in their own process so their CPU is not ours)
every second, each host's 8 GPUs replaying the H100 recordings in Kubernetes pods. Measured
in this process, after a minute of history has gathered:

- Cockpit's CPU per poll for what `watch --gpu-source prometheus://…` does each poll: the
  query, the samples and workload rows, label attribution, the GPU detectors, the fleet view
  and the store (a real StoreWriter into a temp DuckDB), and its share of one core at 5 s;
- the same poll reading the whole 60 s window each time (what every poll did before issue
  19), as the reference: incremental polling reads points in proportion to the new ones;
- RSS of the process (peak) and its growth over the polling.

Without the `prometheus` binary the benchmark says so and returns no rows.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.run_all import row

ROOT = Path(__file__).resolve().parent.parent
POLL_S = 5.0
HOSTS, GPUS = 8, 8


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _exporters(folder: Path) -> tuple[subprocess.Popen[bytes], list[str]]:
    ports = folder / "ports.txt"
    proc = subprocess.Popen([sys.executable, "-m", "tests.dcgm_exporter", "--hosts", str(HOSTS),
                             "--gpus", str(GPUS), "--ports-file", str(ports)], cwd=ROOT)
    pause = threading.Event()
    for _ in range(300):
        if ports.exists():
            return proc, ports.read_text().split()
        pause.wait(0.1)
    proc.kill()
    raise RuntimeError("the exporters did not start")


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.process_time()
    got = fn()
    return got, time.process_time() - start


def run(quick: bool = False) -> list[dict]:
    if shutil.which("prometheus") is None:
        print("<!-- bench_prometheus: no prometheus binary (apt-get install prometheus) -->")
        return []
    sys.path.insert(0, str(ROOT))
    from cockpit.store.writer import StoreWriter
    from cockpit.telemetry.attribution import RunRef
    from cockpit.telemetry.pipeline import TelemetryPipeline
    from cockpit.telemetry.prometheus import PrometheusSource
    from tests.prometheus_server import PrometheusServer

    history_s = 30.0 if quick else 65.0
    polls = 4 if quick else int(os.environ.get("BENCH_PROMETHEUS_POLLS", "12"))
    folder = Path(tempfile.mkdtemp(prefix="cockpit-bench-prom-"))
    exporters, targets = _exporters(folder)
    server = PrometheusServer(folder / "prom", targets, scrape_interval="1s").start()
    writer = StoreWriter(folder / "h.duckdb")
    try:
        pause = threading.Event()
        pause.wait(history_s)  # a window's worth of history for the reference to re-read
        rss_before = _rss_mb()
        source = PrometheusSource(server.url, interval_s=POLL_S, timeout_s=30)
        pipeline = TelemetryPipeline(source, writer=writer)
        pipeline.set_runs([RunRef(f"r{i}", f"healthy-bf16-{i}", Path(f"/runs/{i}"))
                           for i in range(4)])
        windowed = PrometheusSource(server.url, timeout_s=30, overlap_s=60.0)
        for s in (source, windowed):
            s.poll()  # the first look (newest scrape per GPU) is not a steady-state poll
        ours_cpu, poll_cpu, ref_cpu, ours_points, ref_points, samples = [], [], [], [], [], []
        rss: list[float] = []
        for _ in range(polls):
            pause.wait(POLL_S)
            got, polled = _timed(source.poll)

            def handle(batches: list[Any] = got) -> None:
                for batch in batches:
                    pipeline.handle(batch)

            _, handled = _timed(handle)
            poll_cpu.append(polled)
            ours_cpu.append(polled + handled)
            ours_points.append(source.points_read)
            samples.append(sum(len(b.samples) for b in got))
            _, cpu = _timed(windowed.poll)
            ref_cpu.append(cpu)
            ref_points.append(windowed.points_read)
            rss.append(_rss_mb())
        assert pipeline.batcher is not None
        pipeline.batcher.flush()
        writer.flush()
        rss_after = _rss_mb()
        gpus = len(pipeline.fleet.snapshot())
    finally:
        writer.close()
        server.stop()
        exporters.kill()
        exporters.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    ms = sorted(c * 1000 for c in ours_cpu)[len(ours_cpu) // 2]
    ref_ms = sorted(c * 1000 for c in ref_cpu)[len(ref_cpu) // 2]
    mean_points = sum(ours_points) / len(ours_points)
    mean_ref_points = sum(ref_points) / len(ref_points)
    new_samples = sum(samples) / len(samples)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    where = f"{gpus} GPUs on {HOSTS} hosts, 1 s scrape, {POLL_S:g} s poll, median of {polls}"
    return [
        row("prometheus: CPU per poll, full watch path (ms)", round(ms, 1),
             note=f"{where}; query + samples + labels + detectors + fleet + store"),
        row("prometheus: share of one core at a 5 s poll (%)", round(ms / POLL_S / 10, 2),
             target="<= 1 %"),
        row("prometheus: source poll CPU, incremental vs 60 s window (ms)",
             round(sorted(poll_cpu)[len(poll_cpu) // 2] * 1000, 1), round(ref_ms, 1),
             note="the reference re-reads the whole window each poll (before issue 19)"),
        row("prometheus: points read per poll, incremental vs 60 s window",
             round(mean_points), round(mean_ref_points),
             note=f"{new_samples:.0f} new GPU samples per poll; overlap 3 s"),
        row("prometheus: RSS peak / growth over the polls (MB)", round(peak, 1),
            note=f"+{rss_after - rss_before:.1f} MB during {polls} polls, of which "
                 f"+{rss[-1] - rss[len(rss) // 2]:.1f} MB in the second half"),
    ]


if __name__ == "__main__":
    from benchmarks.run_all import print_table

    print_table(run(quick="--quick" in sys.argv))
