"""Log a PyTorch training loop to a JSONL file that Cockpit tails, with an optional NaN guard.

A few calls in any loop write one line per logged step (`step`, `time` and the metrics),
flushed at once so a live tail sees it. torch is imported lazily, inside the methods, so
importing this module works (and costs nothing) where torch is not installed.

    log = CockpitLogger("runs/exp1", model=model, optimizer=opt, tokens_per_step=B * T)
    for step, batch in enumerate(loader):
        loss = model(batch)
        loss.backward()
        if log.before_step(step, loss):      # grad norm (pre-clip); False: the guard skips
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        opt.zero_grad(set_to_none=True)
        log.after_step()                     # param norm, update ratio, timing, memory; writes
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cockpit.integrations.metrics_file import METRICS_FILENAME, MetricsFile

if TYPE_CHECKING:
    import torch

__all__ = ["METRICS_FILENAME", "CockpitLogger", "NonFiniteLossError", "as_float",
           "cuda_memory_gb", "to_cpu", "total_grad_norm"]

NanGuard = Literal["skip", "stop"]
_GB = 1e9


class NonFiniteLossError(FloatingPointError):
    """The guard stopped training: the loss was NaN or infinite (its line is already written)."""

    def __init__(self, step: int, loss: float, consecutive: int) -> None:
        self.step = step
        self.loss = loss
        self.consecutive = consecutive
        super().__init__(
            f"non-finite loss {loss} at step {step} ({consecutive} in a row); "
            "training stopped by CockpitLogger's nan_guard"
        )


class CockpitLogger:
    """Measures a training step around `optimizer.step()` and appends it to a JSONL file.

    path: a folder (the file is `<path>/metrics.jsonl`) or a file ending in `.jsonl`. The file
    is opened in append mode, so a resumed run continues it.
    model / optimizer: where parameters, gradients and learning rates come from; either may be
    left out (without a model the optimizer's parameters are used).
    tokens_per_step: tokens consumed per optimizer step, for `tokens_per_s`.
    per_layer_grad_norm: also log `grad_norm/<layer>`. True groups parameters by the module that
    owns them (`blocks.0.attn.c_attn`); an int n groups by the first n name parts (2: `blocks.0`).
    per_group_grad_norm: also log `param_group<i>/grad_norm` per optimizer param group.
    update_ratio: log `update_ratio` = ||new - old|| / ||old|| over all parameters. It keeps one
    copy of the parameters during each logged step: turn it off for a model near memory capacity.
    nan_guard: None (only log), "skip" (a non-finite loss zeroes the gradients and `before_step`
    returns False, so the optimizer does not step) or "stop" (write the line, then raise
    NonFiniteLossError). Either way `nonfinite_loss` counts the non-finite losses seen.
    max_consecutive_skips: in "skip" mode, raise after this many non-finite losses in a row
    (a run that skips every step is burning its GPU); None never stops.
    log_every: write a line every n steps; timing is averaged over the steps in between.
    enabled: False writes nothing (e.g. ranks other than 0) but keeps the guard working.
    clock / timer: wall clock for `time` and a monotonic timer for durations (replaceable in tests).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        model: torch.nn.Module | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        tokens_per_step: int | None = None,
        per_layer_grad_norm: bool | int = False,
        per_group_grad_norm: bool = False,
        update_ratio: bool = True,
        nan_guard: NanGuard | None = None,
        max_consecutive_skips: int | None = 50,
        log_every: int = 1,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if nan_guard not in (None, "skip", "stop"):
            raise ValueError(f"nan_guard must be None, 'skip' or 'stop', not {nan_guard!r}")
        if log_every < 1:
            raise ValueError(f"log_every must be >= 1, not {log_every}")
        self.model = model
        self.optimizer = optimizer
        self.tokens_per_step = tokens_per_step
        self.per_layer_grad_norm = per_layer_grad_norm
        self.per_group_grad_norm = per_group_grad_norm
        self.update_ratio = update_ratio
        self.nan_guard = nan_guard
        self.max_consecutive_skips = max_consecutive_skips
        self.log_every = log_every
        self.enabled = enabled
        self._timer = timer

        self.nonfinite_loss = 0
        self.consecutive_nonfinite = 0
        self._step: int | None = None
        self._record: dict[str, Any] | None = None  # the line being built between the two calls
        self._snapshot: list[torch.Tensor] | None = None
        self._last_end = timer()
        self._steps_since_line = 0
        self._tokens_since_line = 0
        self._file = MetricsFile(path, enabled, clock)
        self.path: Path = self._file.path

    # -- the loop's calls -------------------------------------------------------------------

    def before_step(self, step: int, loss: Any, grad_norm: Any = None) -> bool:
        """Call after `backward()` and before clipping and `optimizer.step()`.

        Measures the (pre-clip) gradient norm on logged steps and applies the guard. Returns
        False when the guard says skip: do not call `optimizer.step()` (the gradients are
        already zeroed, so a step would change nothing). Pass `grad_norm` (e.g. what
        `clip_grad_norm_` returned) to reuse a norm computed already.
        """
        if self._record is not None:
            self.after_step()  # the previous step never called after_step: keep its line
        self._step = int(step)
        logged = self._is_logged(self._step)
        guarded = self.nan_guard is not None
        loss_value = as_float(loss) if (logged or guarded) and loss is not None else None
        if logged:
            self._record = {"step": self._step}
            if loss_value is not None:
                self._record["loss"] = loss_value
            self._record.update(self._grad_norms(grad_norm))
            self._record.update(self._learning_rates())
        finite = loss_value is None or math.isfinite(loss_value)
        if not finite:
            self.nonfinite_loss += 1
            self.consecutive_nonfinite += 1
        else:
            self.consecutive_nonfinite = 0
        if finite or not guarded:
            if logged and self.update_ratio:
                self._snapshot = self._copy_params()
            return True
        assert loss_value is not None
        if self.nan_guard == "stop" or (
            self.max_consecutive_skips is not None
            and self.consecutive_nonfinite >= self.max_consecutive_skips
        ):
            if self._record is None:
                self._record = {"step": self._step, "loss": loss_value}
            self.after_step()
            raise NonFiniteLossError(self._step, loss_value, self.consecutive_nonfinite)
        self._zero_grads()
        return False

    def after_step(self, step: int | None = None, **metrics: Any) -> dict[str, Any] | None:
        """Call once per iteration after `optimizer.step()` (or the skip).

        Adds the parameter norm, update/param ratio, step time, tokens/s and CUDA memory to the
        step's line, plus any `metrics` given, and writes it. Returns the line written, or None
        on a step that `log_every` leaves out.
        """
        if step is not None:
            self._step = int(step)
        now = self._timer()
        self._steps_since_line += 1
        if self.tokens_per_step is not None:
            self._tokens_since_line += self.tokens_per_step
        if self._step is None:
            raise RuntimeError("after_step() needs a step: call before_step() first or pass step=")
        record = self._record
        if record is None:
            if not self._is_logged(self._step):
                return None
            record = {"step": self._step}
            record.update(self._learning_rates())
        self._record = None
        record.update(self._param_norms())
        elapsed = now - self._last_end
        record["step_time_ms"] = round(1000.0 * elapsed / self._steps_since_line, 3)
        if self.tokens_per_step is not None and elapsed > 0:
            record["tokens_per_s"] = round(self._tokens_since_line / elapsed, 1)
        record.update(self._cuda_memory())
        if self.nan_guard is not None or self.nonfinite_loss:
            record["nonfinite_loss"] = self.nonfinite_loss
        record.update(_numbers(metrics))
        self._last_end = now
        self._steps_since_line = 0
        self._tokens_since_line = 0
        return self._write(record)

    def step(
        self,
        step: int,
        loss: Any,
        *,
        clip_grad_norm: float | None = None,
        scheduler: Any = None,
        **metrics: Any,
    ) -> bool:
        """The tail of an iteration in one call: measure, guard, clip, step, zero grads, log.

        Call after `loss.backward()`. Returns False when the guard skipped the optimizer step.
        """
        if self.optimizer is None:
            raise RuntimeError("CockpitLogger.step() needs the optimizer passed to CockpitLogger")
        stepped = self.before_step(step, loss)
        if stepped:
            if clip_grad_norm is not None:
                import torch

                torch.nn.utils.clip_grad_norm_(self._params(), clip_grad_norm)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if scheduler is not None:
            scheduler.step()
        self.after_step(**metrics)
        return stepped

    def log(self, step: int, **metrics: Any) -> None:
        """Log extra metrics (val_loss, eval scores) for a step.

        Joins the step's line when that step is between `before_step` and `after_step`,
        otherwise writes a line of its own at once.
        """
        values = _numbers(metrics)
        if self._record is not None and self._step == int(step):
            self._record.update(values)
            return
        self._write({"step": int(step), **values})

    @contextmanager
    def untimed(self) -> Iterator[None]:
        """Leave the time spent inside (evaluation, checkpointing) out of step time and tokens/s."""
        start = self._timer()
        try:
            yield
        finally:
            self._last_end += self._timer() - start

    def close(self) -> None:
        """Write a pending line and close the file."""
        if self._record is not None:
            self.after_step()
        self._file.close()

    def __enter__(self) -> CockpitLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- measurements -----------------------------------------------------------------------

    def _is_logged(self, step: int) -> bool:
        return step % self.log_every == 0

    def _named_params(self) -> Iterator[tuple[str, torch.nn.Parameter, int]]:
        """(name, parameter, optimizer group index) of every trainable parameter."""
        group_of: dict[int, int] = {}
        if self.optimizer is not None:
            for index, group in enumerate(self.optimizer.param_groups):
                for p in group["params"]:
                    group_of[id(p)] = index
        if self.model is not None:
            for name, p in self.model.named_parameters():
                if p.requires_grad:
                    yield name, p, group_of.get(id(p), 0)
        elif self.optimizer is not None:
            for index, group in enumerate(self.optimizer.param_groups):
                for position, p in enumerate(group["params"]):
                    yield f"group{index}.{position}", p, index

    def _params(self) -> list[torch.nn.Parameter]:
        return [p for _, p, _ in self._named_params()]

    def _grad_norms(self, given: Any) -> dict[str, float]:
        """Total gradient norm (before clipping) and, when asked, per layer and per group."""
        import torch

        named = [(n, p.grad, g) for n, p, g in self._named_params() if p.grad is not None]
        out: dict[str, float] = {}
        per_layer = self.per_layer_grad_norm is not False
        if given is not None and not per_layer and not self.per_group_grad_norm:
            out["grad_norm"] = as_float(given)
            return out
        if not named:
            return out
        with torch.no_grad():
            squares = to_cpu(
                [
                    torch.linalg.vector_norm(grad.detach(), 2, dtype=torch.float32) ** 2
                    for _, grad, _ in named
                ]
            )
        total = math.sqrt(sum(squares))
        out["grad_norm"] = as_float(given) if given is not None else total
        if per_layer:
            by_layer: dict[str, float] = {}
            for (name, _, _), sq in zip(named, squares, strict=True):
                layer = _layer_name(name, self.per_layer_grad_norm)
                by_layer[layer] = by_layer.get(layer, 0.0) + sq
            out.update({f"grad_norm/{k}": math.sqrt(v) for k, v in by_layer.items()})
        if self.per_group_grad_norm:
            by_group: dict[int, float] = {}
            for (_, _, group), sq in zip(named, squares, strict=True):
                by_group[group] = by_group.get(group, 0.0) + sq
            out.update(
                {f"param_group{k}/grad_norm": math.sqrt(v) for k, v in sorted(by_group.items())}
            )
        return out

    def _learning_rates(self) -> dict[str, float]:
        """`lr` of the first param group, and `param_group<i>/lr` for each when they differ.

        (Not `lr/group<i>`: Cockpit's key canonicalisation would read `lr_...` as the lr itself.)
        """
        if self.optimizer is None or not self.optimizer.param_groups:
            return {}
        rates = [as_float(group["lr"]) for group in self.optimizer.param_groups]
        out = {"lr": rates[0]}
        if any(r != rates[0] for r in rates[1:]):
            out.update({f"param_group{i}/lr": r for i, r in enumerate(rates)})
        return out

    def _copy_params(self) -> list[torch.Tensor]:
        import torch

        with torch.no_grad():
            return [p.detach().clone() for p in self._params()]

    def _param_norms(self) -> dict[str, float]:
        """Parameter norm after the step and the update/param ratio against the snapshot."""
        import torch

        params = self._params()
        if not params:
            return {}
        snapshot, self._snapshot = self._snapshot, None
        with torch.no_grad():
            squares = [
                torch.linalg.vector_norm(p.detach(), 2, dtype=torch.float32) ** 2 for p in params
            ]
            if snapshot is not None and len(snapshot) == len(params):
                olds = [torch.linalg.vector_norm(o, 2, dtype=torch.float32) ** 2 for o in snapshot]
                deltas = [
                    torch.linalg.vector_norm(p.detach() - o, 2, dtype=torch.float32) ** 2
                    for p, o in zip(params, snapshot, strict=True)
                ]
                values = to_cpu(squares + olds + deltas)
            else:
                values = to_cpu(squares)
        n = len(params)
        out = {"param_norm": math.sqrt(sum(values[:n]))}
        if len(values) == 3 * n:
            old = math.sqrt(sum(values[n : 2 * n]))
            delta = math.sqrt(sum(values[2 * n :]))
            out["update_ratio"] = delta / old if old > 0 else math.nan
        return out

    def _cuda_memory(self) -> dict[str, float]:
        """Allocator memory of the device the parameters live on; nothing on CPU runs."""
        params = self._params()
        if not params or params[0].device.type != "cuda":
            return {}
        return cuda_memory_gb(params[0].device)

    def _zero_grads(self) -> None:
        for p in self._params():
            p.grad = None

    # -- the file ---------------------------------------------------------------------------

    def _write(self, record: dict[str, Any]) -> dict[str, Any]:
        return self._file.write(record)


def cuda_memory_gb(device: Any) -> dict[str, float]:
    """The caching allocator's view of one CUDA device, in GB (1e9 bytes), and its capacity."""
    import torch

    return {
        "gpu_mem_alloc_gb": round(torch.cuda.memory_allocated(device) / _GB, 3),
        "gpu_mem_reserved_gb": round(torch.cuda.memory_reserved(device) / _GB, 3),
        "gpu_mem_peak_gb": round(torch.cuda.max_memory_allocated(device) / _GB, 3),
        "gpu_mem_total_gb": round(torch.cuda.get_device_properties(device).total_memory / _GB, 3),
    }


def total_grad_norm(params: list[Any]) -> float | None:
    """The 2-norm over every gradient (what `clip_grad_norm_` measures before it clips), with
    one transfer per device; None when no parameter has a gradient."""
    import torch

    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return None
    with torch.no_grad():
        squares = to_cpu([torch.linalg.vector_norm(g, 2, dtype=torch.float32) ** 2 for g in grads])
    return math.sqrt(sum(squares))


def _layer_name(param_name: str, depth: bool | int) -> str:
    parts = param_name.split(".")
    owner = parts[:-1] or parts
    if depth is True:
        return ".".join(owner)
    return ".".join(owner[: max(1, int(depth))])


def to_cpu(values: list[torch.Tensor]) -> list[float]:
    """Many 0-d tensors to floats with one transfer per device (one sync, not one per value)."""
    import torch

    if not values:
        return []
    by_device: dict[torch.device, list[int]] = {}
    for i, v in enumerate(values):
        by_device.setdefault(v.device, []).append(i)
    out = [0.0] * len(values)
    for indexes in by_device.values():
        stacked = torch.stack([values[i] for i in indexes]).cpu().tolist()
        for i, v in zip(indexes, stacked, strict=True):
            out[i] = float(v)
    return out


def as_float(value: Any) -> float:
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


def _numbers(metrics: dict[str, Any]) -> dict[str, int | float]:
    """Metric values as JSON numbers; a value that is not a number is a programming error."""
    out: dict[str, int | float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            out[key] = int(value)
        elif isinstance(value, int):
            out[key] = value
        else:
            try:
                out[key] = as_float(value)
            except (TypeError, ValueError, RuntimeError) as err:
                raise TypeError(f"metric {key!r} is not a number: {value!r}") from err
    return out
