"""`stall`: no new point for much longer than the run's own logging interval.

The threshold is max(k x the typical interval, a floor) so a run logging every 50 ms and
one logging every 10 minutes are both judged fairly; `--stall-after` replaces it. Live, the
monitor's clock asks `check`; after the fact, a gap between two points' timestamps is a
stall that ended. A finished or crashed run is never stalled.
"""

from __future__ import annotations

from cockpit.health.context import RunContext, at_step
from cockpit.health.rolling import RollingMedian
from cockpit.model.alert import Alert

DETECTOR = "stall"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class StallDetector:
    """Tracks one run's point timestamps: typical interval, last point, gaps."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._intervals = RollingMedian(ctx.config.stall_interval_window)
        self._step: int | None = None  # step of the last new log line
        self._ts: float | None = None  # its timestamp
        self.last_ts: float | None = None  # newest timestamp seen
        self._open = False  # a live stall alert is out for the current silence
        self._seen_fresh = False  # a live check once found this run logging recently

    def typical_interval(self) -> float | None:
        if len(self._intervals) < self.ctx.config.stall_min_intervals:
            return None
        return self._intervals.median()

    def threshold(self) -> float:
        cfg = self.ctx.config
        if cfg.stall_after_s is not None:
            return cfg.stall_after_s
        typical = self.typical_interval()
        return cfg.stall_floor_s if typical is None else max(
            cfg.stall_interval_factor * typical, cfg.stall_floor_s)

    def _rule(self) -> str:
        cfg = self.ctx.config
        if cfg.stall_after_s is not None:
            return f"no new point for {cfg.stall_after_s:g} s (--stall-after)"
        typical = self.typical_interval()
        typ = f"{typical:.3g} s" if typical is not None else "not yet known"
        return (f"no new point for max({cfg.stall_interval_factor:g} x the typical interval "
                f"({typ}), {cfg.stall_floor_s:g} s)")

    def on_point(self, step: int | None, ts: float | None) -> list[Alert]:
        """A new point: learn the interval; a long gap before it is a stall that ended."""
        if ts is None:
            return []
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        if self._ts is None:
            self._step, self._ts = step, ts
            return []
        if step is not None and self._step is not None and step <= self._step:
            return []  # another metric of the same log line
        gap = ts - self._ts
        if gap <= 0:
            return []
        out: list[Alert] = []
        threshold = self.threshold()
        trusted = self.typical_interval() is not None or self.ctx.config.stall_after_s is not None
        if self._open:
            self._open = False  # the live alert already covered this silence
        elif trusted and gap > threshold:
            out.append(self._gap_alert(step, ts, gap, threshold))
        self._intervals.push(gap)
        self._step, self._ts = step, ts
        return out

    def _gap_alert(self, step: int | None, ts: float, gap: float, threshold: float) -> Alert:
        return self.ctx.alert(
            DETECTOR, "warning", self._step, self._ts, None,
            f"run stalled for {_duration(gap)} after {at_step(self._step)} before logging "
            f"{at_step(step)}. Rule: {self._rule()}, i.e. {_duration(threshold)}. Next: what "
            "the job did then (checkpoint save, evaluation, a data loader or NCCL hang, a "
            "preemption and restart); GPU time in that window was spent without training.",
            {"gap_s": gap, "threshold_s": threshold, "resumed_step": step, "resumed_ts": ts,
             "classification": "resumed", "rule": self._rule()},
        )

    def check(self, now: float, process_alive: bool | None, finished: bool,
              posthoc: bool = False) -> list[Alert]:
        """Is the run silent for too long right now? Classify it hung / exited / unknown."""
        ctx = self.ctx
        if finished or ctx.finished or ctx.crashed or self.last_ts is None:
            self._open = False
            return []
        silent = now - self.last_ts
        threshold = self.threshold()
        if silent < threshold:
            self._seen_fresh = True
            return []
        if self._open:
            return []
        if not posthoc and process_alive is None and not self._seen_fresh:
            return []  # history found by a live watch, never seen running: `check` tells
        self._open = True
        rule = f"{self._rule()}, i.e. {_duration(threshold)}, while the run is not finished"
        last = at_step(ctx.last_step)
        if process_alive:
            severity, kind = "warning", "hung"
            text = (f"run is hung: no new point for {_duration(silent)} since {last} while its "
                    "process is still alive")
            nxt = ("a stack dump of the process (py-spy dump --pid), NCCL or data-loader "
                   "waits, GPU utilization (idle with memory held means it waits)")
        elif process_alive is False:
            severity, kind = "warning", "exited"
            text = (f"run stopped: no new point for {_duration(silent)} since {last}; its "
                    "process is gone without a finished marker or an error in the log")
            nxt = ("the job scheduler's record (preempted, time limit, OOM killer: dmesg), "
                   "stderr captured outside this log")
        elif posthoc:
            severity, kind = "info", "unknown"
            text = (f"run's last point is {_duration(silent)} old ({last}) and its logs hold "
                    "no finished marker; whether it finished, was stopped or was killed "
                    "cannot be told from the logs")
            nxt = "the job's exit status; nothing if it ended as planned"
        else:
            severity, kind = "warning", "stalled"
            text = (f"run stalled: no new point for {_duration(silent)} since {last} "
                    "(process state unknown)")
            nxt = ("whether the process is alive, its stack (py-spy dump), GPU utilization, "
                   "and the end of its text log")
        return [ctx.alert(
            DETECTOR, severity, ctx.last_step, now, None,
            f"{text}. Rule: {rule}. Next: {nxt}.",
            {"silent_s": silent, "threshold_s": threshold, "classification": kind,
             "process_alive": process_alive, "last_ts": self.last_ts, "rule": rule},
        )]
