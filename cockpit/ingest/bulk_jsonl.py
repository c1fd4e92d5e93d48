"""Importing a large, finished JSONL log with DuckDB's own parallel JSON reader.

The streaming reader parses with orjson on one core; a backlog of millions of lines reads
faster when DuckDB parses it on every core. That is only safe when the file is *uniform*:
every line holds exactly the numeric keys of the first line. It is checked in two steps:
here, one pass counts lines and key terminators (`":`), which must equal lines x keys; then,
after the insert, every key must have a value on every line (no NULL was unpivoted away).
Together they prove no line had a key the first line lacks. Anything else (nested objects,
strings, missing keys, a file still growing, a half-written last line) returns None or fails
the check, and the streaming reader takes the file instead: this is a shortcut, never a
second parser with its own rules.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from cockpit.ingest.jsonl import _loads_line
from cockpit.model.keys import STEP_KEYS, TIME_KEYS

MIN_BYTES = 32 * 1024 * 1024  # below this the streaming reader is as fast
_SCAN = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BulkPlan:
    path: Path
    size: int
    inode: int
    lines: int
    step_key: str
    time_key: str | None
    metric_keys: tuple[str, ...]
    head: bytes  # the first bytes, for the follower's fingerprint
    tail: bytes  # the last bytes, for the follower's fingerprint of what was read


def plan(path: Path) -> BulkPlan | None:
    """A plan when `path` is a big, complete, uniform JSONL metric log; else None."""
    try:
        st = os.stat(path)
        if st.st_size < MIN_BYTES:
            return None
        with open(path, "rb") as f:
            head = f.read(1024 * 1024)
            first = head.split(b"\n", 1)[0]
            rec = _loads_line(first)
            if not isinstance(rec, dict) or not rec:
                return None
            if any(type(v) not in (int, float) for v in rec.values()):
                return None  # strings, booleans, nested objects: the streaming reader decides
            step_key = next((k for k in STEP_KEYS if k in rec and type(rec[k]) is int), None)
            if step_key is None:
                return None
            time_key = next((k for k in TIME_KEYS if k in rec), None)
            metrics = tuple(k for k in rec if k != step_key and k != time_key)
            if not metrics:
                return None
            f.seek(0)
            lines = terminators = 0
            remaining = st.st_size
            last = b""
            while remaining > 0:
                chunk = f.read(min(_SCAN, remaining))
                if not chunk:
                    return None
                # a `":` split across two chunks is counted by the overlap check below
                lines += chunk.count(b"\n")
                terminators += chunk.count(b'":')
                if last[-1:] == b'"' and chunk[:1] == b":":
                    terminators += 1
                last = chunk
                remaining -= len(chunk)
            f.seek(st.st_size - min(1024, st.st_size))
            tail = f.read(1024)
    except (OSError, ValueError):
        return None
    if not last.endswith(b"\n") or terminators != lines * len(rec):
        return None
    return BulkPlan(path, st.st_size, st.st_ino, lines, step_key, time_key, metrics,
                    head[:1024], tail)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load(con: duckdb.DuckDBPyConnection, p: BulkPlan, run_id: str, source: str,
         keys: list[str]) -> bool:
    """Insert `keys` of the planned file into `metrics`; False (caller rolls back) when the
    file turns out not to be uniform or changed meanwhile.

    The file is parsed by a private in-memory DuckDB (the history's own connection has no
    file access, cockpit.store.sql) and crosses over as numpy columns.
    """
    columns = {p.step_key: "BIGINT", **({p.time_key: "DOUBLE"} if p.time_key else {}),
               **{k: "DOUBLE" for k in p.metric_keys}}
    spec = "{" + ", ".join(f"{json.dumps(k)}: '{t}'" for k, t in columns.items()) + "}"
    ts = (f"CASE WHEN {_quote(p.time_key)} > 1e11 THEN {_quote(p.time_key)} / 1000.0 "
          f"ELSE {_quote(p.time_key)} END" if p.time_key else "NULL::DOUBLE")
    path = str(p.path).replace("'", "''")
    side = duckdb.connect()
    try:
        frame = side.execute(
            f"""SELECT {_quote(p.step_key)} AS step, {ts} AS ts, {", ".join(map(_quote, keys))}
                FROM read_json('{path}', format='newline_delimited', columns={spec})"""
        ).fetchnumpy()
    finally:
        side.close()
    if any(np.ma.getmaskarray(frame[k]).any() for k in ["step", *keys]):
        return False  # a line without one of the keys: not uniform
    names = [f"k{i}" for i in range(len(keys))]
    con.register("bulk_frame", {"step": frame["step"], "ts": frame["ts"],
                                **{n: frame[k] for n, k in zip(names, keys, strict=True)}})
    try:
        con.execute(
            f"""INSERT INTO metrics
            SELECT ?, key, step, ts, value, ? FROM (
              UNPIVOT (SELECT step, ts, {", ".join(f"{n} AS {_quote(k)}" for n, k in zip(names, keys, strict=True))}
                       FROM bulk_frame)
              ON {", ".join(map(_quote, keys))} INTO NAME key VALUE value)""",
            [run_id, source],
        )
    finally:
        con.unregister("bulk_frame")
    counts = dict(con.execute(
        "SELECT key, count(*) FROM metrics WHERE run_id = ? AND source = ? GROUP BY key",
        [run_id, source]).fetchall())
    try:
        st = os.stat(p.path)
    except OSError:
        return False
    return (st.st_size, st.st_ino) == (p.size, p.inode) and all(
        counts.get(k) == p.lines for k in keys)
