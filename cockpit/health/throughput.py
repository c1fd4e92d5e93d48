"""`throughput_drop`: tokens/s or step time clearly worse than the run's own steady state.

The steady state is the median of the logs just before the recent window, so it needs no
configuration per model or GPU; the first logs (compilation, warmup) are skipped, and the
steady state must span `throughput_baseline_logs` logs before anything is judged. Because
the baseline follows the run, a lasting change is reported once and then becomes the new
steady state.
"""

from __future__ import annotations

import math

from cockpit.health.context import RunContext, at_step, fmt
from cockpit.health.rolling import RollingMedian
from cockpit.model.alert import Alert

DETECTOR = "throughput_drop"


class ThroughputDropDetector:
    """One throughput series; `higher_is_better` for tokens/s, not for step time."""

    def __init__(self, ctx: RunContext, metric: str, higher_is_better: bool,
                 unless: str | None = None) -> None:
        self.ctx = ctx
        self.metric = metric
        self.higher_is_better = higher_is_better
        # Step time says nothing tokens/s does not: stand down when the run logs both.
        self.unless = unless
        cfg = ctx.config
        self._recent = RollingMedian(cfg.throughput_recent_logs)
        self._baseline = RollingMedian(cfg.throughput_baseline_logs)
        self._logs = 0
        self._bad = 0
        self._open = False

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        if value <= 0 or not math.isfinite(value):
            return []
        if self.unless is not None and self.unless in self.ctx.metrics:
            return []
        cfg = self.ctx.config
        self._logs += 1
        if self._logs <= cfg.throughput_skip_logs:
            return []
        # Judged as throughput (a step time becomes its inverse), so "30% worse" means the
        # same for tokens/s and step time: 30% less work per second.
        speed = value if self.higher_is_better else 1.0 / value
        if self._recent.full:
            self._baseline.push(self._recent.oldest())
        self._recent.push(speed)
        if not self._baseline.full:
            return []
        base, now = self._baseline.median(), self._recent.median()
        worse = (base - now) / base
        if self._open:
            if worse < cfg.throughput_rearm:
                self._open = False
                self.ctx.release(DETECTOR, self.metric)
            return []
        bad = worse >= cfg.throughput_drop and not self._within_jitter(base, worse)
        self._bad = self._bad + 1 if bad else 0
        if self._bad < cfg.throughput_sustain_logs or not self.ctx.claim(DETECTOR, self.metric):
            return []
        self._open = True
        return [self._alert(step, ts, base, now, worse)]

    def _extra_ms(self, base: float, worse: float) -> float | None:
        """How much longer each step takes now, in ms (None: the step time is not known)."""
        if not self.higher_is_better:
            base_ms = 1.0 / base  # the steady step time, in the metric's own ms
        elif len(self.ctx.step_seconds) >= self.ctx.config.stall_min_intervals:
            base_ms = self.ctx.step_seconds.median() * 1000.0
        else:
            return None
        return base_ms * worse / (1.0 - worse) if worse < 1 else float("inf")

    def _within_jitter(self, base: float, worse: float) -> bool:
        """A few ms more per step is a shared machine's jitter, not a drop (absolute floor)."""
        extra = self._extra_ms(base, worse)
        return extra is not None and extra < self.ctx.config.throughput_min_extra_ms

    def _intermittent(self, base: float) -> bool:
        """The recent window's fastest steps still run at the steady state's speed."""
        cfg = self.ctx.config
        speeds = sorted(self._recent.values())
        fast = speeds[min(len(speeds) - 1, int(cfg.throughput_fast_quantile * len(speeds)))]
        return fast >= base * (1 - cfg.throughput_drop / 2)

    def _alert(self, step: int | None, ts: float | None, base: float, now: float,
               worse: float) -> Alert:
        cfg = self.ctx.config
        extra = self._extra_ms(base, worse)
        contention = self.ctx.host.recent()
        intermittent = self._intermittent(base)
        if not self.higher_is_better:  # back to the metric's own unit
            base, now = 1.0 / base, 1.0 / now
        rule = (f"throughput (median of the last {cfg.throughput_recent_logs} logs) >= "
                f"{cfg.throughput_drop:.0%} below its steady state (median of the "
                f"{cfg.throughput_baseline_logs} logs before them) for "
                f"{cfg.throughput_sustain_logs} consecutive logs, and each step >= "
                f"{cfg.throughput_min_extra_ms:g} ms slower where the step time is known")
        evidence = {"value": now, "steady_state": base, "worse_by": round(worse, 4),
                    "higher_is_better": self.higher_is_better, "rule": rule,
                    "extra_ms_per_step": None if extra is None else round(extra, 3),
                    "host_cpu_others": None if contention is None else round(contention, 3),
                    "intermittent": intermittent}
        seen = (f"{self.metric} is {fmt(now)} at {at_step(step)} against a steady state of "
                f"{fmt(base)}: {worse:.0%} less throughput")
        if contention is not None and contention >= cfg.throughput_contention:
            return self.ctx.alert(
                DETECTOR, "info", step, ts, self.metric,
                f"{seen}, while other processes kept {contention:.0%} of this machine's CPU "
                f"cores busy: host contention, not this run. Rule: {rule}; other processes "
                f">= {cfg.throughput_contention:.0%} of the cores makes it info. Next: what "
                "else runs on this machine (top), CPU pinning or fewer data-loader workers "
                "elsewhere.", evidence)
        if intermittent:
            return self.ctx.alert(
                DETECTOR, "info", step, ts, self.metric,
                f"{seen}, but its fastest steps still run at the steady state's speed: the run "
                "is held up intermittently (preempted by other processes on a busy CPU, or a "
                f"stalling input), not running slower. Rule: {rule}; with the top "
                f"{1 - cfg.throughput_fast_quantile:.0%} of recent steps within "
                f"{cfg.throughput_drop / 2:.0%} of the steady state it is info. Next: what else "
                "runs on this machine (top), and the data loader's waits.", evidence)
        return self.ctx.alert(
            DETECTOR, "warning", step, ts, self.metric,
            f"{seen}. Rule: {rule}. Next: GPU utilization and clocks "
            "(thermal or power throttling), the data loader (CPU busy, I/O wait), other "
            "processes on the GPU, and whether sequence length or batch size changed.",
            evidence,
        )
