"""Opening the history database: default location, migrations, clear errors when it is locked."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import platformdirs

from cockpit.store.schema import MIGRATIONS, SCHEMA_VERSION


class StoreError(Exception):
    """A database problem a user can cause (locked, unreadable, newer schema): one sentence."""


class StoreLocked(StoreError):
    """The history is open in another process (watch, the app): `pid` holds it."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


# The configuration every Cockpit connection to a history opens with (cockpit.store.sql):
# nothing outside the history is read or written through it, and that cannot be undone.
LOCKED: dict[str, str | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


def _locked(trimmable: bool) -> dict[str, str | int | float | list[str]]:
    config = dict(LOCKED)
    if trimmable:
        del config["lock_configuration"]
    return config


_DISK_FULL = ("no space left", "disk is full", "disk full", "enospc", "file too large")
_DAMAGED = ("corrupt", "checksum", "invalid database", "not a valid duckdb", "malformed")
_BROKEN = ("invalidated", "fatal error")


def storage_failure(path: str | Path, err: BaseException) -> StoreError | None:
    """A failure of the database file itself (a full disk, damaged blocks, a database that
    stopped after a fatal error) as one sentence; None for any other error."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    low = text.lower()
    if any(k in low for k in _DISK_FULL):
        return StoreError(f"cannot write database {path}: the disk is full ({first}); what "
                          "was stored before is kept, free some space and run it again")
    if any(k in low for k in _DAMAGED):
        return StoreError(f"database {path} is damaged ({first}); Cockpit leaves it as it "
                          "is: restore a copy, or move it away and import the runs again")
    if any(k in low for k in _BROKEN):
        return StoreError(f"database {path} stopped after an earlier failure ({first}); "
                          "what was committed before is kept, run the command again")
    return None


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("cockpit", appauthor=False)) / "history.duckdb"


def _explain(path: Path, err: Exception) -> StoreError:
    text = str(err)
    if "lock" in text.lower():
        pid = re.search(r"PID (\d+)", text)
        holder = f" (PID {pid.group(1)})" if pid else ""
        return StoreLocked(
            f"database {path} is in use by another process{holder}; close it or pass --db "
            "with another file", int(pid.group(1)) if pid else None)
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return storage_failure(path, err) or StoreError(f"cannot open database {path}: {first}")


def connect(path: str | Path, read_only: bool = False, file_access: bool = False,
            trimmable: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and create or migrate, unless read-only) the database at `path`, locked down
    (`LOCKED`) unless `file_access` was asked for (`--unsafe-sql`, the app's setting).
    `trimmable` (the store writer): everything in LOCKED but the configuration lock, so the
    writer can lower its memory limit for a moment to evict its table cache; external access
    stays off (DuckDB refuses to turn it back on while the database runs) and user SQL on
    that instance still passes cockpit.store.sql's checks, which refuse SET."""
    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"database {path} does not exist; run `cockpit import` or `watch` first")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            blocker = next((p for p in path.parents if p.exists()), None)
            why = f"{blocker} is not a folder" if blocker is not None and not blocker.is_dir() \
                else err.strerror or str(err)
            raise StoreError(f"cannot create the folder of database {path}: {why}") from None
    try:
        con = duckdb.connect(str(path), read_only=read_only,
                             config={} if file_access else _locked(trimmable))
    except (duckdb.IOException, duckdb.Error) as err:
        raise _explain(path, err) from None
    try:
        if not read_only:
            migrate(con, path)
        else:
            version = schema_version(con)
            if version > SCHEMA_VERSION:
                raise StoreError(f"database {path} was written by a newer Cockpit "
                                 f"(schema {version})")
    except duckdb.Error as err:
        con.close()
        raise storage_failure(path, err) or StoreError(
            f"cannot open database {path}: {str(err).strip().splitlines()[0]}") from None
    except StoreError:
        con.close()
        raise
    return con


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()
    if not row or not row[0]:
        return 0
    got = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(got[0]) if got and got[0] is not None else 0


def migrate(con: duckdb.DuckDBPyConnection, path: Path | str = "?", upto: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations, each in its own transaction. Returns the final version."""
    version = schema_version(con)
    if version > SCHEMA_VERSION:
        raise StoreError(f"database {path} was written by a newer Cockpit (schema {version})")
    if version == 0:
        con.execute("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)")
    for target in range(version + 1, upto + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in MIGRATIONS[target - 1]:
                con.execute(statement)
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version VALUES (?)", [target])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return max(version, upto)
