"""Big uniform JSONL chunks parsed by DuckDB's JSON reader straight into numpy columns.

orjson builds a Python dict, key strings and float objects for every line before the columns
exist; DuckDB's reader writes the numbers into columns directly, in C++ and on every core,
which roughly halves the cost of a backlog. It is only used where its answer is provably the
streaming reader's: every line holds exactly the first line's numeric keys. Three counts over
the bytes check that (`":` key terminators and `"` quotes are lines x keys and twice that, so
no line has a string value, a nested object or an extra key; the words true/false occur only
inside keys), and the parsed columns must be complete (no NULL: no key missing) and finite
(no number too large for a double). Anything else, and every small chunk, returns None and
the orjson path reads it: this is a shortcut, never a second parser with its own rules.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np

MIN_BYTES = 1 << 20  # below this, DuckDB's fixed cost per call is more than it saves

_local = threading.local()


def _connection() -> Any:
    """One in-memory DuckDB per reading thread (created on the first big chunk)."""
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = _local.con = duckdb.connect()
    return con


def _counts_fit(body: bytes, first_line: bytes, keys: int) -> bool:
    lines = body.count(b"\n") + 1
    if body.count(b'":') != lines * keys or body.count(b'"') != 2 * lines * keys:
        return False
    return all(body.count(word) == first_line.count(word) * lines for word in (b"true", b"false"))


def uniform_columns(body: bytes, first: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """One float64 column per key of `first` (the chunk's first record) for the complete lines
    in `body`, or None when the chunk is small or not provably uniform."""
    if len(body) < MIN_BYTES or not first:
        return None
    if any(type(v) not in (int, float) for v in first.values()):
        return None
    first_line = body[: body.find(b"\n")] if b"\n" in body else body
    if b"\\" in first_line or not _counts_fit(body, first_line, len(first)):
        return None
    import duckdb

    try:
        got = _connection().read_json(io.BytesIO(body), format="newline_delimited",
                                      columns=dict.fromkeys(first, "DOUBLE")).fetchnumpy()
    except (duckdb.Error, ValueError, TypeError):
        return None
    columns: dict[str, np.ndarray] = {}
    for key in first:
        col = got.get(key)
        if col is None or np.ma.isMaskedArray(col) and np.ma.is_masked(col):
            return None  # a key missing on some line
        arr = np.asarray(col, dtype=np.float64)
        if not np.isfinite(arr).all():
            return None  # an overflowing number: the orjson path decides what it is
        columns[key] = arr
    return columns
