"""`stuck_at_chance`: after warmup the loss sits at chance level and stays there.

Chance level is what a model that predicts nothing scores: its loss at initialisation (a
small-init language model starts at ~ln(vocabulary)), or ln(vocabulary) itself when the run
says its vocabulary size. A loss that learned and then collapsed back there (a zeroed or
frozen output layer, dead activations, labels cut off from inputs), or that fell from a
higher start onto ln(V) and stopped, is stuck: no_learning retired once the loss moved, and a
flat loss at chance is not a plateau worth tuning the lr for. A loss that never moved at all
is no_learning's (this detector stays quiet while it holds that episode).
"""

from __future__ import annotations

import math
from collections import deque

from cockpit.health.context import RunContext, at_step, fmt
from cockpit.health.rolling import median_of
from cockpit.model.alert import Alert

DETECTOR = "stuck_at_chance"


class StuckAtChanceDetector:
    def __init__(self, ctx: RunContext, metric: str = "loss") -> None:
        self.ctx = ctx
        self.metric = metric
        cfg = ctx.config
        self._first: list[float] = []
        self._block: list[float] = []
        self._blocks: deque[float] = deque(maxlen=cfg.chance_window_blocks)
        self._best = math.inf  # lowest block median so far
        self._logs = 0
        self._open = False

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        cfg = self.ctx.config
        self._logs += 1
        if len(self._first) < cfg.no_learning_initial_logs:
            self._first.append(value)
        self._block.append(value)
        if len(self._block) < cfg.chance_block_logs:
            return []
        level = median_of(self._block)
        self._block = []
        self._blocks.append(level)
        self._best = min(self._best, level)
        chance = self._chance_level(level)
        if self._open:
            if chance is None or level < chance[0] * (1 - 2 * cfg.chance_band):
                self._open = False
                self.ctx.release(DETECTOR, self.metric)
            return []
        if chance is None or not self._ready() or self.ctx.is_open("no_learning"):
            return []
        target, kind = chance
        window = list(self._blocks)
        if len(window) < cfg.chance_window_blocks:
            return []
        if any(abs(b - target) > cfg.chance_band * target for b in window):
            return []
        if (max(window) - min(window)) > cfg.chance_flat * target:
            return []
        if kind == "initial" and self._best >= target * (1 - 2 * cfg.chance_band):
            return []  # it never left its initial level: no_learning's story
        if not self.ctx.claim(DETECTOR, self.metric):
            return []
        self._open = True
        return [self._alert(step, ts, level, target, kind)]

    def _chance_level(self, level: float) -> tuple[float, str] | None:
        """(level, "ln(V)" | "initial") the loss is nearest to, if any is known."""
        options = []
        if self.ctx.vocab_size and self.ctx.vocab_size > 1:
            options.append((math.log(self.ctx.vocab_size), "ln(V)"))
        if self._first:
            initial = median_of(self._first)
            if initial > 0 and math.isfinite(initial):
                options.append((initial, "initial"))
        if not options:
            return None
        return min(options, key=lambda o: abs(level - o[0]))

    def _ready(self) -> bool:
        cfg = self.ctx.config
        needed = cfg.chance_window_blocks * cfg.chance_block_logs
        if not self.ctx.schedule.known:
            return self._logs >= max(needed, cfg.no_learning_min_logs_without_lr)
        return self._logs >= needed and self.ctx.schedule.warmup_over

    def _alert(self, step: int | None, ts: float | None, level: float, target: float,
               kind: str) -> Alert:
        cfg = self.ctx.config
        logs = cfg.chance_window_blocks * cfg.chance_block_logs
        what = (f"ln(vocabulary size {self.ctx.vocab_size}) = {fmt(target)}" if kind == "ln(V)"
                else f"its initial value {fmt(target)}")
        rule = (f"after warmup, the medians of the last {cfg.chance_window_blocks} blocks of "
                f"{cfg.chance_block_logs} logs all within {cfg.chance_band:.0%} of chance level "
                f"(the initial loss, or ln(V) when the vocabulary size is logged) and within "
                f"{cfg.chance_flat:.0%} of each other, after the loss had been lower")
        return self.ctx.alert(
            DETECTOR, "warning", step, ts, self.metric,
            f"{self.metric} is stuck at chance level: {fmt(level)} at {at_step(step)}, "
            f"{abs(level - target) / target:.1%} from {what}, for the last {logs} logs (best "
            f"so far {fmt(self._best)}). Rule: {rule}. Next: a model predicting nothing: a "
            "zeroed or frozen output layer, dead activations (ReLU), labels cut off from the "
            "inputs, or a collapse after an lr too high; the grad norm tells which.",
            {"level": level, "chance_level": target, "chance_kind": kind,
             "vocab_size": self.ctx.vocab_size, "best": self._best, "window_logs": logs,
             "rule": rule},
        )
