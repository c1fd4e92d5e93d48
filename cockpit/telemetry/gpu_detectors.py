"""GPU detectors: small state machines fed every sample, tied to the run that holds the GPU.

`GpuHealthMonitor.observe(batch)` routes each sample to the detectors of its GPU together with
the GPU's current holder: the attributed process using the most memory (NVML), or the workload
an exporter's labels name (a Kubernetes pod, an HPC job: cluster telemetry has no PIDs).
Thresholds live in `GpuThresholds` and are published in docs/detectors.md ("GPU detectors").
Windows stretch to hold at least `min_window_samples` samples of a slowly scraped source, and
a gap in a GPU's samples restarts its windows: a gap is neither zeros nor continuity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cockpit.model.alert import Alert
from cockpit.telemetry.clock_reasons import POWER_CAP_REASONS, THERMAL_OR_HW_REASONS, reason_set
from cockpit.telemetry.host import HostSnapshot
from cockpit.telemetry.rows import GpuEvent, GpuProcessRow, GpuSample, HostLoad, TelemetryBatch
from cockpit.telemetry.windows import HalvesWindow, MeanWindow, SamplePace
from cockpit.telemetry.workload import HOST, Workload, short_host

GB = 1e9


@dataclass(frozen=True, slots=True)
class GpuThresholds:
    """Every rule's threshold and window (documented defaults; see docs/detectors.md)."""

    # low_gpu_util
    low_util_window_s: float = 20.0
    low_util_pct: float = 30.0
    low_sm_active_pct: float = 20.0
    low_util_recover_pct: float = 40.0
    active_util_pct: float = 5.0
    idle_arm_s: float = 120.0
    idle_util_pct: float = 2.0
    cpu_bound_pct: float = 85.0
    host_stale_s: float = 10.0
    # live, a starved run still logs: with no log in the last half of the window, the idle GPU
    # is a hang (the lifecycle's decision, which reports what the GPU shows), not starvation
    active_share_of_window: float = 0.5
    # gpu_efficiency (info)
    efficiency_window_s: float = 30.0
    efficiency_util_pct: float = 50.0
    efficiency_sm_active_pct: float = 60.0
    efficiency_tensor_active_pct: float = 20.0
    # memory_pressure
    memory_window_s: float = 10.0
    memory_near_full_frac: float = 0.90
    memory_near_full_min_rise_frac: float = 0.01
    memory_min_rise_frac: float = 0.05
    memory_projection_min_frac: float = 0.50
    memory_projection_horizon_s: float = 300.0
    memory_recover_frac: float = 0.80
    # thermal_throttle
    throttle_window_s: float = 10.0
    throttle_busy_util_pct: float = 20.0
    throttle_min_share: float = 0.5
    throttle_recover_share: float = 0.2
    # how long a process list stays valid for the samples after it (at least 2 sample intervals)
    holder_stale_s: float = 5.0
    # windows hold at least this many samples (a Prometheus scrape every 15 s stretches them)
    min_window_samples: int = 4
    # a pause longer than this many sample intervals (and gap_min_s) is a gap: windows restart
    gap_intervals: float = 3.0
    gap_min_s: float = 10.0


@dataclass(slots=True)
class Holder:
    """Who a detector blames: the attributed process using the most memory, or the workload
    (pod, HPC job) an exporter's labels name when there is no process list."""

    pid: int | None
    run_id: str | None
    used_mem: int | None
    others: list[int] = field(default_factory=list)
    job: str | None = None  # cockpit.telemetry.workload key
    host: str = ""
    attribution: dict[str, Any] | None = None  # how the run was matched (labels, host)

    @property
    def identity(self) -> str | None:
        """What an alert is about: the run, else a labelled workload; None = nobody's."""
        if self.run_id is not None:
            return self.run_id
        workload = Workload.parse(self.job)
        return self.job if workload is not None and workload.kind != HOST else None

    @property
    def who(self) -> str:
        if self.pid is not None:
            return f"training PID {self.pid}"
        workload = Workload.parse(self.job)
        return f"{workload.describe() if workload else 'a workload'} on {self.host}"

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": self.pid}
        if self.job is not None:
            out["job"] = self.job
            workload = Workload.parse(self.job)
            if workload is not None and workload.kind != HOST:
                out["workload"] = workload.evidence()
        if self.attribution is not None:
            out["attribution"] = self.attribution
        return out


@dataclass(slots=True)
class GpuContext:
    """What a detector may know beyond the sample: who holds the GPU, host CPU, run activity."""

    key: tuple[str, int]
    holder: Holder | None
    held_since: float | None
    busiest_cpu: float | None
    run_active_since: float | None
    alert: Callable[..., Alert]
    # busiest_cpu of the training process (NVML + psutil), or of the GPU's host (node-exporter)
    cpu_scope: str = "process"
    disk_busy: float | None = None  # the host's busiest disk, percent busy (node-exporter)
    run_last_active: float | None = None  # when the run last logged (live only)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


class LowGpuUtilDetector:
    """low_gpu_util: a run holds the GPU but keeps it mostly idle for a whole window."""

    def __init__(self, t: GpuThresholds) -> None:
        self.t = t
        self.window = MeanWindow(t.low_util_window_s, 2)
        self.armed_at: float | None = None
        self.fired = False

    def reset(self) -> None:
        self.window.clear()
        self.armed_at = None
        self.fired = False

    def update(self, s: GpuSample, ctx: GpuContext) -> Alert | None:
        t = self.t
        if ctx.holder is None or ctx.holder.identity is None or ctx.held_since is None:
            self.reset()
            return None
        ts, util, sm = s["ts"], s.get("util_gpu"), s.get("sm_active")
        if self.armed_at is None:
            working = (util is not None and util >= t.active_util_pct) or (
                sm is not None and sm >= t.active_util_pct
            )
            logging = ctx.run_active_since is not None and ctx.run_active_since <= ts
            if working or logging or ts - ctx.held_since >= t.idle_arm_s:
                self.armed_at = ts
            else:
                return None
        self.window.add(ts, util, sm)
        if not self.window.covers(ts):
            return None
        util_mean, sm_mean = self.window.mean(0), self.window.mean(1)
        low = (util_mean is not None and util_mean < t.low_util_pct) or (
            sm_mean is not None and sm_mean < t.low_sm_active_pct
        )
        last = ctx.run_last_active
        if low and last is not None and ts - last > t.active_share_of_window * t.low_util_window_s:
            return None  # silent run, idle GPU: a hang (the lifecycle's `stall`), not starvation
        if self.fired:
            recovered = (util_mean is None or util_mean >= t.low_util_recover_pct) and (
                sm_mean is None or sm_mean >= t.low_sm_active_pct + 10
            )
            if recovered:
                self.fired = False
            return None
        if not low:
            return None
        self.fired = True
        return self._alert(s, ctx, util_mean, sm_mean)

    def _diagnosis(self, util_mean: float | None, ctx: GpuContext) -> tuple[str, str]:
        t = self.t
        cpu = ctx.busiest_cpu
        if ctx.cpu_scope == "host" and cpu is not None:
            return self._host_diagnosis(util_mean, cpu, ctx)
        if cpu is not None and cpu >= t.cpu_bound_pct:
            return "cpu_bound", (
                f"a process of the run keeps a CPU core {cpu:.0f}% busy, so training is "
                "CPU-bound: a starved input pipeline. Look at the data loader (more workers, "
                "pin_memory, prefetching, preprocessing moved off the training loop)"
            )
        if util_mean is not None and util_mean < t.idle_util_pct:
            cpu_text = "" if cpu is None else f" and its busiest process uses {cpu:.0f}% of a core"
            return "idle_or_hung", (
                f"the GPU is essentially idle{cpu_text}: the training process looks idle or "
                "hung (waiting on a lock, I/O, peers in a collective, or a debugger). Look at "
                "its stack (py-spy dump --pid) and its last log lines"
            )
        if cpu is not None:
            return "waiting", (
                f"no CPU core is saturated (busiest process {cpu:.0f}%), so the run is waiting "
                "rather than computing: slow storage or network input, synchronization, or "
                "batches too small to fill the GPU"
            )
        return "cpu_bound_likely", (
            "the GPU works in short bursts between waits, so the training process looks "
            "CPU-bound: a starved input pipeline (host CPU not measured here). Look at the data "
            "loader (more workers, pin_memory, prefetching)"
        )

    def _host_diagnosis(self, util_mean: float | None, cpu: float,
                        ctx: GpuContext) -> tuple[str, str]:
        """The same diagnosis from the host's load (node-exporter), said as such."""
        t = self.t
        host = ctx.key[0]
        disk = "" if ctx.disk_busy is None else f", its busiest disk {ctx.disk_busy:.0f}% busy"
        if cpu >= t.cpu_bound_pct:
            return "cpu_bound", (
                f"a CPU core of {host} is {cpu:.0f}% busy (node-exporter), so training looks "
                "CPU-bound: a starved input pipeline. Look at the data loader (more workers, "
                "pin_memory, prefetching, preprocessing moved off the training loop)")
        if util_mean is not None and util_mean < t.idle_util_pct:
            return "idle_or_hung", (
                f"the GPU is essentially idle and the busiest core of {host} is at {cpu:.0f}%"
                f"{disk}: the job looks idle or hung (waiting on a lock, I/O, peers in a "
                "collective). Look at its stack and its last log lines")
        return "waiting", (
            f"no CPU core of {host} is saturated (busiest {cpu:.0f}%{disk}; node-exporter), so "
            "the job is waiting rather than computing: slow storage or network input, "
            "synchronization, or batches too small to fill the GPU")

    def _alert(
        self, s: GpuSample, ctx: GpuContext, util_mean: float | None, sm_mean: float | None
    ) -> Alert:
        t = self.t
        holder = ctx.holder
        assert holder is not None
        kind, advice = self._diagnosis(util_mean, ctx)
        window = f"{self.window.span_s:.0f} s"
        message = (
            f"GPU {s['gpu']} held by {holder.who} averaged {_pct(util_mean)} "
            f"utilization and {_pct(sm_mean)} SM activity over {window} (rule: util < "
            f"{t.low_util_pct:.0f}% or SM activity < {t.low_sm_active_pct:.0f}% for {window} "
            f"while the run holds the GPU); {advice}."
        )
        evidence = {
            "gpu": s["gpu"],
            "host": s["host"],
            **holder.evidence(),
            "other_pids": holder.others,
            "util_gpu_mean": util_mean,
            "sm_active_mean": sm_mean,
            "window_s": self.window.span_s,
            "diagnosis": kind,
            "busiest_cpu_percent": ctx.busiest_cpu,
        }
        if ctx.cpu_scope == "host" and ctx.busiest_cpu is not None:
            evidence["cpu_scope"] = "host"
            evidence["disk_busy_percent"] = ctx.disk_busy
        return ctx.alert("low_gpu_util", "warning", s["ts"], "util_gpu", message, evidence)


class GpuEfficiencyDetector:
    """gpu_efficiency (info): "busy" by util % while SMs / tensor cores mostly wait."""

    def __init__(self, t: GpuThresholds) -> None:
        self.t = t
        self.window = MeanWindow(t.efficiency_window_s, 3)
        self.run_id: str | None = None
        self.armed = False
        self.fired_runs: set[str] = set()

    def update(self, s: GpuSample, ctx: GpuContext) -> Alert | None:
        t = self.t
        holder = ctx.holder
        identity = holder.identity if holder is not None else None
        if holder is None or identity is None:
            self.window.clear()
            self.run_id = None
            self.armed = False
            return None
        if identity != self.run_id:
            self.window.clear()
            self.run_id = identity
            self.armed = False
        if identity in self.fired_runs:
            return None
        ts, util = s["ts"], s.get("util_gpu")
        if not self.armed:  # the window starts when the GPU first works, not during start-up
            if util is None or util < t.active_util_pct:
                return None
            self.armed = True
        self.window.add(ts, util, s.get("sm_active"), s.get("tensor_active"))
        if not self.window.covers(ts) or self.window.count(1) < len(self.window) / 2:
            return None
        util, sm, tensor = self.window.mean(0), self.window.mean(1), self.window.mean(2)
        if util is None or sm is None or util < t.efficiency_util_pct:
            return None
        low_sm = sm <= t.efficiency_sm_active_pct
        low_tensor = tensor is not None and tensor <= t.efficiency_tensor_active_pct
        if not (low_sm or low_tensor):
            return None
        self.fired_runs.add(identity)
        window = f"{self.window.span_s:.0f} s"
        message = (
            f"GPU {s['gpu']} ({holder.who}) looks busy at {util:.0f}% "
            f"utilization, but its SMs were active "
            f"only {sm:.0f}% of the time and tensor cores {_pct(tensor)} over {window} (rule: "
            f"util >= {t.efficiency_util_pct:.0f}% with SM activity <= "
            f"{t.efficiency_sm_active_pct:.0f}% or tensor activity <= "
            f"{t.efficiency_tensor_active_pct:.0f}%): util % only says some kernel was running. "
            "Look at batch size, kernel launch overhead (torch.compile, CUDA graphs), bf16/TF32 "
            "matmuls and host-device copies."
        )
        evidence = {
            "gpu": s["gpu"],
            "host": s["host"],
            **holder.evidence(),
            "util_gpu_mean": util,
            "sm_active_mean": sm,
            "tensor_active_mean": tensor,
            "window_s": self.window.span_s,
        }
        return ctx.alert("gpu_efficiency", "info", ts, "sm_active", message, evidence)


class MemoryPressureDetector:
    """memory_pressure: used memory near total and rising, or rising fast toward it."""

    def __init__(self, t: GpuThresholds) -> None:
        self.t = t
        self.trend = HalvesWindow(t.memory_window_s)
        self.busy = MeanWindow(t.memory_window_s, 1)
        self.fired = False
        self.peak = 0

    def update(self, s: GpuSample, ctx: GpuContext) -> Alert | None:
        t = self.t
        ts, used, total = s["ts"], s.get("mem_used"), s.get("mem_total")
        if used is None or not total:
            return None
        self.trend.add(ts, float(used))
        self.busy.add(ts, s.get("util_gpu"))
        frac = used / total
        if self.fired:
            # The episode ends once memory is released (a restart, a freed cache) well below
            # its peak and below the recovery level; then a new climb alerts again.
            self.peak = max(self.peak, used)
            freed = self.peak - used >= 2 * t.memory_min_rise_frac * total
            if freed and frac < t.memory_recover_frac:
                self.fired = False
                self.trend.clear()
            return None
        points = self.trend.points()
        if points is None:
            return None
        (t0, m0), (_, m_mid), (t1, m1) = points
        span = self.trend.span_s
        if t1 - t0 < 0.9 * span:
            return None
        # Rising means rising through both halves of the window: a one-off allocation is not.
        slowest_half = min(m_mid - m0, m1 - m_mid)
        if slowest_half < t.memory_near_full_min_rise_frac * total / 2:
            return None
        rate = (m1 - m0) / (t1 - t0)
        eta = (total - used) / rate if rate > 0 else float("inf")
        util = self.busy.mean(0)
        near_full = frac >= t.memory_near_full_frac
        projected = (
            slowest_half >= t.memory_min_rise_frac * total / 2
            and frac >= t.memory_projection_min_frac
            and eta <= t.memory_projection_horizon_s
            and util is not None
            and util >= t.active_util_pct
        )
        if not (near_full or projected):
            return None
        self.fired = True
        self.peak = used
        holder = ctx.holder
        who = ""
        if holder is not None:
            who = f" (PID {holder.pid})" if holder.pid is not None else f" ({holder.who})"
        message = (
            f"GPU {s['gpu']} memory at {frac:.0%} of {total / GB:.1f} GB ({used / GB:.1f} GB) and "
            f"rising {rate / GB:.2f} GB/s over the last {span:.0f} s{who}: at this "
            f"rate it is full in ~{eta:.0f} s (rule: >= {t.memory_near_full_frac:.0%} of total "
            f"and still rising, or >= {t.memory_projection_min_frac:.0%} and rising >= "
            f"{t.memory_min_rise_frac:.0%} of total per {span:.0f} s toward full "
            f"within {t.memory_projection_horizon_s:.0f} s). Look for tensors kept alive across steps "
            "(losses or outputs stored without .item()/.detach(), growing caches) before it hits "
            "out-of-memory."
        )
        evidence = {
            "gpu": s["gpu"],
            "host": s["host"],
            **(holder.evidence() if holder else {"pid": None}),
            "mem_used": used,
            "mem_total": total,
            "used_frac": frac,
            "rise_bytes_per_s": rate,
            "seconds_to_full": eta,
            "window_s": span,
        }
        return ctx.alert("memory_pressure", "warning", ts, "mem_used", message, evidence)


class ThermalThrottleDetector:
    """thermal_throttle: clocks held back by heat, HW slowdown or the power cap while busy."""

    def __init__(self, t: GpuThresholds) -> None:
        self.t = t
        self.window = MeanWindow(t.throttle_window_s, 2)
        self.fired: dict[str, bool] = {"thermal": False, "power": False}
        self.seen: set[str] = set()

    def update(self, s: GpuSample, ctx: GpuContext) -> Alert | None:
        t = self.t
        util, text = s.get("util_gpu"), s.get("clock_event_reasons")
        if util is None or util < t.throttle_busy_util_pct or text is None:
            return None
        reasons = reason_set(text)
        thermal = reasons & THERMAL_OR_HW_REASONS
        power = reasons & POWER_CAP_REASONS
        self.seen |= thermal | power
        ts = s["ts"]
        self.window.add(ts, 1.0 if thermal else 0.0, 1.0 if power else 0.0)
        if len(self.window) < min(5, self.t.min_window_samples) or not self.window.covers(ts, 0.5):
            return None
        shares = {"thermal": self.window.mean(0) or 0.0, "power": self.window.mean(1) or 0.0}
        for kind, share in shares.items():
            if self.fired[kind] and share < t.throttle_recover_share:
                self.fired[kind] = False
        for kind in ("thermal", "power"):
            if self.fired[kind] or shares[kind] < t.throttle_min_share:
                continue
            self.fired[kind] = True
            return self._alert(s, ctx, kind, shares[kind])
        return None

    def _alert(self, s: GpuSample, ctx: GpuContext, kind: str, share: float) -> Alert:
        t = self.t
        wanted = THERMAL_OR_HW_REASONS if kind == "thermal" else POWER_CAP_REASONS
        names = ", ".join(sorted(self.seen & wanted))
        clock = s.get("sm_clock_mhz")
        details = []
        if clock is not None:
            details.append(f"SM clock {clock:.0f} MHz")
        if s.get("temp_c") is not None:
            details.append(f"{s['temp_c']:.0f} C")
        if s.get("power_w") is not None:
            limit = s.get("power_limit_w")
            details.append(f"{s['power_w']:.0f} W" + (f" of {limit:.0f} W" if limit else ""))
        advice = (
            "Check cooling (airflow, fans, inlet temperature) and `nvidia-smi -q -d PERFORMANCE`."
            if kind == "thermal"
            else "The board hits its power limit: expected under heavy load, but a low "
            "administrator power limit (`nvidia-smi -q -d POWER`) costs speed."
        )
        message = (
            f"GPU {s['gpu']} clocks were held back by {names} in {share:.0%} of busy samples "
            f"over {self.window.span_s:.0f} s (rule: >= {t.throttle_min_share:.0%} of samples "
            f"with util >= {t.throttle_busy_util_pct:.0f}%)"
            + (f"; {', '.join(details)}" if details else "")
            + f". {advice}"
        )
        severity = "warning" if kind == "thermal" else "info"
        holder = ctx.holder
        evidence = {
            "gpu": s["gpu"],
            "host": s["host"],
            "reasons": sorted(self.seen & wanted),
            "share": share,
            "sm_clock_mhz": clock,
            "temp_c": s.get("temp_c"),
            **(holder.evidence() if holder else {"pid": None}),
            "window_s": self.window.span_s,
        }
        return ctx.alert(
            "thermal_throttle", severity, s["ts"], "clock_event_reasons", message, evidence
        )


_EVENT_DETECTORS = {
    "gpu_lost": ("gpu_lost", "critical"),
    "xid": ("xid", "critical"),
    "ecc_double_bit": ("ecc", "critical"),
    "ecc_single_bit": ("ecc", "info"),
}


@dataclass(slots=True)
class _GpuState:
    low_util: LowGpuUtilDetector
    efficiency: GpuEfficiencyDetector
    memory: MemoryPressureDetector
    thermal: ThermalThrottleDetector
    procs: list[GpuProcessRow] = field(default_factory=list)
    procs_ts: float | None = None
    holder_key: tuple[int | None, str | None, str | None] | None = None
    held_since: float | None = None
    pace: SamplePace = field(default_factory=SamplePace)

    def windows(self) -> list[MeanWindow | HalvesWindow]:
        return [self.low_util.window, self.efficiency.window, self.memory.trend,
                self.memory.busy, self.thermal.window]

    def restart_windows(self) -> None:
        """After a gap: what came before says nothing about the window after it."""
        self.low_util.reset()
        self.efficiency.window.clear()
        self.efficiency.armed = False
        self.memory.trend.clear()
        self.memory.busy.clear()
        self.thermal.window.clear()


class GpuHealthMonitor:
    """Feeds every sample of every GPU to that GPU's detectors; returns the alerts they raise."""

    def __init__(
        self,
        run_names: Mapping[str, str] | None = None,
        thresholds: GpuThresholds | None = None,
    ) -> None:
        self.t = thresholds or GpuThresholds()
        self.run_names: dict[str, str] = dict(run_names or {})
        self._gpus: dict[tuple[str, int], _GpuState] = {}
        self._cpu: dict[int, tuple[float, float]] = {}  # training pid -> (ts, busiest cpu)
        self._run_active: dict[str, float] = {}
        self._host_load: dict[str, HostLoad] = {}  # short host name -> node-exporter load
        # Where the telemetry comes from ("nvml", "prometheus"): every alert's evidence says so.
        self.source = "nvml"
        # (host, job) -> how a labelled workload was matched to its run (LabelAttributor)
        self.explain: Callable[[str, str | None], dict[str, Any] | None] | None = None
        self._run_last: dict[str, float] = {}

    # -- inputs besides samples --------------------------------------------------------------

    def note_run_activity(self, run_id: str, ts: float) -> None:
        """The run logged a step at `ts`: its GPU is in steady state from then on."""
        self._run_active.setdefault(run_id, ts)

    def note_run_logged(self, run_id: str, ts: float) -> None:
        """Live: the run's logs last grew at `ts`. A run silent for half a low-utilization
        window is hung (the lifecycle's decision), not starved; runs never noted are judged
        on their GPU alone (after the fact, or history found by a watch)."""
        self._run_active.setdefault(run_id, ts)
        self._run_last[run_id] = max(self._run_last.get(run_id, ts), ts)

    def observe_host(self, snapshot: HostSnapshot) -> None:
        for stat in snapshot.processes:
            if stat.role == "training":
                busiest = snapshot.busiest_cpu(stat.pid)
                if busiest is not None:
                    self._cpu[stat.pid] = (snapshot.ts, busiest)

    # -- the batch path --------------------------------------------------------------------

    def observe(self, batch: TelemetryBatch) -> list[Alert]:
        alerts: list[Alert] = []
        self._host_load.update(batch.host_loads)
        for key in batch.process_ticks:
            state = self._state(key)
            state.procs = [r for r in batch.processes if (r["host"], r["gpu"]) == key]
            state.procs_ts = batch.ts
        for sample in batch.samples:
            key = (sample["host"], sample["gpu"])
            state = self._state(key)
            self._pace(state, sample["ts"])
            ctx = self._context(key, state, sample["ts"])
            for detector in (state.low_util, state.efficiency, state.memory, state.thermal):
                alert = detector.update(sample, ctx)
                if alert is not None:
                    alerts.append(alert)
        for event in batch.events:
            alerts.extend(self._event_alerts(event))
        return alerts

    def _state(self, key: tuple[str, int]) -> _GpuState:
        state = self._gpus.get(key)
        if state is None:
            t = self.t
            state = self._gpus[key] = _GpuState(
                LowGpuUtilDetector(t), GpuEfficiencyDetector(t), MemoryPressureDetector(t),
                ThermalThrottleDetector(t), pace=SamplePace(t.gap_intervals, t.gap_min_s),
            )
        return state

    def _pace(self, state: _GpuState, ts: float) -> None:
        """Learn the GPU's sample interval, stretch short windows to it, restart after a gap."""
        t = self.t
        if state.pace.update(ts) is None:
            if state.pace.is_gap:
                state.restart_windows()
            return
        assert state.pace.interval_s is not None
        floor = t.min_window_samples * state.pace.interval_s
        defaults = (t.low_util_window_s, t.efficiency_window_s, t.memory_window_s,
                    t.memory_window_s, t.throttle_window_s)
        for window, span in zip(state.windows(), defaults, strict=True):
            window.span_s = max(span, floor)

    def _holder(self, state: _GpuState, ts: float) -> Holder | None:
        stale = max(self.t.holder_stale_s, 2.5 * (state.pace.interval_s or 0.0))
        if state.procs_ts is None or ts - state.procs_ts > stale or not state.procs:
            return None
        ranked = sorted(
            state.procs,
            key=lambda r: (r.get("run_id") is not None, r.get("used_mem") or 0),
            reverse=True,
        )
        top = ranked[0]
        pid = top.get("pid")
        job = top.get("job")
        attribution = None
        if pid is None and self.explain is not None and top.get("run_id") is not None:
            attribution = self.explain(top["host"], job)
        return Holder(
            pid=None if pid is None else int(pid),
            run_id=top.get("run_id"),
            used_mem=top.get("used_mem"),
            others=[int(r["pid"]) for r in ranked[1:] if r.get("pid") is not None],
            job=job,
            host=str(top.get("host", "")),
            attribution=attribution,
        )

    def _context(self, key: tuple[str, int], state: _GpuState, ts: float) -> GpuContext:
        holder = self._holder(state, ts)
        holder_key = (holder.pid, holder.run_id, holder.job) if holder else None
        if holder_key != state.holder_key:
            state.holder_key = holder_key
            state.held_since = ts if holder else None
            state.low_util.reset()
        cpu = None
        if holder is not None and holder.pid in self._cpu:
            cpu_ts, busiest = self._cpu[holder.pid]
            if abs(ts - cpu_ts) <= self.t.host_stale_s:
                cpu = busiest
        scope, disk = "process", None
        if cpu is None and holder is not None and holder.pid is None:
            load = self._host_load.get(short_host(key[0]))
            if load is not None and abs(ts - load.ts) <= max(self.t.host_stale_s, 30.0):
                cpu, disk, scope = load.busiest_cpu_pct, load.disk_busy_pct, "host"
        active = self._run_active.get(holder.run_id) if holder and holder.run_id else None
        run_id = holder.run_id if holder else None
        job = holder.job if holder else None

        def make_alert(
            detector: str, severity: str, at: float, metric: str | None, message: str,
            evidence: dict[str, Any],
        ) -> Alert:
            return self._make_alert(key, run_id, detector, severity, at, metric, message, evidence,
                                    job)

        last = self._run_last.get(run_id) if run_id else None
        return GpuContext(key, holder, state.held_since, cpu, active, make_alert, scope, disk,
                          last)

    def _make_alert(
        self,
        key: tuple[str, int],
        run_id: str | None,
        detector: str,
        severity: str,
        ts: float | None,
        metric: str | None,
        message: str,
        evidence: dict[str, Any],
        job: str | None = None,
    ) -> Alert:
        workload = Workload.parse(job)
        if run_id is not None:
            run = self.run_names.get(run_id, run_id)
        elif workload is not None and workload.kind != HOST:
            run = workload.short()  # a pod or job no watched run matched: still someone's
        else:
            run = f"{key[0]}/gpu{key[1]}"
        evidence.setdefault("source", self.source)
        return Alert(run, detector, severity, None, ts, metric, message, evidence, run_id=run_id)

    def _event_alerts(self, event: GpuEvent) -> list[Alert]:
        detector, severity = _EVENT_DETECTORS.get(event.kind, ("xid", "critical"))
        key = (event.host, event.gpu)
        state = self._gpus.get(key)
        run_ids = sorted({r["run_id"] for r in state.procs if r.get("run_id")}) if state else []
        pids = [int(r["pid"]) for r in state.procs if r.get("pid") is not None] if state else []
        what = event.message or event.kind
        if event.kind == "gpu_lost":
            advice = "every process on it has lost its work; reset the GPU or reboot"
        elif severity == "critical":
            advice = "processes on this GPU may have crashed or produced wrong results; see `dmesg`"
        else:
            advice = "corrected by ECC; watch for a rising count"
        message = f"GPU {event.gpu} on {event.host}: {what} ({advice})."
        evidence = {"gpu": event.gpu, "host": event.host, "kind": event.kind, "code": event.code,
                    "pids": pids}
        targets: list[str | None] = list(run_ids) or [None]
        return [
            self._make_alert(key, run_id, detector, severity, event.ts, None, message, evidence)
            for run_id in targets
        ]
