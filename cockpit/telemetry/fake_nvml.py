"""A stand-in for the pynvml module: simulated GPUs whose readings and failures a test sets.

Used by the tests, the overhead benchmark and anyone without a GPU. `FakeNvml().module()`
returns a module object exposing the subset of pynvml that NvmlGateway calls, raising
`NVMLError(code)` exactly like the real bindings when a test asks for a failure.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any


class FakeNVMLError(Exception):
    """pynvml.NVMLError look-alike: `.value` is the NVML return code."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeGpu:
    """One simulated GPU's current state; tests change fields between ticks."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    util_gpu: int = 0
    util_mem: int = 0
    mem_used: int = 503316480
    mem_total: int = 85520809984
    power_mw: int = 70000
    power_limit_mw: int = 700000
    temp_c: int = 33
    sm_clock_mhz: int = 1980
    mem_clock_mhz: int = 2619
    clock_event_reasons: int = 0
    mig_enabled: bool = False
    gpm_supported: bool = True
    gpm: dict[int, float] = field(default_factory=dict)  # GPM metric id -> value
    procs: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, used bytes)
    proc_util: list[tuple[int, int, int]] = field(default_factory=list)  # (pid, sm, mem)
    pcie_kbs: tuple[int, int] = (1000, 500)
    util_buffer: list[tuple[int, int]] = field(default_factory=list)  # (ts_us, util)


class _Handle:
    def __init__(self, index: int) -> None:
        self.index = index


class FakeNvml:
    """Simulated NVML: `gpus`, `errors` {fn_name: code} or {(fn_name, index): code}, events."""

    def __init__(self, gpus: list[FakeGpu] | None = None, init_error: int | None = None) -> None:
        self.gpus = gpus if gpus is not None else [FakeGpu()]
        self.init_error = init_error
        self.errors: dict[Any, int] = {}
        self.calls: Counter[str] = Counter()
        self.call_threads: dict[str, set[str]] = {}
        self.events: queue.Queue[tuple[int, int, int]] = queue.Queue()  # (gpu, type, data)
        self.driver = "580.159.04"
        self.record_threads = False

    # -- plumbing --------------------------------------------------------------------------

    def _enter(self, fn: str, handle: Any = None) -> FakeGpu | None:
        self.calls[fn] += 1
        if self.record_threads:
            self.call_threads.setdefault(fn, set()).add(threading.current_thread().name)
        index = handle.index if isinstance(handle, _Handle) else None
        code = self.errors.get((fn, index), self.errors.get(fn))
        if code is not None:
            raise FakeNVMLError(code)
        return self.gpus[index] if index is not None else None

    def module(self) -> ModuleType:
        """A module object with the pynvml names NvmlGateway uses."""
        mod = ModuleType("pynvml")
        mod.NVMLError = FakeNVMLError  # type: ignore[attr-defined]
        mod.NVML_GPM_METRICS_GET_VERSION = 1  # type: ignore[attr-defined]
        mod.c_nvmlGpmMetricsGet_t = _MetricsRequest  # type: ignore[attr-defined]
        for name in dir(self):
            if name.startswith("nvml"):
                setattr(mod, name, getattr(self, name))
        return mod

    # -- session ---------------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.init_error is not None:
            raise FakeNVMLError(self.init_error)
        self._enter("nvmlInit")

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._enter("nvmlDeviceGetHandleByIndex")
        return _Handle(index)

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver

    def nvmlSystemGetNVMLVersion(self) -> str:
        self._enter("nvmlSystemGetNVMLVersion")
        return "13.580.159.04"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        return 13000

    # -- identity --------------------------------------------------------------------------

    def nvmlDeviceGetName(self, h: _Handle) -> str:
        gpu = self._enter("nvmlDeviceGetName", h)
        assert gpu is not None
        return gpu.name

    def nvmlDeviceGetUUID(self, h: _Handle) -> str:
        gpu = self._enter("nvmlDeviceGetUUID", h)
        assert gpu is not None
        return gpu.uuid

    def nvmlDeviceGetMigMode(self, h: _Handle) -> list[int]:
        gpu = self._enter("nvmlDeviceGetMigMode", h)
        assert gpu is not None
        return [int(gpu.mig_enabled), int(gpu.mig_enabled)]

    def nvmlGpmQueryDeviceSupport(self, h: _Handle) -> SimpleNamespace:
        gpu = self._enter("nvmlGpmQueryDeviceSupport", h)
        assert gpu is not None
        return SimpleNamespace(version=1, isSupportedDevice=int(gpu.gpm_supported))

    # -- cheap reads -----------------------------------------------------------------------

    def nvmlDeviceGetUtilizationRates(self, h: _Handle) -> SimpleNamespace:
        gpu = self._enter("nvmlDeviceGetUtilizationRates", h)
        assert gpu is not None
        if gpu.mig_enabled:
            raise FakeNVMLError(3)
        return SimpleNamespace(gpu=gpu.util_gpu, memory=gpu.util_mem)

    def nvmlDeviceGetMemoryInfo(self, h: _Handle) -> SimpleNamespace:
        gpu = self._enter("nvmlDeviceGetMemoryInfo", h)
        assert gpu is not None
        return SimpleNamespace(
            total=gpu.mem_total, used=gpu.mem_used, free=gpu.mem_total - gpu.mem_used
        )

    def nvmlDeviceGetPowerUsage(self, h: _Handle) -> int:
        gpu = self._enter("nvmlDeviceGetPowerUsage", h)
        assert gpu is not None
        return gpu.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h: _Handle) -> int:
        gpu = self._enter("nvmlDeviceGetEnforcedPowerLimit", h)
        assert gpu is not None
        return gpu.power_limit_mw

    def nvmlDeviceGetTemperature(self, h: _Handle, sensor: int) -> int:
        gpu = self._enter("nvmlDeviceGetTemperature", h)
        assert gpu is not None
        return gpu.temp_c

    def nvmlDeviceGetClockInfo(self, h: _Handle, clock: int) -> int:
        gpu = self._enter("nvmlDeviceGetClockInfo", h)
        assert gpu is not None
        return gpu.sm_clock_mhz if clock == 1 else gpu.mem_clock_mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: _Handle) -> int:
        gpu = self._enter("nvmlDeviceGetCurrentClocksEventReasons", h)
        assert gpu is not None
        return gpu.clock_event_reasons

    def nvmlDeviceGetSamples(self, h: _Handle, kind: int, since_us: int) -> tuple[int, list[Any]]:
        gpu = self._enter("nvmlDeviceGetSamples", h)
        assert gpu is not None
        fresh = [
            SimpleNamespace(timeStamp=ts, sampleValue=SimpleNamespace(uiVal=value))
            for ts, value in gpu.util_buffer
            if ts > since_us
        ]
        if not fresh:
            raise FakeNVMLError(6)
        return 1, fresh

    # -- processes and GPM -----------------------------------------------------------------

    def nvmlDeviceGetComputeRunningProcesses(self, h: _Handle) -> list[SimpleNamespace]:
        gpu = self._enter("nvmlDeviceGetComputeRunningProcesses", h)
        assert gpu is not None
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in gpu.procs]

    def nvmlDeviceGetProcessUtilization(self, h: _Handle, since_us: int) -> list[SimpleNamespace]:
        gpu = self._enter("nvmlDeviceGetProcessUtilization", h)
        assert gpu is not None
        if not gpu.proc_util:
            raise FakeNVMLError(6)
        return [
            SimpleNamespace(pid=pid, timeStamp=since_us + 1, smUtil=sm, memUtil=mem, encUtil=0, decUtil=0)
            for pid, sm, mem in gpu.proc_util
        ]

    def nvmlGpmSampleAlloc(self) -> SimpleNamespace:
        self._enter("nvmlGpmSampleAlloc")
        return SimpleNamespace(gpu=None)

    def nvmlGpmSampleGet(self, h: _Handle, sample: SimpleNamespace) -> SimpleNamespace:
        gpu = self._enter("nvmlGpmSampleGet", h)
        sample.gpu = gpu
        return sample

    def nvmlGpmSampleFree(self, sample: SimpleNamespace) -> None:
        self._enter("nvmlGpmSampleFree")

    def nvmlGpmMetricsGet(self, request: _MetricsRequest) -> _MetricsRequest:
        self._enter("nvmlGpmMetricsGet")
        gpu = request.sample2.gpu
        for slot in range(request.numMetrics):
            metric = request.metrics[slot]
            if metric.metricId in gpu.gpm:
                metric.value = gpu.gpm[metric.metricId]
                metric.nvmlReturn = 0
            else:
                metric.nvmlReturn = 3
        return request

    def nvmlDeviceGetPcieThroughput(self, h: _Handle, counter: int) -> int:
        gpu = self._enter("nvmlDeviceGetPcieThroughput", h)
        assert gpu is not None
        return gpu.pcie_kbs[counter]

    # -- events ----------------------------------------------------------------------------

    def nvmlEventSetCreate(self) -> SimpleNamespace:
        self._enter("nvmlEventSetCreate")
        return SimpleNamespace(registered={})

    def nvmlDeviceGetSupportedEventTypes(self, h: _Handle) -> int:
        self._enter("nvmlDeviceGetSupportedEventTypes", h)
        return 0x8 | 0x2 | 0x1

    def nvmlDeviceRegisterEvents(self, h: _Handle, mask: int, event_set: SimpleNamespace) -> None:
        self._enter("nvmlDeviceRegisterEvents", h)
        event_set.registered[h.index] = h

    def nvmlEventSetWait(self, event_set: SimpleNamespace, timeout_ms: int) -> SimpleNamespace:
        self._enter("nvmlEventSetWait")
        try:
            gpu, event_type, data = self.events.get(timeout=timeout_ms / 1000.0)
        except queue.Empty:
            raise FakeNVMLError(10) from None
        return SimpleNamespace(
            device=event_set.registered.get(gpu), eventType=event_type, eventData=data,
            gpuInstanceId=0, computeInstanceId=0,
        )

    def nvmlEventSetFree(self, event_set: SimpleNamespace) -> None:
        self._enter("nvmlEventSetFree")


class _MetricsRequest:
    """c_nvmlGpmMetricsGet_t look-alike."""

    def __init__(self) -> None:
        self.version = 0
        self.numMetrics = 0
        self.sample1: Any = None
        self.sample2: Any = None
        self.metrics = [SimpleNamespace(metricId=0, nvmlReturn=0, value=0.0) for _ in range(16)]
