"""A Hugging Face Trainer callback that writes Cockpit's JSONL every optimizer step.

    trainer = Trainer(..., callbacks=[CockpitCallback("runs/exp1")])

The Trainer prints and saves its metrics only every `logging_steps` (500 by default), and its
`loss` is the mean since the last log. This callback writes one line per optimizer step: the
step's own loss (read from the model's output, micro-batches averaged), the learning rate it
steps with, the gradient norm before clipping, step time, samples/s (and tokens/s when the
batch has `input_ids`) and CUDA memory; evaluation results get a line of their own.

Neither transformers nor the app is imported here: the Trainer calls `on_<event>` methods by
name, and the events this callback does not use answer with nothing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from cockpit.integrations.step_recorder import StepRecorder, batch_size
from cockpit.integrations.torch import to_cpu


class CockpitCallback:
    """path: a folder (`<path>/metrics.jsonl`) or a `.jsonl` file. Only the main process
    writes (the Trainer's `state.is_world_process_zero`)."""

    def __init__(self, path: str | os.PathLike[str], tokens_per_step: int | None = None) -> None:
        self.path = path
        self.tokens_per_step = tokens_per_step
        self.recorder: StepRecorder | None = None
        self._handles: list[Any] = []
        self._squares: dict[int, Any] = {}  # parameter id -> |grad|^2 as last accumulated
        self._model: Any = None

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("on_"):  # an event this callback does not need
            return _nothing
        raise AttributeError(name)

    # -- events ------------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       **kwargs: Any) -> None:
        self.recorder = StepRecorder(self.path, self.tokens_per_step,
                                     enabled=bool(getattr(state, "is_world_process_zero", True)))
        self._model = model
        if model is not None:
            self._handles.append(model.register_forward_hook(self._on_forward, with_kwargs=True))
            for p in model.parameters():
                if p.requires_grad:
                    self._handles.append(p.register_post_accumulate_grad_hook(self._on_grad))
        self.recorder.start()

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, optimizer: Any = None,
                              **kwargs: Any) -> None:
        if self.recorder is None:
            return
        if self._squares:  # summed from the hooks, which ran before the Trainer clipped
            self.recorder.set_grad_norm(math.sqrt(sum(to_cpu(list(self._squares.values())))))
            self._squares.clear()
        self.recorder.set_optimizer(optimizer)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.recorder is not None:
            self.recorder.end_step(state.global_step, device=self._device(),
                                   epoch=float(state.epoch or 0.0))

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None,
                    **kwargs: Any) -> None:
        if self.recorder is not None and metrics:
            self.recorder.write(state.global_step, dict(metrics))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self.recorder is not None:
            self.recorder.close()

    # -- hooks -------------------------------------------------------------------------------

    def _on_forward(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                    output: Any) -> None:
        if not module.training or self.recorder is None:
            return
        loss = output.get("loss") if isinstance(output, dict) else getattr(output, "loss", None)
        self.recorder.add_loss(loss)
        ids: Any = kwargs.get("input_ids")
        tokens = int(ids.numel()) if ids is not None and hasattr(ids, "numel") else None
        self.recorder.add_batch(batch_size(kwargs) or batch_size(args), tokens)

    def _on_grad(self, param: Any) -> None:
        import torch

        if param.grad is not None:
            with torch.no_grad():
                self._squares[id(param)] = torch.linalg.vector_norm(
                    param.grad, 2, dtype=torch.float32) ** 2

    def _device(self) -> Any:
        try:
            return next(self._model.parameters()).device
        except (AttributeError, StopIteration, TypeError):
            return None


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None
