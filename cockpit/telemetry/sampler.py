"""Sampler: polls NVML through the gateway on its own threads, tiered by what each call costs.

Costs measured on an H100 (tests/fixtures/h100-runs/nvml_device_and_call_cost.json) decide the
tiers: device reads cost 4-70 us and run every tick (1 Hz, 10 Hz in focus mode); the process
list (~170 us), per-process utilization (~2 ms) and GPM metrics (~1.6 ms) run at 1 Hz; the PCIe
throughput read blocks ~21 ms per direction, so it has its own thread (every 5 s) and the tick
only attaches its latest value; XID/ECC errors arrive through NVML events on a third thread.
After a missed tick the gap is filled from the driver's own utilization buffer, which is cheaper
than polling faster.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from cockpit.telemetry.clock_reasons import reasons_text
from cockpit.telemetry.nvml_gateway import NA, DeviceReading, GpmReading, NvmlGateway
from cockpit.telemetry.rows import (
    DRIVER_BUFFER_RESOLUTION,
    PROCESS_TICK_KEYS,
    GpuEvent,
    GpuSample,
    TelemetryBatch,
    new_process_row,
    new_sample,
)
from cockpit.telemetry.xid import describe_event

FOCUS_INTERVAL_S = 0.1
@dataclass(slots=True)
class SamplerConfig:
    """Rates of each tier; defaults match the issue's budget (<= 0.5 % of a core per GPU)."""

    interval_s: float = 1.0
    process_interval_s: float = 1.0
    pcie_interval_s: float = 5.0
    events: bool = True
    event_wait_ms: int = 1000  # NVML blocks without the interpreter lock; 1 wake-up a second
    fill_gaps: bool = True
    max_backfill: int = 600


class Sampler:
    """Reads every GPU in tiers and hands one TelemetryBatch per tick to `sink`."""

    def __init__(
        self,
        gateway: NvmlGateway,
        sink: Callable[[TelemetryBatch], None],
        host: str | None = None,
        config: SamplerConfig | None = None,
        clock: Callable[[], float] = time.time,
        pid_visible: Callable[[int], bool] | None = None,
    ) -> None:
        self.gateway = gateway
        self.sink = sink
        self.host = host or socket.gethostname()
        self.config = config or SamplerConfig()
        self.clock = clock
        self._pid_visible = pid_visible or psutil.pid_exists
        self._interval = self.config.interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pcie: dict[int, tuple[float, float | None, float | None]] = {}
        self._gpm: dict[int, tuple[float, GpmReading]] = {}
        self._proc_since_us: dict[int, int] = {}
        self._last_process_ts = float("-inf")
        self._last_tick_ts: float | None = None
        self._pending_events: list[GpuEvent] = []
        self._names: dict[int, str | None] = {}
        self._readings: dict[int, DeviceReading] = {}  # one per GPU, overwritten each tick
        self.invisible_pids: set[int] = set()
        self.ticks = 0

    # -- control ---------------------------------------------------------------------------

    @property
    def interval_s(self) -> float:
        return self._interval

    def set_focus(self, on: bool) -> None:
        """Focus mode: cheap reads at 10 Hz; the other tiers keep their rates."""
        self._interval = FOCUS_INTERVAL_S if on else self.config.interval_s
        self._wake.set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        loops = [("cockpit-gpu-sampler", self._tick_loop), ("cockpit-gpu-pcie", self._pcie_loop)]
        if self.config.events and self.gateway.open_events():
            loops.append(("cockpit-gpu-events", self._event_loop))
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self.gateway.close_events()

    @property
    def status(self) -> str:
        line = self.gateway.status
        if self.invisible_pids:
            line += (
                f"; {len(self.invisible_pids)} GPU process PID(s) are not visible in this PID "
                "namespace (container?): listed by PID, not attributed to runs"
            )
        return line

    # -- loops -----------------------------------------------------------------------------

    def _tick_loop(self) -> None:
        deadline = time.monotonic()
        while not self._stop.is_set():
            batch = self.sample_once()
            if not batch.is_empty():
                self.sink(batch)
            deadline += self._interval
            delay = deadline - time.monotonic()
            if delay < 0:  # fell behind (suspend, overload): restart the schedule from now
                deadline = time.monotonic()
                delay = 0.0
            self._wake.wait(delay)
            if self._wake.is_set():
                self._wake.clear()
                deadline = time.monotonic()

    def _pcie_loop(self) -> None:
        while not self._stop.is_set():
            self.read_pcie_once()
            self._stop.wait(self.config.pcie_interval_s)

    def _event_loop(self) -> None:
        while not self._stop.is_set():
            raw = self.gateway.wait_event(self.config.event_wait_ms)
            if raw is NA:
                return
            if raw is None:
                continue
            gpu = raw.gpu if raw.gpu is not None else -1
            event = GpuEvent(
                self.clock(), self.host, gpu, raw.kind, raw.code, describe_event(raw.kind, raw.code)
            )
            with self._lock:
                self._pending_events.append(event)

    # -- one pass of each tier ---------------------------------------------------------------

    def read_pcie_once(self) -> None:
        """The slow tier: PCIe TX/RX of every GPU (blocks ~42 ms per GPU on real hardware)."""
        for index in range(self.gateway.device_count()):
            if self.gateway.is_lost(index):
                continue
            tx, rx = self.gateway.pcie_throughput(index)
            with self._lock:
                self._pcie[index] = (self.clock(), tx, rx)

    def sample_once(self, now: float | None = None) -> TelemetryBatch:
        """One tick: device reads of every GPU, plus the process tier when it is due."""
        now = self.clock() if now is None else now
        batch = TelemetryBatch(ts=now)
        process_due = now - self._last_process_ts >= self.config.process_interval_s * 0.95
        gap_from = self._last_tick_ts
        if gap_from is not None and now - gap_from <= 2.5 * self._interval:
            gap_from = None
        for index in range(self.gateway.device_count()):
            if self.gateway.is_lost(index):
                continue
            row = self._read_device(index, now)
            if process_due:
                self._read_processes(index, now, batch)
            self._attach_slow_tiers(index, now, row)
            if self.gateway.is_lost(index):
                continue
            if gap_from is not None and self.config.fill_gaps:
                batch.samples.extend(self._backfill(index, gap_from, now))
            batch.samples.append(row)
        if process_due:
            self._last_process_ts = now
        for index, message in self.gateway.take_lost():
            batch.events.append(GpuEvent(now, self.host, index, "gpu_lost", None, message))
        with self._lock:
            batch.events.extend(self._pending_events)
            self._pending_events.clear()
        self._last_tick_ts = now
        self.ticks += 1
        return batch

    def _read_device(self, index: int, now: float) -> GpuSample:
        reading = self._readings.get(index)
        if reading is None:
            reading = self._readings[index] = DeviceReading()
        self.gateway.read_device(index, into=reading)
        row = new_sample(now, self.host, index)
        row["util_gpu"] = reading.util_gpu
        row["util_mem"] = reading.util_mem
        row["mem_used"] = reading.mem_used
        row["mem_total"] = reading.mem_total
        row["power_w"] = reading.power_w
        row["power_limit_w"] = reading.power_limit_w
        row["temp_c"] = reading.temp_c
        row["sm_clock_mhz"] = reading.sm_clock_mhz
        row["mem_clock_mhz"] = reading.mem_clock_mhz
        row["clock_event_reasons"] = reasons_text(reading.clock_event_reasons)
        return row

    def _attach_slow_tiers(self, index: int, now: float, row: GpuSample) -> None:
        gpm = self._gpm.get(index)
        if gpm is not None and now - gpm[0] <= 2.5 * self.config.process_interval_s:
            row["sm_active"] = gpm[1].sm_active
            row["sm_occupancy"] = gpm[1].sm_occupancy
            row["tensor_active"] = gpm[1].tensor_active
            row["dram_active"] = gpm[1].dram_active
        with self._lock:
            pcie = self._pcie.get(index)
        if pcie is not None and now - pcie[0] <= 3 * self.config.pcie_interval_s:
            row["pcie_tx_kbs"], row["pcie_rx_kbs"] = pcie[1], pcie[2]

    def _read_processes(self, index: int, now: float, batch: TelemetryBatch) -> None:
        gpm = self.gateway.gpm(index)
        if gpm is not NA:
            self._gpm[index] = (now, gpm)
        procs = self.gateway.processes(index)
        if procs is NA:
            return
        since = self._proc_since_us.get(index, int((now - 1.0) * 1e6))
        utils = self.gateway.process_utilization(index, since)
        self._proc_since_us[index] = int(now * 1e6)
        sm_by_pid = {} if utils is NA else {u.pid: u.sm for u in utils}
        tick = dict.fromkeys(PROCESS_TICK_KEYS)
        if gpm is not NA:
            tick.update(
                sm_active=gpm.sm_active, sm_occupancy=gpm.sm_occupancy,
                tensor_active=gpm.tensor_active, dram_active=gpm.dram_active,
            )
        with self._lock:
            pcie = self._pcie.get(index)
        if pcie is not None:
            tick.update(pcie_tx_kbs=pcie[1], pcie_rx_kbs=pcie[2])
        batch.process_ticks[(self.host, index)] = tick
        for proc in procs:
            batch.processes.append(
                new_process_row(
                    now, self.host, index, proc.pid, proc.used_mem, sm_by_pid.get(proc.pid),
                    name=self._process_name(proc.pid),
                )
            )

    def _process_name(self, pid: int) -> str | None:
        if pid in self._names:
            return self._names[pid]
        name: str | None = None
        if not self._pid_visible(pid):
            self.invisible_pids.add(pid)
        else:
            try:
                name = psutil.Process(pid).name()
            except (psutil.Error, OSError):
                name = None
        if len(self._names) > 4096:
            self._names.clear()
        self._names[pid] = name
        return name

    def _backfill(self, index: int, since: float, now: float) -> list[GpuSample]:
        """Utilization of a missed stretch, from the driver's sample buffer."""
        got = self.gateway.utilization_samples(index, int(since * 1e6))
        if got is NA:
            return []
        rows: list[GpuSample] = []
        for ts_us, value in got[-self.config.max_backfill :]:
            ts = ts_us / 1e6
            if since < ts < now - self._interval / 2:
                row = new_sample(ts, self.host, index)
                row["util_gpu"] = value
                row["resolution"] = DRIVER_BUFFER_RESOLUTION
                rows.append(row)
        return rows
