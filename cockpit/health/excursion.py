"""`spike`, `divergence` and `grad_explosion`: a value far above its own trailing median.

The baseline is the median of the previous logs, so natural one-step spikes neither fire
on their own (they must persist) nor drag the baseline up. Severity follows persistence
and size: a one-step excursion that recovers is info, a sustained one a warning, a loss
running away by an order of magnitude or more is critical while it is still finite.
"""

from __future__ import annotations

import math

from cockpit.health.context import RunContext, at_step, fmt
from cockpit.health.rolling import RollingMedian
from cockpit.model.alert import Alert

MAD_TO_SIGMA = 1.4826


class LossExcursionDetector:
    """Spikes and divergence of one loss-like series (loss, val_loss)."""

    def __init__(self, ctx: RunContext, metric: str) -> None:
        self.ctx = ctx
        self.metric = metric
        cfg = ctx.config
        self._window = RollingMedian(cfg.spike_window)
        self._logs = 0
        self._high = 0  # consecutive high logs
        self._runaway = 0  # consecutive logs >= runaway_ratio
        self._calm = 0  # consecutive logs back near the level before the excursion
        self._settled = 0  # consecutive logs without an excursion (vs the trailing median)
        self._base = 0.0  # trailing median when the current episode began
        self._episode_start: int | None = None
        self._level = 0  # 0 none, 2 warning sent, 3 critical sent (this episode)
        self._start: int | None = None  # step the excursion began
        # (ratio, value, step) of the highest log of the current excursion
        self._peak: tuple[float, float, int | None] = (0.0, 0.0, None)
        self._last_info = -(10**9)
        self._quiet_spikes = 0  # recovered spikes not reported because of the cooldown

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        if not math.isfinite(value):
            return []  # the nan detector's job; keep the baseline clean
        self._logs += 1
        out: list[Alert] = []
        window = self._window
        if len(window) >= self.ctx.config.spike_min_history:
            median = window.median()
            if median > 0:
                out = self._judge(step, ts, value, median)
        window.push(value)
        return out

    def _is_high(self, value: float, median: float) -> bool:
        cfg = self.ctx.config
        if value < median * cfg.spike_ratio:
            return False
        if value >= median * cfg.blowup_ratio:
            return True
        return value - median >= cfg.spike_min_mads * MAD_TO_SIGMA * self._window.mad()

    def _judge(self, step: int | None, ts: float | None, value: float, median: float) -> list[Alert]:
        cfg = self.ctx.config
        ratio = value / median
        if not self._is_high(value, median):
            return self._settle(step, ts, value, median)
        if self._high == 0:
            self._start = step
            self._peak = (0.0, 0.0, None)
            if not self._level:
                self._base = median
                self._episode_start = step
        self._high += 1
        self._calm = 0
        self._settled = 0
        self._runaway = self._runaway + 1 if ratio >= cfg.runaway_ratio else 0
        if ratio > self._peak[0]:
            self._peak = (ratio, value, step)
        if self._level < 3 and (
            ratio >= cfg.blowup_ratio or self._runaway >= cfg.runaway_sustain_logs
        ):
            self._level = 3
            self.ctx.claim("divergence", self.metric)
            return [self._critical(step, ts, value, median, ratio)]
        if self._level < 2 and self._high >= cfg.spike_sustain_logs:
            self._level = 2
            self.ctx.claim("divergence", self.metric)
            return [self._warning(step, ts, value, median, ratio)]
        return []

    def _settle(self, step: int | None, ts: float | None, value: float,
                median: float) -> list[Alert]:
        """A log back under the threshold: report a recovered short spike, re-arm when calm.

        An episode ends when the series is back near its level from before the excursion (a
        trailing median inflated by a divergence does not count), or when a new level has
        held without any excursion for `spike_rearm_new_level_logs` logs.
        """
        cfg = self.ctx.config
        out: list[Alert] = []
        if self._high and self._level == 0 and self._peak[0] >= cfg.spike_info_ratio:
            if self._logs - self._last_info >= cfg.spike_info_cooldown_logs:
                self._last_info = self._logs
                out.append(self._info(step, ts, median))
                self._quiet_spikes = 0
            else:
                self._quiet_spikes += 1
        self._high = 0
        self._runaway = 0
        self._settled += 1
        self._calm = self._calm + 1 if value < self._base * cfg.spike_ratio else 0
        if self._level and (self._calm >= cfg.spike_rearm_logs
                            or self._settled >= cfg.spike_rearm_new_level_logs):
            self._level = 0
            self.ctx.release("divergence", self.metric)
        return out

    def _rule(self) -> str:
        cfg = self.ctx.config
        return (f">= {cfg.spike_sustain_logs} consecutive logs above {cfg.spike_ratio}x the "
                f"median of the previous {cfg.spike_window} logs: warning; "
                f"{cfg.runaway_sustain_logs} logs >= {fmt(cfg.runaway_ratio)}x or one log >= "
                f"{fmt(cfg.blowup_ratio)}x: critical")

    def _evidence(self, value: float, median: float, ratio: float) -> dict[str, object]:
        return {"value": value, "trailing_median": median, "ratio": round(ratio, 3),
                "consecutive_high_logs": self._high, "excursion_start_step": self._start,
                "rule": self._rule()}

    def _warning(self, step: int | None, ts: float | None, value: float, median: float,
                 ratio: float) -> Alert:
        cfg = self.ctx.config
        return self.ctx.alert(
            "divergence", "warning", step, ts, self.metric,
            f"{self.metric} has stayed above {cfg.spike_ratio}x its trailing median "
            f"({fmt(median)}) for {self._high} consecutive logs since {at_step(self._start)}; "
            f"now {fmt(value)} ({ratio:.2f}x) at {at_step(step)}. Rule: {self._rule()}. Next: "
            "the grad norm and lr around this step, and the data since the excursion began; "
            "roll back to a checkpoint before it if it keeps climbing.",
            self._evidence(value, median, ratio),
        )

    def _critical(self, step: int | None, ts: float | None, value: float, median: float,
                  ratio: float) -> Alert:
        before = ""
        if self._base and self._base != median:
            before = (f", {value / self._base:.3g}x its level of {fmt(self._base)} before the "
                      f"excursion that began at {at_step(self._episode_start)}")
        evidence = self._evidence(value, median, ratio)
        evidence["pre_excursion_median"] = self._base
        return self.ctx.alert(
            "divergence", "critical", step, ts, self.metric,
            f"{self.metric} is running away: {fmt(value)} = {ratio:.3g}x its trailing median "
            f"({fmt(median)}) at {at_step(step)}{before}. Rule: {self._rule()}. Next: it is about to "
            "turn NaN; stop the run or roll back to the last good checkpoint, then lower the "
            "lr, check grad clipping and the mixed-precision settings.",
            evidence,
        )

    def _info(self, step: int | None, ts: float | None, median: float) -> Alert:
        ratio, value, at = self._peak
        cfg = self.ctx.config
        return self.ctx.alert(
            "spike", "info", at, ts, self.metric,
            f"{self.metric} spiked to {fmt(value)} ({ratio:.2f}x its trailing median "
            f"{fmt(median)}) at {at_step(at)} and recovered by {at_step(step)}. Rule: "
            f"excursions of {cfg.spike_info_ratio}x or more the median of the previous "
            f"{cfg.spike_window} logs that end within {cfg.spike_sustain_logs - 1} logs are "
            "info (at most one per "
            f"{cfg.spike_info_cooldown_logs} logs). Next: nothing unless spikes grow larger "
            "or more frequent; the batch at that step may be unusual.",
            {"value": value, "trailing_median": median, "ratio": round(ratio, 3),
             "recovered_at_step": step, "spikes_not_reported_since_last": self._quiet_spikes},
        )


class GradExplosionDetector:
    """Grad norm far above its trailing median for several logs: it leads the loss."""

    DETECTOR = "grad_explosion"

    def __init__(self, ctx: RunContext, metric: str = "grad_norm") -> None:
        self.ctx = ctx
        self.metric = metric
        self._window = RollingMedian(ctx.config.grad_window)
        self._high = 0
        self._calm = 0
        self._open = False
        self._start: int | None = None

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        if not math.isfinite(value):
            return []
        cfg = self.ctx.config
        window = self._window
        out: list[Alert] = []
        if len(window) >= cfg.grad_min_history:
            median = window.median()
            if median > 0 and value >= median * cfg.grad_ratio:
                if self._high == 0:
                    self._start = step
                self._high += 1
                self._calm = 0
                if not self._open and self._high >= cfg.grad_sustain_logs:
                    self._open = True
                    out.append(self._alert(step, ts, value, median))
            else:
                self._high = 0
                self._calm += 1
                if self._open and self._calm >= cfg.grad_rearm_logs:
                    self._open = False
        window.push(value)
        return out

    def _alert(self, step: int | None, ts: float | None, value: float, median: float) -> Alert:
        cfg = self.ctx.config
        ratio = value / median
        rule = (f"grad norm > {fmt(cfg.grad_ratio)}x the median of its previous "
                f"{cfg.grad_window} logs for {cfg.grad_sustain_logs} consecutive logs")
        return self.ctx.alert(
            self.DETECTOR, "warning", step, ts, self.metric,
            f"{self.metric} is {fmt(value)} = {ratio:.3g}x its trailing median ({fmt(median)}) "
            f"for {self._high} logs since {at_step(self._start)}. Rule: {rule}. Next: the loss "
            "usually follows within a few steps; check grad clipping (is it applied to the "
            "pre-clip norm?), the lr, and the batch; lower the lr or roll back if the loss "
            "rises too.",
            {"value": value, "trailing_median": median, "ratio": round(ratio, 3),
             "consecutive_high_logs": self._high, "start_step": self._start, "rule": rule},
        )
