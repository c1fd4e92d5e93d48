"""`overfitting`: the validation loss climbs well above its best while the training loss keeps
improving, for several evaluations in a row.

A data loader that repeats one batch, a tiny dataset or too many epochs all look like this:
train loss toward zero, validation loss rising. Early stopping's patience (a few evaluations a
percent or two above the best) stays under the rule's 10% rise; a noisy validation set has to
stay 10% above its best for three evaluations running.
"""

from __future__ import annotations

import math

from cockpit.health.context import RunContext, at_step, fmt
from cockpit.model.alert import Alert

DETECTOR = "overfitting"


class TrainLevel:
    """Keeps the run's recent training loss (a rolling median) where overfitting can read it."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        self.ctx.train_loss.push(value)
        return []


class OverfittingDetector:
    def __init__(self, ctx: RunContext, metric: str = "val_loss") -> None:
        self.ctx = ctx
        self.metric = metric
        self._evals = 0
        self._best = math.inf
        self._best_step: int | None = None
        self._train_at_best: float | None = None
        self._rising = 0
        self._open = False

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        cfg = self.ctx.config
        self._evals += 1
        train = self.ctx.train_loss.median() if len(self.ctx.train_loss) else None
        if value < self._best:
            self._best, self._best_step, self._train_at_best = value, step, train
        if self._open:
            if value < self._best * (1 + cfg.overfit_rise / 2):
                self._open = False
                self.ctx.release(DETECTOR, self.metric)
            return []
        if self._evals < cfg.overfit_min_evals or train is None or self._train_at_best is None:
            return []
        rising = value >= self._best * (1 + cfg.overfit_rise) > 0
        improving = train <= self._train_at_best * (1 - cfg.overfit_train_drop)
        self._rising = self._rising + 1 if rising and improving else 0
        if self._rising < cfg.overfit_sustain_evals or not self.ctx.claim(DETECTOR, self.metric):
            return []
        self._open = True
        return [self._alert(step, ts, value, train)]

    def _alert(self, step: int | None, ts: float | None, value: float, train: float) -> Alert:
        cfg = self.ctx.config
        assert self._train_at_best is not None
        rule = (f"{self.metric} >= {1 + cfg.overfit_rise:g}x its best for "
                f"{cfg.overfit_sustain_evals} consecutive logs while the training loss is "
                f">= {cfg.overfit_train_drop:.0%} below its level at that best")
        return self.ctx.alert(
            DETECTOR, "warning", step, ts, self.metric,
            f"overfitting: {self.metric} is {fmt(value)} at {at_step(step)}, "
            f"{value / self._best - 1:.0%} above its best {fmt(self._best)} at "
            f"{at_step(self._best_step)}, while the training loss fell from "
            f"{fmt(self._train_at_best)} to {fmt(train)}. Rule: {rule}. Next: is the data "
            "loader repeating the same batches (a sampler or shuffling bug, a dataset of a few "
            "items), is the training set tiny for the model; stop at the best checkpoint, add "
            "data, regularisation or early stopping.",
            {"value": value, "best": self._best, "best_step": self._best_step,
             "train_loss": train, "train_loss_at_best": self._train_at_best,
             "onset_step": self._best_step, "rule": rule},
        )
