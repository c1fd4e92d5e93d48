"""Shared fixtures: paths to the copied real-run fixtures and helpers to build run folders."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import duckdb
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
H100 = FIXTURES / "h100-runs"
PUBLIC = FIXTURES / "public-healthy"


@pytest.fixture(autouse=True, scope="session")
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The suite never touches the user's own history, settings or keyring: the default
    database and config folders (platformdirs) point into a temp folder for every test and
    every subprocess it starts."""
    import os

    base = tmp_path_factory.mktemp("user")
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state")):
        (base / sub).mkdir()
        os.environ[var] = str(base / sub)


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


@pytest.fixture
def http():
    """An HTTP receiver on 127.0.0.1 for notification tests (tests/notify_receivers.py)."""
    from tests.notify_receivers import HttpReceiver

    receiver = HttpReceiver().start()
    yield receiver
    if receiver.hold is not None:
        receiver.hold.set()
    receiver.stop()


@pytest.fixture(scope="module")
def evaluation() -> ModuleType:
    """scripts/eval_detectors.py as a module: the detector evaluation the docs are made by."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "eval_detectors.py"
    spec = importlib.util.spec_from_file_location("eval_detectors", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_detectors"] = module
    spec.loader.exec_module(module)
    return module


# The real sshd the remote-run tests share (tests/sshd_server.py).
from tests.sshd_server import ssh_config, sshd  # noqa: E402, F401
