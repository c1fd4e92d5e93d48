"""What readers produce: columnar point buffers, run events and one feed's result.

Readers append to plain Python lists (fast) instead of creating one object per point;
the writer turns a buffer into numpy columns once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class PointBuffer:
    """Columnar points of one source: parallel lists of raw key, step, ts and value.

    `step` may be None (no step logged) and `ts` may be None (no wall time logged).
    `value` is always a number and keeps NaN and +/-Inf exactly as logged.

    Bulk readers add whole per-key columns with `add_block` (no per-point work); `flat()`
    materialises everything as four parallel lists for consumers that walk points.
    """

    __slots__ = ("keys", "steps", "ts", "values", "blocks")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.steps: list[int | None] = []
        self.ts: list[float | None] = []
        self.values: list[float] = []
        # (key, steps, ts, values) columns of one key each
        # (key, steps, ts, values) columns of one key each; lists or 1-d numpy arrays
        self.blocks: list[tuple[str, Any, Any, Any]] = []

    def add(self, key: str, step: int | None, ts: float | None, value: float) -> None:
        self.keys.append(key)
        self.steps.append(step)
        self.ts.append(ts)
        self.values.append(value)

    def add_block(self, key: str, steps: Any, ts: Any, values: Any) -> None:
        if len(values):
            self.blocks.append((key, steps, ts, values))

    def extend(self, other: PointBuffer) -> None:
        self.keys.extend(other.keys)
        self.steps.extend(other.steps)
        self.ts.extend(other.ts)
        self.values.extend(other.values)
        self.blocks.extend(other.blocks)

    def __len__(self) -> int:
        return len(self.values) + sum(len(b[3]) for b in self.blocks)

    def key_set(self) -> set[str]:
        return set(self.keys).union(b[0] for b in self.blocks)

    def flat(self) -> PointBuffer:
        """The same points with blocks folded into the four lists (self if no blocks)."""
        if not self.blocks:
            return self
        out = PointBuffer()
        out.keys, out.steps, out.ts, out.values = (
            list(self.keys), list(self.steps), list(self.ts), list(self.values))
        for key, steps, ts, values in self.blocks:
            out.keys.extend([key] * len(values))
            out.steps.extend(_plain(steps))
            out.ts.extend(_plain_times(ts))
            out.values.extend(_plain(values))
        return out

    def only(self, allowed: set[str]) -> PointBuffer:
        """The points whose key is in `allowed`."""
        out = PointBuffer()
        for k, s, t, v in zip(self.keys, self.steps, self.ts, self.values, strict=True):
            if k in allowed:
                out.add(k, s, t, v)
        out.blocks = [b for b in self.blocks if b[0] in allowed]
        return out

    def rows(self) -> list[tuple[str, int | None, float | None, float]]:
        flat = self.flat()
        return list(zip(flat.keys, flat.steps, flat.ts, flat.values, strict=True))


def _plain(column: Any) -> list[Any]:
    """Python numbers from a numpy column (detectors compare types), lists as they are.
    A float column's NaN stands for "not logged" only in time columns, see `flat`."""
    return column.tolist() if hasattr(column, "tolist") else list(column)


def _plain_times(column: Any) -> list[Any]:
    if not hasattr(column, "tolist"):
        return list(column)
    return [None if t != t else t for t in column.tolist()]


@dataclass(slots=True)
class RunEvent:
    """Something a log says about the run itself rather than a metric.

    kind: "error" (a crash: traceback, OOM, NCCL timeout, CUDA error; marks the run failed),
    "finished" (the log says training completed), "info".
    """

    kind: str
    message: str
    step: int | None = None
    ts: float | None = None


@dataclass(slots=True)
class Histogram:
    """One histogram of a tensor at one step (TensorBoard's HistogramProto; the `histograms`
    table). Bucket i counts values in (bucket_limits[i-1], bucket_limits[i]]; a source that
    does not keep `sum` or `sum_squares` leaves them None."""

    key: str
    step: int | None
    ts: float | None
    min: float
    max: float
    num: float
    sum: float | None
    sum_squares: float | None
    bucket_limits: list[float]
    bucket_counts: list[float]


@dataclass(slots=True)
class ReadResult:
    """The output of one `feed` call."""

    points: PointBuffer = field(default_factory=PointBuffer)
    events: list[RunEvent] = field(default_factory=list)
    # Run-level facts a reader learned (params, tags, run name, total steps): merged into run_params.
    params: dict[str, Any] = field(default_factory=dict)
    histograms: list[Histogram] = field(default_factory=list)
    # Lines or records that could not be parsed: counted, and the first one kept for the message.
    bad_records: int = 0
    first_bad: str | None = None
    # Values inside readable records that could not become points, counted per reason
    # ("a list of non-numbers", "a number beyond the range of a double", ...).
    skipped: dict[str, int] = field(default_factory=dict)

    def bad(self, what: str) -> None:
        self.bad_records += 1
        if self.first_bad is None:
            self.first_bad = what[:200]

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def merge(self, other: ReadResult) -> None:
        """Append `other` (a later feed of the same file) to this result."""
        self.points.extend(other.points)
        self.events.extend(other.events)
        self.params.update(other.params)
        self.histograms.extend(other.histograms)
        self.bad_records += other.bad_records
        self.first_bad = self.first_bad or other.first_bad
        for reason, n in other.skipped.items():
            self.skip(reason, n)
