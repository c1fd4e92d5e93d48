"""Reading a history from another process: the file itself when nobody holds it, else the
owner's live socket (cockpit.store.live). `cockpit query`, `runs`, `cockpit.history()` and
a second app read through here, so each works the same whether or not a watch is running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from cockpit.store.db import StoreError, StoreLocked, connect
from cockpit.store.live import LiveClient
from cockpit.store.sql import Result, SqlRefused, run


def query(db: str | Path, sql: str, params: list[Any] | None = None, unsafe: bool = False,
          max_rows: int | None = None) -> Result:
    """Run read-only SQL on the history at `db`, wherever it can be read from."""
    try:
        con = connect(db, read_only=True, file_access=unsafe)
    except StoreLocked as locked:
        client = LiveClient.open(db)
        if client is None:
            raise locked from None
        with client:
            return client.query(sql, params, unsafe=unsafe, max_rows=max_rows)
    try:
        return run(con, sql, params, unsafe=unsafe, max_rows=max_rows)
    finally:
        con.close()


def relation(db: str | Path, sql: str, params: list[Any] | None = None,
             unsafe: bool = False) -> duckdb.DuckDBPyRelation:
    """The result as a DuckDB relation of its own (in memory): filter, join, `.df()`,
    `.arrow()` or `.fetchall()` it without holding the history open."""
    result = query(db, sql, params, unsafe)
    con = duckdb.connect()
    if not result.columns:
        return con.sql("SELECT NULL AS result WHERE false")
    con.register("history_result", result.data)
    return con.sql("SELECT * FROM history_result")


class LiveCursor:
    """What the app's panels need of a DuckDB cursor, answered by the history's owner: a
    second app shows a history that a watch or another app holds (read-only).

    Each query is its own snapshot, so BEGIN/COMMIT are accepted and do nothing; errors are
    raised as `duckdb.Error`, as the panels expect of a cursor.
    """

    _NO_OPS = frozenset({"BEGIN", "BEGIN TRANSACTION", "COMMIT", "ROLLBACK", "END"})

    def __init__(self, db: str | Path) -> None:
        self.db = Path(db)
        self._client: LiveClient | None = None
        self._result = Result([], [])
        self._rows: list[tuple[Any, ...]] | None = None
        self._pos = 0

    def execute(self, sql: str, params: list[Any] | None = None) -> LiveCursor:
        self._rows, self._pos = None, 0
        if sql.strip().rstrip(";").upper() in self._NO_OPS:
            self._result = Result([], [])
            return self
        try:
            if self._client is None:
                self._client = LiveClient.open(self.db)
                if self._client is None:
                    raise StoreError(f"{self.db} is no longer served live")
            self._result = self._client.query(sql, params)
        except StoreError as err:
            if not isinstance(err, SqlRefused) and self._client is not None:
                self._client.close()
                self._client = None  # reconnect on the next query
            raise duckdb.Error(str(err)) from None
        return self

    @property
    def description(self) -> list[tuple[Any, ...]] | None:
        r = self._result
        if not r.columns:
            return None
        return [(c, t, None, None, None, None, None) for c, t in zip(r.columns, r.types,
                                                                      strict=True)]

    def _all(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            self._rows = self._result.rows()
        return self._rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._all()[self._pos:]
        self._pos += len(rows)
        return rows

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        rows = self._all()[self._pos:self._pos + size]
        self._pos += len(rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchmany(1)
        return rows[0] if rows else None

    def fetchnumpy(self) -> dict[str, Any]:
        return dict(self._result.data)

    def interrupt(self) -> None:
        """A live query cannot be interrupted from here; the owner times it out."""

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
