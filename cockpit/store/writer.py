"""The single thread that owns the DuckDB write connection.

Producers (readers, samplers, detectors) put work on a queue; the writer drains whatever
is waiting into one transaction (group commit), so appends are batched and a batch's
points and its file offset are committed together: a crash never loses or repeats a point.
Other threads read through `cursor()`, which sees committed data while ingest runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from cockpit.model.alert import Alert
from cockpit.model.batch import IngestBatch, RunRow, SeriesRow
from cockpit.model.lifecycle import LifecycleChange
from cockpit.model.records import Histogram
from cockpit.store.db import StoreError, connect, storage_failure
from cockpit.store.live import LiveServer

log = logging.getLogger(__name__)

MAX_GROUP_POINTS = 2_000_000  # points per transaction before committing
MAX_GROUP_OPS = 1000  # queued items per transaction (thousands of small files: commit as we go)
# DuckDB keeps every block it wrote cached until memory runs short (its default limit is 80 %
# of RAM), so a live watcher's memory grew with its history (~25 MB per million points). The
# writer trims that cache back to this size every TRIM_EVERY_S seconds by lowering the memory
# limit for a moment; queries read evicted blocks back from the file (the OS caches it).
TABLE_CACHE_BYTES = 4 * 2**20
# Live batches arriving soon after a commit join the next one (see _gather): the wait after
# a commit is COMMIT_COST_RATIO times what that commit took (committing live data then keeps
# the writer busy ~1/30 of the time whatever the sources do), at most what the items waiting
# allow: a local file's points LOCAL_GAP_S (a live tail is queryable within ~0.25 s), a
# remote one's (ssh://, s3://, ..., already a network poll away) REMOTE_GAP_S.
COMMIT_COST_RATIO = 30.0
LOCAL_GAP_S = 0.12
REMOTE_GAP_S = 0.5
_URGENT = frozenset({"flush", "bulk", "stop"})  # items someone waits for: commit now
TRIM_EVERY_S = 5.0


def _may_wait(op: tuple[str, Any]) -> float:
    """How long after the last commit a queued item may wait for company."""
    if op[0] == "ingest" and "://" in op[1].source_path:
        return REMOTE_GAP_S
    return LOCAL_GAP_S


class StoreWriter:
    """Owns the write connection on its own thread. Thread-safe `put_*`; `flush` waits."""

    def __init__(self, db_path: str | Path, serve: bool = False, file_access: bool = False) -> None:
        """`serve`: answer live reads (cockpit.store.live) while this writer owns the history;
        `file_access`: SQL may read and write files (the app's setting; off by default)."""
        self.db_path = Path(db_path)
        self._root = connect(self.db_path, file_access=file_access, trimmable=True)
        self._con = self._root.cursor()
        self._memory_limit = str(self._con.execute(
            "SELECT current_setting('memory_limit')").fetchone()[0])  # type: ignore[index]
        self.server: LiveServer | None = None
        if serve:
            server = LiveServer(self._root.cursor, self.db_path, file_access)
            try:
                server.start()
                self.server = server
            except (OSError, StoreError) as err:  # the history works; only live reads do not
                log.warning("no live reads for %s: %s", self.db_path, err)
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._closed = False
        self.error: Exception | None = None
        self.points_written = 0
        self.transactions = 0  # finished (committed or rolled back): what waits measure
        # Called on the writer thread after each transaction (a reader resting until then).
        self.on_transaction: Callable[[], None] | None = None
        self.last_commit = 0.0
        # Runs whose row exists (inserted by this writer): later batches skip the keyed insert.
        self._known_runs: set[str] = set()
        self._txn_runs: set[str] = set()  # inserted in the open transaction
        self._known_sources: set[str] = set()  # rows of `sources` this writer stored
        self._txn_sources: set[str] = set()
        self._next_trim = time.monotonic() + TRIM_EVERY_S
        self._last_group = 0.0  # when the last group was committed (writer thread)
        self._gap = 0.0  # how long after it the writer gathers before committing again
        self._thread = threading.Thread(target=self._loop, name="cockpit-writer", daemon=True)
        self._thread.start()

    # ---- producer side -------------------------------------------------------------
    def put_ingest(self, batch: IngestBatch) -> None:
        self._queue.put(("ingest", batch))

    def put_run_meta(self, run: RunRow, params: dict[str, Any]) -> None:
        """Register a run with its parameters/tags (MLflow meta, configs)."""
        self._queue.put(("runmeta", (run, params)))

    def put_alerts(self, alerts: Iterable[Alert]) -> None:
        alerts = list(alerts)
        if alerts:
            self._queue.put(("alerts", alerts))

    def put_lifecycle(self, change: LifecycleChange, ended_at: float | None = None) -> None:
        """A run's new lifecycle state: `runs` status, reason, end and host, and one row of
        `run_states` (the run's state history)."""
        self._queue.put(("lifecycle", (change, ended_at)))

    def put_series(self, run_id: str, rows: list[SeriesRow]) -> None:
        """Upsert `series` rows of a run (roles recomputed after an override or a migration)."""
        if rows:
            self._queue.put(("series", (run_id, rows)))

    def put_gpu_samples(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._queue.put(("rows", ("gpu_samples", rows)))

    def put_gpu_processes(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._queue.put(("rows", ("gpu_processes", rows)))

    def put_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Append dict rows to any table (columns by name; missing ones stay NULL)."""
        if rows:
            self._queue.put(("rows", (table, rows)))

    def put_eval(self, eval_row: dict[str, Any], samples: list[dict[str, Any]]) -> None:
        self._queue.put(("eval", (eval_row, samples)))

    def call(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> None:
        """Run `fn(con)` on the writer thread inside its transaction (maintenance jobs)."""
        self._queue.put(("call", fn))

    def bulk(self, batch: IngestBatch, load: Callable[[duckdb.DuckDBPyConnection], bool],
             timeout: float = 3600.0) -> bool:
        """Run `load(con)` (a bulk insert of `batch`'s points) and, if it returns True, store
        `batch` (offset, series, run) in the same transaction of its own. Blocks; False means
        it was rolled back and nothing of it is stored."""
        done = threading.Event()
        outcome: list[bool] = []
        self._queue.put(("bulk", (batch, load, outcome, done)))
        self._wait(done, timeout, "bulk load did not finish")
        return bool(outcome and outcome[0])

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is committed; re-raise a writer failure.

        `timeout` bounds the time without progress, not the whole wait: a long queue (an
        import of thousands of runs) is waited for as long as transactions keep committing.
        """
        done = threading.Event()
        self._queue.put(("flush", done))
        self._wait(done, timeout, "database writer did not commit")
        if self.error is not None:
            raise self.failure() from self.error

    def failure(self) -> Exception:
        """The write failure as one sentence (a full disk, a damaged file) when it is one."""
        err = self.error
        assert err is not None
        return storage_failure(self.db_path, err) or err

    def _wait(self, done: threading.Event, timeout: float, what: str) -> None:
        """Wait for `done` while the writer makes progress; raise after `timeout` seconds in
        which it finished no transaction (stuck) or when its thread is gone."""
        progress = self.transactions
        last = time.monotonic()
        while not done.wait(min(1.0, timeout)):
            now = time.monotonic()
            if self.transactions != progress:
                progress, last = self.transactions, now
            elif now - last >= timeout:
                raise TimeoutError(f"{what}: no transaction finished for {timeout:g} s")
            if not self._thread.is_alive():
                raise RuntimeError(f"{what}: the database writer thread has stopped")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A read connection for the calling thread; sees everything committed."""
        return self._root.cursor()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.server is not None:
            self.server.close()
        self._queue.put(("stop", None))
        self._thread.join(timeout=60)
        self._con.close()
        self._root.close()
        # A closed DuckDB connection still referenced at interpreter exit makes the duckdb
        # extension print a leak report: drop them (using a closed writer is a bug anyway).
        del self._con, self._root

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writer thread -------------------------------------------------------------
    def _gather(self) -> list[tuple[str, Any]]:
        """The next group of queued items, one transaction's worth.

        A transaction costs ~10 ms of DuckDB time whatever it holds (points, the `sources`
        upsert, the `runs` update), and live sources hand over small batches many times a
        second (SSH hosts each on their own beat). For a while after each commit (`_gap`,
        in proportion to what the commit cost) the writer keeps gathering instead of
        committing again; a flush, a bulk load or a stop
        ends the gathering at once, so nothing that waits is held back."""
        ops = [self._queue.get()]
        npoints = len(ops[0][1].points) if ops[0][0] == "ingest" else 0
        allowed = _may_wait(ops[0])
        while (npoints < MAX_GROUP_POINTS and len(ops) < MAX_GROUP_OPS
               and ops[-1][0] not in _URGENT):
            wait = self._last_group + min(self._gap, allowed) - time.monotonic()
            try:
                op = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            ops.append(op)
            allowed = min(allowed, _may_wait(op))
            if op[0] == "ingest":
                npoints += len(op[1].points)
        return ops

    def _loop(self) -> None:
        while True:
            ops = self._gather()
            stop = any(kind == "stop" for kind, _ in ops)
            work: list[tuple[str, Any]] = []
            for op in ops:
                if op[0] == "bulk":  # its own transaction, after what was queued before it
                    self._apply_guarded(work)
                    work = []
                    self._apply_bulk(*op[1])
                elif op[0] not in ("flush", "stop"):
                    work.append(op)
            began = time.monotonic()
            self._apply_guarded(work)
            self._last_group = time.monotonic()
            if work:
                self._gap = COMMIT_COST_RATIO * (self._last_group - began)
            for kind, payload in ops:
                if kind == "flush":
                    payload.set()
            if stop:
                return
            if time.monotonic() >= self._next_trim:
                self._next_trim = time.monotonic() + TRIM_EVERY_S
                _trim_table_cache(self._con, self._memory_limit)

    def _apply_guarded(self, work: list[tuple[str, Any]]) -> None:
        if not work:
            return
        try:
            self._apply(work)
        except Exception as err:  # keep serving flushes; report the failure there
            log.debug("database write failed", exc_info=True)
            self.error = err
        finally:
            self._finished()

    def _apply_bulk(self, batch: IngestBatch, load: Callable[[duckdb.DuckDBPyConnection], bool],
                    outcome: list[bool], done: threading.Event) -> None:
        con = self._con
        ok = False
        try:
            con.execute("BEGIN TRANSACTION")
            ok = load(con)
            if ok:
                self._write_ingest(con, [batch])
                con.execute(
                    """UPDATE runs SET
                         started_at = coalesce(least(started_at, s.t0), s.t0),
                         updated_at = coalesce(greatest(updated_at, s.t1), s.t1),
                         last_step = coalesce(greatest(last_step, s.last), s.last)
                       FROM (SELECT min(ts) t0, max(ts) t1, max(step) last FROM metrics
                             WHERE run_id = ? AND source = ?) s
                       WHERE runs.run_id = ?""",
                    [batch.run.run_id, batch.source, batch.run.run_id])
                con.execute("COMMIT")
                self._committed()
            else:
                con.execute("ROLLBACK")
        except duckdb.Error as err:
            log.info("bulk load of %s fell back to streaming", batch.source_path, exc_info=True)
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            ok = False
            if storage_failure(self.db_path, err) is not None:
                self.error = err  # not the file's fault: the next flush says so
        finally:
            self._txn_runs.clear()
            self._txn_sources.clear()
            self._finished()
            outcome.append(ok)
            done.set()

    def _apply(self, ops: list[tuple[str, Any]]) -> None:
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            ingest = [payload for kind, payload in ops if kind == "ingest"]
            if ingest:
                self._write_ingest(con, ingest)
            for kind, payload in ops:
                if kind == "alerts":
                    _write_alerts(con, payload)
                elif kind == "lifecycle":
                    _write_lifecycle(con, *payload)
                elif kind == "rows":
                    _write_rows(con, *payload)
                elif kind == "runmeta":
                    _write_run_meta(con, *payload)
                elif kind == "series":
                    _write_series(con, *payload)
                elif kind == "eval":
                    _write_eval(con, *payload)
                elif kind == "call":
                    payload(con)
            con.execute("COMMIT")
        except Exception:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
                con.execute("ROLLBACK")
            self._txn_runs.clear()
            self._txn_sources.clear()
            raise
        self._committed()

    def _finished(self) -> None:
        self.transactions += 1
        hook = self.on_transaction
        if hook is not None:
            hook()

    def _committed(self) -> None:
        self._known_runs |= self._txn_runs
        self._known_sources |= self._txn_sources
        self._txn_runs.clear()
        self._txn_sources.clear()
        self.last_commit = time.time()

    def _write_ingest(self, con: duckdb.DuckDBPyConnection, batches: list[IngestBatch]) -> None:
        """Store batches in order; a batch that starts a new generation of its file splits
        the group, so its deletion or relabelling lands between the points before and after."""
        start = 0
        for i, b in enumerate(batches):
            if (b.replace_source or b.relabel_from is not None) and i > start:
                self._write_segment(con, batches[start:i])
                start = i
        self._write_segment(con, batches[start:])

    def _write_segment(self, con: duckdb.DuckDBPyConnection, batches: list[IngestBatch]) -> None:
        """A fixed number of statements however many files and runs the segment holds (rare
        ones aside: new series, deletions, params): DuckDB spends ~1 ms on each statement (more
        on a keyed upsert), so a statement per file per poll made a live watch's cost grow
        with its runs and its history."""
        for b in batches:
            run = b.run
            if not (len(b.points) or b.events):  # a file with no readable point makes no run
                continue
            if run.run_id not in self._known_runs and run.run_id not in self._txn_runs:
                con.execute(
                    "INSERT INTO runs (run_id, name, path, root, status, host) "
                    "VALUES (?, ?, ?, ?, 'running', ?) ON CONFLICT (run_id) DO NOTHING",
                    [run.run_id, run.name, run.path, run.root, run.host],
                )
                self._txn_runs.add(run.run_id)
        regenerated: set[str] = set()
        for b in batches:
            if b.relabel_from is not None:  # the rotated file keeps its points and series
                for table in _SOURCED:
                    con.execute(f"UPDATE {table} SET source = ? WHERE run_id = ? AND source = ?",
                                [b.source, b.run.run_id, b.relabel_from])
                con.execute(
                    "INSERT OR REPLACE INTO series SELECT run_id, canonical, key, ?, format, role, "
                    "role_rule FROM series WHERE run_id = ? AND source = ?",
                    [b.source, b.run.run_id, b.relabel_from])
            if b.replace_source:  # the batch's own series rows are written below
                for table in (*_SOURCED, "series"):
                    con.execute(f"DELETE FROM {table} WHERE run_id = ? AND source = ?",
                                [b.run.run_id, b.source])
                regenerated.add(b.run.run_id)
        for b in batches:
            for key, sources in b.deletes:
                for table in ("metrics", "series"):
                    con.execute(
                        f"DELETE FROM {table} WHERE run_id = ? AND key = ? "
                        "AND list_contains(?, source)",
                        [b.run.run_id, key, sources],
                    )
            _write_series(con, b.run.run_id, b.series)
        summary = self._insert_points(con, [b for b in batches if len(b.points)])
        for b in batches:
            rid = b.run.run_id
            if b.histograms:
                _write_histograms(con, rid, b.source, b.histograms)
            if b.events:
                _write_rows(con, "run_events", [
                    {"run_id": rid, "ts": e.ts, "step": e.step, "kind": e.kind,
                     "message": e.message, "source": b.source} for e in b.events])
            for k, v in b.params.items():
                con.execute("INSERT OR REPLACE INTO run_params VALUES (?, ?, ?, ?)",
                            [rid, str(k), _param_text(v), b.source])
        self._txn_sources |= _upsert_sources(con, batches, self._known_sources)
        for run_id in regenerated:  # the run's extent as its points say now
            con.execute(
                """UPDATE runs SET started_at = s.t0, updated_at = coalesce(s.t1, updated_at),
                     last_step = s.last
                   FROM (SELECT min(ts) t0, max(ts) t1, max(step) last FROM metrics
                         WHERE run_id = ?) s WHERE runs.run_id = ?""", [run_id, run_id])
            summary.pop(run_id, None)
        arrived: dict[str, float] = {}
        for b in batches:
            if b.arrived_at is not None:
                arrived[b.run.run_id] = max(arrived.get(b.run.run_id, b.arrived_at), b.arrived_at)
        spans = {run_id: (t0, arrived.get(run_id, t1) if t1 != t1 else t1, last)
                 for run_id, (t0, t1, last) in summary.items()}  # no log time: when it grew
        if spans:
            _update_run_spans(con, spans)

    def _insert_points(self, con: duckdb.DuckDBPyConnection, batches: list[IngestBatch]
                       ) -> dict[str, tuple[float, float, float]]:
        """Append every batch's points in one statement; returns per run (min ts, max ts, max step).

        Only numeric numpy columns cross into DuckDB (zero-copy scans); the strings (run,
        key, source) travel once per series through a small code table joined on insert.
        """
        codes: list[np.ndarray] = []
        steps: list[np.ndarray] = []
        tss: list[np.ndarray] = []
        values: list[np.ndarray] = []
        dims: dict[tuple[str, str, str], int] = {}
        for b in batches:
            p = b.points
            parts: list[tuple[Any, Any, Any, Any]] = list(p.blocks)
            if p.values:
                parts.append((p.keys, p.steps, p.ts, p.values))
            for key, bsteps, bts, bvalues in parts:
                m = len(bvalues)
                if isinstance(key, str):
                    series_code = dims.setdefault((b.run.run_id, key, b.source), len(dims))
                    codes.append(np.full(m, series_code, dtype=np.int32))
                else:  # a column of keys (text logs and other row-wise readers)
                    codes.append(np.fromiter(
                        (dims.setdefault((b.run.run_id, k, b.source), len(dims)) for k in key),
                        dtype=np.int32, count=m))
                # None becomes NaN here and NULL in DuckDB; NaN *values* are restored below.
                steps.append(np.asarray(bsteps, dtype=np.float64))
                tss.append(np.asarray(bts, dtype=np.float64))
                values.append(np.asarray(bvalues, dtype=np.float64))
        if not codes:
            return {}
        code = np.concatenate(codes)
        step = np.concatenate(steps)
        with np.errstate(invalid="ignore"):
            step[~(np.abs(step) < 2.0**63)] = np.nan  # no BIGINT holds it: stored as no step
        ts = np.concatenate(tss)
        frame = {"code": code, "step": step, "ts": ts, "value": np.concatenate(values)}
        names = list(dims)
        table = {
            "code": np.arange(len(names), dtype=np.int32),
            "run_id": np.array([d[0] for d in names], dtype=object),
            "key": np.array([d[1] for d in names], dtype=object),
            "source": np.array([d[2] for d in names], dtype=object),
        }
        con.register("points_frame", frame)
        con.register("points_dims", table)
        try:
            con.execute(
                "INSERT INTO metrics SELECT d.run_id, d.key, CAST(f.step AS BIGINT), f.ts, "
                "coalesce(f.value, 'NaN'::DOUBLE), d.source "
                "FROM points_frame f JOIN points_dims d ON f.code = d.code"
            )
        finally:
            con.unregister("points_frame")
            con.unregister("points_dims")
        self.points_written += len(code)
        return _spans(names, code, ts, step)


# Tables whose rows say which file of the run they came from (`source`).
_SOURCED = ("metrics", "run_events", "histograms", "run_params")


def _trim_table_cache(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """Evict cached table blocks beyond TABLE_CACHE_BYTES (they are read back from the file
    when a query needs them): set a lower memory limit, which evicts, then `limit` again (the
    one read at start: DuckDB prints limits rounded down, so restoring what it prints would
    lower the limit by 0.1 GiB at every trim)."""
    try:
        row = con.execute(
            "SELECT sum(memory_usage_bytes) FILTER (WHERE tag = 'BASE_TABLE'), "
            "sum(memory_usage_bytes) FROM duckdb_memory()"
        ).fetchall()[0]
    except duckdb.Error:
        log.debug("table cache size unknown", exc_info=True)
        return
    if row[0] is None or row[0] <= TABLE_CACHE_BYTES:
        return
    cached, total = int(row[0]), int(row[1])
    target = max(total - (cached - TABLE_CACHE_BYTES), 2 * TABLE_CACHE_BYTES)
    try:
        con.execute(f"SET memory_limit = '{target // 2**20}MB'")
    except duckdb.Error:  # busy readers pinned too much: try again next time
        log.debug("table cache trim skipped", exc_info=True)
    finally:
        with contextlib.suppress(duckdb.Error):  # never leave the lowered limit behind
            con.execute(f"SET memory_limit = '{limit}'")


def _spans(names: list[tuple[str, str, str]], code: np.ndarray, ts: np.ndarray,
           step: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """Per run of the inserted points: (min ts, max ts, max step), NaN where none is known."""
    run_ids = list(dict.fromkeys(d[0] for d in names))
    index = {r: i for i, r in enumerate(run_ids)}
    run_of = np.array([index[d[0]] for d in names], dtype=np.intp)[code]
    n = len(run_ids)
    t0 = np.full(n, np.nan)
    t1 = np.full(n, np.nan)
    last = np.full(n, np.nan)
    np.fmin.at(t0, run_of, ts)  # fmin/fmax skip NaN (a point with no time or no step)
    np.fmax.at(t1, run_of, ts)
    np.fmax.at(last, run_of, step)
    return {r: (float(t0[i]), float(t1[i]), float(last[i])) for i, r in enumerate(run_ids)}


def _upsert_sources(con: duckdb.DuckDBPyConnection, batches: list[IngestBatch],
                    known: set[str]) -> set[str]:
    """Every file's newest offset and reader state, in one statement per kind: an UPDATE in
    place for files stored before (`known`), an insert for new ones (the last batch of a file
    in the group wins). A keyed upsert per poll churned DuckDB's index and memory. Returns the
    paths inserted."""
    latest = {b.source_path: b for b in batches}
    now = time.time()
    rows = [{"path": b.source_path, "run_id": b.run.run_id, "format": b.format, "dev": b.dev,
             "inode": b.inode, "offset": b.offset, "head_sig": b.head_sig,
             "reader_state": json.dumps(b.reader_state or {}), "updated_at": now,
             "tail_sig": b.tail_sig, "bad_records": b.bad_records, "first_bad": b.first_bad,
             "skipped": json.dumps(b.skipped) if b.skipped else None}
            for b in latest.values()]
    old = [r for r in rows if r["path"] in known]
    new = [r for r in rows if r["path"] not in known]
    if old:
        frame = {c: np.array([r[c] for r in old], dtype=object) for c in old[0]}
        con.register("source_rows", frame)
        try:
            got = con.execute(
                'UPDATE sources SET run_id = s.run_id, format = s.format, dev = s.dev::BIGINT, '
                'inode = s.inode::BIGINT, "offset" = s."offset"::BIGINT, head_sig = s.head_sig, '
                "reader_state = s.reader_state, updated_at = s.updated_at::DOUBLE, "
                "tail_sig = s.tail_sig, bad_records = s.bad_records::BIGINT, "
                "first_bad = s.first_bad::VARCHAR, skipped = s.skipped::VARCHAR "
                "FROM source_rows s WHERE sources.path = s.path").fetchall()
        finally:
            con.unregister("source_rows")
        if not got or got[0][0] != len(old):  # a row was removed meanwhile: store them all
            new = new + old
    if new:
        _write_rows(con, "sources", new, replace=True)
    return {str(r["path"]) for r in new}


def _update_run_spans(con: duckdb.DuckDBPyConnection,
                      summary: dict[str, tuple[float, float, float]]) -> None:
    frame = {
        "run_id": np.array(list(summary), dtype=object),
        "t0": np.array([_none(v[0]) for v in summary.values()], dtype=object),
        "t1": np.array([_none(v[1]) for v in summary.values()], dtype=object),
        "last": np.array([_none_int(v[2]) for v in summary.values()], dtype=object),
    }
    con.register("run_spans", frame)
    try:
        con.execute(
            """UPDATE runs SET
                 started_at = coalesce(least(runs.started_at, s.t0::DOUBLE), s.t0::DOUBLE),
                 updated_at = coalesce(greatest(runs.updated_at, s.t1::DOUBLE), s.t1::DOUBLE),
                 last_step = coalesce(greatest(runs.last_step, s.last::BIGINT), s.last::BIGINT)
               FROM run_spans s WHERE runs.run_id = s.run_id""")
    finally:
        con.unregister("run_spans")


def _none(x: float) -> float | None:
    return None if x != x else x


def _none_int(x: float) -> int | None:
    return None if x != x else int(x)


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _write_histograms(con: duckdb.DuckDBPyConnection, run_id: str, source: str,
                      histograms: list[Histogram]) -> None:
    """Columnar append; the bucket lists cross as JSON text cast to DOUBLE[] (numpy object
    columns of lists do not cross, and a row at a time costs ~1 ms in DuckDB)."""
    rows = [{"run_id": run_id, "key": h.key, "step": h.step, "ts": h.ts, "min": h.min,
             "max": h.max, "num": h.num, "sum": h.sum, "sum_squares": h.sum_squares,
             "bucket_limits": json.dumps(h.bucket_limits), "bucket_counts": json.dumps(h.bucket_counts),
             "source": source} for h in histograms]
    frame = {c: np.array([row[c] for row in rows], dtype=object) for c in rows[0]}
    con.register("rows_histograms", frame)
    try:
        con.execute(
            "INSERT INTO histograms (run_id, key, step, ts, min, max, num, sum, sum_squares, "
            "bucket_limits, bucket_counts, source) SELECT run_id, key, step, ts, min, max, num, "
            "sum, sum_squares, CAST(bucket_limits AS DOUBLE[]), CAST(bucket_counts AS DOUBLE[]), "
            "source FROM rows_histograms")
    finally:
        con.unregister("rows_histograms")


def _write_series(con: duckdb.DuckDBPyConnection, run_id: str, rows: list[SeriesRow]) -> None:
    for r in rows:
        con.execute(
            "INSERT OR REPLACE INTO series (run_id, canonical, key, source, format, role, "
            "role_rule) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, r.canonical, r.key, r.source, r.format, r.role, r.role_rule],
        )


def _write_alerts(con: duckdb.DuckDBPyConnection, alerts: list[Alert]) -> None:
    now = time.time()
    rows = [
        {"run_id": a.run_id or a.run, "detector": a.detector, "severity": a.severity,
         "step": a.step, "ts": a.ts, "metric": a.metric, "message": a.message,
         "evidence": json.dumps(a.to_json()["evidence"]), "created_at": now}
        for a in alerts
    ]
    _write_rows(con, "alerts", rows)


def _write_run_meta(con: duckdb.DuckDBPyConnection, run: RunRow, params: dict[str, Any]) -> None:
    con.execute(
        "INSERT INTO runs (run_id, name, path, root, status, host) "
        "VALUES (?, ?, ?, ?, 'unknown', ?) ON CONFLICT (run_id) DO NOTHING",
        [run.run_id, run.name, run.path, run.root, run.host],
    )
    for k, v in params.items():
        con.execute("INSERT OR REPLACE INTO run_params VALUES (?, ?, ?, ?)",
                    [run.run_id, str(k), _param_text(v), "meta"])


def _write_lifecycle(con: duckdb.DuckDBPyConnection, change: LifecycleChange,
                     ended_at: float | None) -> None:
    con.execute(
        "UPDATE runs SET status = ?, status_reason = ?, ended_at = ?, host = coalesce(?, host) "
        "WHERE run_id = ?", [change.state, change.reason, ended_at, change.host, change.run_id])
    _write_rows(con, "run_states", [{
        "run_id": change.run_id, "ts": change.ts, "state": change.state,
        "previous": change.previous, "reason": change.reason,
        "evidence": json.dumps(change.to_json()["evidence"], default=str)}])


def _write_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]],
                replace: bool = False) -> None:
    """Columnar append of dict rows (executemany costs ~1 ms a row in DuckDB); `replace`:
    rows whose key exists replace it."""
    columns = sorted({c for row in rows for c in row})
    frame = {c: np.array([row.get(c) for row in rows], dtype=object) for c in columns}
    name = f"rows_{table}"
    con.register(name, frame)
    try:
        cols = ", ".join(f'"{c}"' for c in columns)
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        con.execute(f"{verb} INTO {table} ({cols}) SELECT {cols} FROM {name}")
    finally:
        con.unregister(name)


def _write_eval(con: duckdb.DuckDBPyConnection, eval_row: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    eval_id = eval_row["eval_id"]
    con.execute("DELETE FROM eval_samples WHERE eval_id = ?", [eval_id])
    con.execute("DELETE FROM evals WHERE eval_id = ?", [eval_id])
    _write_rows(con, "evals", [eval_row])
    if samples:
        rows = [dict(s, eval_id=eval_id) for s in samples]
        for row in rows:
            if isinstance(row.get("metadata"), dict):
                row["metadata"] = json.dumps(row["metadata"], default=str)
        _write_rows(con, "eval_samples", rows)
