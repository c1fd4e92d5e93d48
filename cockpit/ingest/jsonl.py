"""JSONL metric logs: one JSON object per line, any numeric keys.

Python's `json.dumps` writes non-finite floats as the bare tokens NaN, Infinity and
-Infinity, which strict parsers (orjson) reject. They are kept as NaN/±Inf, never dropped.

Speed: a chunk of lines is parsed by one orjson call and turned into one column per key
(list comprehensions, no per-point Python work), which is what lets a backlog of millions
of lines import at parser speed.
"""

from __future__ import annotations

import json
import math
import re
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from cockpit.ingest.reader import StreamReader
from cockpit.model.keys import STEP_KEYS, TIME_KEYS
from cockpit.model.records import ReadResult

MAX_LINE = 4 * 1024 * 1024  # a line longer than this is not a metrics record

_AXIS = frozenset(STEP_KEYS) | frozenset(TIME_KEYS)
_NUM = (int, float)
# Bare non-finite tokens in value position, quoted so orjson accepts the chunk.
_BARE = re.compile(rb"(?<=[:,\[])(\s*)(-?Infinity|NaN)(?=\s*[,}\]])")
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _loads_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line.decode("utf-8", errors="replace"))


def _loads_chunk(body: bytes) -> tuple[list[Any] | None, bool]:
    """Parse many lines at once; (records, had_special_tokens) or (None, _) to go line by line."""
    if b"\n\n" in body or body.startswith(b"\n"):
        return None, False
    joined = b"[" + body.replace(b"\n", b",") + b"]"
    try:
        return orjson.loads(joined), False
    except orjson.JSONDecodeError:
        pass
    if b"NaN" in body or b"Infinity" in body:
        try:
            return orjson.loads(_BARE.sub(rb'\1"\2"', joined)), True
        except orjson.JSONDecodeError:
            return None, False
    return None, False


class JsonlReader(StreamReader):
    """Incremental reader of JSONL metric logs; a half-written last line waits in `pending`."""

    format = "jsonl"

    def __init__(self) -> None:
        super().__init__()
        self.row = 0  # records seen: the step of a record that has none

    def feed(self, data: bytes) -> ReadResult:
        result = ReadResult()
        buf = self.pending + data if self.pending else data
        end = buf.rfind(b"\n")
        if end < 0:
            self.pending = buf
            if len(buf) > MAX_LINE:  # a runaway line: drop it rather than hold it forever
                result.bad(f"line longer than {MAX_LINE} bytes")
                self.pending = b""
            return result
        self.pending = buf[end + 1 :]
        body = buf[:end].rstrip(b"\r")
        records, special = _loads_chunk(body)
        if records is None:
            records, special = self._line_by_line(body, result), False
        records = [r for r in records if isinstance(r, dict)]
        if records:
            self._columns(records, special, result)
        return result

    def _line_by_line(self, body: bytes, result: ReadResult) -> list[Any]:
        records = []
        for line in body.split(b"\n"):
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                result.bad(f"line longer than {MAX_LINE} bytes")
                continue
            try:
                rec = _loads_line(line)
            except ValueError:
                result.bad(line.decode("utf-8", errors="replace"))
                continue
            if isinstance(rec, dict):
                records.append(rec)
            else:
                result.bad(line.decode("utf-8", errors="replace"))
        return records

    def _columns(self, records: list[dict[str, Any]], special: bool, result: ReadResult) -> None:
        first = self.row
        n = len(records)
        self.row += n
        names = list(records[0])
        columns: dict[str, Any] | None = None
        if sum(map(len, records)) == n * len(names):
            try:  # the usual case: every record has the same keys; C-speed column extraction
                columns = {k: list(map(itemgetter(k), records)) for k in names}
            except KeyError:
                columns = None
        if columns is None:
            columns = {k: [r.get(k) for r in records] for k in set().union(*records)}
        # One numpy column of steps and of times, shared by every key's block (no copies).
        steps = np.asarray(_steps(columns, first, n), dtype=np.int64)
        ts = np.asarray(_times(columns, n), dtype=np.float64)
        points = result.points
        for key, values in columns.items():
            if key in _AXIS:
                continue
            arr = np.array(values) if None not in values else None
            if arr is not None and arr.ndim == 1 and arr.dtype.kind in "fi":
                points.add_block(key, steps, ts, arr.astype(np.float64, copy=False))
                continue
            kinds = set(map(type, values))
            if dict in kinds:
                for value, step, t in zip(values, steps.tolist(), ts.tolist(), strict=True):
                    if isinstance(value, dict):
                        _flatten(key, value, step, None if t != t else t, result)
            keep = [i for i, v in enumerate(values)
                    if type(v) in _NUM or (special and type(v) is str and v in _SPECIAL)]
            if keep:
                points.add_block(
                    key, steps[keep], ts[keep],
                    [_SPECIAL[v] if type(v) is str else v for v in (values[i] for i in keep)],
                )

    def state(self) -> dict[str, Any]:
        return {"row": self.row}

    def restore(self, state: dict[str, Any]) -> None:
        self.row = int(state.get("row", 0))


def _steps(columns: dict[str, list[Any]], first: int, n: int) -> list[int]:
    """The step of each record: its step field, else its position in the file."""
    for key in STEP_KEYS:
        if key in columns:
            steps = columns[key]
            if set(map(type, steps)) <= {int}:
                return steps
            return [int(v) if type(v) is int or (type(v) is float and math.isfinite(v))
                    else first + i for i, v in enumerate(steps)]
    return list(range(first, first + n))


def _times(columns: dict[str, list[Any]], n: int) -> list[float | None]:
    for key in TIME_KEYS:
        if key in columns:
            ts = columns[key]
            if not set(map(type, ts)) <= {int, float}:
                ts = [t if type(t) in _NUM else None for t in ts]
            # Milliseconds since the epoch (JavaScript loggers) become seconds.
            if any(t is not None and t > 1e11 for t in ts[:1] + ts[-1:]):
                ts = [t / 1000.0 if t is not None and t > 1e11 else t for t in ts]
            return ts
    return [None] * n


def _flatten(prefix: str, obj: dict[str, Any], step: int | None, ts: float | None,
             result: ReadResult) -> None:
    """Nested objects (`{"train": {"loss": 1.2}}`) become `train/loss`."""
    for key, value in obj.items():
        name = f"{prefix}/{key}"
        if type(value) in _NUM:
            result.points.add(name, step, ts, float(value))
        elif isinstance(value, dict):
            _flatten(name, value, step, ts, result)


def looks_like_jsonl_metrics(head: bytes) -> bool:
    """True when the first complete line is a JSON object holding at least one number."""
    line = head.split(b"\n", 1)[0].strip()
    if not line.startswith(b"{"):
        return False
    try:
        rec = _loads_line(line)
    except ValueError:
        return False  # not JSON, or a first line still being written: discovery asks again
    if not isinstance(rec, dict) or _EVAL_KEYS & rec.keys():
        return False  # eval samples (one row per item) are read by `cockpit eval`, not here
    return any(type(v) in _NUM and k not in _AXIS for k, v in rec.items())


_EVAL_KEYS = frozenset({"doc_id", "resps", "filtered_resps", "sample_id", "target", "expected"})
