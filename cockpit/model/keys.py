"""One canonical name per metric across formats, so a run logged three ways is one run.

`train/loss` (TensorBoard), `loss` (JSONL), `trl` (llm.c) and `lm loss` (Megatron) are
the same series; detectors and de-duplication compare canonical names, while the stored
`key` keeps the name the winning source wrote.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ALIASES = {
    "loss": "loss",
    "train_loss": "loss",
    "trl": "loss",
    "lm_loss": "loss",
    "training_loss": "loss",
    "val_loss": "val_loss",
    "valid_loss": "val_loss",
    "validation_loss": "val_loss",
    "eval_loss": "val_loss",
    "tel": "val_loss",
    "grad_norm": "grad_norm",
    "gnorm": "grad_norm",
    "norm": "grad_norm",
    "gradient_norm": "grad_norm",
    "total_norm": "grad_norm",
    "lr": "lr",
    "learning_rate": "lr",
    "tokens_per_s": "tokens_per_s",
    "tok_s": "tokens_per_s",
    "tokens_per_sec": "tokens_per_s",
    "tokens_per_second": "tokens_per_s",
    "throughput": "tokens_per_s",
    "step_time_ms": "step_time_ms",
    "iter_time_ms": "step_time_ms",
    "elapsed_time_per_iteration_ms": "step_time_ms",
    # Lightning's `self.log_dict(grad_norm(self, norm_type=2))`.
    "grad_2_0_norm_total": "grad_norm",
}

# `Loss/train`, `Loss/val` (the SummaryWriter tutorial's tags): the split after the metric.
_TRAIN_SPLITS = frozenset({"train", "training"})
_VAL_SPLITS = frozenset({"val", "valid", "validation", "eval"})

_SEP = re.compile(r"[/\s\-.()]+")
_PREFIXES = ("train_", "training_")

# Keys that carry the x axis, not a metric.
STEP_KEYS = ("step", "global_step", "iter", "iteration", "_step", "trainer/global_step")
TIME_KEYS = ("time", "timestamp", "ts", "_timestamp", "wall_time", "walltime")


@lru_cache(maxsize=4096)
def canonical_key(raw: str) -> str:
    """Map a logged metric name to its canonical name (lower snake case plus aliases)."""
    name = _SEP.sub("_", raw.strip().lower()).strip("_")
    if name in _ALIASES:
        return _ALIASES[name]
    for prefix in _PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :] and not name[len(prefix) :].startswith("time"):
            rest = name[len(prefix) :]
            return _ALIASES.get(rest, rest)
    if name.startswith("lr_") and "_" not in name[3:]:  # Lightning's `lr-AdamW`
        return "lr"
    if name.startswith(("val_", "eval_", "valid_", "validation_")):
        rest = name.split("_", 1)[1]
        if _ALIASES.get(rest) == "loss":
            return "val_loss"
    head, _, split = name.rpartition("_")
    if head and _ALIASES.get(head) == "loss":
        if split in _TRAIN_SPLITS:
            return "loss"
        if split in _VAL_SPLITS:
            return "val_loss"
    return name
