"""JSONL metric logs: one JSON object per line, any numeric keys.

Python's `json.dumps` writes non-finite floats as the bare tokens NaN, Infinity and
-Infinity, which strict parsers (orjson) reject; those lines fall back to the stdlib
parser so the values are kept as NaN/±Inf, never dropped.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from cockpit.ingest.keys import STEP_KEYS, TIME_KEYS
from cockpit.ingest.records import ReadResult, StreamReader

MAX_LINE = 4 * 1024 * 1024  # a line longer than this is not a metrics record


def _parse(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line.decode("utf-8", errors="replace"))


class JsonlReader(StreamReader):
    """Incremental reader of JSONL metric logs; a half-written last line waits in `pending`."""

    format = "jsonl"

    def __init__(self) -> None:
        super().__init__()
        self.row = 0  # rows seen, used as the step when a record has none

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
        pts = result.points
        keys, steps, tss, values = pts.keys, pts.steps, pts.ts, pts.values
        for line in buf[:end].split(b"\n"):
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                result.bad(f"line longer than {MAX_LINE} bytes")
                continue
            try:
                rec = _parse(line)
            except ValueError:
                result.bad(line.decode("utf-8", errors="replace"))
                continue
            if not isinstance(rec, dict):
                result.bad(line.decode("utf-8", errors="replace"))
                continue
            self.row += 1
            step = _step_of(rec, self.row)
            ts = _ts_of(rec)
            for key, value in rec.items():
                if type(value) is float or (type(value) is int):
                    if key in _AXIS:
                        continue
                    keys.append(key)
                    steps.append(step)
                    tss.append(ts)
                    values.append(float(value))
                elif isinstance(value, dict):
                    _flatten(key, value, step, ts, result)
        return result

    def state(self) -> dict[str, Any]:
        return {"row": self.row}

    def restore(self, state: dict[str, Any]) -> None:
        self.row = int(state.get("row", 0))


_AXIS = frozenset(STEP_KEYS) | frozenset(TIME_KEYS)


def _step_of(rec: dict[str, Any], row: int) -> int:
    for key in STEP_KEYS:
        value = rec.get(key)
        if type(value) is int:
            return value
        if type(value) is float and math.isfinite(value):
            return int(value)
    return row - 1


def _ts_of(rec: dict[str, Any]) -> float | None:
    for key in TIME_KEYS:
        value = rec.get(key)
        if type(value) is float or type(value) is int:
            ts = float(value)
            # Milliseconds since the epoch (e.g. JS loggers) become seconds.
            return ts / 1000.0 if ts > 1e11 else ts
    return None


def _flatten(prefix: str, obj: dict[str, Any], step: int, ts: float | None, result: ReadResult) -> None:
    """Nested objects (`{"train": {"loss": 1.2}}`) become `train/loss`."""
    for key, value in obj.items():
        name = f"{prefix}/{key}"
        if type(value) is float or type(value) is int:
            result.points.add(name, step, ts, float(value))
        elif isinstance(value, dict):
            _flatten(name, value, step, ts, result)


def looks_like_jsonl_metrics(head: bytes) -> bool:
    """True when the first complete line is a JSON object holding at least one number."""
    line = head.split(b"\n", 1)[0].strip()
    if not line.startswith(b"{"):
        return False
    try:
        rec = _parse(line)
    except ValueError:
        return False  # not JSON, or a first line still being written: discovery asks again
    if not isinstance(rec, dict):
        return False
    return any(type(v) in (int, float) and k not in _AXIS for k, v in rec.items())
