"""The read-only SQL surface under attack: `cockpit query` on the history file and through a
live watch's socket, and the app's console on the owner's own connection. Each abuse is
refused in one sentence (exit 2), and nothing outside or inside the history changes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.cli.main import main
from cockpit.store.reading import query
from cockpit.store.writer import StoreWriter
from cockpit.ui import sql_runner
from tests.conftest import H100
from tests.livewatch import LiveWatch, cockpit


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sql")
    db = folder / "h.duckdb"
    out = cockpit("import", str(H100 / "healthy_bf16"), "--db", str(db))
    assert out.returncode == 0, out.stderr
    other = folder / "other.duckdb"
    out = cockpit("import", str(H100 / "memory_leak_oom"), "--db", str(other))
    assert out.returncode == 0, out.stderr
    os.link(db, folder / "hardlink.duckdb")  # the history itself under another name
    return db


@pytest.fixture(scope="module", params=["file", "live"])
def mode(request: pytest.FixtureRequest, history: Path) -> Iterator[str]:
    """`file`: nobody holds the history; `live`: a watch does and answers on its socket."""
    if request.param == "file":
        yield "file"
        return
    runs = history.parent / "runs"
    runs.mkdir(exist_ok=True)
    watch = LiveWatch(runs, history)
    try:
        yield "live"
    finally:
        watch.stop()


def _counts(db: Path) -> list[int]:
    """Rows in the history (through its file, or its owner's socket when it is live)."""
    rows = query(db, "SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM runs)").rows()
    return list(rows[0])


def _query(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`cockpit query ...` in this process (the CLI's own entry point, exit code and all)."""
    code = main(["query", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _abuses(folder: Path) -> dict[str, str]:
    other = folder / "other.duckdb"
    link = folder / "hardlink.duckdb"
    return {
        "attach another db read-write, then delete": (
            f"ATTACH '{other}' AS o (READ_WRITE); DELETE FROM o.metrics; DROP TABLE o.runs"),
        "attach the history through a hard link": (
            f"ATTACH '{link}' AS h2 (READ_WRITE); DELETE FROM h2.metrics"),
        "copy to a file": f"COPY (SELECT * FROM metrics) TO '{folder / 'stolen.csv'}'",
        "export the database": f"EXPORT DATABASE '{folder / 'exported'}'",
        "read /etc/shadow": "SELECT * FROM read_text('/etc/shadow')",
        "glob /root": "SELECT * FROM glob('/root/*')",
        "read a csv by name": f"SELECT * FROM '{folder / 'other.duckdb'}'",
        "install an extension": "INSTALL httpfs",
        "load an extension": "LOAD httpfs",
        "change a setting": "SET enable_external_access = true",
        "pragma that writes": "PRAGMA enable_profiling = 'json'",
        "delete from the history": "DELETE FROM metrics",
        "drop a table": "DROP TABLE runs",
        "explain analyze a delete": "EXPLAIN ANALYZE DELETE FROM metrics",
        "checkpoint": "CHECKPOINT",
        "empty query": "   ;  ",
    }


@pytest.mark.parametrize("abuse", list(_abuses(Path("/x"))))
def test_each_abuse_is_refused_in_one_sentence(history: Path, mode: str, abuse: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = history.parent
    before = _counts(history)
    other_before = _counts(folder / "other.duckdb")
    code, out, err = _query(capsys, "--db", str(history), _abuses(folder)[abuse])
    assert code == 2, (abuse, out, err)
    assert err.startswith("cockpit: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    assert not (folder / "stolen.csv").exists() and not (folder / "exported").exists()
    assert _counts(history) == before
    assert _counts(folder / "other.duckdb") == other_before


def test_a_refusal_is_one_sentence_from_the_real_command(history: Path, mode: str) -> None:
    out = cockpit("query", "--db", str(history), "SELECT * FROM read_text('/etc/shadow')")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "reaches outside the history" in out.stderr and "Traceback" not in out.stderr


def test_describing_statements_still_work(history: Path, mode: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for sql in ("DESCRIBE metrics", "SHOW TABLES", "PRAGMA table_info('runs')",
                "EXPLAIN SELECT count(*) FROM metrics", "SUMMARIZE runs",
                "WITH x AS (SELECT 1 AS a) SELECT * FROM x"):
        code, out, err = _query(capsys, "--db", str(history), sql)
        assert code == 0 and out, (mode, sql, err)


def test_unsafe_sql_reads_files_when_asked(tmp_path: Path) -> None:
    history = tmp_path / "h.duckdb"
    assert cockpit("import", str(H100 / "healthy_bf16"), "--db", str(history)).returncode == 0
    data = tmp_path / "extra.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    sql = f"SELECT sum(a) AS s FROM read_csv('{data}')"
    refused = cockpit("query", "--db", str(history), sql)
    assert refused.returncode == 2 and "--unsafe-sql" in refused.stderr
    out = cockpit("query", "--db", str(history), "--unsafe-sql", "--format", "json", sql)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"s": 4}]
    # The history still opens read-only: even unsafe SQL does not change it.
    out = cockpit("query", "--db", str(history), "--unsafe-sql", "DELETE FROM metrics")
    assert out.returncode == 2 and _counts(history)[0] > 0


def test_unsafe_sql_is_not_served_live(tmp_path: Path) -> None:
    history = tmp_path / "h.duckdb"
    (tmp_path / "runs").mkdir()
    watch = LiveWatch(tmp_path / "runs", history)
    try:
        out = cockpit("query", "--db", str(history), "--unsafe-sql", "SELECT 1")
        assert out.returncode == 2 and "not served live" in out.stderr, out.stderr
        assert out.stderr.count("\n") == 1
    finally:
        watch.stop()


def test_the_app_console_runs_on_a_connection_without_file_access(tmp_path: Path) -> None:
    """The console shares the owner's connection: even with 'Allow writes' ticked, files
    stay out of reach unless the app's setting opened the history with file access."""
    writer = StoreWriter(tmp_path / "h.duckdb")
    try:
        cur = writer.cursor()
        with pytest.raises(sql_runner.QueryRejected, match="Settings"):
            sql_runner.run(cur, "SELECT * FROM read_text('/etc/hostname')", allow_writes=True)
        with pytest.raises(sql_runner.QueryRejected, match="Allow writes"):
            sql_runner.run(cur, "DELETE FROM runs")
        with pytest.raises(sql_runner.QueryRejected, match="empty"):
            sql_runner.run(cur, "")
        assert sql_runner.run(cur, "SELECT 42 AS x").rows == [(42,)]
        cur.close()
    finally:
        writer.close()
