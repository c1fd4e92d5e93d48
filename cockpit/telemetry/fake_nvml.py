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
from pathlib import Path
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

    def __init__(self, gpus: list[FakeGpu] | None = None, init_error: int | None = None,
                 error: type[Exception] = FakeNVMLError) -> None:
        self.gpus = gpus if gpus is not None else [FakeGpu()]
        self.init_error = init_error
        self.error = error  # what a failing call raises: pynvml's NVMLError in `pynvml_module`
        self.errors: dict[Any, int] = {}
        self.calls: Counter[str] = Counter()
        self.call_threads: dict[str, set[str]] = {}
        self.events: queue.Queue[tuple[int, int, int]] = queue.Queue()  # (gpu, type, data)
        self.driver = "580.159.04"
        self.record_threads = False
        self._handles: dict[int, _Handle] = {}

    # -- plumbing --------------------------------------------------------------------------

    def _enter(self, fn: str, handle: Any = None) -> FakeGpu | None:
        self.calls[fn] += 1
        if self.record_threads:
            self.call_threads.setdefault(fn, set()).add(threading.current_thread().name)
        index = handle.index if isinstance(handle, _Handle) else None
        code = self.errors.get((fn, index), self.errors.get(fn))
        if code is not None:
            raise self.error(code)
        return self.gpus[index] if index is not None else None

    def module(self) -> ModuleType:
        """A module object with the pynvml names NvmlGateway uses."""
        mod = ModuleType("pynvml")
        mod.NVMLError = self.error  # type: ignore[attr-defined]
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
            raise self.error(self.init_error)
        self._enter("nvmlInit")

    def nvmlInitWithFlags(self, flags: int) -> None:
        self.nvmlInit()

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._enter("nvmlDeviceGetHandleByIndex")
        return self._handles.setdefault(index, _Handle(index))

    def nvmlDeviceGetIndex(self, h: _Handle) -> int:
        self._enter("nvmlDeviceGetIndex", h)
        return h.index

    def nvmlDeviceIsMigDeviceHandle(self, h: _Handle) -> int:
        self._enter("nvmlDeviceIsMigDeviceHandle", h)
        return 0

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
            raise self.error(3)
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

    def nvmlDeviceGetPowerManagementLimit(self, h: _Handle) -> int:
        gpu = self._enter("nvmlDeviceGetPowerManagementLimit", h)
        assert gpu is not None
        return gpu.power_limit_mw

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
            raise self.error(6)
        return 1, fresh

    # -- processes and GPM -----------------------------------------------------------------

    def nvmlDeviceGetComputeRunningProcesses(self, h: _Handle) -> list[SimpleNamespace]:
        gpu = self._enter("nvmlDeviceGetComputeRunningProcesses", h)
        assert gpu is not None
        return [SimpleNamespace(pid=pid, usedGpuMemory=used, gpuInstanceId=0xFFFFFFFF,
                                computeInstanceId=0xFFFFFFFF) for pid, used in gpu.procs]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: _Handle) -> list[SimpleNamespace]:
        self._enter("nvmlDeviceGetGraphicsRunningProcesses", h)
        return []

    def nvmlDeviceGetProcessUtilization(self, h: _Handle, since_us: int) -> list[SimpleNamespace]:
        gpu = self._enter("nvmlDeviceGetProcessUtilization", h)
        assert gpu is not None
        if not gpu.proc_util:
            raise self.error(6)
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
            raise self.error(10) from None
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


def pynvml_module(fake: FakeNvml) -> ModuleType:
    """The installed pynvml (nvidia-ml-py: its error classes, constants and structs) with every
    driver call that `fake` knows answered by `fake`, raising pynvml's own NVMLError.

    A third-party NVML client (nvitop) runs on it as on a GPU, so a benchmark can measure it
    side by side with Cockpit on the same simulated GPUs. Calls `fake` does not know go to the
    real library, which without a driver answers "not initialised"; clients treat that as N/A.
    """
    import importlib.metadata
    import importlib.util
    import sys

    # The installed file itself: `pynvml` on sys.path may be the stand-in being imported.
    where = importlib.metadata.distribution("nvidia-ml-py").locate_file("pynvml.py")
    spec = importlib.util.spec_from_file_location("_pynvml_real", str(where))
    assert spec is not None and spec.loader is not None, "nvidia-ml-py is not installed"
    real = sys.modules["_pynvml_real"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(real)
    mod = ModuleType("pynvml")
    mod.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    fake.error = real.NVMLError
    for name, value in vars(fake.module()).items():
        if name.startswith("nvml") or name == "c_nvmlGpmMetricsGet_t":  # GPM samples are fakes
            setattr(mod, name, value)
    entry_points = _c_entry_points(fake)

    def function_pointer(name: str) -> Any:
        if name not in entry_points:
            raise real.NVMLError(13)  # NVML_ERROR_FUNCTION_NOT_FOUND
        return entry_points[name]

    mod._nvmlGetFunctionPointer = function_pointer  # type: ignore[attr-defined]
    mod.__cockpit_fake__ = True  # type: ignore[attr-defined]
    return mod


def _c_entry_points(fake: FakeNvml) -> dict[str, Any]:
    """The few NVML C functions clients call through ctypes directly (nvitop does for memory,
    temperature and process lists): same signatures, answered from `fake`'s GPUs."""

    def answered(fn_name: str, fill: Any) -> Any:
        def entry(handle: Any, *args: Any) -> int:
            try:
                gpu = fake._enter(fn_name, handle)
            except fake.error as err:
                return int(getattr(err, "value", 999))
            return int(fill(gpu, *args))
        return entry

    def memory(gpu: FakeGpu, ref: Any) -> int:
        mem = ref._obj
        mem.total, mem.used, mem.free = gpu.mem_total, gpu.mem_used, gpu.mem_total - gpu.mem_used
        return 0

    def temperature(gpu: FakeGpu, sensor: Any, ref: Any) -> int:
        ref._obj.value = gpu.temp_c
        return 0

    def processes(kind: str) -> Any:
        def fill(gpu: FakeGpu, count_ref: Any, array: Any) -> int:
            procs = gpu.procs if kind == "compute" else []
            count = count_ref._obj
            if array is None or count.value < len(procs):
                count.value = len(procs)
                return 0 if not procs else 7  # NVML_ERROR_INSUFFICIENT_SIZE
            for i, (pid, used) in enumerate(procs):
                array[i].pid = pid
                array[i].usedGpuMemory = used if used is not None else 2**64 - 1
                array[i].gpuInstanceId = array[i].computeInstanceId = 0xFFFFFFFF
            count.value = len(procs)
            return 0
        return fill

    return {
        "nvmlDeviceGetMemoryInfo": answered("nvmlDeviceGetMemoryInfo", memory),
        "nvmlDeviceGetTemperature": answered("nvmlDeviceGetTemperature", temperature),
        "nvmlDeviceGetComputeRunningProcesses":
            answered("nvmlDeviceGetComputeRunningProcesses", processes("compute")),
        "nvmlDeviceGetGraphicsRunningProcesses":
            answered("nvmlDeviceGetGraphicsRunningProcesses", processes("graphics")),
    }


SHIM = """\
# Written by cockpit.telemetry.fake_nvml.write_pynvml_shim: simulated GPUs for any NVML client.
import sys
from cockpit.telemetry.fake_nvml import FakeGpu, FakeNvml, pynvml_module
_gpus = [FakeGpu(util_gpu=60, util_mem=30, mem_used=40 * 2**30, power_mw=350000,
                 gpm={{2: 46.0, 3: 25.0, 5: 11.0, 10: 30.0}},
                 procs=[(4000000 + i, 30 * 2**30)], proc_util=[(4000000 + i, 60, 30)])
         for i in range({gpus})]
sys.modules[__name__] = pynvml_module(FakeNvml(_gpus))
"""


def write_pynvml_shim(folder: Path, gpus: int) -> Path:
    """A `pynvml.py` in `folder` that stands in for the real module: a process started with
    `folder` first on PYTHONPATH (cockpit, nvitop, any pynvml client) sees `gpus` busy
    simulated GPUs, one training process each."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pynvml.py"
    path.write_text(SHIM.format(gpus=gpus))
    return path
