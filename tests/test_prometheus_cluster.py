"""A cluster through a real Prometheus: Debian's `prometheus` on 127.0.0.1 scraping two
dcgm-exporter-format endpoints (tests/dcgm_exporter.py) that replay the H100 recordings.

node-a: GPU 0 is the starved data loader (pod ml/train-starved-7c9fd), GPU 1 the healthy bf16
run (pod ml/train-healthy-5d8f7b9c4-x2x4z). node-b: GPU 0 idle with no pod, GPU 1 the lr-stuck
run under HPC job 4242. Cockpit runs as the user runs it (`cockpit watch/gpu/check` in a child
process) against run folders named like the pods.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cockpit.store.db import connect
from tests.dcgm_exporter import H100, DcgmExporter, ExportedGpu, NodeExporter
from tests.prometheus_server import PrometheusServer, need_prometheus, wait_until

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[1]


@dataclass
class Cluster:
    prometheus: PrometheusServer
    exporters: list[DcgmExporter]
    node: NodeExporter
    started: float

    @property
    def source(self) -> str:
        return f"prometheus://127.0.0.1:{self.prometheus.port}"


def _exporters() -> list[DcgmExporter]:
    return [
        DcgmExporter("node-a", [
            ExportedGpu(0, "starved_dataloader", pod="train-starved-7c9fd", namespace="ml",
                        container="trainer"),
            ExportedGpu(1, "healthy_bf16", pod="train-healthy-5d8f7b9c4-x2x4z", namespace="ml",
                        container="trainer"),
        ]),
        DcgmExporter("node-b", [ExportedGpu(0), ExportedGpu(1, "lr_stuck_at_zero", hpc_job="4242")]),
    ]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binary = need_prometheus()
    exporters = _exporters()
    node = NodeExporter()  # node-a's node-exporter: the data loader pegs one core
    server = PrometheusServer(tmp_path_factory.mktemp("prom"), [e.target for e in exporters],
                              binary=binary, labelled={node.target: {"nodename": "node-a"}}).start()
    try:
        yield Cluster(server, exporters, node, time.time())
    finally:
        server.stop()
        node.close()
        for exporter in exporters:
            exporter.close()


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")


def _runs(tmp_path: Path, shift_to_now: bool = False) -> Path:
    """Run folders named like the pods, holding the recorded runs' metrics (read only: copies)."""
    root = tmp_path / "runs"
    for name, fixture in (("train-starved", "starved_dataloader"), ("train-healthy", "healthy_bf16")):
        folder = root / name
        folder.mkdir(parents=True)
        lines = (H100 / fixture / "metrics.jsonl").read_text().splitlines()
        if shift_to_now:  # the run logged over the last minute, while the cluster was scraped
            rows = [json.loads(line) for line in lines if line.strip()]
            shift = time.time() - rows[-1]["time"]
            lines = [json.dumps(dict(row, time=row["time"] + shift)) for row in rows]
        (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return root


class Child:
    """`python -m cockpit ...` with its stdout lines collected on a thread."""

    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "cockpit", *argv], env=_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.err: list[str] = []
        self.changed = threading.Condition()
        self._threads = [threading.Thread(target=self._read, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stdout, self.lines), (self.proc.stderr, self.err))]
        for thread in self._threads:
            thread.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self.changed:
                into.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_for(self, check: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                got = check()
                if got or self.proc.poll() is not None:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(5)
        return code

    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]


def test_watch_flags_the_starved_gpu_with_its_pod_and_not_the_healthy_one(
        cluster: Cluster, tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    watch = Child("watch", str(runs), "--gpu-source", cluster.source, "--json",
                  "--db", str(tmp_path / "h.duckdb"))
    try:
        def starved() -> list[dict[str, Any]]:
            return [a for a in watch.objects() if a.get("detector") == "low_gpu_util"]

        alerts = watch.wait_for(starved, 120)
        assert alerts, f"no low_gpu_util alert: {watch.lines} {watch.err}"
        # The healthy GPU was watched as long (same scrapes), longer than its window.
        settle = threading.Event()
        settle.wait(5)
    finally:
        assert watch.stop() in (0, 130)
    alert = alerts[0]
    assert alert["run"] == "train-starved" and alert["severity"] == "warning"
    evidence = alert["evidence"]
    assert evidence["source"] == "prometheus" and evidence["host"] == "node-a"
    assert evidence["gpu"] == 0 and evidence["pid"] is None
    assert evidence["workload"] == {"kind": "pod", "name": "train-starved-7c9fd",
                                    "namespace": "ml", "container": "trainer"}
    assert evidence["attribution"]["by"] == "kubernetes_pod"
    assert "pod ml/train-starved-7c9fd (container trainer) on node-a" in alert["message"]
    assert evidence["util_gpu_mean"] < 30
    # node-exporter on node-a: one core pegged, so the diagnosis is a starved input pipeline
    assert evidence["diagnosis"] == "cpu_bound" and evidence["cpu_scope"] == "host"
    assert evidence["busiest_cpu_percent"] > 90
    assert "a CPU core of node-a is" in alert["message"]
    warnings = [a for a in watch.objects() if a.get("severity") in ("warning", "critical")]
    assert {a["run"] for a in warnings} == {"train-starved"}, warnings
    con = connect(tmp_path / "h.duckdb", read_only=True)
    try:  # who held each GPU is stored: pods by name, with the run they were matched to
        held = con.execute(
            "SELECT DISTINCT p.host, p.gpu, p.job, r.name FROM gpu_processes p "
            "LEFT JOIN runs r USING (run_id) WHERE p.pid IS NULL ORDER BY 1, 2").fetchall()
    finally:
        con.close()
    assert ("node-a", 0, "pod/ml/train-starved-7c9fd/trainer", "train-starved") in held
    assert ("node-a", 1, "pod/ml/train-healthy-5d8f7b9c4-x2x4z/trainer", "train-healthy") in held
    assert ("node-b", 1, "hpc_job/4242", None) in held
    # The pod's GPU time is the run's: held GPU-hours, the starved part wasted, and the
    # warning says what it burned since its onset (issue 11's cost on label-attributed GPUs).
    assert isinstance(evidence["gpu_hours_since_onset"], float)
    con = connect(tmp_path / "h.duckdb", read_only=True)
    try:
        cost = dict((name, (gpu, wasted)) for name, gpu, wasted in con.execute(
            "SELECT name, gpu_hours, wasted_gpu_hours FROM runs").fetchall())
    finally:
        con.close()
    assert cost["train-starved"][0] > 0 and cost["train-healthy"][0] > 0
    assert 0 < cost["train-starved"][1] <= cost["train-starved"][0]
    assert not cost["train-healthy"][1]


def _timeline_ok(samples: list[dict[str, Any]]) -> dict[tuple[str, int], list[float]]:
    by_gpu: dict[tuple[str, int], list[float]] = {}
    for sample in samples:
        by_gpu.setdefault((sample["host"], sample["gpu"]), []).append(sample["ts"])
    for key, times in by_gpu.items():
        assert all(b > a for a, b in zip(times, times[1:], strict=False)), (key, times)
    return by_gpu


def test_history_then_live_is_one_strictly_increasing_timeline(cluster: Cluster) -> None:
    wait_until(lambda: time.time() - cluster.started > 12, 20, 0.5)
    started = time.time()
    gpu = Child("gpu", "--gpu-source", cluster.source, "--since", "10", "--interval", "1",
                "--json", "--count", "80")
    try:
        assert gpu.proc.wait(60) == 0, gpu.err
    finally:
        gpu.stop()
    samples = gpu.objects()
    assert len(samples) == 80
    by_gpu = _timeline_ok(samples)
    assert len(by_gpu) == 4
    times = [s["ts"] for s in samples]
    assert min(times) < started - 5 and max(times) > started  # history, then live
    keys = [(s["host"], s["gpu"], s["ts"]) for s in samples]
    assert len(keys) == len(set(keys))  # no scrape twice


def test_sigterm_stores_every_printed_sample(cluster: Cluster, tmp_path: Path) -> None:
    db = tmp_path / "gpu.duckdb"
    gpu = Child("gpu", "--gpu-source", cluster.source, "--since", "5", "--interval", "1",
                "--json", "--db", str(db))
    try:
        assert gpu.wait_for(lambda: len(gpu.lines) >= 40, 60), gpu.err
    finally:
        code = gpu.stop(signal.SIGTERM)
    assert code == 130
    printed = {(s["host"], s["gpu"], s["ts"]) for s in gpu.objects()}
    con = connect(db, read_only=True)
    try:
        stored = set(con.execute("SELECT host, gpu, ts FROM gpu_samples").fetchall())
    finally:
        con.close()
    assert len(printed) >= 40 and printed == stored


def test_recording_from_prometheus_keeps_every_field_and_its_source(
        cluster: Cluster, tmp_path: Path) -> None:
    wait_until(lambda: time.time() - cluster.started > 30, 40, 0.5)
    rec = tmp_path / "rec"
    gpu = Child("gpu", "--gpu-source", cluster.source, "--since", "28", "--json",
                "--count", "100", "--record", str(rec))
    assert gpu.proc.wait(60) == 0, gpu.err
    gpu.stop()
    assert json.loads((rec / "gpu_source.json").read_text())["source"] == "prometheus"
    procs = [json.loads(x) for x in (rec / "gpu_procs.jsonl").read_text().splitlines()]
    starved = [p for p in procs if p["host"] == "node-a" and p["gpu"] == 0]
    assert starved and all(p["gpm_sm_util"] is not None and p["gpm_tensor_util"] is not None
                           for p in starved)
    assert starved[0]["procs"] == [{"pid": None, "used_mem": starved[0]["procs"][0]["used_mem"],
                                    "job": "pod/ml/train-starved-7c9fd/trainer"}]
    runs = _runs(tmp_path)
    check = subprocess.run(
        [sys.executable, "-m", "cockpit", "check", str(runs / "train-starved"),
         "--replay-gpu", str(rec), "--json"], env=_env(), capture_output=True, text=True,
        timeout=120)
    alerts = [json.loads(line) for line in check.stdout.splitlines()]
    gpu_alerts = [a for a in alerts if a["detector"] == "low_gpu_util"]
    assert check.returncode == 1 and gpu_alerts, check.stdout + check.stderr
    assert all(a["evidence"]["source"] == "prometheus" for a in gpu_alerts)
    assert gpu_alerts[0]["evidence"]["workload"]["name"] == "train-starved-7c9fd"
    assert all(a["evidence"].get("gpu") in (None, 0) for a in alerts)  # not the healthy pod's


def test_check_reads_each_runs_gpu_history_from_prometheus(cluster: Cluster, tmp_path: Path) -> None:
    wait_until(lambda: time.time() - cluster.started > 30, 40, 0.5)
    runs = _runs(tmp_path, shift_to_now=True)
    check = subprocess.run(
        [sys.executable, "-m", "cockpit", "check", str(runs), "--gpu-source", cluster.source,
         "--json"], env=_env(), capture_output=True, text=True, timeout=120)
    alerts = [json.loads(line) for line in check.stdout.splitlines()]
    flagged = {(a["run"], a["detector"]) for a in alerts if a["severity"] != "info"}
    assert flagged == {("train-starved", "low_gpu_util")}, check.stdout + check.stderr
    assert check.returncode == 1


def test_outage_is_one_clear_state_and_a_gap(tmp_path: Path) -> None:
    exporters = _exporters()
    server = PrometheusServer(tmp_path / "prom", [e.target for e in exporters]).start()
    gpu = Child("gpu", "--gpu-source", f"prometheus://127.0.0.1:{server.port}", "--interval", "1",
                "--json")
    try:
        assert gpu.wait_for(lambda: len(gpu.lines) >= 8, 60), gpu.err
        server.stop()
        assert gpu.wait_for(lambda: any("unreachable since" in e for e in gpu.err), 30), gpu.err
        down = len(gpu.lines)
        threading.Event().wait(4)  # several failed polls: still one state, no new samples
        assert len(gpu.lines) == down
        server.start()
        assert gpu.wait_for(lambda: any("answers again" in e for e in gpu.err), 60), gpu.err
        assert gpu.wait_for(lambda: len(gpu.lines) >= down + 8, 60)
    finally:
        gpu.stop()
        server.stop()
        for exporter in exporters:
            exporter.close()
    unreachable = [e for e in gpu.err if "unreachable since" in e]
    back = [e for e in gpu.err if "answers again" in e]
    assert len(unreachable) == 1 and len(back) == 1, gpu.err
    assert "no GPU samples from" in back[0] and "(a gap, not zeros)" in back[0]
    by_gpu = _timeline_ok(gpu.objects())
    for times in by_gpu.values():
        steps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert max(steps) > 4  # the outage is a gap in the samples, not interpolated values


def test_the_apps_backend_shows_the_fleet_with_runs_and_pods(cluster: Cluster, tmp_path: Path) -> None:
    from cockpit.monitor.backend import Backend, BackendOptions

    runs = _runs(tmp_path)
    backend = Backend(BackendOptions(db_path=tmp_path / "app.duckdb", roots=[runs],
                                     gpu="prometheus", gpu_url=cluster.prometheus.url))
    backend.start()
    try:
        def fleet() -> dict[tuple[str, int], Any]:
            gpus = {(g.host, g.gpu): g for g in backend.fleet()[0]}
            ready = (len(gpus) == 4 and gpus[("node-a", 0)].run == "train-starved"
                     and gpus[("node-a", 1)].state == "busy")  # past the healthy run's warm-up
            return gpus if ready else {}

        gpus = wait_until(fleet, 90, 0.2)
        status = backend.gpu_status_text()
    finally:
        backend.close()
    assert gpus, "the fleet never showed the four GPUs with their runs"
    assert gpus[("node-a", 0)].holder == "ml/train-starved-7c9fd"
    assert gpus[("node-a", 0)].state == "starved" and gpus[("node-a", 1)].state == "busy"
    assert gpus[("node-a", 1)].run == "train-healthy"
    assert gpus[("node-b", 0)].state == "idle" and gpus[("node-b", 0)].holder is None
    assert gpus[("node-b", 1)].holder == "HPC job 4242" and gpus[("node-b", 1)].run is None
    assert status == f"GPU: Prometheus at {cluster.prometheus.url}"
