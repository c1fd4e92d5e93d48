"""`nan`: the first non-finite value of a watched metric is critical at that very step.

One episode per run: metrics that turn non-finite at the alert's step join its evidence
instead of raising more alerts; the episode ends when every offending metric has been
finite again for `nan_rearm_logs` logs (a run that skipped a bad batch and recovered).
"""

from __future__ import annotations

import math

from cockpit.health.context import RunContext, at_step, fmt
from cockpit.model.alert import Alert

DETECTOR = "nan"


class NanDetector:
    """Watches every loss-like, norm and lr series of one run."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._streaks: dict[str, int] = {}  # offending metric -> finite logs since
        self._alert: Alert | None = None
        self._skips = 0
        self._last_finite: dict[str, tuple[int | None, float]] = {}  # metric -> (step, value)

    def update(self, metric: str, step: int | None, ts: float | None, value: float) -> list[Alert]:
        if math.isfinite(value):
            self._last_finite[metric] = (step, value)
            if self._streaks:
                self._recover(metric)
            return []
        if self._alert is not None:
            self._join(metric, step, value)
            return []
        if metric == "grad_norm" and self.ctx.has_loss_scale:
            return self._skipped_step(step, ts, value)
        self._streaks[metric] = 0
        self._alert = self._make(metric, step, ts, value)
        self.ctx.claim(DETECTOR, metric)
        return [self._alert]

    def _skipped_step(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        """Mixed precision with a loss scaler skips overflowing steps by design: info, once.

        A non-finite loss still raises the critical alert through its own series.
        """
        self._skips += 1
        if self._skips > 1:
            return []
        return [self.ctx.alert(
            DETECTOR, "info", step, ts, "grad_norm",
            f"grad_norm is {value} at {at_step(step)} and the run logs a loss scale: a step the "
            "scaler skipped. Rule: a non-finite grad norm under loss scaling is info (only a "
            "non-finite loss is critical). Next: nothing unless most steps are skipped or the "
            "loss scale keeps falling.",
            {"value": str(value), "rule": "non-finite grad norm under loss scaling"},
        )]

    def _recover(self, metric: str) -> None:
        if metric not in self._streaks:
            return
        self._streaks[metric] += 1
        if all(n >= self.ctx.config.nan_rearm_logs for n in self._streaks.values()):
            self._streaks.clear()
            self._alert = None
            self.ctx.open.pop(DETECTOR, None)

    def _join(self, metric: str, step: int | None, value: float) -> None:
        self._streaks[metric] = 0
        alert = self._alert
        assert alert is not None
        if step != alert.step or metric == alert.metric:
            return
        also = alert.evidence.setdefault("also_non_finite", {})
        if metric == "loss":
            # The loss is what people look for first: make it the alert's metric.
            first, first_value = alert.metric or "?", alert.evidence.get("value", "nan")
            fresh = self._make(metric, step, alert.ts, value)
            alert.metric, alert.evidence = fresh.metric, fresh.evidence
            alert.message = fresh.message.replace(
                f"at {at_step(step)};", f"at {at_step(step)} (so is {first});", 1)
            also = {first: first_value, **{k: v for k, v in also.items() if k != metric}}
            alert.evidence["also_non_finite"] = also
        elif metric not in also:
            also[metric] = str(value)

    def _make(self, metric: str, step: int | None, ts: float | None, value: float) -> Alert:
        ctx = self.ctx
        before = self._last_finite.get(metric)
        lr = ctx.schedule.last
        evidence: dict[str, object] = {
            "value": str(value),
            "rule": "first non-finite value of a watched metric",
            "last_finite_step": before[0] if before else None,
            "last_finite_value": before[1] if before else None,
            "lr": lr,
        }
        was = (f"; it was {fmt(before[1])} at {at_step(before[0])}" if before
               else "; it was never finite")
        return ctx.alert(
            DETECTOR, "critical", step, ts, metric,
            f"{metric} is {value} at {at_step(step)}{was}. Rule: the first non-finite value of "
            "loss, grad norm, lr or another watched metric is critical. Next: mixed precision "
            "(fp16 overflow/underflow, optimizer eps below fp16's range: use bf16 or a "
            f"GradScaler), the lr at this step ({fmt(lr)}), the batch at this step, and the grad "
            "norm just before it; every step from here on is wasted.",
            evidence,
        )
