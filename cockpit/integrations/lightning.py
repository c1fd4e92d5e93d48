"""A Lightning callback that writes Cockpit's JSONL every optimizer step.

    trainer = L.Trainer(..., callbacks=[CockpitCallback("runs/exp1")])

One line per optimizer step: the step's loss (the `training_step` output, micro-batches of an
accumulation averaged), the learning rate it steps with, the gradient norm before clipping
(Lightning calls `on_before_optimizer_step` before it clips), step time, samples/s (tokens/s
with `tokens_per_step`) and CUDA memory. After each validation, the `val*` metrics the module
logged get a line of their own.

Lightning is not imported here: the Trainer calls hooks by name and the base class only
supplies no-ops, which `__getattr__` does for the hooks not used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from cockpit.integrations.step_recorder import StepRecorder, batch_size
from cockpit.integrations.torch import total_grad_norm

_VALIDATION_PREFIXES = ("val", "valid", "eval")


class CockpitCallback:
    """path: a folder (`<path>/metrics.jsonl`) or a `.jsonl` file. Only global rank 0 writes."""

    def __init__(self, path: str | os.PathLike[str], tokens_per_step: int | None = None) -> None:
        self.path = path
        self.tokens_per_step = tokens_per_step
        self.recorder: StepRecorder | None = None
        self._stepped_at = -1  # trainer.global_step when the last line was written

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith(("on_", "setup", "teardown", "state_dict", "load_state_dict")):
            return _nothing
        raise AttributeError(name)

    @property
    def state_key(self) -> str:
        return type(self).__qualname__

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.recorder = StepRecorder(self.path, self.tokens_per_step,
                                     enabled=getattr(trainer, "global_rank", 0) == 0)
        self._stepped_at = trainer.global_step
        self.recorder.start()

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        if self.recorder is not None:
            self.recorder.set_grad_norm(total_grad_norm(list(pl_module.parameters())))
            self.recorder.set_optimizer(optimizer)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.recorder is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        self.recorder.add_loss(loss)
        self.recorder.add_batch(batch_size(batch))
        if trainer.global_step != self._stepped_at:  # this batch ended an optimizer step
            self._stepped_at = trainer.global_step
            self.recorder.end_step(trainer.global_step - 1, device=pl_module.device,
                                   epoch=float(trainer.current_epoch))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if self.recorder is None or getattr(trainer, "sanity_checking", False):
            return
        metrics = {k: v for k, v in trainer.callback_metrics.items()
                   if k.lower().startswith(_VALIDATION_PREFIXES)}
        if metrics:
            self.recorder.write(max(trainer.global_step - 1, 0), metrics)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.recorder is not None:
            self.recorder.close()


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None
