import subprocess
import sys
import textwrap
import threading

import duckdb
import pytest

import cockpit.store.writer as writer_mod
from cockpit.model.alert import Alert
from cockpit.model.batch import IngestBatch, RunRow
from cockpit.model.records import PointBuffer
from cockpit.store.db import StoreError, connect, migrate, schema_version
from cockpit.store.schema import MIGRATIONS, SCHEMA_VERSION
from cockpit.store.writer import StoreWriter


def batch(run_id: str, n: int, start: int = 0, offset: int = 0) -> IngestBatch:
    pts = PointBuffer()
    for i in range(start, start + n):
        pts.add("loss", i, 1000.0 + i, 1.0 / (i + 1))
    pts.add("loss", start + n, None, float("nan"))
    return IngestBatch(RunRow(run_id, "r", "/r", "/"), "m.jsonl", f"/r/{run_id}.jsonl", "jsonl",
                       pts, offset=offset)


def test_fresh_database_has_every_spec_table(db):
    con = connect(db)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"runs", "metrics", "alerts", "gpu_samples", "gpu_processes", "evals", "eval_samples",
            "triage_labels"} <= tables
    assert schema_version(con) == SCHEMA_VERSION
    cols = {r[0] for r in con.execute("DESCRIBE metrics").fetchall()}
    assert cols >= {"run_id", "key", "step", "ts", "value", "source"}
    con.close()


def test_migration_from_v1_keeps_data(db):
    con = duckdb.connect(str(db))
    migrate(con, db, upto=1)
    con.execute("INSERT INTO runs (run_id, name) VALUES ('a', 'old run')")
    con.execute("INSERT INTO metrics VALUES ('a', 'loss', 1, 1.0, 'NaN'::DOUBLE, 'm.jsonl')")
    con.close()
    con = connect(db)  # migrates to the newest version
    assert schema_version(con) == SCHEMA_VERSION == len(MIGRATIONS)
    assert con.execute("SELECT name FROM runs").fetchall() == [("old run",)]
    assert con.execute("SELECT isnan(value) FROM metrics").fetchall() == [(True,)]
    con.close()


def test_newer_schema_is_refused_with_a_clear_message(db):
    con = connect(db)
    con.execute("UPDATE schema_version SET version = 999")
    con.close()
    with pytest.raises(StoreError, match="newer Cockpit"):
        connect(db)


def test_writer_batches_keep_nan_null_steps_and_commit_offsets(db):
    with StoreWriter(db) as w:
        w.put_ingest(batch("a", 100, offset=123))
        w.put_alerts([Alert("r", "nan", "critical", 100, None, "loss", "NaN", {"v": float("nan")}, "a")])
        w.flush()
        cur = w.cursor()
        assert cur.execute("SELECT count(*), count(*) FILTER (WHERE isnan(value)) FROM metrics").fetchone() == (101, 1)
        assert cur.execute("SELECT count(*) FROM metrics WHERE ts IS NULL").fetchone() == (1,)
        assert cur.execute('SELECT "offset" FROM sources').fetchone() == (123,)
        assert cur.execute("SELECT last_step, started_at FROM runs").fetchone() == (100, 1000.0)
        assert cur.execute("SELECT evidence FROM alerts").fetchone() == ('{"v": "nan"}',)


def test_readers_see_committed_data_while_ingest_runs(db):
    with StoreWriter(db) as w:
        seen: list[int] = []
        done = threading.Event()

        def read() -> None:
            cur = w.cursor()
            while not done.is_set():
                seen.append(cur.execute("SELECT count(*) FROM metrics").fetchone()[0])

        reader = threading.Thread(target=read)
        reader.start()
        for i in range(20):
            w.put_ingest(batch("a", 1000, start=i * 2000))
            w.flush()
        done.set()
        reader.join()
        assert seen == sorted(seen)  # counts only grow: readers never see half a batch
        assert all(n % 1001 == 0 for n in seen)
        assert w.cursor().execute("SELECT count(*) FROM metrics").fetchone() == (20 * 1001,)


def test_database_in_use_by_another_process_gives_one_clear_sentence(db):
    connect(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys
            con = duckdb.connect({str(db)!r})
            print("locked", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError) as err:
            connect(db)
        assert "in use by another process" in str(err.value) and str(db) in str(err.value)
        with pytest.raises(StoreError):
            connect(db, read_only=True)
        out = subprocess.run([sys.executable, "-m", "cockpit", "runs", "--db", str(db)],
                             capture_output=True, text=True)
        assert out.returncode == 2
        assert out.stderr.count("\n") == 1 and "in use by another process" in out.stderr
        assert "Traceback" not in out.stderr
    finally:
        holder.communicate("")


def test_live_batches_after_a_commit_share_the_next_one_and_a_flush_is_never_held(
        db, monkeypatch):
    """Small live batches arriving soon after a commit are gathered into one transaction
    (each costs ~10 ms of DuckDB time whatever it holds); a flush ends the gathering."""
    monkeypatch.setattr(writer_mod, "LOCAL_GAP_S", 3600.0)  # gather for as long as allowed
    monkeypatch.setattr(writer_mod, "COMMIT_COST_RATIO", 1e9)
    with StoreWriter(db) as w:
        w.put_ingest(batch("a", 10))
        w.flush()  # a first commit: the gap after it now lasts for the rest of the test
        first = w.transactions
        for i in range(1, 11):
            w.put_ingest(batch(f"r{i}", 10))
            threading.Event().wait(0.05)  # a writer committing at once would commit each
        w.flush()  # not held for the hour the batches may wait: a flush is urgent
        assert w.transactions == first + 1  # ten batches, one transaction
        assert w.cursor().execute("SELECT count(DISTINCT run_id) FROM metrics").fetchone() == (11,)


def test_remote_batches_may_wait_longer_than_local_ones() -> None:
    local = ("ingest", batch("a", 1))
    remote = ("ingest", IngestBatch(RunRow("b", "r", "ssh://gpu1/r", "/"), "m.jsonl",
                                    "ssh://gpu1/r/m.jsonl", "jsonl", PointBuffer()))
    assert writer_mod._may_wait(local) == writer_mod.LOCAL_GAP_S
    assert writer_mod._may_wait(remote) == writer_mod.REMOTE_GAP_S > writer_mod.LOCAL_GAP_S
    assert writer_mod._may_wait(("alerts", [])) == writer_mod.LOCAL_GAP_S


def _base_table_bytes(cur: duckdb.DuckDBPyConnection) -> int:
    return cur.execute("SELECT memory_usage_bytes FROM duckdb_memory() "
                       "WHERE tag = 'BASE_TABLE'").fetchone()[0]


def test_writer_trims_its_table_cache_and_restores_the_memory_limit(db):
    """The writer's own configuration must let it lower its memory limit (a locked one made
    the trim a silent no-op: a 30-minute soak grew +57 MB instead of +26)."""
    with StoreWriter(db) as w:
        for i in range(4):
            w.put_ingest(batch(f"r{i}", 400_000))
        w.flush()
        cur = w.cursor()
        cur.execute("CHECKPOINT")
        cur.execute("SELECT sum(value) FROM metrics").fetchall()  # reads every block back
        limit = cur.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert _base_table_bytes(cur) > 4 * writer_mod.TABLE_CACHE_BYTES
        w._next_trim = 0.0
        w.put_ingest(batch("late", 10))
        w.flush()
        w.flush()  # the loop trims right after the group that the first flush ended
        assert _base_table_bytes(cur) <= 2 * writer_mod.TABLE_CACHE_BYTES
        after = cur.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        cur.execute("SELECT sum(value) FROM metrics").fetchall()
        w._next_trim = 0.0
        w.put_ingest(batch("later", 10))
        w.flush()
        w.flush()
        assert _base_table_bytes(cur) <= 2 * writer_mod.TABLE_CACHE_BYTES
        # restored, and no lower after a second trim (no creeping down by DuckDB's rounding)
        assert cur.execute("SELECT current_setting('memory_limit')").fetchone()[0] == after
        assert float(after.split()[0]) >= float(limit.split()[0]) - 0.1
        assert cur.execute("SELECT count(*) FROM metrics").fetchone() == (4 * 400_001 + 22,)


@pytest.mark.parametrize("sql", [
    "SET enable_external_access = true", "SELECT * FROM read_text('/etc/hostname')",
    "COPY metrics TO 'out.csv'", "SELECT * FROM glob('/*')", "SET allowed_directories = ['/']",
    "LOAD httpfs",
])
def test_the_writers_instance_keeps_files_and_extensions_out_of_reach(db, sql):
    """Even below cockpit.store.sql's checks, the writer's instance (whose configuration is
    not locked, so it can trim) refuses what reaches outside the history."""
    with StoreWriter(db) as w, pytest.raises(duckdb.Error):
        w.cursor().execute(sql)
