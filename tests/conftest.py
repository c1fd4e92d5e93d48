"""Shared fixtures: paths to the copied real-run fixtures and helpers to build run folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
H100 = FIXTURES / "h100-runs"
PUBLIC = FIXTURES / "public-healthy"


@pytest.fixture
def h100_copy(tmp_path: Path) -> Path:
    """A writable copy of the H100 runs (fixtures stay read-only)."""
    dest = tmp_path / "h100-runs"
    shutil.copytree(H100, dest)
    return dest


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.duckdb"


def query_db(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of one read-only query on a history database (the file stays closed after)."""
    from cockpit.store.db import connect

    con: duckdb.DuckDBPyConnection = connect(db, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
