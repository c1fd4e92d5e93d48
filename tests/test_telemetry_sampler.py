"""Sampler tiers, threads, gap filling and odd states, against the fake NVML."""

from __future__ import annotations

import sys
import threading

import pytest

from cockpit.telemetry.fake_nvml import FakeGpu, FakeNvml
from cockpit.telemetry.nvml_gateway import ERR_GPU_IS_LOST, NvmlGateway
from cockpit.telemetry.rows import DRIVER_BUFFER_RESOLUTION, GPU_SAMPLE_COLUMNS, TelemetryBatch
from cockpit.telemetry.sampler import FOCUS_INTERVAL_S, Sampler, SamplerConfig
from cockpit.telemetry.sources import LocalNvmlSource, TelemetryUnavailable

GPM = {2: 46.0, 3: 25.0, 5: 11.0, 10: 30.0}


def _sampler(
    monkeypatch: pytest.MonkeyPatch, fake: FakeNvml, visible: bool = True, **config: object
) -> Sampler:
    monkeypatch.setitem(sys.modules, "pynvml", fake.module())
    gateway = NvmlGateway()
    assert gateway.open()
    return Sampler(gateway, lambda batch: None, host="node1",
                   config=SamplerConfig(**config),  # type: ignore[arg-type]
                   pid_visible=lambda pid: visible)


def test_sample_rows_have_exactly_the_gpu_samples_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(util_gpu=62, power_mw=421000, clock_event_reasons=0x24, gpm=GPM,
                             procs=[(432, 7 * 10**9)], proc_util=[(432, 63, 30)])])
    sampler = _sampler(monkeypatch, fake)
    first = sampler.sample_once(now=100.0)
    assert len(first.samples) == 1
    row = first.samples[0]
    assert tuple(row) == GPU_SAMPLE_COLUMNS
    assert row["host"] == "node1" and row["gpu"] == 0 and row["ts"] == 100.0
    assert row["power_w"] == pytest.approx(421.0)
    assert row["clock_event_reasons"] == "sw_power_cap,sw_thermal"
    assert row["sm_active"] is None  # GPM needs two samples
    assert first.processes[0]["pid"] == 432 and first.processes[0]["sm_util"] == 63
    assert first.processes[0]["used_mem"] == 7 * 10**9
    assert list(first.process_ticks) == [("node1", 0)]
    second = sampler.sample_once(now=101.0)
    row = second.samples[0]
    assert (row["sm_active"], row["tensor_active"], row["dram_active"], row["sm_occupancy"]) == (
        46.0, 11.0, 30.0, 25.0)
    assert second.process_ticks[("node1", 0)]["tensor_active"] == 11.0


def test_tiers_run_at_their_own_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(gpm=GPM), FakeGpu(gpm=GPM)])
    sampler = _sampler(monkeypatch, fake, interval_s=0.1)
    for tick in range(21):  # 2 s at 10 Hz
        batch = sampler.sample_once(now=1000.0 + tick * 0.1)
        assert len(batch.samples) == 2
    assert fake.calls["nvmlDeviceGetUtilizationRates"] == 42
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses"] == 6  # 1 Hz tier, 2 GPUs
    assert fake.calls["nvmlDeviceGetProcessUtilization"] == 6
    assert fake.calls["nvmlGpmSampleGet"] == 6
    assert fake.calls["nvmlDeviceGetPcieThroughput"] == 0  # never on the tick
    sampler.read_pcie_once()
    assert fake.calls["nvmlDeviceGetPcieThroughput"] == 4
    row = sampler.sample_once(now=1002.1).samples[0]
    assert (row["pcie_tx_kbs"], row["pcie_rx_kbs"]) == (1000, 500)


def test_threads_deliver_batches_pcie_and_xid_events(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(util_gpu=80, gpm=GPM)])
    fake.record_threads = True
    monkeypatch.setitem(sys.modules, "pynvml", fake.module())
    gateway = NvmlGateway()
    assert gateway.open()
    batches: list[TelemetryBatch] = []
    got_event = threading.Event()
    got_pcie = threading.Event()

    def sink(batch: TelemetryBatch) -> None:
        batches.append(batch)
        if any(e.kind == "xid" for e in batch.events):
            got_event.set()
        if any(s["pcie_tx_kbs"] is not None for s in batch.samples):
            got_pcie.set()

    config = SamplerConfig(interval_s=FOCUS_INTERVAL_S, event_wait_ms=50, pcie_interval_s=0.2)
    sampler = Sampler(gateway, sink, host="h", config=config)
    sampler.start()
    try:
        fake.events.put((0, 0x8, 48))
        assert got_event.wait(10), "the XID event never reached a batch"
        assert got_pcie.wait(10), "PCIe readings never reached a sample"
    finally:
        sampler.stop()
    xid = next(e for b in batches for e in b.events if e.kind == "xid")
    assert xid.code == 48 and xid.gpu == 0 and "ECC" in xid.message
    assert fake.call_threads["nvmlDeviceGetPcieThroughput"] == {"cockpit-gpu-pcie"}
    assert "cockpit-gpu-sampler" in fake.call_threads["nvmlDeviceGetUtilizationRates"]
    assert fake.call_threads["nvmlEventSetWait"] == {"cockpit-gpu-events"}


def test_lost_gpu_becomes_an_event_and_the_others_keep_sampling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeNvml([FakeGpu(), FakeGpu(util_gpu=55)])
    sampler = _sampler(monkeypatch, fake)
    sampler.sample_once(now=1.0)
    fake.errors[("nvmlDeviceGetMemoryInfo", 0)] = ERR_GPU_IS_LOST
    batch = sampler.sample_once(now=2.0)
    assert [s["gpu"] for s in batch.samples] == [1]
    assert [(e.kind, e.gpu) for e in batch.events] == [("gpu_lost", 0)]
    later = sampler.sample_once(now=3.0)
    assert [s["gpu"] for s in later.samples] == [1] and later.events == []
    assert "lost" in sampler.status


def test_pid_namespace_is_a_status_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(procs=[(123456, 10**9), (123457, 10**9)])])
    sampler = _sampler(monkeypatch, fake, visible=False)
    batch = sampler.sample_once(now=5.0)
    assert sorted(r["pid"] for r in batch.processes) == [123456, 123457]
    assert all(r["name"] is None for r in batch.processes)
    assert "PID namespace" in sampler.status and "\n" not in sampler.status


def test_a_missed_stretch_is_filled_from_the_driver_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = [(int((10.0 + i / 6) * 1e6), i) for i in range(1, 60)]  # ~6 samples a second
    fake = FakeNvml([FakeGpu(util_buffer=buffer)])
    sampler = _sampler(monkeypatch, fake)
    sampler.sample_once(now=10.0)
    normal = sampler.sample_once(now=11.0)
    assert [s["resolution"] for s in normal.samples] == ["full"]
    fake.gpus[0].util_gpu = 77
    gap = sampler.sample_once(now=15.0)  # 3 ticks missed
    filled = [s for s in gap.samples if s["resolution"] == DRIVER_BUFFER_RESOLUTION]
    assert filled and all(11.0 < s["ts"] < 14.5 for s in filled)
    assert [s["ts"] for s in filled] == sorted(s["ts"] for s in filled)
    assert gap.samples[-1]["resolution"] == "full" and gap.samples[-1]["util_gpu"] == 77
    assert all(s["util_gpu"] is not None for s in filled)


def test_focus_mode_switches_the_tick_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = _sampler(monkeypatch, FakeNvml())
    assert sampler.interval_s == 1.0
    sampler.set_focus(True)
    assert sampler.interval_s == FOCUS_INTERVAL_S
    sampler.set_focus(False)
    assert sampler.interval_s == 1.0


def test_local_source_without_nvml_raises_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(init_error=12).module())
    source = LocalNvmlSource()
    with pytest.raises(TelemetryUnavailable, match="no NVIDIA driver"):
        next(iter(source.batches()))


def test_local_source_streams_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([FakeGpu(util_gpu=9)]).module())
    source = LocalNvmlSource(config=SamplerConfig(interval_s=0.1, events=False))
    stop = threading.Event()
    seen = []
    for batch in source.batches(stop):
        seen.extend(batch.samples)
        if len(seen) >= 3:
            stop.set()
    source.close()
    assert len(seen) >= 3 and all(s["util_gpu"] == 9 for s in seen)
