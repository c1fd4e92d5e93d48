"""FleetView: every GPU of a cluster at a glance, and the GPU time each one wasted.

Fed by the telemetry pipeline batch by batch (any source: local NVML is a fleet of one
host), read by the app's fleet panel and `cockpit gpu`. Per GPU it keeps the state now
(busy, starved, idle, no data), who holds it (a run, a pod, a PID) and two accounts:

- held GPU-hours: sample time while a holder is known or the GPU's memory is in use;
- wasted GPU-hours: held time while utilization sat below the low-utilization threshold
  (idle or starved: the GPU is reserved but not working).

Sample time never spans a gap (a source outage, an exporter down): it is not counted.

The same accounts per run (`run_evidence`) are the GPU evidence the lifecycle decision
reads: which GPUs a run holds now, whether they work, and the GPU time it held and wasted,
from local NVML or from a cluster's labels alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cockpit.telemetry.rows import GpuProcessRow, TelemetryBatch
from cockpit.telemetry.windows import MeanWindow, SamplePace
from cockpit.telemetry.workload import HOST, Workload

GIB = 1024**3
STATES = ("busy", "starved", "idle", "no data")


@dataclass(frozen=True, slots=True)
class FleetThresholds:
    window_s: float = 30.0  # utilization is judged on its mean over this (at least 4 samples)
    idle_util_pct: float = 5.0  # below: idle
    low_util_pct: float = 30.0  # below: starved (the low_gpu_util detector's threshold)
    held_min_mem: int = GIB  # memory in use that says "someone holds it" without labels
    stale_intervals: float = 4.0  # no sample for this many intervals (and stale_min_s): no data
    stale_min_s: float = 30.0


@dataclass(frozen=True, slots=True)
class RunGpuEvidence:
    """What the GPUs say about one run (for the lifecycle decision and the runs' GPU-hours)."""

    run_id: str
    gpus: tuple[tuple[str, int], ...]  # (host, gpu) it holds now
    util_gpu: float | None  # mean over those GPUs' windows
    mem_used: int | None  # summed over them
    last_ts: float | None  # newest sample of them
    gpu_hours: float  # held, since watching began
    wasted_gpu_hours: float  # held while idle or starved


@dataclass(frozen=True, slots=True)
class FleetGpu:
    host: str
    gpu: int
    state: str  # one of STATES
    util_gpu: float | None  # mean over the window
    sm_active: float | None
    mem_used: int | None
    mem_total: int | None
    holder: str | None  # "pod ml/train-7f9c", "PID 4242", None
    run_id: str | None
    run: str | None  # the run's display name
    held_gpu_hours: float
    wasted_gpu_hours: float
    last_ts: float | None
    state_since: float | None

    @property
    def wasting(self) -> bool:
        """Idle or starved right now: what "show what is idle" lists."""
        return self.state in ("idle", "starved")


class _Gpu:
    def __init__(self, t: FleetThresholds) -> None:
        self.pace = SamplePace()
        self.util = MeanWindow(t.window_s, 2)
        self.mem_used: int | None = None
        self.mem_total: int | None = None
        self.holders: list[GpuProcessRow] = []
        self.held_s = 0.0
        self.wasted_s = 0.0
        self.state = "no data"
        self.state_since: float | None = None


class FleetView:
    """Thread-safe: the pipeline thread observes, any thread reads `snapshot()`."""

    def __init__(self, thresholds: FleetThresholds | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.t = thresholds or FleetThresholds()
        self.clock = clock
        self.run_names: dict[str, str] = {}
        self.outage: str | None = None  # "Prometheus at … unreachable since 14:02:05 (…)"
        self._gpus: dict[tuple[str, int], _Gpu] = {}
        self._runs: dict[str, list[float]] = {}  # run_id -> [held_s, wasted_s]
        self._lock = threading.Lock()

    def observe(self, batch: TelemetryBatch) -> None:
        with self._lock:
            for key in batch.process_ticks:
                self._gpu(key).holders = [
                    r for r in batch.processes if (r["host"], r["gpu"]) == key]
            for sample in batch.samples:
                gpu = self._gpu((sample["host"], sample["gpu"]))
                ts = sample["ts"]
                dt = gpu.pace.update(ts)
                if gpu.pace.is_gap:
                    gpu.util.clear()
                util = sample.get("util_gpu")
                if dt is not None and self._held(gpu):
                    wasted = dt if util is not None and util < self.t.low_util_pct else 0.0
                    gpu.held_s += dt
                    gpu.wasted_s += wasted
                    for run_id in {r["run_id"] for r in gpu.holders if r.get("run_id")}:
                        account = self._runs.setdefault(run_id, [0.0, 0.0])
                        account[0] += dt
                        account[1] += wasted
                span = max(self.t.window_s, 4 * (gpu.pace.interval_s or 0.0))
                gpu.util.span_s = span
                gpu.util.add(ts, util, sample.get("sm_active"))
                gpu.mem_used = sample.get("mem_used")
                gpu.mem_total = sample.get("mem_total") or gpu.mem_total
                self._set_state(gpu, self._judge(gpu), ts)
            for outage in batch.outages:
                self.outage = None if outage.until is not None else outage.message()

    def _gpu(self, key: tuple[str, int]) -> _Gpu:
        gpu = self._gpus.get(key)
        if gpu is None:
            gpu = self._gpus[key] = _Gpu(self.t)
        return gpu

    def _held(self, gpu: _Gpu) -> bool:
        return bool(gpu.holders) or (gpu.mem_used or 0) >= self.t.held_min_mem

    def _judge(self, gpu: _Gpu) -> str:
        util = gpu.util.mean(0)
        if util is None:
            return "no data"
        if util < self.t.idle_util_pct:
            return "idle"
        return "starved" if util < self.t.low_util_pct else "busy"

    @staticmethod
    def _set_state(gpu: _Gpu, state: str, ts: float) -> None:
        if state != gpu.state:
            gpu.state = state
            gpu.state_since = ts

    def snapshot(self, now: float | None = None) -> list[FleetGpu]:
        """Every GPU seen, by host and index; a GPU silent too long reads "no data"."""
        now = self.clock() if now is None else now
        out = []
        with self._lock:
            for (host, index), gpu in sorted(self._gpus.items()):
                last = gpu.pace.last_ts
                interval = gpu.pace.interval_s or 0.0
                stale = max(self.t.stale_min_s, self.t.stale_intervals * interval)
                if last is not None and now - last > stale:
                    self._set_state(gpu, "no data", last)
                holder, run_id = self._holder(gpu.holders)
                out.append(FleetGpu(
                    host, index, gpu.state, gpu.util.mean(0), gpu.util.mean(1), gpu.mem_used,
                    gpu.mem_total, holder, run_id,
                    self.run_names.get(run_id, run_id) if run_id else None,
                    gpu.held_s / 3600.0, gpu.wasted_s / 3600.0, last, gpu.state_since))
        return out

    @staticmethod
    def _holder(rows: list[GpuProcessRow]) -> tuple[str | None, str | None]:
        if not rows:
            return None, None
        top = max(rows, key=lambda r: (r.get("run_id") is not None, r.get("used_mem") or 0))
        workload = Workload.parse(top.get("job"))
        if workload is not None and workload.kind != HOST:
            text = workload.short()
        elif top.get("pid") is not None:
            text = f"PID {top['pid']}" + (f" {top['name']}" if top.get("name") else "")
        else:
            text = None
        if len(rows) > 1 and text is not None:
            text += f" (+{len(rows) - 1})"
        return text, top.get("run_id")

    def run_evidence(self, run_id: str) -> RunGpuEvidence | None:
        """The run's GPUs now and its GPU-hours; None when no GPU was ever attributed to it."""
        with self._lock:
            account = self._runs.get(run_id)
            if account is None:
                return None
            held = [(key, g) for key, g in sorted(self._gpus.items())
                    if any(r.get("run_id") == run_id for r in g.holders)]
            utils = [u for _, g in held if (u := g.util.mean(0)) is not None]
            mems = [g.mem_used for _, g in held if g.mem_used is not None]
            times = [t for _, g in held if (t := g.pace.last_ts) is not None]
            return RunGpuEvidence(
                run_id, tuple(key for key, _ in held),
                sum(utils) / len(utils) if utils else None, sum(mems) if mems else None,
                max(times) if times else None, account[0] / 3600.0, account[1] / 3600.0)

    def set_run_names(self, names: Mapping[str, str]) -> None:
        with self._lock:
            self.run_names.update(names)
