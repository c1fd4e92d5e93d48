"""Running console SQL off the GUI thread, read-only unless the user opted in.

Qt-free. The console shares the process's DuckDB instance, which has no file access
(cockpit.store.sql); statements go through the same check as `cockpit query` and the live
socket, unless 'Allow writes' is ticked. Exports are written by a private in-memory DuckDB.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cockpit.store import sql as surface

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
        return surface.statements(sql, unsafe=allow_writes)
    except surface.SqlRefused as err:
        raise QueryRejected(console_sentence(err)) from None


def console_sentence(err: Exception) -> str:
    """The surface's sentence with the console's way out instead of `--unsafe-sql`."""
    text = str(err)
    if surface.UNSAFE_HINT in text:
        return text.replace(surface.UNSAFE_HINT, "tick 'Allow writes', and for files turn on "
                                                 "'SQL may use files' in Settings")
    if "read-only here" in text:
        return f"{text}; tick 'Allow writes' to run it"
    return text


def run(cur: duckdb.DuckDBPyConnection, sql: str, allow_writes: bool = False,
        max_rows: int = MAX_ROWS) -> QueryResult:
    """Run every statement; the result is the last one's (at most `max_rows` rows)."""
    parts = statements(sql, allow_writes)
    start = time.perf_counter()
    try:
        for part in parts[:-1]:
            cur.execute(part).fetchall()
        rel = cur.execute(parts[-1])
        description = rel.description or []
        rows = rel.fetchmany(max_rows + 1) if description else []
    except duckdb.Error as err:
        raise QueryRejected(console_sentence(surface.explain(err))) from None
    columns = [d[0] for d in description]
    types = [str(d[1]) for d in description]
    truncated = len(rows) > max_rows
    return QueryResult(sql, columns, types, rows[:max_rows], truncated,
                       time.perf_counter() - start)


def export(cur: duckdb.DuckDBPyConnection, sql: str, path: Path, fmt: str) -> int:
    """Write the full result of one SELECT to CSV or Parquet; returns rows. The history's
    connection has no file access: a private in-memory DuckDB writes the file."""
    parts = statements(sql, allow_writes=False)
    if len(parts) != 1:
        raise QueryRejected("export takes exactly one SELECT statement")
    try:
        data = cur.execute(parts[0]).fetchnumpy()
    except duckdb.Error as err:
        raise QueryRejected(console_sentence(surface.explain(err))) from None
    target = str(path).replace("'", "''")
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER"
    side = duckdb.connect()
    try:
        side.register("result", data)
        got = side.execute(f"COPY result TO '{target}' ({options})").fetchone()
    except duckdb.Error as err:
        raise QueryRejected(f"cannot export to {path}: {_first_line(err)}") from None
    finally:
        side.close()
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
