"""Shared fixtures: paths to the copied real-run fixtures and helpers to build run folders."""

from __future__ import annotations

import shutil
from pathlib import Path

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
