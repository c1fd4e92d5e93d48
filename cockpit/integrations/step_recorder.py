"""What a trainer hook measures around each optimizer step, and the line it writes.

The HF Trainer callback and the Lightning callback feed it the same facts from their own
events (the micro-batch losses, the batch sizes, the gradient norm before clipping, the
optimizer) and it writes the torch logger's JSONL line: `loss`, `lr`, `grad_norm`,
`step_time_ms`, `samples_per_s` / `tokens_per_s` and, on CUDA, the allocator's memory.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

from cockpit.integrations.metrics_file import MetricsFile
from cockpit.integrations.torch import as_float, cuda_memory_gb, to_cpu


class StepRecorder:
    """Collects one optimizer step's measurements and writes them as one line."""

    def __init__(self, path: str | os.PathLike[str], tokens_per_step: int | None = None,
                 enabled: bool = True, clock: Callable[[], float] = time.time,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self.file = MetricsFile(path, enabled, clock)
        self.tokens_per_step = tokens_per_step
        self._timer = timer
        self._last_end: float | None = None
        self._losses: list[Any] = []
        self._samples = 0
        self._tokens = 0
        self._grad_norm: float | None = None
        self._lr: float | None = None

    # -- what the hooks report ---------------------------------------------------------------

    def start(self) -> None:
        """Training (re)starts: the next step's time counts from now."""
        self._last_end = self._timer()

    def add_loss(self, loss: Any) -> None:
        """One micro-batch's loss (a tensor is detached; read at the step's end, one sync)."""
        if loss is not None:
            self._losses.append(loss.detach() if hasattr(loss, "detach") else loss)

    def add_batch(self, samples: int | None, tokens: int | None = None) -> None:
        self._samples += samples or 0
        self._tokens += tokens or 0

    def set_grad_norm(self, value: float | None) -> None:
        self._grad_norm = value

    def set_optimizer(self, optimizer: Any) -> None:
        """The lr the optimizer is about to step with (first param group)."""
        groups = getattr(optimizer, "param_groups", None)
        if groups:
            self._lr = as_float(groups[0]["lr"])

    # -- lines -------------------------------------------------------------------------------

    def end_step(self, step: int, device: Any = None, **metrics: float) -> dict[str, Any]:
        """Write the step's line and start measuring the next one."""
        now = self._timer()
        record: dict[str, Any] = {"step": int(step)}
        if self._losses:
            values = [v for v in self._losses if not hasattr(v, "device")]
            tensors = [v for v in self._losses if hasattr(v, "device")]
            values += to_cpu([t.float().reshape(()) for t in tensors]) if tensors else []
            record["loss"] = math.fsum(float(v) for v in values) / len(values)
        if self._lr is not None:
            record["lr"] = self._lr
        if self._grad_norm is not None:
            record["grad_norm"] = self._grad_norm
        if self._last_end is not None:
            elapsed = now - self._last_end
            record["step_time_ms"] = round(1000.0 * elapsed, 3)
            tokens = self._tokens or self.tokens_per_step or 0
            if elapsed > 0 and self._samples:
                record["samples_per_s"] = round(self._samples / elapsed, 1)
            if elapsed > 0 and tokens:
                record["tokens_per_s"] = round(tokens / elapsed, 1)
        if device is not None and getattr(device, "type", None) == "cuda":
            record.update(cuda_memory_gb(device))
        record.update({k: as_float(v) for k, v in metrics.items()})
        self._losses, self._samples, self._tokens = [], 0, 0
        self._grad_norm = None
        self._last_end = now
        return self.file.write(record)

    def write(self, step: int, metrics: dict[str, Any]) -> dict[str, Any] | None:
        """A line of its own (evaluation results): the numeric entries of `metrics`."""
        values: dict[str, Any] = {}
        for key, value in metrics.items():
            try:
                values[key] = as_float(value)
            except (TypeError, ValueError, RuntimeError):
                continue  # strings and other non-numbers in a metrics dict
        if not values:
            return None
        return self.file.write({"step": int(step), **values})

    def close(self) -> None:
        self.file.close()


def batch_size(value: Any) -> int | None:
    """Samples in a batch: the first dimension of its first tensor."""
    if hasattr(value, "shape") and len(value.shape):
        return int(value.shape[0])
    if isinstance(value, dict):
        for item in value.values():
            found = batch_size(item)
            if found is not None:
                return found
    if isinstance(value, list | tuple):
        for item in value:
            found = batch_size(item)
            if found is not None:
                return found
    return None
