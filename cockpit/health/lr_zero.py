"""`lr_zero`: the learning rate is zero or effectively zero where the schedule says it should not be.

A warmup starts near zero (the running peak is still small then, so it never counts) and a
final decay ends near zero (it arrives gradually, at the end). What is left:
- an abrupt drop from a real lr to ~0 (a scheduler bug): alert after a few logs;
- ~0 long after a gradual decay (the schedule ended before training did);
- exactly 0 from the first log (the lr was never set).
"""

from __future__ import annotations

import math
from collections import deque

from cockpit.health.context import RunContext, at_step, fmt
from cockpit.model.alert import Alert

DETECTOR = "lr_zero"


class LrZeroDetector:
    """Owns the run's lr schedule tracker and judges each lr log against it."""

    def __init__(self, ctx: RunContext, metric: str = "lr") -> None:
        self.ctx = ctx
        self.metric = metric
        cfg = ctx.config
        self._before: deque[float] = deque(maxlen=cfg.lr_abrupt_lookback_logs)
        self._low = 0  # consecutive logs at ~0
        self._low_start: int | None = None
        self._abrupt = False
        self._drop_from = 0.0
        self._logs_before_low = 0
        self._normal = 0  # consecutive logs back at a real lr
        self._open = False
        self._start_fired = False

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        if not math.isfinite(value):
            return []
        sched = self.ctx.schedule
        sched.update(value)
        cfg = self.ctx.config
        out: list[Alert] = []
        if sched.peak <= 0:
            if value == 0 and sched.logs >= cfg.lr_zero_start_logs and not self._start_fired:
                self._start_fired = True
                out.append(self._from_start(step, ts))
        elif value < sched.peak * cfg.lr_zero_fraction:
            out = self._low_log(step, ts, value)
        else:
            self._low = 0
            self._normal += 1
            if self._open and self._normal >= cfg.lr_zero_confirm_logs:
                self._open = False
                self.ctx.release(DETECTOR, self.metric)
        self._before.append(value)
        return out

    def _low_log(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        cfg = self.ctx.config
        peak = self.ctx.schedule.peak
        if self._low == 0:
            self._low_start = step
            self._drop_from = max(self._before, default=0.0)
            self._abrupt = self._drop_from >= cfg.lr_abrupt_from * peak
            self._logs_before_low = self.ctx.schedule.logs - 1
        self._low += 1
        self._normal = 0
        if self._open:
            return []
        if self._abrupt:
            due = cfg.lr_zero_confirm_logs
        else:
            due = max(cfg.lr_zero_tail_min_logs,
                      math.ceil(cfg.lr_zero_tail_fraction * self._logs_before_low))
        if self._low < due:
            return []
        self._open = True
        self.ctx.claim(DETECTOR, self.metric)
        return [self._alert(step, ts, value, due)]

    def _alert(self, step: int | None, ts: float | None, value: float, due: int) -> Alert:
        cfg = self.ctx.config
        peak = self.ctx.schedule.peak
        if self._abrupt:
            how = (f"it dropped from {fmt(self._drop_from)} within {cfg.lr_abrupt_lookback_logs} "
                   "logs: not a warmup start or a final decay")
            rule = (f"lr < {fmt(cfg.lr_zero_fraction)}x its peak for {due} logs after a drop from "
                    f">= {fmt(cfg.lr_abrupt_from)}x the peak within "
                    f"{cfg.lr_abrupt_lookback_logs} logs")
        else:
            how = ("it decayed there gradually and has stayed there: the schedule ended before "
                   "training did")
            rule = (f"lr < {fmt(cfg.lr_zero_fraction)}x its peak for max("
                    f"{cfg.lr_zero_tail_min_logs}, {cfg.lr_zero_tail_fraction:.0%} of the logs "
                    f"before) = {due} logs")
        return self.ctx.alert(
            DETECTOR, "warning", step, ts, self.metric,
            f"learning rate is {fmt(value)} at {at_step(step)} (peak {fmt(peak)}), effectively "
            f"zero for {self._low} logs since {at_step(self._low_start)}; {how}. Rule: {rule}. "
            "Next: the scheduler (total steps, one scheduler.step() per optimizer step, a "
            "scheduler state restored from a checkpoint) and optimizer.param_groups; every "
            "step at lr 0 is wasted compute.",
            {"value": value, "peak": peak, "since_step": self._low_start,
             "logs_at_zero": self._low, "abrupt": self._abrupt, "dropped_from": self._drop_from,
             "rule": rule},
        )

    def _from_start(self, step: int | None, ts: float | None) -> Alert:
        cfg = self.ctx.config
        rule = f"lr exactly 0 on each of the first {cfg.lr_zero_start_logs} logs"
        self.ctx.claim(DETECTOR, self.metric)
        self._open = True
        return self.ctx.alert(
            DETECTOR, "warning", step, ts, self.metric,
            f"learning rate has been exactly 0 on all {self.ctx.schedule.logs} logs since the "
            f"start (now {at_step(step)}). Rule: {rule}. Next: the lr passed to the optimizer "
            "and the scheduler's first value (a warmup that never starts); nothing is learning.",
            {"value": 0.0, "logs": self.ctx.schedule.logs, "rule": rule},
        )
