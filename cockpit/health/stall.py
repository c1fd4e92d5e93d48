"""`stall`: no new point for much longer than the run's own logging interval.

The threshold is max(k x the typical interval, a floor) so a run logging every 50 ms and
one logging every 10 minutes are both judged fairly; `--stall-after` replaces it. Live, the
lifecycle decision (cockpit/monitor/lifecycle.py) reads `silence` and, when the run is hung or
stalled, asks for the alert; after the fact, a gap between two points' timestamps is a stall
that ended. A finished or crashed run is never stalled.
"""

from __future__ import annotations

from dataclasses import dataclass

from cockpit.health.context import RunContext, at_step
from cockpit.health.rolling import RollingMedian
from cockpit.model.alert import Alert

DETECTOR = "stall"


def duration(seconds: float) -> str:
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
        if step is not None and self._step is not None and step > self._step:
            self.ctx.step_seconds.push(gap / (step - self._step))
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
            f"run stalled for {duration(gap)} after {at_step(self._step)} before logging "
            f"{at_step(step)}. Rule: {self._rule()}, i.e. {duration(threshold)}. Next: what "
            "the job did then (checkpoint save, evaluation, a data loader or NCCL hang, a "
            "preemption and restart); GPU time in that window was spent without training.",
            {"gap_s": gap, "threshold_s": threshold, "resumed_step": step, "resumed_ts": ts,
             "classification": "resumed", "rule": self._rule()},
        )

    def silence(self, now: float, last_seen: float | None = None) -> Silence | None:
        """How long the run has been silent at `now` and what counts as too long. A log without
        timestamps is judged from `last_seen` (when its file last grew); None without either.
        The lifecycle decision (cockpit/monitor) reads this."""
        last = self.last_ts if self.last_ts is not None else last_seen
        if last is None:
            return None
        return Silence(max(0.0, now - last), self.threshold(), self._rule(), last,
                       self.ctx.last_step, self._open)

    def alert(self, now: float, kind: str, severity: str, seen: str,
              evidence: dict[str, object], last_seen: float | None = None) -> list[Alert]:
        """The one alert of the current silence, classified by the lifecycle decision:
        `hung` (the writer is alive), `unknown` (no writer visible; info after the fact),
        `exited` (the writer is gone). `seen` says what the process and GPU showed."""
        silence = self.silence(now, last_seen)
        if silence is None or self._open:
            return []
        self._open = True
        ctx = self.ctx
        rule = f"{silence.rule}, i.e. {duration(silence.threshold_s)}, while the run is not finished"
        last = at_step(ctx.last_step)
        quiet = duration(silence.silent_s)
        text, nxt = _TEXTS["ended" if kind == "unknown" and severity == "info" else kind]
        return [ctx.alert(
            DETECTOR, severity, ctx.last_step, now, None,
            f"{text.format(quiet=quiet, last=last)}{seen}. Rule: {rule}. Next: {nxt}.",
            {"silent_s": silence.silent_s, "threshold_s": silence.threshold_s,
             "classification": kind, "last_ts": silence.last_ts, "rule": rule,
             "onset_ts": silence.last_ts, **evidence},
        )]


_TEXTS = {
    "hung": ("run is hung: no new point for {quiet} since {last} while its writing process is "
             "still alive",
             "a stack dump of the process (py-spy dump --pid), NCCL or data-loader waits, GPU "
             "utilization (idle with memory held means it waits)"),
    "exited": ("run stopped: no new point for {quiet} since {last}; its process is gone without "
               "a finished marker or an error in the log",
               "the job scheduler's record (preempted, time limit, OOM killer: dmesg), stderr "
               "captured outside this log"),
    "unknown": ("run stalled: no new point for {quiet} since {last}, and no process on this "
                "machine writes its files (a remote or foreign job, or one that ended)",
                "whether the job still runs where it was launched, its stack (py-spy dump), GPU "
                "utilization, and the end of its text log"),
    "ended": ("run's last point is {quiet} old ({last}) and its logs hold no finished marker; "
              "whether it finished, was stopped or was killed cannot be told from the logs",
              "the job's exit status; nothing if it ended as planned"),
}


@dataclass(frozen=True, slots=True)
class Silence:
    silent_s: float
    threshold_s: float
    rule: str
    last_ts: float
    last_step: int | None
    reported: bool  # the alert of this silence is out
