"""The rows every telemetry source produces: `gpu_samples` / `gpu_processes` dicts and events.

A sample is a plain dict whose keys are exactly the `gpu_samples` columns (SPEC §3 plus the
extra columns of cockpit/store/schema.py), so the store writer, `cockpit gpu --json` and the
detectors all read the same thing. A value a source could not read is None.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

GPU_SAMPLE_COLUMNS: tuple[str, ...] = (
    "ts",
    "host",
    "gpu",
    "util_gpu",
    "util_mem",
    "mem_used",
    "mem_total",
    "power_w",
    "temp_c",
    "sm_clock_mhz",
    "sm_active",
    "tensor_active",
    "dram_active",
    "clock_event_reasons",
    "power_limit_w",
    "mem_clock_mhz",
    "sm_occupancy",
    "pcie_tx_kbs",
    "pcie_rx_kbs",
    "resolution",
)

GPU_PROCESS_COLUMNS: tuple[str, ...] = (
    "ts",
    "host",
    "gpu",
    "pid",
    "used_mem",
    "sm_util",
    "run_id",
    "name",
    "job",
)

# `resolution` of a sample read at its own instant (rollups say "mean_<N>s").
FULL_RESOLUTION = "full"
# `resolution` of a sample recovered from the driver's own utilization buffer after a gap.
DRIVER_BUFFER_RESOLUTION = "driver_buffer"

# The sample columns read by the 1 Hz tier (GPM) and the slow PCIe tier.
PROCESS_TICK_KEYS: tuple[str, ...] = (
    "sm_active",
    "sm_occupancy",
    "tensor_active",
    "dram_active",
    "pcie_tx_kbs",
    "pcie_rx_kbs",
)

GpuSample = dict[str, Any]
GpuProcessRow = dict[str, Any]


def new_sample(ts: float, host: str, gpu: int) -> GpuSample:
    """A sample with every column present and nothing read yet."""
    row: GpuSample = dict.fromkeys(GPU_SAMPLE_COLUMNS)
    row["ts"] = ts
    row["host"] = host
    row["gpu"] = gpu
    row["resolution"] = FULL_RESOLUTION
    return row


def new_process_row(
    ts: float,
    host: str,
    gpu: int,
    pid: int | None,
    used_mem: int | None,
    sm_util: float | None,
    name: str | None = None,
    run_id: str | None = None,
    job: str | None = None,
) -> GpuProcessRow:
    """A gpu_processes row: a process seen by NVML (pid), or a workload named by an
    exporter's labels (`job`, see cockpit.telemetry.workload; pid None)."""
    return {
        "ts": ts,
        "host": host,
        "gpu": gpu,
        "pid": pid,
        "used_mem": used_mem,
        "sm_util": sm_util,
        "run_id": run_id,
        "name": name,
        "job": job,
    }


@dataclass(slots=True)
class GpuEvent:
    """Something that happened to a GPU rather than a reading: an XID, an ECC error, a lost GPU.

    kind: "xid", "ecc_double_bit", "ecc_single_bit" or "gpu_lost". `code` is the XID number.
    """

    ts: float
    host: str
    gpu: int
    kind: str
    code: int | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class HostLoad:
    """A GPU host's CPU and disk load from node-exporter (cluster telemetry has no PIDs)."""

    ts: float
    busiest_cpu_pct: float | None  # the busiest core, percent of that core
    mean_cpu_pct: float | None  # all cores
    disk_busy_pct: float | None  # the busiest disk's share of time busy


@dataclass(slots=True)
class SourceOutage:
    """A source that stopped answering (`until` None) or answered again (`until` set).

    A state, not silence: a source yields one batch carrying this when an outage starts and
    one when it ends, so `cockpit gpu`, `watch` and the app can say so. `gap_from`/`gap_to`
    bound the samples missing around it once the first samples after it arrived.
    """

    source: str  # "Prometheus at http://host:9090"
    since: float  # wall time of the first failed query
    reason: str
    until: float | None = None
    gap_from: float | None = None
    gap_to: float | None = None

    def message(self) -> str:
        since = clock_text(self.since)
        if self.until is None:
            return f"{self.source} unreachable since {since} ({self.reason})"
        gap = ""
        if self.gap_from is not None and self.gap_to is not None:
            gap = (f"; no GPU samples from {clock_text(self.gap_from)} to {clock_text(self.gap_to)} "
                   "(a gap, not zeros)")
        took = self.until - self.since
        return f"{self.source} answers again at {clock_text(self.until)} after {took:.0f} s unreachable{gap}"


def clock_text(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


@dataclass(slots=True)
class TelemetryBatch:
    """What a source yields per tick: samples, and for some GPUs a fresh process list.

    `process_ticks` has one entry per (host, gpu) whose process list was read in this batch
    (so no `processes` row for such a GPU means "nobody is on it", not "not read"); its value
    holds what the same slow tier read: PROCESS_TICK_KEYS (GPM metrics, PCIe rates).
    """

    ts: float
    samples: list[GpuSample] = field(default_factory=list)
    processes: list[GpuProcessRow] = field(default_factory=list)
    process_ticks: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    events: list[GpuEvent] = field(default_factory=list)
    outages: list[SourceOutage] = field(default_factory=list)
    host_loads: dict[str, HostLoad] = field(default_factory=dict)  # short host name -> load

    def is_empty(self) -> bool:
        return not (self.samples or self.process_ticks or self.events or self.outages
                    or self.host_loads)
