"""NvmlGateway against a fake pynvml module: every failure becomes NA and a one-line status."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from cockpit.telemetry.fake_nvml import FakeGpu, FakeNvml
from cockpit.telemetry.nvml_gateway import (
    ERR_DRIVER_NOT_LOADED,
    ERR_GPU_IS_LOST,
    ERR_LIB_RM_VERSION_MISMATCH,
    ERR_LIBRARY_NOT_FOUND,
    ERR_NO_PERMISSION,
    ERR_NOT_SUPPORTED,
    NA,
    NvmlGateway,
)


def _gateway(monkeypatch: pytest.MonkeyPatch, fake: FakeNvml) -> NvmlGateway:
    monkeypatch.setitem(sys.modules, "pynvml", fake.module())
    return NvmlGateway()


def _one_line(text: str) -> None:
    assert text and "\n" not in text and "Traceback" not in text


def test_reads_every_cheap_value_in_si_units(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(util_gpu=62, util_mem=40, mem_used=7 * 10**9, power_mw=421563,
                             power_limit_mw=700000, temp_c=46, clock_event_reasons=0x24)])
    gw = _gateway(monkeypatch, fake)
    assert gw.open()
    _one_line(gw.status)
    assert "1 GPU" in gw.status and "580.159.04" in gw.status
    reading = gw.read_device(0)
    assert reading.util_gpu == 62 and reading.util_mem == 40
    assert reading.mem_used == 7 * 10**9 and reading.mem_total == 85520809984
    assert reading.power_w == pytest.approx(421.563)
    assert reading.power_limit_w == pytest.approx(700.0)
    assert reading.temp_c == 46 and reading.sm_clock_mhz == 1980 and reading.mem_clock_mhz == 2619
    assert reading.clock_event_reasons == 0x24
    info = gw.device_info(0)
    assert info.name == "NVIDIA H100 80GB HBM3" and info.gpm_supported and not info.mig_enabled


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (ERR_LIBRARY_NOT_FOUND, "no NVIDIA driver"),
        (ERR_DRIVER_NOT_LOADED, "not loaded"),
        (ERR_NO_PERMISSION, "permission"),
        (ERR_LIB_RM_VERSION_MISMATCH, "version"),
        (999, "could not start"),
    ],
)
def test_init_failures_are_a_status_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    gw = _gateway(monkeypatch, FakeNvml(init_error=code))
    assert gw.open() is False
    assert not gw.available
    _one_line(gw.status)
    assert words in gw.status
    assert gw.device_count() == 0
    assert gw.read_device(0).util_gpu is None
    assert gw.processes(0) is NA
    gw.close()


def test_missing_bindings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    gw = NvmlGateway()
    assert gw.open() is False
    assert "nvidia-ml-py" in gw.status


def test_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    gw = _gateway(monkeypatch, FakeNvml(gpus=[]))
    assert gw.open() is False
    assert "sees no NVIDIA GPU" in gw.status


def test_real_bindings_on_this_machine_never_raise() -> None:
    gw = NvmlGateway()
    if gw.open():
        assert gw.device_count() >= 1
        gw.read_device(0)
    else:
        _one_line(gw.status)
    gw.close()


def test_not_supported_becomes_na_and_is_not_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu()])
    fake.errors["nvmlDeviceGetPowerUsage"] = ERR_NOT_SUPPORTED
    fake.errors["nvmlDeviceGetTemperature"] = ERR_NO_PERMISSION
    gw = _gateway(monkeypatch, fake)
    gw.open()
    first = gw.read_device(0)
    assert first.power_w is None and first.temp_c is None and first.util_gpu == 0
    gw.read_device(0)
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 1  # unsupported: cached, not retried
    assert fake.calls["nvmlDeviceGetTemperature"] == 2  # a permission error may go away


def test_lost_gpu_is_marked_reported_once_and_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(), FakeGpu(util_gpu=50)])
    gw = _gateway(monkeypatch, fake)
    gw.open()
    fake.errors[("nvmlDeviceGetUtilizationRates", 0)] = ERR_GPU_IS_LOST
    assert gw.read_device(0).util_gpu is None
    assert gw.is_lost(0) and not gw.is_lost(1)
    lost = gw.take_lost()
    assert [index for index, _ in lost] == [0]
    _one_line(lost[0][1])
    assert "XID 79" in lost[0][1]
    assert gw.take_lost() == []
    calls = sum(fake.calls.values())
    assert gw.read_device(0).mem_used is None
    assert sum(fake.calls.values()) == calls  # a lost GPU is not asked again
    assert gw.read_device(1).util_gpu == 50
    assert gw.device_info(0).lost


def test_mig_mode_is_a_normal_state(monkeypatch: pytest.MonkeyPatch) -> None:
    gw = _gateway(monkeypatch, FakeNvml([FakeGpu(mig_enabled=True, util_gpu=30)]))
    assert gw.open()
    assert "MIG" in gw.status
    _one_line(gw.status)
    assert gw.device_info(0).mig_enabled
    reading = gw.read_device(0)
    assert reading.util_gpu is None and reading.mem_used is not None


def test_gpm_needs_two_samples_and_skips_unsupported_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(gpm={2: 46.0, 3: 25.0, 5: 11.0, 10: 30.0}),
                     FakeGpu(gpm_supported=False)])
    gw = _gateway(monkeypatch, fake)
    gw.open()
    assert gw.gpm(0) is NA  # first sample only primes
    got = gw.gpm(0)
    assert got is not NA
    assert (got.sm_active, got.sm_occupancy, got.tensor_active, got.dram_active) == (
        46.0, 25.0, 11.0, 30.0)
    before = fake.calls["nvmlGpmSampleGet"]
    assert gw.gpm(1) is NA
    assert fake.calls["nvmlGpmSampleGet"] == before
    fake.gpus[0].gpm = {2: 50.0}  # a metric the driver did not compute stays None
    partial = gw.gpm(0)
    assert partial is not NA and partial.sm_active == 50.0 and partial.tensor_active is None


def test_processes_and_their_utilization(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(procs=[(481, 4777312256), (900, None)])])
    gw = _gateway(monkeypatch, fake)
    gw.open()
    procs = gw.processes(0)
    assert procs is not NA
    assert [(p.pid, p.used_mem) for p in procs] == [(481, 4777312256), (900, None)]
    assert gw.process_utilization(0, 0) == []  # NVML "not found" = no samples, not an error
    fake.gpus[0].proc_util = [(481, 15, 8)]
    utils = gw.process_utilization(0, 0)
    assert utils is not NA and [(u.pid, u.sm) for u in utils] == [(481, 15.0)]
    fake.errors["nvmlDeviceGetComputeRunningProcesses"] = ERR_NO_PERMISSION
    assert gw.processes(0) is NA


def test_driver_sample_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(util_buffer=[(1_000_000, 10), (2_000_000, 20)])])
    gw = _gateway(monkeypatch, fake)
    gw.open()
    assert gw.utilization_samples(0, 1_500_000) == [(2_000_000, 20.0)]
    assert gw.utilization_samples(0, 5_000_000) == []


def test_events_xid_timeout_and_ecc(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(), FakeGpu()])
    gw = _gateway(monkeypatch, fake)
    gw.open()
    assert gw.open_events()
    assert gw.wait_event(1) is None  # timeout
    fake.events.put((1, 0x8, 79))
    event = gw.wait_event(1000)
    assert event is not None and event is not NA
    assert (event.gpu, event.kind, event.code) == (1, "xid", 79)
    fake.events.put((0, 0x2, 0))
    event = gw.wait_event(1000)
    assert event is not None and event is not NA and event.kind == "ecc_double_bit"
    gw.close()
    assert gw.wait_event(1) is NA


def test_older_bindings_and_broken_names(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(clock_event_reasons=0x40)])
    module: Any = fake.module()
    module.nvmlDeviceGetCurrentClocksThrottleReasons = module.nvmlDeviceGetCurrentClocksEventReasons
    del module.nvmlDeviceGetCurrentClocksEventReasons
    del module.nvmlGpmQueryDeviceSupport  # bindings without GPM

    def broken_name(handle: object) -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    module.nvmlDeviceGetName = broken_name
    monkeypatch.setitem(sys.modules, "pynvml", module)
    gw = NvmlGateway()
    assert gw.open()
    assert gw.read_device(0).clock_event_reasons == 0x40
    info = gw.device_info(0)
    assert info.name is None and not info.gpm_supported
    assert gw.gpm(0) is NA
