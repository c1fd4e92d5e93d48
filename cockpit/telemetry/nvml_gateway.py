"""NvmlGateway: the only module that calls pynvml (package nvidia-ml-py).

Every call goes through `_call`, which turns an NVML error, a missing function in older bindings
or a missing library into the `NA` sentinel (nvitop's pattern). No GPU, no driver, MIG, a lost
GPU and "not supported" are normal states described by a one-line `status`; nothing above this
module ever sees an NVML exception. pynvml is imported lazily so a machine without it still
runs everything else.
"""

from __future__ import annotations

import ctypes
import enum
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final


class NAType(enum.Enum):
    """'Not available': a value NVML could not give (unsupported, no permission, lost GPU)."""

    NA = "N/A"

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return "N/A"


NA: Final = NAType.NA


def na_to_none(value: Any) -> Any:
    return None if value is NA else value


# NVML return codes (a stable C ABI), so messages do not depend on the bindings' constants.
ERR_UNINITIALIZED = 1
ERR_NOT_SUPPORTED = 3
ERR_NO_PERMISSION = 4
ERR_NOT_FOUND = 6
ERR_DRIVER_NOT_LOADED = 9
ERR_TIMEOUT = 10
ERR_LIBRARY_NOT_FOUND = 12
ERR_FUNCTION_NOT_FOUND = 13
ERR_GPU_IS_LOST = 15
ERR_RESET_REQUIRED = 16
ERR_LIB_RM_VERSION_MISMATCH = 18

_TEMPERATURE_GPU = 0
_CLOCK_SM = 1
_CLOCK_MEM = 2
_GPU_UTILIZATION_SAMPLES = 1
_PCIE_TX_BYTES = 0
_PCIE_RX_BYTES = 1
_EVENT_SINGLE_BIT_ECC = 0x1
_EVENT_DOUBLE_BIT_ECC = 0x2
_EVENT_XID = 0x8
# GPM metric ids (nvml.h nvmlGpmMetricId_t).
_GPM_SM_UTIL = 2
_GPM_SM_OCCUPANCY = 3
_GPM_ANY_TENSOR_UTIL = 5
_GPM_DRAM_BW_UTIL = 10
_GPM_METRICS = (
    ("sm_active", _GPM_SM_UTIL),
    ("sm_occupancy", _GPM_SM_OCCUPANCY),
    ("tensor_active", _GPM_ANY_TENSOR_UTIL),
    ("dram_active", _GPM_DRAM_BW_UTIL),
)
# nvmlValueType_t -> the union member of c_nvmlValue_t that holds it.
_VALUE_FIELDS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}

_INIT_MESSAGES = {
    ERR_LIBRARY_NOT_FOUND: "no NVIDIA driver found (libnvidia-ml is missing): no GPU telemetry here",
    ERR_DRIVER_NOT_LOADED: "the NVIDIA driver is not loaded (nvidia-smi would fail too): no GPU telemetry",
    ERR_NO_PERMISSION: "no permission to open the NVIDIA devices (/dev/nvidia*): no GPU telemetry",
    ERR_LIB_RM_VERSION_MISMATCH: (
        "the NVIDIA driver and its library differ in version (driver updated without a reboot?): "
        "no GPU telemetry"
    ),
}


@dataclass(slots=True)
class DeviceInfo:
    """What does not change while a GPU is up: identity, size, MIG and GPM support."""

    index: int
    name: str | None
    uuid: str | None
    mem_total: int | None
    power_limit_w: float | None
    mig_enabled: bool
    gpm_supported: bool
    lost: bool = False


@dataclass(slots=True)
class DeviceReading:
    """The cheap per-tick device reads (4-70 us each on an H100); None = not available."""

    util_gpu: float | None = None
    util_mem: float | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    temp_c: float | None = None
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    clock_event_reasons: int | None = None


@dataclass(slots=True)
class ProcessReading:
    pid: int
    used_mem: int | None


@dataclass(slots=True)
class ProcessUtilization:
    pid: int
    sm: float
    mem: float
    ts_us: int


@dataclass(slots=True)
class GpmReading:
    """GPM metrics over the interval between two samples (percent, Hopper and newer)."""

    sm_active: float | None = None
    sm_occupancy: float | None = None
    tensor_active: float | None = None
    dram_active: float | None = None


@dataclass(slots=True)
class RawGpuEvent:
    gpu: int | None
    kind: str
    code: int | None


def _error_code(err: BaseException) -> int | None:
    value = getattr(err, "value", None)
    return value if isinstance(value, int) else None


def _text(value: Any) -> str | None:
    if value is NA or value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _handle_key(handle: Any) -> Any:
    """A hashable identity for a device handle (ctypes pointers compare by address)."""
    try:
        return ctypes.cast(handle, ctypes.c_void_p).value
    except (TypeError, ctypes.ArgumentError):
        return handle if getattr(type(handle), "__hash__", None) else id(handle)


class NvmlGateway:
    """One NVML session: device handles, lost-GPU bookkeeping, GPM sample pairs, event set."""

    def __init__(self, loader: Callable[[], ModuleType] | None = None) -> None:
        self._loader = loader or (lambda: importlib.import_module("pynvml"))
        self._nvml: Any = None
        self._lock = threading.Lock()
        self._opened = False
        self._available = False
        self.status = "NVML not opened yet"
        self._handles: list[Any] = []
        self._handle_index: dict[Any, int] = {}
        self._info: dict[int, DeviceInfo] = {}
        self._lost: dict[int, str] = {}
        self._newly_lost: list[int] = []
        self._unsupported: set[tuple[str, int | None]] = set()
        self._gpm_pairs: dict[int, list[Any]] = {}
        self._gpm_primed: set[int] = set()
        self._gpm_requests: dict[int, Any] = {}
        self._event_set: Any = None
        self._reasons_fn = "nvmlDeviceGetCurrentClocksEventReasons"

    # -- session ---------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._available

    def open(self) -> bool:
        """Start NVML; False (with `status` saying why in one line) when there is nothing to read."""
        if self._opened:
            return self._available
        self._opened = True
        try:
            nvml = self._loader()
        except ImportError:
            self.status = "NVML bindings are not installed (pip install nvidia-ml-py): no GPU telemetry"
            return False
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as err:
            fallback = f"NVML could not start ({err}): no GPU telemetry"
            code = _error_code(err)
            self.status = _INIT_MESSAGES.get(code, fallback) if code is not None else fallback
            return False
        except OSError as err:
            self.status = f"the NVML library could not be loaded ({err}): no GPU telemetry"
            return False
        self._nvml = nvml
        self._available = True
        if not hasattr(nvml, self._reasons_fn):
            self._reasons_fn = "nvmlDeviceGetCurrentClocksThrottleReasons"
        count = self._call("nvmlDeviceGetCount")
        count = count if isinstance(count, int) else 0
        for index in range(count):
            handle = self._call("nvmlDeviceGetHandleByIndex", index, index=index)
            self._handles.append(handle)
            if handle is not NA:
                self._handle_index[_handle_key(handle)] = index
        driver = self.driver_version() or "unknown"
        if not count:
            self._available = False
            self.status = f"NVML is running (driver {driver}) but sees no NVIDIA GPU"
            return False
        for index in range(count):
            self._info[index] = self._read_info(index)
        self.status = self._summary(driver)
        return True

    def close(self) -> None:
        if not self._available:
            return
        self.close_events()
        for pair in self._gpm_pairs.values():
            for sample in pair:
                self._call("nvmlGpmSampleFree", sample)
        self._gpm_pairs.clear()
        self._gpm_requests.clear()
        self._call("nvmlShutdown")
        self._nvml = None
        self._available = False
        self.status = "NVML closed"

    def _summary(self, driver: str) -> str:
        notes = []
        mig = [i for i, info in self._info.items() if info.mig_enabled]
        if mig:
            notes.append(
                f"MIG on GPU {', '.join(map(str, mig))}: utilization is per MIG instance, not read"
            )
        lost = [i for i, info in self._info.items() if info.lost]
        if lost:
            notes.append(f"GPU {', '.join(map(str, lost))} lost")
        plural = "s" if len(self._info) != 1 else ""
        line = f"NVML ok: {len(self._info)} GPU{plural}, driver {driver}"
        return line + ("; " + "; ".join(notes) if notes else "")

    # -- the one wrapper -------------------------------------------------------------------

    def _call(
        self,
        fn_name: str,
        *args: Any,
        index: int | None = None,
        on_codes: dict[int, Any] | None = None,
    ) -> Any:
        """Call pynvml.<fn_name>(*args); any NVML failure becomes NA (or `on_codes[code]`)."""
        if self._nvml is None:
            return NA
        if index is not None and index in self._lost:
            return NA
        if (fn_name, index) in self._unsupported:
            return NA
        nvml = self._nvml
        try:
            return getattr(nvml, fn_name)(*args)
        except nvml.NVMLError as err:
            code = _error_code(err)
            if on_codes and code in on_codes:
                return on_codes[code]
            self._note_error(fn_name, code, index)
            return NA
        except (AttributeError, UnicodeDecodeError):
            # A function older bindings lack, or a name NVML returned in a broken encoding.
            self._unsupported.add((fn_name, index))
            return NA

    def _note_error(self, fn_name: str, code: int | None, index: int | None) -> None:
        if code in (ERR_NOT_SUPPORTED, ERR_FUNCTION_NOT_FOUND):
            self._unsupported.add((fn_name, index))
        elif code in (ERR_GPU_IS_LOST, ERR_RESET_REQUIRED) and index is not None:
            self._mark_lost(index, code)
        elif code in (ERR_UNINITIALIZED, ERR_DRIVER_NOT_LOADED):
            self.status = "NVML stopped answering (driver unloaded?): GPU readings are not available"

    def _mark_lost(self, index: int, code: int | None) -> None:
        with self._lock:
            if index in self._lost:
                return
            why = "needs a reset" if code == ERR_RESET_REQUIRED else "is lost"
            self._lost[index] = (
                f"GPU {index} {why} (NVML_ERROR_GPU_IS_LOST): the driver can no longer reach it; "
                "check `dmesg` for XID 79 and reset the GPU or reboot"
            )
            self._newly_lost.append(index)
            if index in self._info:
                self._info[index].lost = True
        self.status = self._lost[index]

    def take_lost(self) -> list[tuple[int, str]]:
        """GPUs found lost since the last call, each with its one-line message."""
        with self._lock:
            lost = [(i, self._lost[i]) for i in self._newly_lost]
            self._newly_lost.clear()
        return lost

    def is_lost(self, index: int) -> bool:
        return index in self._lost

    # -- identity ----------------------------------------------------------------------------

    def device_count(self) -> int:
        return len(self._handles)

    def _handle(self, index: int) -> Any:
        if 0 <= index < len(self._handles):
            return self._handles[index]
        return NA

    def driver_version(self) -> str | None:
        return _text(self._call("nvmlSystemGetDriverVersion"))

    def nvml_version(self) -> str | None:
        return _text(self._call("nvmlSystemGetNVMLVersion"))

    def cuda_driver_version(self) -> str | None:
        version = self._call("nvmlSystemGetCudaDriverVersion")
        if not isinstance(version, int):
            return None
        return f"{version // 1000}.{version % 1000 // 10}"

    def device_info(self, index: int) -> DeviceInfo:
        return self._info.get(index) or self._read_info(index)

    def devices(self) -> list[DeviceInfo]:
        return [self.device_info(i) for i in range(self.device_count())]

    def _read_info(self, index: int) -> DeviceInfo:
        handle = self._handle(index)
        if handle is NA:
            return DeviceInfo(index, None, None, None, None, False, False, lost=True)
        memory = self._call("nvmlDeviceGetMemoryInfo", handle, index=index)
        limit = self._call("nvmlDeviceGetEnforcedPowerLimit", handle, index=index)
        mig = self._call("nvmlDeviceGetMigMode", handle, index=index)
        gpm = self._call("nvmlGpmQueryDeviceSupport", handle, index=index)
        mig_enabled = False
        if mig is not NA:
            try:
                mig_enabled = bool(mig[0])
            except (TypeError, IndexError):
                mig_enabled = False
        return DeviceInfo(
            index=index,
            name=_text(self._call("nvmlDeviceGetName", handle, index=index)),
            uuid=_text(self._call("nvmlDeviceGetUUID", handle, index=index)),
            mem_total=None if memory is NA else int(memory.total),
            power_limit_w=None if limit is NA else limit / 1000.0,
            mig_enabled=mig_enabled,
            gpm_supported=gpm is not NA and bool(getattr(gpm, "isSupportedDevice", 0)),
            lost=index in self._lost,
        )

    # -- cheap tier ------------------------------------------------------------------------

    def read_device(self, index: int, into: DeviceReading | None = None) -> DeviceReading:
        """Utilization, memory, power and its limit, temperature, clocks, clock-event reasons.
        `into`: a reading to overwrite (the sampler keeps one per GPU: no object per tick)."""
        reading = into if into is not None else DeviceReading()
        handle = self._handle(index)
        if handle is NA:
            for name in DeviceReading.__slots__:
                setattr(reading, name, None)
            return reading
        util = self._call("nvmlDeviceGetUtilizationRates", handle, index=index)
        if util is not NA:
            reading.util_gpu = float(util.gpu)
            reading.util_mem = float(util.memory)
        else:
            reading.util_gpu = reading.util_mem = None
        memory = self._call("nvmlDeviceGetMemoryInfo", handle, index=index)
        if memory is not NA:
            reading.mem_used = int(memory.used)
            reading.mem_total = int(memory.total)
        else:
            reading.mem_used = reading.mem_total = None
        power = self._call("nvmlDeviceGetPowerUsage", handle, index=index)
        reading.power_w = None if power is NA else power / 1000.0
        limit = self._call("nvmlDeviceGetEnforcedPowerLimit", handle, index=index)
        reading.power_limit_w = None if limit is NA else limit / 1000.0
        temp = self._call("nvmlDeviceGetTemperature", handle, _TEMPERATURE_GPU, index=index)
        reading.temp_c = None if temp is NA else float(temp)
        sm_clock = self._call("nvmlDeviceGetClockInfo", handle, _CLOCK_SM, index=index)
        reading.sm_clock_mhz = None if sm_clock is NA else float(sm_clock)
        mem_clock = self._call("nvmlDeviceGetClockInfo", handle, _CLOCK_MEM, index=index)
        reading.mem_clock_mhz = None if mem_clock is NA else float(mem_clock)
        reasons = self._call(self._reasons_fn, handle, index=index)
        reading.clock_event_reasons = None if reasons is NA else int(reasons)
        return reading

    def utilization_samples(self, index: int, since_us: int) -> list[tuple[int, float]] | NAType:
        """The driver's own GPU-utilization sample buffer newer than `since_us` (gap filling)."""
        handle = self._handle(index)
        if handle is NA:
            return NA
        got = self._call(
            "nvmlDeviceGetSamples",
            handle,
            _GPU_UTILIZATION_SAMPLES,
            since_us,
            index=index,
            on_codes={ERR_NOT_FOUND: (0, [])},
        )
        if got is NA:
            return NA
        value_type, samples = got
        field_name = _VALUE_FIELDS.get(int(value_type), "uiVal")
        out: list[tuple[int, float]] = []
        for sample in samples:
            out.append((int(sample.timeStamp), float(getattr(sample.sampleValue, field_name))))
        return out

    # -- process tier ----------------------------------------------------------------------

    def processes(self, index: int) -> list[ProcessReading] | NAType:
        """Compute processes on the GPU (~170 us). PIDs are the host's: see attribution."""
        handle = self._handle(index)
        if handle is NA:
            return NA
        procs = self._call("nvmlDeviceGetComputeRunningProcesses", handle, index=index)
        if procs is NA:
            return NA
        out = []
        for proc in procs:
            used = getattr(proc, "usedGpuMemory", None)
            out.append(ProcessReading(pid=int(proc.pid), used_mem=None if used is None else int(used)))
        return out

    def process_utilization(self, index: int, since_us: int) -> list[ProcessUtilization] | NAType:
        """Per-process SM/memory utilization newer than `since_us` (~2 ms); [] when none."""
        handle = self._handle(index)
        if handle is NA:
            return NA
        samples = self._call(
            "nvmlDeviceGetProcessUtilization",
            handle,
            since_us,
            index=index,
            on_codes={ERR_NOT_FOUND: []},
        )
        if samples is NA:
            return NA
        latest: dict[int, ProcessUtilization] = {}
        for sample in samples:
            pid = int(sample.pid)
            ts_us = int(sample.timeStamp)
            if pid not in latest or ts_us >= latest[pid].ts_us:
                latest[pid] = ProcessUtilization(
                    pid, float(sample.smUtil), float(sample.memUtil), ts_us
                )
        return list(latest.values())

    def gpm(self, index: int) -> GpmReading | NAType:
        """GPM metrics between this call and the previous one (~1.6 ms); NA on the first call."""
        info = self._info.get(index)
        handle = self._handle(index)
        if info is None or not info.gpm_supported or handle is NA:
            return NA
        pair = self._gpm_pairs.get(index)
        if pair is None:
            first = self._call("nvmlGpmSampleAlloc", index=index)
            second = self._call("nvmlGpmSampleAlloc", index=index)
            if first is NA or second is NA:
                info.gpm_supported = False
                return NA
            pair = self._gpm_pairs[index] = [first, second]
        previous, current = pair
        if self._call("nvmlGpmSampleGet", handle, current, index=index) is NA:
            return NA
        pair.reverse()  # `current` becomes the previous sample of the next call
        if index not in self._gpm_primed:
            self._gpm_primed.add(index)
            return NA
        request = self._gpm_requests.get(index)
        try:
            if request is None:  # built once per GPU; only the sample pointers change
                request = self._nvml.c_nvmlGpmMetricsGet_t()
                request.version = getattr(self._nvml, "NVML_GPM_METRICS_GET_VERSION", 1)
                request.numMetrics = len(_GPM_METRICS)
                for slot, (_, metric_id) in enumerate(_GPM_METRICS):
                    request.metrics[slot].metricId = metric_id
                self._gpm_requests[index] = request
            request.sample1 = previous
            request.sample2 = current
        except AttributeError:
            info.gpm_supported = False
            return NA
        result = self._call("nvmlGpmMetricsGet", request, index=index)
        if result is NA:
            return NA
        reading = GpmReading()
        for slot, (name, _) in enumerate(_GPM_METRICS):
            metric = result.metrics[slot]
            if int(getattr(metric, "nvmlReturn", 0)) == 0:
                setattr(reading, name, float(metric.value))
        return reading

    # -- slow tier -------------------------------------------------------------------------

    def pcie_throughput(self, index: int) -> tuple[float | None, float | None]:
        """PCIe TX and RX in KB/s. Blocks ~21 ms per direction: never call it on the tick."""
        handle = self._handle(index)
        if handle is NA:
            return None, None
        tx = self._call("nvmlDeviceGetPcieThroughput", handle, _PCIE_TX_BYTES, index=index)
        rx = self._call("nvmlDeviceGetPcieThroughput", handle, _PCIE_RX_BYTES, index=index)
        return na_to_none(tx), na_to_none(rx)

    # -- events ----------------------------------------------------------------------------

    def open_events(self) -> bool:
        """Register XID and ECC events on every GPU that supports them."""
        if self._event_set is not None:
            return True
        event_set = self._call("nvmlEventSetCreate")
        if event_set is NA:
            return False
        wanted = _EVENT_XID | _EVENT_DOUBLE_BIT_ECC | _EVENT_SINGLE_BIT_ECC
        registered = 0
        for index, handle in enumerate(self._handles):
            if handle is NA:
                continue
            supported = self._call("nvmlDeviceGetSupportedEventTypes", handle, index=index)
            mask = wanted if supported is NA else wanted & int(supported)
            if not mask:
                continue
            if self._call("nvmlDeviceRegisterEvents", handle, mask, event_set, index=index) is not NA:
                registered += 1
        if not registered:
            self._call("nvmlEventSetFree", event_set)
            return False
        self._event_set = event_set
        return True

    def wait_event(self, timeout_ms: int) -> RawGpuEvent | None | NAType:
        """The next XID/ECC event, None after `timeout_ms` without one, NA if events broke."""
        if self._event_set is None:
            return NA
        data = self._call(
            "nvmlEventSetWait", self._event_set, timeout_ms, on_codes={ERR_TIMEOUT: None}
        )
        if data is None or data is NA:
            return data
        gpu = self._handle_index.get(_handle_key(data.device))
        event_type = int(data.eventType)
        if event_type & _EVENT_XID:
            return RawGpuEvent(gpu, "xid", int(data.eventData))
        if event_type & _EVENT_DOUBLE_BIT_ECC:
            return RawGpuEvent(gpu, "ecc_double_bit", None)
        if event_type & _EVENT_SINGLE_BIT_ECC:
            return RawGpuEvent(gpu, "ecc_single_bit", None)
        return RawGpuEvent(gpu, f"event_0x{event_type:x}", int(data.eventData))

    def close_events(self) -> None:
        if self._event_set is not None:
            self._call("nvmlEventSetFree", self._event_set)
            self._event_set = None
