"""`memory_pressure` from memory metrics the training script logs (source "log").

A healthy run's allocator memory is flat after the first steps or grows in a few jumps
(a longer batch, the optimizer state appearing); a leak climbs a little on almost every
step. The rule looks for that shape: a large relative climb over a window, rising on most
logs, and not made of one jump. GPU telemetry memory pressure lives in cockpit.telemetry and
uses the same detector id with "source": "nvml".
"""

from __future__ import annotations

import math
from collections import deque

from cockpit.health.context import RunContext, at_step, fmt
from cockpit.model.alert import Alert

DETECTOR = "memory_pressure"


class MemoryPressureDetector:
    """One logged memory series (gpu_mem_alloc_gb, cuda_mem_reserved, ...)."""

    def __init__(self, ctx: RunContext, metric: str) -> None:
        self.ctx = ctx
        self.metric = metric
        cfg = ctx.config
        self._values: deque[tuple[int | None, float]] = deque(maxlen=cfg.memory_window_logs)
        self._rising = 0  # log-to-log changes >= 0 inside the window
        self._logs = 0
        self._level = 0  # 0 none, 2 warning sent, 3 critical sent
        # The known capacity applies when the metric is in GB (the usual unit).
        self._capacity = cfg.memory_capacity_gb if metric.endswith("_gb") else None

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        if not math.isfinite(value):
            return []
        cfg = self.ctx.config
        self._logs += 1
        if self._logs <= cfg.memory_skip_logs:
            return []
        values = self._values
        if len(values) == values.maxlen:
            first, second = values[0][1], values[1][1]
            self._rising -= second >= first
        if values:
            self._rising += value >= values[-1][1]
        values.append((step, value))
        if len(values) < cfg.memory_window_logs:
            return []
        return self._judge(step, ts, value)

    def _judge(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        cfg = self.ctx.config
        first_step, first = self._values[0]
        growth = value - first
        if self._level:
            if growth <= 0:  # flat or shrinking over a whole window: the episode is over
                self._level = 0
                self.ctx.release(DETECTOR, self.metric)
            elif (self._level < 3 and self._capacity
                  and value >= cfg.memory_capacity_fraction * self._capacity):
                self._level = 3
                return [self._alert("critical", step, ts, value, first, first_step)]
            return []
        if first <= 0 or growth / first < cfg.memory_min_growth:
            return []
        if self._rising < cfg.memory_min_rising_share * (len(self._values) - 1):
            return []
        jumps = (b[1] - a[1] for a, b in zip(self._values, list(self._values)[1:], strict=False))
        if max(jumps) > cfg.memory_max_jump_share * growth:
            return []  # one step change, not a climb
        if not self.ctx.claim(DETECTOR, self.metric):
            return []
        near = self._capacity and value >= cfg.memory_capacity_fraction * self._capacity
        self._level = 3 if near else 2
        return [self._alert("critical" if near else "warning", step, ts, value, first, first_step)]

    def _alert(self, severity: str, step: int | None, ts: float | None, value: float,
               first: float, first_step: int | None) -> Alert:
        cfg = self.ctx.config
        span = (step - first_step) if step is not None and first_step is not None else None
        per_step = (value - first) / span if span else None
        rule = (f"+{cfg.memory_min_growth:.0%} or more over {cfg.memory_window_logs} logs, "
                f"rising on >= {cfg.memory_min_rising_share:.0%} of them, no single jump "
                f"holding > {cfg.memory_max_jump_share:.0%} of the growth")
        eta = ""
        if self._capacity and per_step and per_step > 0:
            left = (self._capacity - value) / per_step
            eta = (f"; at this rate it reaches the {fmt(self._capacity)} GB capacity in about "
                   f"{max(left, 0):.0f} steps")
            rule += f"; critical above {cfg.memory_capacity_fraction:.0%} of the capacity"
        rate = f" (+{fmt(per_step)} per step)" if per_step else ""
        return self.ctx.alert(
            DETECTOR, severity, step, ts, self.metric,
            f"{self.metric} climbed steadily from {fmt(first)} at {at_step(first_step)} to "
            f"{fmt(value)} at {at_step(step)}{rate}{eta}. Rule: {rule}. Next: tensors kept "
            "alive across steps (a loss appended to a list without .item(), a growing cache, "
            "hooks storing activations); torch.cuda.memory_snapshot() shows who holds them. It "
            "ends in an out-of-memory crash if it keeps climbing.",
            {"source": "log", "value": value, "window_start_value": first,
             "window_start_step": first_step, "per_step": per_step,
             "capacity_gb": self._capacity, "rule": rule},
        )
