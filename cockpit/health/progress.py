"""`no_learning` and `plateau`: the loss is finite and calm but not going anywhere.

Both compare medians of blocks of logs (robust to spikes, O(1) amortized) and both ask the
run's lr schedule first: nothing is judged during warmup, a plateau only counts while the
lr is flat (a decaying lr flattens the loss by design), and an lr at ~0 is `lr_zero`'s story.
"""

from __future__ import annotations

import math
from collections import deque

from cockpit.health.context import RunContext, at_step, fmt
from cockpit.health.rolling import median_of
from cockpit.model.alert import Alert


class NoLearningDetector:
    """After warmup the loss is still within a few percent of its initial value."""

    DETECTOR = "no_learning"

    def __init__(self, ctx: RunContext, metric: str = "loss") -> None:
        self.ctx = ctx
        self.metric = metric
        cfg = ctx.config
        self._first: list[float] = []
        self._block: list[float] = []
        self._blocks: deque[float] = deque(maxlen=cfg.no_learning_trend_blocks + 1)
        self._logs = 0
        self._warmup_at: int | None = None  # loss log count when the lr warmup ended
        self._done = False  # it learned, or the alert was sent: nothing more to say

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        if self._done or not math.isfinite(value):
            return []
        cfg = self.ctx.config
        self._logs += 1
        if len(self._first) < cfg.no_learning_initial_logs:
            self._first.append(value)
        if self.ctx.schedule.warmup_over and self._warmup_at is None:
            self._warmup_at = self._logs
        self._block.append(value)
        if len(self._block) < cfg.no_learning_block_logs:
            return []
        self._blocks.append(median_of(self._block))
        self._block = []
        if not self._ready():
            return []
        initial = median_of(self._first)
        recent = self._blocks[-1]
        if initial == 0:
            self._done = True
            return []
        gained = (initial - recent) / abs(initial)
        if gained >= cfg.no_learning_min_improvement:
            self._done = True  # it learned; a later collapse is divergence's or plateau's
            return []
        if self.ctx.schedule.near_zero or self.ctx.is_open("lr_zero"):
            return []  # the lr explains it and lr_zero says so
        if len(self._blocks) > cfg.no_learning_trend_blocks:
            older = self._blocks[0]
            if older and (older - recent) / abs(older) >= cfg.no_learning_trend_improvement:
                return []  # a slow start that is still improving: wait
        else:
            return []
        self._done = True
        self.ctx.claim(self.DETECTOR, self.metric)  # held for good: plateau stays quiet
        return [self._alert(step, ts, initial, recent, gained)]

    def _ready(self) -> bool:
        cfg = self.ctx.config
        if not self.ctx.schedule.known:
            return self._logs >= cfg.no_learning_min_logs_without_lr
        return (self._logs >= cfg.no_learning_min_logs and self._warmup_at is not None
                and self._logs - self._warmup_at >= cfg.no_learning_after_warmup_logs)

    def _alert(self, step: int | None, ts: float | None, initial: float, recent: float,
               gained: float) -> Alert:
        cfg = self.ctx.config
        sched = self.ctx.schedule
        lr = f"lr {fmt(sched.last)} (peak {fmt(sched.peak)})" if sched.known else "no lr logged"
        when = (f"after warmup (>= {cfg.no_learning_min_logs} logs)" if sched.known else
                f"with no lr logged, after >= {cfg.no_learning_min_logs_without_lr} logs")
        rule = (f"{when}, the median of the last "
                f"{cfg.no_learning_block_logs} logs improved < "
                f"{cfg.no_learning_min_improvement:.0%} on the median of the first "
                f"{cfg.no_learning_initial_logs} and is not trending down")
        return self.ctx.alert(
            self.DETECTOR, "warning", step, ts, self.metric,
            f"{self.metric} is not learning: {fmt(recent)} at {at_step(step)} vs {fmt(initial)} "
            f"at the start ({gained:+.1%}); {lr}. Rule: {rule}. Next: are the parameters in "
            "the optimizer and requiring grad, is optimizer.step() called, do labels match "
            "inputs (shifted, not masked out), is the lr far too small, is the model in eval "
            "mode or frozen?",
            {"initial": initial, "recent": recent, "relative_improvement": round(gained, 5),
             "lr": sched.last, "lr_peak": sched.peak if sched.known else None, "rule": rule},
        )


class _SlidingExtremes:
    """Max and min over a window of indices whose start only moves forward (O(1) amortized)."""

    def __init__(self) -> None:
        self._hi: deque[tuple[int, float]] = deque()
        self._lo: deque[tuple[int, float]] = deque()

    def push(self, index: int, lo: float, hi: float) -> None:
        while self._hi and self._hi[-1][1] <= hi:
            self._hi.pop()
        self._hi.append((index, hi))
        while self._lo and self._lo[-1][1] >= lo:
            self._lo.pop()
        self._lo.append((index, lo))

    def window(self, start: int) -> tuple[float, float]:
        while self._hi and self._hi[0][0] < start:
            self._hi.popleft()
        while self._lo and self._lo[0][0] < start:
            self._lo.popleft()
        return (self._lo[0][1] if self._lo else math.inf, self._hi[0][1] if self._hi else -math.inf)


class PlateauDetector:
    """No meaningful improvement over a long window while the lr is flat.

    The improvement over the window is the least-squares trend of the block medians (from
    prefix sums, O(1) per block), and it must be small with confidence: a noisy loss that
    may well be improving does not count, only one that is demonstrably flat.
    """

    DETECTOR = "plateau"

    def __init__(self, ctx: RunContext, metric: str = "loss") -> None:
        self.ctx = ctx
        self.metric = metric
        self._block: list[float] = []
        self._lr_lo = math.inf
        self._lr_hi = -math.inf
        # Prefix sums of block medians y, x*y and y*y (x = block index): n / 50 floats each.
        self._sy: list[float] = [0.0]
        self._sxy: list[float] = [0.0]
        self._syy: list[float] = [0.0]
        self._block_steps: list[int | None] = []
        self._lr = _SlidingExtremes()
        self._open = False

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        if not math.isfinite(value):
            return []
        cfg = self.ctx.config
        lr = self.ctx.schedule.last
        if lr is not None:
            self._lr_lo = min(self._lr_lo, lr)
            self._lr_hi = max(self._lr_hi, lr)
        self._block.append(value)
        if len(self._block) < cfg.plateau_block_logs:
            return []
        return self._on_block(step, ts)

    def _on_block(self, step: int | None, ts: float | None) -> list[Alert]:
        cfg = self.ctx.config
        index = len(self._block_steps)
        y = median_of(self._block)
        self._sy.append(self._sy[-1] + y)
        self._sxy.append(self._sxy[-1] + index * y)
        self._syy.append(self._syy[-1] + y * y)
        self._block_steps.append(step)
        self._lr.push(index, self._lr_lo, self._lr_hi)
        self._block, self._lr_lo, self._lr_hi = [], math.inf, -math.inf
        blocks = index + 1
        lookback = max(cfg.plateau_min_blocks, math.ceil(cfg.plateau_window_fraction * blocks))
        if blocks <= lookback:
            return []
        start = blocks - 1 - lookback
        trend = self._trend(start, blocks)
        if trend is None:
            return []
        gained, se, level = trend
        if self._open:
            if gained >= 2 * cfg.plateau_min_improvement:
                self._open = False
                self.ctx.release(self.DETECTOR, self.metric)
            return []
        lr_lo, lr_hi = self._lr.window(start)
        if gained + cfg.plateau_confidence * se >= cfg.plateau_min_improvement:
            return []
        if self._quiet(lr_lo, lr_hi):
            return []
        self._open = True
        self.ctx.claim(self.DETECTOR, self.metric)
        return [self._alert(step, ts, gained, se, level, self._block_steps[start], lr_lo, lr_hi)]

    def _trend(self, start: int, end: int) -> tuple[float, float, float] | None:
        """(relative improvement over the window, its standard error, mean level)."""
        n = end - start
        sy = self._sy[end] - self._sy[start]
        sxy = self._sxy[end] - self._sxy[start]
        syy = self._syy[end] - self._syy[start]
        sx = (start + end - 1) * n / 2
        sxx_c = n * (n * n - 1) / 12  # sum of (x - mean x)^2 for consecutive integers
        level = sy / n
        if level == 0 or n < 3:
            return None
        slope = (sxy - sx * sy / n) / sxx_c
        sse = max(syy - sy * sy / n - slope * slope * sxx_c, 0.0)
        slope_se = math.sqrt(sse / (n - 2) / sxx_c)
        span = n - 1
        return -slope * span / abs(level), slope_se * span / abs(level), level

    def _quiet(self, lr_lo: float, lr_hi: float) -> bool:
        """Reasons a flat loss is expected or already explained by another alert."""
        ctx = self.ctx
        sched = ctx.schedule
        if any(ctx.is_open(d) for d in ("lr_zero", "divergence", "no_learning", "nan")):
            return True
        if not sched.known:
            return False  # schedule unknown: judge the loss alone
        if not sched.warmup_over or sched.near_zero:
            return True
        if lr_lo <= 0 or not math.isfinite(lr_lo):
            return True
        return lr_hi / lr_lo > ctx.config.plateau_lr_flat_ratio  # decaying: flattening is normal

    def _alert(self, step: int | None, ts: float | None, gained: float, se: float,
               level: float, since: int | None, lr_lo: float, lr_hi: float) -> Alert:
        cfg = self.ctx.config
        lr = (f"the lr flat at {fmt(lr_hi)}" if math.isfinite(lr_hi) else "no lr logged")
        rule = (f"over the last max({cfg.plateau_min_blocks}, "
                f"{cfg.plateau_window_fraction:.0%} of the run) blocks of "
                f"{cfg.plateau_block_logs} logs, the trend of the block medians improves the "
                f"loss by < {cfg.plateau_min_improvement:.1%} even at +{cfg.plateau_confidence:g} "
                f"standard errors, with the lr flat within {cfg.plateau_lr_flat_ratio}x")
        rising = gained + cfg.plateau_confidence * se < 0  # up, beyond its noise
        if rising:
            seen = (f"{self.metric} has been rising since {at_step(since)} (around {fmt(level)}): "
                    f"its trend over that window is a rise of {-gained:.2%} (+/- {se:.2%}) with "
                    f"{lr}")
            nxt = ("a rising training loss at a flat lr is instability or bad data: the grad "
                   "norm and the batches since it began, then lower the lr or roll back")
        else:
            seen = (f"{self.metric} has plateaued around {fmt(level)} since {at_step(since)}: its "
                    f"trend over that window is {gained:+.2%} (+/- {se:.2%}) with {lr}")
            nxt = ("if this is the expected floor, decay the lr or stop; otherwise look for "
                   "frozen or detached parameters, a data loader repeating the same data, and "
                   "the lr value")
        return self.ctx.alert(
            self.DETECTOR, "warning", step, ts, self.metric,
            f"{seen}. Rule: {rule}. Next: {nxt}.",
            {"level": level, "relative_improvement": round(gained, 5),
             "standard_error": round(se, 5), "since_step": since,
             "direction": "rising" if rising else "flat",
             "lr_min": lr_lo if math.isfinite(lr_lo) else None,
             "lr_max": lr_hi if math.isfinite(lr_hi) else None, "rule": rule},
        )
