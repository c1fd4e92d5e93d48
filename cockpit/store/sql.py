"""The one read-only SQL surface: `cockpit query` and `runs`, the app's SQL console, the
live socket (cockpit.store.live) and `cockpit.history()` all run user SQL through here.

Two locks, each enough alone for what it covers:
- the DuckDB instance of every Cockpit connection has external access off and its
  configuration locked (cockpit.store.db's `LOCKED`): no file outside the history is read or written, no
  extension installed or loaded, no setting changed back (read_text, glob, COPY, EXPORT,
  ATTACH of any file, a hard link to the history itself included, INSTALL, LOAD, SET); the
  store writer's instance is not locked (it trims its cache by its memory limit), but
  DuckDB never turns external access back on while a database runs;
- statements are checked before they run (`statements`): only SELECT-like statements,
  EXPLAIN and a list of read-only PRAGMAs pass, anything else is refused in one sentence.
`--unsafe-sql` (and the app's setting) opt out of both for those who want file access;
the history itself then still opens read-only where it is not the app's own.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np

from cockpit.store.db import StoreError, storage_failure

UNSAFE_HINT = "--unsafe-sql allows it"
_READ_ONLY = frozenset({"SELECT", "EXPLAIN"})
# PRAGMAs and CALLs that only describe the database (table_info, show_tables, ...).
_DESCRIBING = re.compile(
    r"^\s*(?:PRAGMA|CALL)\s+(?:pragma_)?(table_info|show_tables|show_tables_expanded|"
    r"database_size|database_list|storage_info|version|platform|show|metadata_info|"
    r"functions|collations|user_agent|duckdb_\w+)\b", re.IGNORECASE)
# Statements refused because they reach outside the history (`--unsafe-sql` allows them).
_OUTSIDE = {
    "ATTACH": "it opens another database file",
    "DETACH": "it changes which databases are open",
    "COPY": "it reads or writes files",
    "EXPORT": "it writes files",
    "LOAD": "it fetches or runs an extension",
    "SET": "the settings are locked",
    "VARIABLE_SET": "the settings are locked",
    "RESET": "the settings are locked",
    "PRAGMA": "this PRAGMA changes settings or data",
    "CALL": "this CALL changes settings or data",
}
_EXPLAIN_ANALYZE = re.compile(r"^\s*EXPLAIN\s+ANALY[SZ]E\s+(?!SELECT|WITH|FROM|\()",
                              re.IGNORECASE)


class SqlRefused(StoreError):
    """A statement the read-only surface does not run, or SQL DuckDB rejects: one sentence."""


def statements(sql: str, unsafe: bool = False) -> list[str]:
    """The statements of `sql`, each checked to be read-only (unless `unsafe`)."""
    try:
        parsed = duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise SqlRefused(f"the query is not valid SQL: {first_line(err)}") from None
    if not parsed:
        raise SqlRefused("nothing to run: the query is empty")
    if unsafe:
        return [st.query for st in parsed]
    for st in parsed:
        kind = str(st.type).rsplit(".", 1)[-1]
        if kind in _READ_ONLY and not _EXPLAIN_ANALYZE.match(st.query):
            continue
        if kind in ("PRAGMA", "CALL") and _DESCRIBING.match(st.query):
            continue
        verb = st.query.strip().split(None, 1)[0].upper() if st.query.strip() else kind
        if kind in _OUTSIDE:
            raise SqlRefused(f"{verb} is refused: queries see the history only "
                             f"({_OUTSIDE[kind]}); {UNSAFE_HINT}")
        raise SqlRefused(f"{verb} is refused: the history is read-only here (a {kind} "
                         "statement would change it)")
    return [st.query for st in parsed]


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def explain(err: duckdb.Error) -> StoreError:
    """DuckDB's refusal or error as one sentence."""
    failure = storage_failure("the history", err)
    if failure is not None:
        return failure
    if isinstance(err, duckdb.PermissionException):
        return SqlRefused(f"the query was refused: it reaches outside the history "
                          f"({first_line(err)}); {UNSAFE_HINT}")
    return SqlRefused(f"the query failed: {first_line(err)}")


@dataclass(slots=True)
class Result:
    """A query's result as numpy columns (what DuckDB's `fetchnumpy` gives)."""

    columns: list[str]
    types: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False  # more rows than asked for were there

    def __len__(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0

    def rows(self) -> list[tuple[Any, ...]]:
        cols = [plain_column(self.data[c]) for c in self.data]
        return list(zip(*cols, strict=True)) if cols else []


def plain_column(arr: Any) -> list[Any]:
    """Python values of one column: NULL as None, nested arrays as lists."""
    if isinstance(arr, np.ma.MaskedArray):
        values = arr.data.tolist()
        return [None if m else _plain(v) for v, m in zip(values, np.ma.getmaskarray(arr).tolist(),
                                                          strict=True)]
    if arr.dtype == object:
        return [_plain(v) for v in arr.tolist()]
    return list(arr.tolist())


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def run(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None,
        unsafe: bool = False, max_rows: int | None = None, snapshot: bool = False) -> Result:
    """Run checked SQL; the result is the last statement's (at most `max_rows` rows).

    `snapshot`: inside a transaction that is rolled back, for a connection that could write
    (the owner of the history answering the live socket).
    """
    parts = statements(sql, unsafe)
    if params and len(parts) > 1:
        raise SqlRefused("a query with parameters must be one statement")
    if snapshot:
        cur.execute("BEGIN TRANSACTION")
    try:
        for part in parts[:-1]:
            cur.execute(part).fetchall()
        last = parts[-1]
        kind = str(duckdb.extract_statements(last)[0].type).rsplit(".", 1)[-1]
        if kind == "SELECT" and max_rows is not None:
            rel = cur.sql(last, params=params).limit(max_rows + 1)
            types = [str(t) for t in rel.types]
            data = rel.fetchnumpy()
        else:
            cur.execute(last, params)
            description = cur.description
            if description is None:
                return Result([], [])
            types = [str(d[1]) for d in description]
            data = cur.fetchnumpy()
    except duckdb.Error as err:
        raise explain(err) from None
    finally:
        if snapshot:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
    # fetchnumpy names columns uniquely (`x`, `x_1` for two `x`): those names are kept.
    result = Result(list(data), types, dict(data))
    if max_rows is not None and len(result) > max_rows:
        result.data = {c: a[:max_rows] for c, a in result.data.items()}
        result.truncated = True
    return result
