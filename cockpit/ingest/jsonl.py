"""JSONL metric logs: one JSON object per line, any numeric keys.

Python's `json.dumps` writes non-finite floats as the bare tokens NaN, Infinity and
-Infinity, which strict parsers (orjson) reject. They are kept as NaN/±Inf, never dropped.

Speed: a chunk of lines is parsed by one orjson call and turned into one column per key
(list comprehensions, no per-point Python work), which is what lets a backlog of millions
of lines import at parser speed.

Values that are not plain numbers (`_values`, one place): a nested object becomes `a/b`, a
list of numbers (per-group `"lr": [..]`) becomes indexed series `lr/0`, `lr/1`; other lists,
lists longer than `MAX_LIST`, nesting deeper than `MAX_DEPTH` and integers beyond the range
of a double are skipped and counted in `ReadResult.skipped`; a line nested deeper than the
parser allows is an unreadable line. Strings, booleans and null are not metrics: ignored.
"""

from __future__ import annotations

import json
import math
import re
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from cockpit.ingest import jsonl_columns
from cockpit.ingest.reader import StreamReader
from cockpit.model.keys import STEP_KEYS, TIME_KEYS
from cockpit.model.records import ReadResult

MAX_LINE = 4 * 1024 * 1024  # a line longer than this is not a metrics record
MAX_DEPTH = 16  # object/list levels below a record's top level that become key paths
MAX_LIST = 1024  # longer lists are data (token ids, histograms), not one series per element
MAX_DOUBLE = float.fromhex("0x1.fffffffffffffp+1023")
INT64 = 2**63
SKIP_LIST = "a list that is not all numbers"
SKIP_LONG_LIST = f"a list of more than {MAX_LIST} numbers"
SKIP_DEEP = f"nesting deeper than {MAX_DEPTH} levels"
SKIP_HUGE = "a number beyond the range of a double"
SLICE = 1024 * 1024  # bytes parsed per orjson call (the lock is released between calls)

_AXIS = frozenset(STEP_KEYS) | frozenset(TIME_KEYS)
_NUM = (int, float)
_PLAIN = frozenset(_NUM)
# Bare non-finite tokens in value position, quoted so orjson accepts the chunk.
_BARE = re.compile(rb"(?<=[:,\[])(\s*)(-?Infinity|NaN)(?=\s*[,}\]])")
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _loads_line(line: bytes) -> Any:
    """One JSON value; ValueError for anything that is not one (too deep, too long a number)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            return json.loads(line.decode("utf-8", errors="replace"))
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def _loads_slices(body: bytes) -> tuple[list[Any] | None, bool]:
    """`_loads_chunk` over slices of about SLICE bytes: one orjson call holds the interpreter
    lock for its whole parse (~90 ms for 16 MB), and the app's GUI thread would wait for it."""
    if len(body) <= SLICE:
        return _loads_chunk(body)
    records: list[Any] = []
    special = False
    start = 0
    while start < len(body):
        end = body.find(b"\n", start + SLICE)
        end = len(body) if end < 0 else end
        got, had = _loads_chunk(body[start:end])
        if got is None:
            return None, False
        records += got
        special = special or had
        start = end + 1
    return records, special


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
        if len(body) >= jsonl_columns.MIN_BYTES and self._uniform(body, result):
            return result
        records, special = _loads_slices(body)
        if records is None:
            records, special = self._line_by_line(body, result), False
        if not all(type(r) is dict for r in records):
            for r in records:
                if type(r) is not dict:
                    result.bad(f"a JSON {type(r).__name__} where an object was expected")
            records = [r for r in records if type(r) is dict]
        if records:
            self._columns(records, special, result)
        return result

    def _uniform(self, body: bytes, result: ReadResult) -> bool:
        """A big chunk whose lines all hold the first line's numeric keys, parsed by DuckDB
        (cockpit/ingest/jsonl_columns.py); False: read it the usual way."""
        try:
            first = orjson.loads(body[: body.find(b"\n")])
        except orjson.JSONDecodeError:
            return False
        if not isinstance(first, dict):
            return False
        columns = jsonl_columns.uniform_columns(body, first)
        if columns is None:
            return False
        n = len(next(iter(columns.values())))
        start = self.row
        self.row += n
        step_key = next((k for k in STEP_KEYS if k in columns), None)
        if step_key is not None and (np.abs(columns[step_key]) >= INT64).any():
            return False  # a step beyond int64: the usual path decides (its position)
        steps = (np.trunc(columns[step_key]).astype(np.int64) if step_key is not None
                 else np.arange(start, start + n, dtype=np.int64))
        time_key = next((k for k in TIME_KEYS if k in columns), None)
        if time_key is None:
            ts = np.full(n, np.nan)
        else:
            ts = columns[time_key]
            if ts[0] > 1e11 or ts[-1] > 1e11:  # milliseconds since the epoch
                ts = np.where(ts > 1e11, ts / 1000.0, ts)
        for key, values in columns.items():
            if key not in _AXIS:
                result.points.add_block(key, steps, ts, values)
        return True

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
            if set(map(type, values)) <= _PLAIN:
                try:  # the usual case: one numeric column, converted in C
                    points.add_block(key, steps, ts, np.array(values, dtype=np.float64))
                    continue
                except OverflowError:  # an integer beyond a double: sorted out below
                    pass
            _values(key, values, steps, ts, special, result)

    def finish(self) -> ReadResult:
        """A finished file's last line without a newline is a record when it parses whole
        (a prefix of a JSON object is never itself a JSON object)."""
        result = ReadResult()
        line = self.pending.strip()
        if line.startswith(b"{") and line.endswith(b"}") and len(line) <= MAX_LINE:
            try:
                rec = _loads_line(line)
            except ValueError:
                return result
            if type(rec) is dict:
                self.pending = b""
                self._columns([rec], False, result)
        return result

    def state(self) -> dict[str, Any]:
        return {"row": self.row}

    def restore(self, state: dict[str, Any]) -> None:
        self.row = int(state.get("row", 0))


def _steps(columns: dict[str, list[Any]], first: int, n: int) -> list[int]:
    """The step of each record: its step field, else its position in the file."""
    for key in STEP_KEYS:
        if key in columns:
            steps = columns[key]
            if set(map(type, steps)) <= {int} and min(steps) >= -INT64 and max(steps) < INT64:
                return steps
            return [int(v) if (type(v) is int or (type(v) is float and math.isfinite(v)))
                    and -INT64 <= v < INT64 else first + i for i, v in enumerate(steps)]
    return list(range(first, first + n))


def _times(columns: dict[str, list[Any]], n: int) -> list[float | None]:
    for key in TIME_KEYS:
        if key in columns:
            ts = columns[key]
            if not set(map(type, ts)) <= {float}:
                ts = [float(t) if type(t) in _NUM and -MAX_DOUBLE <= t <= MAX_DOUBLE else None
                      for t in ts]
            # Milliseconds since the epoch (JavaScript loggers) become seconds.
            if any(t is not None and t > 1e11 for t in ts[:1] + ts[-1:]):
                ts = [t / 1000.0 if t is not None and t > 1e11 else t for t in ts]
            return ts
    return [None] * n


def _values(key: str, values: list[Any], steps: np.ndarray, ts: np.ndarray, special: bool,
            result: ReadResult) -> None:
    """A column that is not all plain numbers: numbers kept, nested values expanded."""
    keep: list[int] = []
    kept: list[float] = []
    nested: list[int] = []
    for i, value in enumerate(values):
        number = _number(value, special, result)
        if number is not None:
            keep.append(i)
            kept.append(number)
        elif type(value) is dict or type(value) is list:
            nested.append(i)
    if keep:
        result.points.add_block(key, steps[keep], ts[keep], kept)
    for i in nested:
        t = float(ts[i])
        _expand(key, values[i], int(steps[i]), None if t != t else t, special, result, 1)


def _number(value: Any, special: bool, result: ReadResult) -> float | None:
    """`value` as a point's value, or None when it is not a number (a huge one is counted)."""
    kind = type(value)
    if kind is float:
        return float(value)
    if kind is int:
        if -MAX_DOUBLE <= value <= MAX_DOUBLE:
            return float(value)
        result.skip(SKIP_HUGE)
    elif special and kind is str and value in _SPECIAL:
        return _SPECIAL[value]
    return None


def _expand(prefix: str, value: Any, step: int | None, ts: float | None, special: bool,
            result: ReadResult, depth: int) -> None:
    """`{"train": {"loss": 1.2}}` becomes `train/loss`; `{"lr": [0.1, 0.2]}` `lr/0`, `lr/1`."""
    if depth > MAX_DEPTH:
        result.skip(SKIP_DEEP)
        return
    if type(value) is list:
        if not value:
            return
        if len(value) > MAX_LIST:
            result.skip(SKIP_LONG_LIST)
            return
        numbers = [_number(v, special, result) for v in value]
        if any(v is None for v in numbers):
            result.skip(SKIP_LIST)
            return
        for i, number in enumerate(numbers):
            result.points.add(f"{prefix}/{i}", step, ts, number)  # type: ignore[arg-type]
        return
    for key, item in value.items():
        name = f"{prefix}/{key}"
        number = _number(item, special, result)
        if number is not None:
            result.points.add(name, step, ts, number)
        elif type(item) is dict or type(item) is list:
            _expand(name, item, step, ts, special, result, depth + 1)


SNIFF_LINES = 50  # a config header, a blank line or some garbage may come before the metrics


def looks_like_jsonl_metrics(head: bytes) -> bool:
    """True when one of the first lines is a JSON object holding a number (a list of numbers
    or a nested one counts) and no line before it looks like an eval sample."""
    lines = head.split(b"\n")  # a last line still being written does not parse: asked again
    for line in lines[:SNIFF_LINES]:
        line = line.strip()
        if not line.startswith(b"{"):
            continue
        try:
            rec = _loads_line(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        if _EVAL_KEYS & rec.keys():
            return False  # eval samples (one row per item) are read by `cockpit eval`, not here
        if any(k not in _AXIS and _holds_number(v) for k, v in rec.items()):
            return True  # the first record with a number decides, as it always did
    return False


def _holds_number(value: Any, depth: int = 0) -> bool:
    if type(value) in _NUM:
        return True
    if depth >= 2:
        return False
    if type(value) is dict:
        return any(_holds_number(v, depth + 1) for v in value.values())
    if type(value) is list:
        return bool(value) and all(type(v) in _NUM for v in value[:MAX_LIST])
    return False


_EVAL_KEYS = frozenset({"doc_id", "resps", "filtered_resps", "sample_id", "target", "expected"})
