"""Running console SQL off the GUI thread, read-only unless the user opted in.

Qt-free. The console shares the process's DuckDB instance (a second read-only connection to
the same file is not allowed in one process), so read-only is enforced by statement type:
only SELECT-like statements and EXPLAIN pass unless writes are allowed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

READ_ONLY_TYPES = {"SELECT", "EXPLAIN"}
MAX_ROWS = 20_000


class QueryRejected(Exception):
    """A statement the console will not run (a write in read-only mode, bad SQL)."""


@dataclass(slots=True)
class QueryResult:
    sql: str
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    elapsed: float


def statements(sql: str, allow_writes: bool = False) -> list[str]:
    """Split `sql` into statements; reject writes unless allowed. One sentence on error."""
    try:
        parsed = duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise QueryRejected(_first_line(err)) from None
    if not parsed:
        raise QueryRejected("nothing to run: the editor holds no statement")
    if not allow_writes:
        for st in parsed:
            kind = str(st.type).rsplit(".", 1)[-1]
            if kind not in READ_ONLY_TYPES:
                raise QueryRejected(
                    f"the console is read-only and this is a {kind} statement; tick "
                    "'Allow writes' to run it")
    return [st.query for st in parsed]


def run(cur: duckdb.DuckDBPyConnection, sql: str, allow_writes: bool = False,
        max_rows: int = MAX_ROWS) -> QueryResult:
    """Run every statement; the result is the last one's (at most `max_rows` rows)."""
    parts = statements(sql, allow_writes)
    start = time.perf_counter()
    try:
        for part in parts[:-1]:
            cur.execute(part)
        rel = cur.execute(parts[-1])
        description = rel.description or []
        rows = rel.fetchmany(max_rows + 1) if description else []
    except duckdb.Error as err:
        raise QueryRejected(_first_line(err)) from None
    columns = [d[0] for d in description]
    types = [str(d[1]) for d in description]
    truncated = len(rows) > max_rows
    return QueryResult(sql, columns, types, rows[:max_rows], truncated,
                       time.perf_counter() - start)


def export(cur: duckdb.DuckDBPyConnection, sql: str, path: Path, fmt: str) -> int:
    """Write the full result of one SELECT to CSV or Parquet with DuckDB's COPY; returns rows."""
    parts = statements(sql, allow_writes=False)
    if len(parts) != 1:
        raise QueryRejected("export takes exactly one SELECT statement")
    query = parts[0].strip().rstrip(";")
    target = str(path).replace("'", "''")
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER"
    try:
        cur.execute(f"COPY ({query}) TO '{target}' ({options})")
        got = cur.fetchone()
    except duckdb.Error as err:
        raise QueryRejected(f"cannot export to {path}: {_first_line(err)}") from None
    return int(got[0]) if got and got[0] is not None else 0


def to_tsv(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Tab-separated text with a header row, as spreadsheets paste it."""

    def cell(v: Any) -> str:
        return "" if v is None else str(v).replace("\t", " ").replace("\n", " ")

    lines = ["\t".join(columns)]
    lines.extend("\t".join(cell(v) for v in row) for row in rows)
    return "\n".join(lines) + "\n"


class QueryThread:
    """Runs one query at a time on its own cursor in a background thread."""

    def __init__(self, cursor_factory: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        self._factory = cursor_factory
        self._cur: duckdb.DuckDBPyConnection | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, job: Callable[[duckdb.DuckDBPyConnection], Any],
               done: Callable[[Any, str | None], None]) -> bool:
        """Run `job(cursor)` in the background and call `done(result, error)` from there."""
        if self.busy:
            return False

        def work() -> None:
            try:
                with self._lock:
                    if self._cur is None:
                        self._cur = self._factory()
                    cur = self._cur
                result = job(cur)
            except QueryRejected as err:
                done(None, str(err))
            except duckdb.Error as err:
                done(None, _first_line(err))
            else:
                done(result, None)

        self._thread = threading.Thread(target=work, name="cockpit-sql", daemon=True)
        self._thread.start()
        return True

    def interrupt(self) -> None:
        if self._cur is not None and self.busy:
            self._cur.interrupt()

    def close(self) -> None:
        self.interrupt()
        if self._thread is not None:
            self._thread.join(5.0)
        if self._cur is not None:
            self._cur.close()
            self._cur = None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
