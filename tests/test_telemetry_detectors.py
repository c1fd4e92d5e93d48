"""GPU detectors: the H100 acceptance scenarios, then each rule on synthetic samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cockpit.model.alert import Alert, severity_rank
from cockpit.telemetry.gpu_detectors import GpuHealthMonitor, GpuThresholds
from cockpit.telemetry.host import HostSnapshot, ProcessStat
from cockpit.telemetry.posthoc import gpu_alerts_for_run
from cockpit.telemetry.rows import GpuEvent, TelemetryBatch, new_process_row, new_sample

RUNS = Path(__file__).parent / "fixtures" / "h100-runs"
GB = 10**9


def _process(run: str) -> dict:
    return json.loads((RUNS / run / "process.json").read_text())


def _first_step_time(run: str) -> float:
    """Steady state: the first optimizer step the run logged."""
    first = (RUNS / run / "metrics.jsonl").read_text().splitlines()[0]
    return float(json.loads(first)["time"])


def _warnings(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if severity_rank(a.severity) >= severity_rank("warning")]


# -- acceptance on the real recordings ---------------------------------------------------------


def test_starved_dataloader_low_util_names_the_pid_within_30s() -> None:
    alerts = gpu_alerts_for_run(RUNS / "starved_dataloader", "starved_dataloader", "r1", None)
    low = [a for a in alerts if a.detector == "low_gpu_util"]
    assert len(low) == 1
    alert = low[0]
    assert alert.severity == "warning" and alert.run == "starved_dataloader" and alert.run_id == "r1"
    assert "481" in alert.message and alert.evidence["pid"] == 481
    steady = _first_step_time("starved_dataloader")
    assert alert.ts is not None and 0 <= alert.ts - steady <= 30
    assert alert.ts < _process("starved_dataloader")["process_end"]
    assert alert.evidence["diagnosis"] == "cpu_bound_likely"
    assert "CPU-bound" in alert.message and "starved input pipeline" in alert.message
    assert alert.evidence["util_gpu_mean"] < 30
    json.dumps(alert.to_json())  # serializable


def test_healthy_bf16_has_nothing_above_info_but_an_efficiency_advisory() -> None:
    alerts = gpu_alerts_for_run(RUNS / "healthy_bf16", "healthy_bf16", "r2", None)
    assert _warnings(alerts) == []
    advisory = [a for a in alerts if a.detector == "gpu_efficiency"]
    assert len(advisory) == 1 and advisory[0].severity == "info"
    evidence = advisory[0].evidence
    assert evidence["util_gpu_mean"] > evidence["sm_active_mean"] > evidence["tensor_active_mean"]
    assert evidence["tensor_active_mean"] < 20
    assert "tensor cores" in advisory[0].message


def test_memory_leak_warns_while_climbing_before_the_crash() -> None:
    alerts = gpu_alerts_for_run(RUNS / "memory_leak_oom", "memory_leak_oom", "r3", None)
    memory = [a for a in alerts if a.detector == "memory_pressure"]
    assert len(memory) == 1
    alert = memory[0]
    assert alert.severity == "warning" and alert.evidence["pid"] == 744
    crash = _process("memory_leak_oom")["process_end"]
    assert alert.ts is not None and alert.ts < crash - 5
    peak = max(json.loads(line)["mem_used"]
               for line in (RUNS / "memory_leak_oom" / "gpu_trace.jsonl").read_text().splitlines())
    assert alert.evidence["mem_used"] < 0.8 * peak  # still climbing, well short of the top
    assert alert.evidence["rise_bytes_per_s"] > 1e9
    assert [a.detector for a in _warnings(alerts)] == ["memory_pressure"]


@pytest.mark.parametrize("run", ["fp16_adam_eps_nan", "lr_stuck_at_zero"])
def test_busy_runs_raise_no_gpu_warning(run: str) -> None:
    assert _warnings(gpu_alerts_for_run(RUNS / run, run, "r", None)) == []


def test_posthoc_without_recording_or_process_json(tmp_path: Path) -> None:
    assert gpu_alerts_for_run(tmp_path, "empty", "r", None) == []
    # A recording given with --replay-gpu and no process.json: its processes are the run's
    # only when their lifetime matches the run's logging window.
    recording = tmp_path / "rec"
    recording.mkdir()
    for name in ("gpu_trace.jsonl", "gpu_procs.jsonl"):
        shutil.copy(RUNS / "starved_dataloader" / name, recording)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert gpu_alerts_for_run(run_dir, "run", "r9", recording) == []  # no evidence at all
    logged = (1795348964.7, 1795349004.2)  # the starved run's first and last logged times
    alerts = gpu_alerts_for_run(run_dir, "run", "r9", recording, window=logged)
    assert [a.detector for a in alerts] == ["low_gpu_util"] and alerts[0].run_id == "r9"
    before = (logged[0] - 3600, logged[1] - 3600)
    assert gpu_alerts_for_run(run_dir, "run", "r9", recording, window=before) == []


def test_posthoc_survives_a_damaged_recording(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(RUNS / "memory_leak_oom", run_dir)
    trace = run_dir / "gpu_trace.jsonl"
    data = trace.read_bytes()
    trace.write_bytes(data[: len(data) // 2] + b"\xff{oops\n" + data[len(data) // 2 : -50])
    (run_dir / "process.json").write_text("{not json")
    alerts = gpu_alerts_for_run(run_dir, "run", "r", None)
    assert all(isinstance(a, Alert) for a in alerts)


def test_other_users_processes_do_not_make_a_run_alert(tmp_path: Path) -> None:
    # process.json names another PID: the recorded process 481 is someone else's job.
    run_dir = tmp_path / "run"
    shutil.copytree(RUNS / "starved_dataloader", run_dir)
    (run_dir / "process.json").write_text('{"pid": 99999}')
    assert gpu_alerts_for_run(run_dir, "run", "r", None) == []
    monitor = GpuHealthMonitor()
    for batch in _synthetic(60, util=10, run_id=None):
        assert not [a for a in monitor.observe(batch) if a.detector == "low_gpu_util"]


# -- synthetic streams -------------------------------------------------------------------------


def _synthetic(
    seconds: int,
    util: float = 70,
    sm: float | None = None,
    tensor: float | None = None,
    mem: object = 10 * GB,
    reasons: str = "",
    run_id: str | None = "run-a",
    pid: int = 4242,
    hz: int = 10,
    start: float = 1000.0,
) -> list[TelemetryBatch]:
    batches = []
    for i in range(seconds * hz):
        ts = start + i / hz
        batch = TelemetryBatch(ts=ts)
        if i % hz == 0:
            batch.process_ticks[("h", 0)] = {}
            batch.processes.append(new_process_row(ts, "h", 0, pid, 5 * GB, None, run_id=run_id))
        sample = new_sample(ts, "h", 0)
        sample.update(util_gpu=util, sm_active=sm, tensor_active=tensor, mem_total=80 * GB,
                      mem_used=mem(i / hz) if callable(mem) else mem,
                      clock_event_reasons=reasons, sm_clock_mhz=1410.0, temp_c=88.0)
        batch.samples.append(sample)
        batches.append(batch)
    return batches


def _run(batches: list[TelemetryBatch], monitor: GpuHealthMonitor | None = None) -> list[Alert]:
    monitor = monitor or GpuHealthMonitor({"run-a": "a"})
    return [a for b in batches for a in monitor.observe(b)]


def _host(ts: float, pid: int, cpu: float, worker_cpu: float | None = None) -> HostSnapshot:
    snap = HostSnapshot(ts, "h", [cpu], 1, 2, None, None, None, None)
    snap.processes.append(ProcessStat(pid, 1, "python", "training", pid, "run-a", cpu, 1, None,
                                      None, 4))
    if worker_cpu is not None:
        snap.processes.append(ProcessStat(pid + 1, pid, "pt_data_worker", "worker", pid, "run-a",
                                          worker_cpu, 1, None, None, 1))
    return snap


def test_hung_run_is_called_idle_or_hung_after_the_idle_arm_time() -> None:
    alerts = _run(_synthetic(150, util=0, sm=0))
    low = [a for a in alerts if a.detector == "low_gpu_util"]
    assert len(low) == 1 and low[0].evidence["diagnosis"] == "idle_or_hung"
    t = GpuThresholds()
    assert low[0].ts == pytest.approx(1000 + t.idle_arm_s + t.low_util_window_s * 0.9, abs=1)
    assert "idle or hung" in low[0].message and "4242" in low[0].message


def test_logging_arms_low_util_without_waiting(tmp_path: Path) -> None:
    monitor = GpuHealthMonitor({"run-a": "a"})
    low = []
    for batch in _synthetic(30, util=0, sm=0):
        monitor.note_run_logged("run-a", batch.ts)  # the run logs while its GPU idles
        low += [a for a in monitor.observe(batch) if a.detector == "low_gpu_util"]
    assert len(low) == 1 and low[0].ts is not None and low[0].ts < 1025


def test_a_silent_run_on_an_idle_gpu_is_left_to_the_hang_decision() -> None:
    """A hung job holding its memory at ~0% is not "starved": the lifecycle's `stall` (hung)
    says so with the GPU's evidence; low_gpu_util stays quiet once the run stopped logging."""
    batches = _synthetic(90, util=0, sm=0)
    silent = GpuHealthMonitor({"run-a": "a"})
    silent.note_run_logged("run-a", 1000.5)  # logged once, at the start, then nothing
    assert not [a for a in _run(batches, silent) if a.detector == "low_gpu_util"]
    logging = GpuHealthMonitor({"run-a": "a"})
    alerts = []
    for batch in batches:  # still logging every second: starved, not hung
        logging.note_run_logged("run-a", batch.ts)
        alerts += logging.observe(batch)
    assert [a.detector for a in alerts if a.detector == "low_gpu_util"] == ["low_gpu_util"]


@pytest.mark.parametrize(("cpu", "worker", "diagnosis"), [
    (99.0, None, "cpu_bound"),
    (20.0, 100.0, "cpu_bound"),  # a data-loader worker pegging its core counts too
    (20.0, 10.0, "waiting"),
])
def test_host_cpu_decides_cpu_bound_or_waiting(cpu: float, worker: float | None,
                                                diagnosis: str) -> None:
    monitor = GpuHealthMonitor({"run-a": "a"})
    alerts = []
    for batch in _synthetic(40, util=12, sm=8):
        if batch.process_ticks:
            monitor.observe_host(_host(batch.ts, 4242, cpu, worker))
        alerts += monitor.observe(batch)
    low = [a for a in alerts if a.detector == "low_gpu_util"]
    assert len(low) == 1 and low[0].evidence["diagnosis"] == diagnosis


def test_low_util_recovers_and_can_fire_again() -> None:
    batches = (_synthetic(40, util=10) + _synthetic(40, util=80, sm=60, start=1040)
               + _synthetic(40, util=10, start=1080))
    low = [a for a in _run(batches) if a.detector == "low_gpu_util"]
    assert len(low) == 2


def test_low_sm_activity_alone_fires() -> None:
    low = [a for a in _run(_synthetic(40, util=60, sm=10)) if a.detector == "low_gpu_util"]
    assert len(low) == 1


def test_busy_but_underused_is_info_once_per_run() -> None:
    alerts = _run(_synthetic(120, util=70, sm=40, tensor=5))
    advisory = [a for a in alerts if a.detector == "gpu_efficiency"]
    assert len(advisory) == 1 and advisory[0].severity == "info"
    assert not [a for a in alerts if a.detector == "gpu_efficiency" and a is not advisory[0]]
    assert _run(_synthetic(120, util=90, sm=85, tensor=60)) == []
    assert [a.detector for a in _run(_synthetic(120, util=70))] == []  # no GPM: no advisory


def test_memory_leak_is_one_warning_a_one_off_allocation_none() -> None:
    leak = _run(_synthetic(60, mem=lambda t: int((5 + 1.5 * t) * GB)))
    assert [a.detector for a in leak] == ["memory_pressure"]
    jump = _run(_synthetic(60, mem=lambda t: int((5 if t < 20 else 70) * GB)))
    assert jump == []
    slow = _run(_synthetic(60, mem=lambda t: int((40 + 0.01 * t) * GB)))
    assert slow == []


def test_memory_near_full_and_rising_even_when_idle() -> None:
    alerts = _run(_synthetic(30, util=0, mem=lambda t: int((73 + 0.3 * t) * GB)))
    assert [a.detector for a in alerts] == ["memory_pressure"]
    assert alerts[0].evidence["used_frac"] >= 0.9


def test_memory_released_then_leaking_again_warns_again() -> None:
    def mem(t: float) -> int:
        return int((5 + 2 * (t % 40)) * GB)

    alerts = _run(_synthetic(80, mem=mem))
    assert [a.detector for a in alerts] == ["memory_pressure", "memory_pressure"]


def test_thermal_throttle_while_busy() -> None:
    alerts = _run(_synthetic(20, util=90, reasons="hw_thermal,sw_thermal"))
    assert [(a.detector, a.severity) for a in alerts] == [("thermal_throttle", "warning")]
    assert "hw_thermal" in alerts[0].message and "88 C" in alerts[0].message
    power = _run(_synthetic(20, util=90, reasons="sw_power_cap"))
    assert [(a.detector, a.severity) for a in power] == [("thermal_throttle", "info")]
    assert _run(_synthetic(20, util=2, reasons="hw_thermal")) == []  # idle: irrelevant
    assert _run(_synthetic(20, util=90, reasons="gpu_idle,sync_boost")) == []


def test_xid_and_lost_gpu_are_critical_for_the_run_on_that_gpu() -> None:
    monitor = GpuHealthMonitor({"run-a": "a"})
    _run(_synthetic(2), monitor)
    batch = TelemetryBatch(ts=2000.0, events=[
        GpuEvent(2000.0, "h", 0, "xid", 79, "XID 79: GPU has fallen off the bus"),
        GpuEvent(2000.0, "h", 0, "gpu_lost", None, "GPU 0 is lost"),
        GpuEvent(2000.0, "h", 1, "ecc_single_bit", None, "single-bit ECC error"),
    ])
    alerts = monitor.observe(batch)
    assert [(a.detector, a.severity, a.run) for a in alerts] == [
        ("xid", "critical", "a"), ("gpu_lost", "critical", "a"), ("ecc", "info", "h/gpu1")]
    assert "fallen off the bus" in alerts[0].message


# -- cluster telemetry: a workload named by labels, slow scrapes, gaps --------------------------


def _scraped(seconds: float, every: float, util: float, job: str | None,
             start: float = 1000.0, run_id: str | None = None) -> list[TelemetryBatch]:
    """What a Prometheus poll yields: one sample per scrape, its workload row beside it."""
    batches = []
    for i in range(int(seconds / every)):
        ts = start + i * every
        batch = TelemetryBatch(ts=ts)
        batch.process_ticks[("node-a", 3)] = {}
        if job is not None:
            batch.processes.append(new_process_row(ts, "node-a", 3, None, 30 * GB, None,
                                                   run_id=run_id, job=job))
        sample = new_sample(ts, "node-a", 3)
        sample.update(util_gpu=util, sm_active=util * 0.7, mem_total=80 * GB, mem_used=30 * GB)
        batch.samples.append(sample)
        batches.append(batch)
    return batches


def test_a_labelled_pod_is_a_holder_without_a_pid() -> None:
    monitor = GpuHealthMonitor()
    monitor.source = "prometheus"
    alerts = _run(_scraped(40, 1.0, 12, "pod/ml/train-7c9fd/trainer"), monitor)
    low = [a for a in alerts if a.detector == "low_gpu_util"]
    assert len(low) == 1
    alert = low[0]
    assert alert.run == "ml/train-7c9fd" and alert.run_id is None  # no watched run: the pod
    assert "held by pod ml/train-7c9fd (container trainer) on node-a" in alert.message
    assert alert.evidence["pid"] is None and alert.evidence["source"] == "prometheus"
    assert alert.evidence["workload"] == {"kind": "pod", "name": "train-7c9fd",
                                          "namespace": "ml", "container": "trainer"}


def test_a_gpu_nobody_is_known_to_hold_raises_no_low_util() -> None:
    assert not [a for a in _run(_scraped(60, 1.0, 12, None)) if a.detector == "low_gpu_util"]


def test_windows_stretch_to_a_slow_scrape_interval() -> None:
    """A 15 s scrape would never fill a 20 s window with enough samples to judge; windows
    hold at least 4 scrapes instead."""
    monitor = GpuHealthMonitor()
    alerts = _run(_scraped(150, 15.0, 10, "hpc_job/4242"), monitor)
    low = [a for a in alerts if a.detector == "low_gpu_util"]
    assert len(low) == 1 and low[0].evidence["window_s"] == pytest.approx(60, abs=0.5)
    assert "over 60 s" in low[0].message and "HPC job 4242" in low[0].message


def test_a_gap_restarts_the_windows_rather_than_bridging_it() -> None:
    job = "pod/ml/train-7c9fd/trainer"
    before = _scraped(10, 1.0, 10, job)  # 10 s starved, then 12 s without a sample
    after = _scraped(10, 1.0, 10, job, start=1021.0)  # a 20 s window would span the gap
    monitor = GpuHealthMonitor()
    assert not [a for a in _run(before + after, monitor) if a.detector == "low_gpu_util"]
    state = monitor._gpus[("node-a", 3)]
    assert state.pace.gaps == 1
    more = _scraped(12, 1.0, 10, job, start=1031.0)  # 20 s of samples after the gap: judged
    assert [a for a in _run(more, monitor) if a.detector == "low_gpu_util"]
