"""What the plain-text log reader recognises: line prefixes, metric lines, crash lines.

Kept apart from the reader's state machine so the patterns can be read (and extended) in
one place. Everything here is a pure function of one line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# --- prefixes stripped before parsing -------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")

# torchrun `--tee` / `--log-line-prefix-template` ([default7]:), torch's own [rank3]:,
# srun --label (`0: `, padded), mpirun --tag-output ([1,3]<stdout>:).
RANK_PREFIX = re.compile(
    r"\[(?:default|rank)(\d+)\]:\s?|\s{0,4}(\d{1,5}): |\[\d+,(\d+)\]<std(?:out|err)>:"
)

# `2024-05-01 12:00:00,123 - INFO - `, `[2024-05-01T12:00:00Z] `, `2024-05-01 12:00:00 INFO `.
TIMESTAMP_PREFIX = re.compile(
    r"\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)\]?"
    r"(?:\s*[-|:]?\s*\[?(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\]?)?\s*[-|:]?\s*"
)


def parse_timestamp(text: str) -> float | None:
    """Unix seconds of an ISO timestamp; a naive one is taken as the machine's local time."""
    text = text.replace(",", ".")
    head, dot, rest = text.partition(".")
    if dot:  # fromisoformat takes at most 6 fractional digits
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


# --- metric lines ---------------------------------------------------------------------

# A line that starts with a step marker, optionally after `epoch N`:
# `iter 120:`, `step 100:`, `step:12/6200`, `s:12`, `Step 5/10,`, ` iteration   100/  500000 |`.
STEP_LINE = re.compile(
    r"\s*(?:(?i:epoch)\s*[:=]?\s*(?P<epoch>\d+)(?:\s*/\s*\d+)?\s*[,|:\-]?\s*)?"
    r"(?:(?i:global[_ ]step|step|iter(?:ation)?)\s*[:=]?\s*|s:)"
    r"(?P<step>\d+)(?:\s*/\s*(?P<total>\d+))?\b\s*[:,|\-]?"
)

_WORD_NUM = r"[-+]?(?i:nan|inf(?:inity)?)"
_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|(?i:nan|inf(?:inity)?))"
_UNIT = r"ms|us|sec|min|s|h|%|x|[kMGT]i?B|[kMGBT]|tok/s|it/s"

# `key value`, `key: value`, `key=value`, with an optional unit glued to the value
# (`43.34ms`, `nanms`, `12.5%`). Keys may hold several words (`lm loss`, `grad norm`), so
# after a bare space a word value (nan, inf) must end its field or be followed by the next
# `key value`: in `number of nan iterations: 0` the nan is part of the key. A key starts at
# a word's start (which also keeps the search linear). findall gives (key, value, unit).
PAIR = re.compile(
    r"(?<![\w(])([A-Za-z_(][\w()/.%\- ]{0,63}?)"
    r"(?:\s*[:=]\s*|\s+(?=[-+]?[\d.]|" + _WORD_NUM + r"(?:" + _UNIT + r")?"
    r"(?:\s*(?:[,|;)\]]|$)|\s+[A-Za-z_]\w*\s+(?:[-+]?[\d.]|" + _WORD_NUM + r"))))"
    r"(" + _NUM + r")(" + _UNIT + r")?(?=[\s,|;)\]]|$)"
)

# llm.c's `| 123.45 ms | 12.3% bf16 MFU | 123456 tok/s` and `(123.45 ms, 12345 tok/s)`
# put the value before its name. findall gives (value, unit).
VALUE_FIRST = re.compile(
    r"[|(,]\s*(" + _NUM + r")\s*(ms|tok/s|%\s*\w*\s*MFU)\s*(?=[|),]|$)"
)
VALUE_FIRST_KEYS = {"ms": "step_time_ms", "tok/s": "tokens_per_s"}

# Megatron-LM: ` validation loss at iteration 100 | lm loss value: 7.2E+00 | lm loss PPL: ...`
MEGATRON_VALIDATION = re.compile(
    r"\s*validation loss at (?:iteration\s+(?P<step>\d+)|the end of training for (?P<split>\w+) data)"
    r"[^|]*\|(?P<rest>.*)"
)

FINISHED_LINE = re.compile(
    r"training completed\b|done after \d+ (?:steps|iters|iterations)\b|\[after training is done\]",
    re.IGNORECASE,
)


@dataclass(slots=True, frozen=True)
class LineShape:
    """The layout of one kind of metric line, learned from the first line parsed generically.

    Logs repeat one or two layouts thousands of times; matching them with one anchored regex
    (literals fixed, numbers captured) is several times faster than the generic key/value
    search, and gives the same points by construction since the key text is literal.
    """

    fullmatch: Callable[[str], re.Match[str] | None]
    keys: tuple[str, ...]  # one per value group, in order
    step_group: int
    total_group: int | None
    epoch_group: int | None
    first_value: int  # values are groups()[first_value:]
    unit_values: tuple[int, ...]  # values written with a unit: a non-finite one is skipped


_WHITESPACE = re.compile(r"(\s+)")


def _literal(text: str) -> str:
    parts = _WHITESPACE.split(text)
    return "".join(r"\s+" if part.isspace() else re.escape(part) for part in parts if part)


def learn_shape(
    line: str, marker: re.Match[str], pairs: list[re.Match[str]], keys: list[str]
) -> LineShape:
    """A `LineShape` for lines laid out like `line` (marker and pairs found in it)."""
    spans: list[tuple[int, int, str]] = []
    for name in ("epoch", "step", "total"):
        if marker.group(name) is not None:
            start, end = marker.span(name)
            spans.append((start, end, name))
    spans.extend((p.start(2), p.end(2), "value") for p in pairs)
    parts: list[str] = []
    groups: dict[str, int] = {}
    pos = 0
    for index, (start, end, kind) in enumerate(spans):
        parts.append(_literal(line[pos:start]))
        parts.append(r"(\d+)" if kind != "value" else "(" + _NUM + ")")
        groups.setdefault(kind, index)
        pos = end
    parts.append(_literal(line[pos:]))
    return LineShape(
        fullmatch=re.compile("".join(parts)).fullmatch,
        keys=tuple(keys),
        step_group=groups["step"],
        total_group=groups.get("total"),
        epoch_group=groups.get("epoch"),
        first_value=groups["value"],
        unit_values=tuple(i for i, p in enumerate(pairs) if p.group(3)),
    )


# --- key names ------------------------------------------------------------------------

KEY_ALIASES = {
    "trl": "loss",
    "lm_loss": "loss",
    "tel": "val_loss",
    "eval_loss": "val_loss",
    "valid_loss": "val_loss",
    "validation_loss": "val_loss",
    "gnorm": "grad_norm",
    "norm": "grad_norm",
    "gradient_norm": "grad_norm",
    "learning_rate": "lr",
    "time_ms": "step_time_ms",
    "dt_ms": "step_time_ms",
    "iter_time_ms": "step_time_ms",
    "elapsed_time_per_iteration_ms": "step_time_ms",
    "tok_per_s": "tokens_per_s",
    "tokens_per_sec": "tokens_per_s",
    "tok_per_sec": "tokens_per_s",
    "pct_bf16_mfu": "mfu_pct",
    "pct_mfu": "mfu_pct",
    "mfu_pct": "mfu_pct",
    "number_of_skipped_iterations": "skipped_iterations",
    "number_of_nan_iterations": "nan_iterations",
    "throughput_per_gpu_tflop_per_s_per_gpu": "tflops_per_gpu",
}

_UNIT_SUFFIX = {"%": "pct", "sec": "s"}
_NON_WORD = re.compile(r"[^a-z0-9]+")


def snake(raw: str) -> str:
    """`Learning Rate` -> `learning_rate`, `tok/s` -> `tok_per_s`, `(ms)` -> `_ms`."""
    text = raw.strip().lower().replace("%", " pct ").replace("/", " per ")
    return _NON_WORD.sub("_", text).strip("_")


def normalise_key(raw: str, unit: str = "") -> str:
    """A logged name plus its value's unit -> the short snake_case name Cockpit stores."""
    name = snake(raw)
    if unit:
        suffix = _UNIT_SUFFIX.get(unit) or snake(unit)
        if suffix and name != suffix and not name.endswith("_" + suffix):
            name = f"{name}_{suffix}" if name else suffix
    return KEY_ALIASES.get(name, name)


# --- Hugging Face Trainer stdout dicts --------------------------------------------------

HF_DICT = re.compile(r"\{'[^{}]*\}")
# Bare nan/inf outside quotes, which literal_eval cannot read.
_HF_NONFINITE = re.compile(r"(?<![\w'\"])(-?)(nan|inf)(?![\w'\"])")
# `tensor(1.23, device='cuda:0')`, `np.float64(0.5)` (older transformers, numpy 2 reprs).
_HF_WRAPPED = re.compile(r"\b(?:tensor|np\.\w+|numpy\.\w+)\(\s*([^(),]+?)\s*(?:,[^()]*)?\)")
_NONFINITE_TAG = "__nonfinite__"


def parse_hf_dict(text: str) -> dict[str, Any] | None:
    """`{'loss': nan, 'grad_norm': tensor(1.2), 'epoch': 0.5}` -> dict, safely; None if not one."""
    text = _HF_WRAPPED.sub(r"\1", text)
    text = _HF_NONFINITE.sub(_quote_nonfinite, text)
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            continue
        if isinstance(item, str) and item.startswith(_NONFINITE_TAG):
            item = float(item[len(_NONFINITE_TAG) :])
        out[key] = item
    return out


def _quote_nonfinite(match: re.Match[str]) -> str:
    return f"'{_NONFINITE_TAG}{match.group(1)}{match.group(2)}'"


def is_number(value: Any) -> bool:
    return type(value) is float or type(value) is int


def hf_number(value: Any) -> float | None:
    """A Trainer log value as a float: a number, or (transformers 5 prints `f"{v:.4g}"`) a
    quoted one such as `'0.6943'`, `'5e-05'`, `'nan'`; None for anything else."""
    if type(value) is float or type(value) is int:
        return float(value)
    if type(value) is str and 0 < len(value) <= 32:
        try:
            return float(value)
        except ValueError:
            return None
    return None


# --- crashes --------------------------------------------------------------------------

TRACEBACK_START = "Traceback (most recent call last)"
EXCEPTION_IGNORED = "Exception ignored in"
# The line that ends a traceback: `torch.OutOfMemoryError: ...`, `KeyboardInterrupt`.
EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(?::\s|:$|$)")

CRASH_LINE = re.compile(
    r"OutOfMemoryError|CUDA out of memory|Watchdog caught collective operation timeout"
    r"|NCCL error|CUDA error:|Segmentation fault|ChildFailedError|Fatal Python error"
    r"|failed \(exitcode: -?\d+\)|Detected \d+ oom[_-]kill event|CANCELLED AT \S+ DUE TO TIME LIMIT"
    r"|^Killed\b|^\S*: line \d+: +\d+ Killed\b"
)

CRASH_SEARCH_CHARS = 4096  # a crash message starts within this many characters
MESSAGE_LIMIT = 300


def trim_message(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."
