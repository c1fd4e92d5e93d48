"""The database file failing under a command: damaged blocks, a full disk (a real 1.2 MB
tmpfs, mounted by the test as root), a parent folder that is missing or is a file. Each is
one sentence and exit 2, and nothing already stored is lost: the damaged file is left
byte for byte as it was, and a re-import after the disk is freed gives exact counts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import H100
from tests.livewatch import cockpit

RUN = H100 / "healthy_bf16"


def _one_sentence(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.startswith("cockpit: ") and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr
    for word in words:
        assert word in out.stderr, out.stderr


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("store") / "h.duckdb"
    out = cockpit("import", str(RUN), "--db", str(db))
    assert out.returncode == 0, out.stderr
    return db


@pytest.mark.parametrize("where", ["first blocks", "every block"])
def test_a_damaged_database_is_one_sentence_and_left_as_it_is(imported: Path, tmp_path: Path,
                                                             where: str) -> None:
    db = tmp_path / "h.duckdb"
    shutil.copy(imported, db)
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        # DuckDB's file: 3 header pages of 4 KiB, then 256 KiB blocks, each checksummed.
        offsets = [8192, 12288, 270336] if where == "first blocks" else range(
            12288 + 64, size, 262144)
        for offset in offsets:
            fh.seek(offset)
            fh.write(bytes(range(256)) * 16)
    before = _sha(db)
    for args in (("runs", "--db", str(db)),
                 ("query", "--db", str(db), "SELECT count(*), sum(value) FROM metrics"),
                 ("import", str(RUN), "--db", str(db)),
                 ("check", str(RUN), "--db", str(db)),
                 ("watch", str(RUN), "--db", str(db), "--once")):
        out = cockpit(*args)
        _one_sentence(out, str(db), "damaged")
        assert _sha(db) == before, args  # nothing was written into it


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1.2 MB file system: DuckDB's WAL write fails with ENOSPC."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if got.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {got.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_a_full_disk_is_one_sentence_and_nothing_stored_is_lost(tiny_disk: Path,
                                                                 tmp_path: Path) -> None:
    db = tiny_disk / "h.duckdb"
    out = cockpit("import", str(H100), "--db", str(db))
    _one_sentence(out, "disk is full", str(db))
    out = cockpit("watch", str(H100), "--db", str(db), "--json")  # --json: no banner
    _one_sentence(out, "disk is full")
    counted = cockpit("query", "--db", str(db), "--format", "json",
                      "SELECT count(*) AS n, count(DISTINCT (run_id, key, step, source)) AS d "
                      "FROM metrics")
    assert counted.returncode == 0, counted.stderr
    partial = json.loads(counted.stdout)[0]
    assert partial["n"] == partial["d"] > 0  # what was committed is there, once
    # Free the disk: the same import completes exactly, adding only what was missing.
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_disk)], check=True)
    out = cockpit("import", str(H100), "--db", str(db))
    assert out.returncode == 0, out.stderr
    clean = tmp_path / "clean.duckdb"
    assert cockpit("import", str(H100), "--db", str(clean)).returncode == 0
    sql = ("SELECT r.name, m.key, m.source, count(*) AS n FROM metrics m JOIN runs r "
           "USING (run_id) GROUP BY ALL ORDER BY ALL")
    got = json.loads(cockpit("query", "--db", str(db), "--format", "json", sql).stdout)
    want = json.loads(cockpit("query", "--db", str(clean), "--format", "json", sql).stdout)
    assert got == want


def test_bad_database_folders_are_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    _one_sentence(cockpit("import", str(RUN), "--db", str(tmp_path / "a-file" / "h.duckdb")),
                  "is not a folder")
    _one_sentence(cockpit("query", "--db", str(tmp_path / "missing" / "h.duckdb"), "SELECT 1"),
                  "does not exist")
    _one_sentence(cockpit("runs", "--db", str(tmp_path / "missing" / "h.duckdb")),
                  "does not exist")
    # A missing parent of a history to write is made, as the default location is.
    out = cockpit("import", str(RUN), "--db", str(tmp_path / "new" / "deeper" / "h.duckdb"))
    assert out.returncode == 0, out.stderr
