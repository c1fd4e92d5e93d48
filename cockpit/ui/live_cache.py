"""The in-memory model the GUI draws from, fed by one background thread reading DuckDB.

Qt-free: a `StorePoller` thread asks the database only for rows newer than the last ones it
saw (rowid watermarks, one read transaction per cycle so every table is seen at the same
instant), appends metric points of the runs on screen to `SeriesBuffer`s and publishes an
immutable `Snapshot` of runs, alerts and GPU state. The GUI's QTimer picks up the newest
snapshot and the buffers' versions; no signal per data point, no query on the GUI thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from cockpit.model.keys import canonical_key
from cockpit.model.roles import watch_name
from cockpit.ui.series import SeriesBuffer

log = logging.getLogger(__name__)

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]

GPU_FIELDS = ("util_gpu", "sm_active", "tensor_active", "mem_used", "power_w", "temp_c")
GPU_WINDOW = 3000  # samples kept per GPU (5 minutes at 10 Hz)
IDLE_POLL_S = 30.0  # with a change token that stands still, still read this often (a safety net)
REST_AFTER = 8  # looks in a row with nothing committed before resting until the next commit
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(slots=True)
class RunInfo:
    run_id: str
    name: str
    path: str
    root: str
    status: str
    started_at: float | None
    updated_at: float | None
    last_step: int | None
    status_reason: str | None = None
    last_loss: float | None = None
    alert_count: int = 0
    worst_severity: str | None = None
    gpus: str = ""
    points: int = 0
    gpu_hours: float | None = None  # from attributed telemetry (cockpit/monitor/gpu_cost.py)
    wasted_gpu_hours: float | None = None


@dataclass(slots=True)
class AlertRow:
    rowid: int
    run_id: str
    run_name: str
    detector: str
    severity: str
    step: int | None
    ts: float | None
    metric: str | None
    message: str
    evidence: dict[str, Any]
    created_at: float | None


@dataclass(slots=True)
class GpuTrace:
    """The recent samples of one GPU, oldest first."""

    host: str
    gpu: int
    ts: np.ndarray
    fields: dict[str, np.ndarray]
    mem_total: float = float("nan")
    power_limit_w: float = float("nan")


@dataclass(slots=True)
class ProcessRow:
    host: str
    gpu: int
    pid: int
    used_mem: float | None
    sm_util: float | None
    run_id: str | None
    run_name: str
    name: str


@dataclass(slots=True)
class Snapshot:
    """Everything but metric points, as of one poll."""

    seq: int = 0
    runs: list[RunInfo] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    gpus: list[GpuTrace] = field(default_factory=list)
    processes: list[ProcessRow] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # canonical keys of the subscribed runs
    ingest_rate: float = 0.0  # points per second, recent
    points_total: int = 0
    db_bytes: int = 0
    error: str | None = None
    polled_at: float = 0.0
    evals: int = 0  # stored evals (the eval panel reloads its list when this moves)


class _GpuRing:
    def __init__(self) -> None:
        self.ts = np.empty(0)
        self.fields = {name: np.empty(0) for name in GPU_FIELDS}
        self.mem_total = float("nan")
        self.power_limit = float("nan")

    def extend(self, ts: np.ndarray, cols: dict[str, np.ndarray]) -> None:
        self.ts = np.concatenate((self.ts, ts))[-GPU_WINDOW:]
        for name in GPU_FIELDS:
            self.fields[name] = np.concatenate((self.fields[name], cols[name]))[-GPU_WINDOW:]


class LiveSeriesCache:
    """Series of the subscribed runs plus the latest snapshot; written by one poller thread."""

    def __init__(self, cursor_factory: CursorFactory, db_path: str | Path | None = None,
                 interval: float = 0.25) -> None:
        self._cursor_factory = cursor_factory
        self.db_path = Path(db_path) if db_path else None
        self.interval = interval
        self.snapshot = Snapshot()
        self._series: dict[tuple[str, str], SeriesBuffer] = {}
        self._series_lock = threading.Lock()
        self._wanted: frozenset[str] = frozenset()
        self._loaded: set[str] = set()
        self._smoothing = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cycles = 0
        self.skipped = 0  # poll turns skipped because nothing was committed since the last
        self.ingest_rate_source: Callable[[], float | None] | None = None
        # Something that changes whenever the history may have changed (the writer's count of
        # transactions): while it stands still the poller reads nothing, so an app at rest
        # costs no queries. None: poll every interval (a database another process writes).
        self.change_token: Callable[[], object] | None = None
        # Called (on the poller thread) after a poll that may have brought something new.
        self.on_snapshot: Callable[[], None] | None = None
        self._resting = False  # the poller waits for `nudge` (set on the poller thread only)
        # poller state (poller thread only)
        self._metrics_wm = -1
        self._alerts_wm = -1
        self._gpu_wm = -1
        self._proc_wm = -1
        self._run_keys: dict[str, dict[str, tuple[float, int]]] = {}  # run -> key -> (last, n)
        self._alerts: list[AlertRow] = []
        self._gpu: dict[tuple[str, int], _GpuRing] = {}
        self._procs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._series_owner: dict[tuple[str, str], str] = {}
        self._roles: dict[tuple[str, str], str] = {}  # (run, key) -> role (series table)
        self._held: set[tuple[str, str]] = set()  # (run, role) some key of the run plays
        self._series_sig: dict[str, str] = {}
        self._rate_points: list[tuple[float, int]] = []
        self._points_total = 0
        self._last_count_check = 0.0
        self._evals = 0
        self._dropped: dict[str, int] = {}  # points of a run not drawn (a losing source)

    # ---- GUI side ----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cockpit-ui-poller", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._cursor_factory = _closed_factory  # drop the backend (and its connections)

    def wake(self) -> None:
        self._wake.set()

    def subscribe(self, run_ids: set[str] | frozenset[str]) -> None:
        """Hold the series of these runs (and drop the others) from the next poll on."""
        self._wanted = frozenset(run_ids)
        self._wake.set()

    @property
    def subscribed(self) -> frozenset[str]:
        return self._wanted

    def set_smoothing(self, weight: float) -> None:
        self._smoothing = min(max(weight, 0.0), 0.999)
        self._wake.set()

    def series(self, run_id: str, key: str) -> SeriesBuffer | None:
        with self._series_lock:
            return self._series.get((run_id, key))

    def series_items(self) -> list[tuple[tuple[str, str], SeriesBuffer]]:
        with self._series_lock:
            return list(self._series.items())

    def loaded(self, run_id: str) -> bool:
        return run_id in self._loaded

    # ---- poller thread -----------------------------------------------------------------
    def _run(self) -> None:
        cur: duckdb.DuckDBPyConnection | None = None
        token: object = None
        last_poll = 0.0
        woken = True
        quiet = 0  # polls in a row that found the change token where it was
        while not self._stop.is_set():
            now = time.monotonic()
            new_token = self.change_token() if self.change_token is not None else None
            changed = woken or new_token is None or new_token != token
            if changed or now - last_poll >= IDLE_POLL_S:
                try:
                    if cur is None:
                        cur = self._cursor_factory()
                    before = self.snapshot
                    self.poll(cur)
                    token, last_poll = new_token, now
                    if not changed and _same_content(before, self.snapshot):
                        self.snapshot = before  # a routine look found nothing: no new frame
                    elif self.on_snapshot is not None:
                        self.on_snapshot()
                except duckdb.Error as err:  # a locked or vanished file: say so and retry
                    self.snapshot = _with_error(self.snapshot, f"database read failed: {err}")
                    cur = None
            else:
                self.skipped += 1
            quiet = quiet + 1 if new_token is not None and new_token == token else 0
            woken = self._rest(token) if quiet >= REST_AFTER else self._wake.wait(self.interval)
            self._wake.clear()
        if cur is not None:
            cur.close()

    def _rest(self, token: object) -> bool:
        """Wait for the writer's next transaction (`nudge`), the GUI or the routine look.

        An app left open on finished runs then wakes a few times a minute instead of four
        times a second; the first commit after the rest is read at once."""
        self._resting = True
        try:
            if self.change_token is not None and self.change_token() != token:
                return True  # committed while we decided to rest
            return self._wake.wait(IDLE_POLL_S)
        finally:
            self._resting = False

    def nudge(self) -> None:
        """The writer finished a transaction: wake the poller if it rests (any thread)."""
        if self._resting:
            self._wake.set()

    def poll(self, cur: duckdb.DuckDBPyConnection) -> Snapshot:
        """One cycle: read what is new, update series and publish a snapshot."""
        cur.execute("BEGIN TRANSACTION")  # one consistent view of every table
        try:
            runs = self._read_runs(cur)
            by_id = {r.run_id: r for r in runs}
            by_name = {r.name: r for r in runs}
            self._read_series_owners(cur)
            new_max = self._read_metric_summaries(cur)
            self._sync_series(cur, new_max)
            self._read_alerts(cur, by_id, by_name)
            self._read_gpu(cur)
            procs = self._read_processes(cur, by_id)
            got = cur.execute("SELECT count(*) FROM evals").fetchone()
            self._evals = int(got[0]) if got else 0
        finally:
            cur.execute("COMMIT")
        snap = self._build_snapshot(runs, procs)
        self.snapshot = snap
        self.cycles += 1
        return snap

    def _read_runs(self, cur: duckdb.DuckDBPyConnection) -> list[RunInfo]:
        rows = cur.execute(
            "SELECT run_id, name, path, root, status, started_at, updated_at, last_step, "
            "status_reason, gpu_hours, wasted_gpu_hours FROM runs ORDER BY root, name"
        ).fetchall()
        return [
            RunInfo(str(r[0]), str(r[1] or r[0]), str(r[2] or ""), str(r[3] or ""),
                    str(r[4] or "unknown"), r[5], r[6], r[7], r[8], gpu_hours=r[9],
                    wasted_gpu_hours=r[10])
            for r in rows
        ]

    def _read_series_owners(self, cur: duckdb.DuckDBPyConnection) -> None:
        rows = cur.execute("SELECT run_id, canonical, source, key, role FROM series").fetchall()
        owners: dict[tuple[str, str], str] = {}
        roles: dict[tuple[str, str], str] = {}
        sigs: dict[str, list[str]] = {}
        for run_id, canonical, source, key, role in rows:
            owners[(run_id, canonical)] = source
            if role is not None:
                roles[(run_id, key)] = role
            sigs.setdefault(run_id, []).append(f"{canonical}={source}:{key}={role}")
        self._roles = roles
        self._held = {(run_id, role) for (run_id, _), role in roles.items()}
        new_sigs = {run_id: ";".join(sorted(parts)) for run_id, parts in sigs.items()}
        for run_id in list(self._loaded):
            if new_sigs.get(run_id, "") != self._series_sig.get(run_id, ""):
                self._loaded.discard(run_id)  # a source took over a series: reload the run
        self._series_owner = owners
        self._series_sig = new_sigs

    def _read_metric_summaries(self, cur: duckdb.DuckDBPyConnection) -> int:
        rows = cur.execute(
            "SELECT run_id, key, arg_max(value, rowid), count(*), max(rowid) FROM metrics "
            "WHERE rowid > ? GROUP BY run_id, key",
            [self._metrics_wm],
        ).fetchall()
        new_max = self._metrics_wm
        added = 0
        for run_id, key, last, n, top in rows:
            keys = self._run_keys.setdefault(run_id, {})
            old = keys.get(key)
            keys[key] = (float(last), (old[1] if old else 0) + int(n))
            added += int(n)
            new_max = max(new_max, int(top))
        now = time.monotonic()
        self._points_total += added
        self._rate_points.append((now, self._points_total))
        self._rate_points = [(t, c) for t, c in self._rate_points if now - t <= 5.0]
        return new_max

    def _sync_series(self, cur: duckdb.DuckDBPyConnection, new_max: int) -> None:
        wanted = self._wanted
        with self._series_lock:
            for key in [k for k in self._series if k[0] not in wanted]:
                del self._series[key]
        self._loaded &= set(wanted)
        self._check_counts(cur)
        weight = self._smoothing
        # Appends for runs already loaded, grouped by series in SQL.
        loaded = sorted(self._loaded)
        if loaded and new_max > self._metrics_wm:
            data = cur.execute(
                "SELECT run_id, key, source, step, ts, value FROM metrics "
                "WHERE rowid > ? AND rowid <= ? AND list_contains(?, run_id) "
                "ORDER BY run_id, key, source, rowid",
                [self._metrics_wm, new_max, loaded],
            ).fetchnumpy()
            self._append_grouped(data)
        # Full loads for runs newly on screen: one numeric fetch per series.
        for run_id in sorted(wanted - self._loaded):
            self._load_run(cur, run_id, new_max)
        self._metrics_wm = new_max
        for _, buffer in self.series_items():
            if buffer.smoothing != weight:
                buffer.set_smoothing(weight)

    def _load_run(self, cur: duckdb.DuckDBPyConnection, run_id: str, upto: int) -> None:
        with self._series_lock:
            for key in [k for k in self._series if k[0] == run_id]:
                del self._series[key]
        self._dropped[run_id] = 0
        parts = cur.execute(
            "SELECT key, source, count(*) FROM metrics WHERE run_id = ? AND rowid <= ? "
            "GROUP BY key, source ORDER BY key, source",
            [run_id, upto],
        ).fetchall()
        for key, source, n in parts:
            if not self._owns(run_id, str(key), source):
                self._dropped[run_id] += int(n)
                continue
            data = cur.execute(
                "SELECT step, ts, value FROM metrics WHERE run_id = ? AND key = ? "
                "AND source IS NOT DISTINCT FROM ? AND rowid <= ? ORDER BY rowid",
                [run_id, key, source, upto],
            ).fetchnumpy()
            self._buffer(run_id, self._chart_name(run_id, str(key))).append(
                _as_float(data["step"]), _as_float(data["ts"]), _as_float(data["value"]))
        self._loaded.add(run_id)

    def _owns(self, run_id: str, key: str, source: Any) -> bool:
        owner = self._series_owner.get((run_id, canonical_key(key)))
        return owner is None or owner == source

    def _chart_name(self, run_id: str, key: str) -> str:
        """The watched series under its role's chart; another series of the same canonical
        name (HF's summary `train_loss` beside `loss`) under its own, never merged."""
        role = self._roles.get((run_id, key))
        canonical = canonical_key(key)
        if role is None and (run_id, canonical) not in self._held:
            return canonical  # no key of the run plays this role: nothing to keep apart
        return watch_name(key, role, canonical)

    def _buffer(self, run_id: str, canonical: str) -> SeriesBuffer:
        with self._series_lock:
            buffer = self._series.get((run_id, canonical))
            if buffer is None:
                buffer = self._series[(run_id, canonical)] = SeriesBuffer()
                buffer.smoothing = self._smoothing
            return buffer

    def _check_counts(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Every few seconds, reload a run whose stored points no longer match (deletes)."""
        now = time.monotonic()
        if now - self._last_count_check < 5.0 or not self._loaded:
            return
        self._last_count_check = now
        rows = cur.execute(
            "SELECT run_id, count(*) FROM metrics WHERE rowid <= ? AND list_contains(?, run_id) "
            "GROUP BY run_id",
            [self._metrics_wm, sorted(self._loaded)],
        ).fetchall()
        stored = {run_id: int(n) for run_id, n in rows}
        held: dict[str, int] = {}
        for (rid, _), buffer in self.series_items():
            held[rid] = held.get(rid, 0) + len(buffer)
        for run_id in list(self._loaded):
            if held.get(run_id, 0) + self._dropped.get(run_id, 0) != stored.get(run_id, 0):
                self._loaded.discard(run_id)

    def _append_grouped(self, data: dict[str, np.ndarray]) -> None:
        """Append rows sorted by (run_id, key, source): one slice per series, no loop per row."""
        n = len(data["value"])
        if n == 0:
            return
        run_ids, keys, sources = data["run_id"], data["key"], data["source"]
        change = np.ones(n, dtype=bool)
        change[1:] = (run_ids[1:] != run_ids[:-1]) | (keys[1:] != keys[:-1]) | (
            sources[1:] != sources[:-1])
        starts = np.flatnonzero(change)
        ends = np.append(starts[1:], n)
        steps, ts, values = (_as_float(data[c]) for c in ("step", "ts", "value"))
        for a, b in zip(starts, ends, strict=True):
            run_id, key, source = str(run_ids[a]), str(keys[a]), sources[a]
            if not self._owns(run_id, key, source):
                self._dropped[run_id] = self._dropped.get(run_id, 0) + int(b - a)
                continue
            self._buffer(run_id, self._chart_name(run_id, key)).append(
                steps[a:b], ts[a:b], values[a:b])

    def _read_alerts(self, cur: duckdb.DuckDBPyConnection, by_id: dict[str, RunInfo],
                     by_name: dict[str, RunInfo]) -> None:
        rows = cur.execute(
            "SELECT rowid, run_id, detector, severity, step, ts, metric, message, evidence, "
            "created_at FROM alerts WHERE rowid > ? ORDER BY rowid",
            [self._alerts_wm],
        ).fetchall()
        for r in rows:
            run = by_id.get(r[1]) or by_name.get(r[1])
            try:
                evidence = json.loads(r[8]) if r[8] else {}
            except ValueError:
                evidence = {"raw": r[8]}
            self._alerts.append(AlertRow(
                int(r[0]), run.run_id if run else str(r[1]), run.name if run else str(r[1]),
                str(r[2]), str(r[3] or "info"), r[4], r[5], r[6], str(r[7] or ""),
                evidence if isinstance(evidence, dict) else {"value": evidence}, r[9]))
            self._alerts_wm = max(self._alerts_wm, int(r[0]))

    def _read_gpu(self, cur: duckdb.DuckDBPyConnection) -> None:
        data = cur.execute(
            "SELECT rowid, ts, coalesce(host, '') AS host, gpu, util_gpu, sm_active, "
            "tensor_active, mem_used, mem_total, power_w, temp_c, power_limit_w FROM gpu_samples "
            "WHERE rowid > ? ORDER BY rowid DESC LIMIT ?",
            [self._gpu_wm, GPU_WINDOW * 16],
        ).fetchnumpy()
        if len(data["ts"]) == 0:
            return
        self._gpu_wm = int(data["rowid"].max())
        order = np.argsort(data["rowid"])
        host = data["host"][order]
        gpu = _as_float(data["gpu"][order])
        ts = _as_float(data["ts"][order])
        cols = {name: _as_float(data[name][order]) for name in GPU_FIELDS}
        mem_total = _as_float(data["mem_total"][order])
        power_limit = _as_float(data["power_limit_w"][order])
        for h in np.unique(host.astype(str)):
            for g in np.unique(gpu[host.astype(str) == h]):
                mask = (host.astype(str) == h) & (gpu == g)
                ring = self._gpu.setdefault((str(h), int(g)), _GpuRing())
                ring.extend(ts[mask], {name: col[mask] for name, col in cols.items()})
                totals = mem_total[mask][np.isfinite(mem_total[mask])]
                if len(totals):
                    ring.mem_total = float(totals[-1])
                limits = power_limit[mask][np.isfinite(power_limit[mask])]
                if len(limits):
                    ring.power_limit = float(limits[-1])

    def _read_processes(self, cur: duckdb.DuckDBPyConnection,
                        by_id: dict[str, RunInfo]) -> list[ProcessRow]:
        rows = cur.execute(
            "SELECT rowid, ts, coalesce(host, ''), gpu, pid, used_mem, sm_util, run_id, name "
            "FROM gpu_processes WHERE rowid > ? ORDER BY rowid",
            [self._proc_wm],
        ).fetchall()
        latest_ts: dict[tuple[str, int], float] = {}
        for r in rows:
            self._proc_wm = max(self._proc_wm, int(r[0]))
            key = (str(r[2]), int(r[3] if r[3] is not None else -1))
            latest_ts[key] = max(latest_ts.get(key, -1e300), float(r[1] or 0))
        for key, ts in latest_ts.items():
            self._procs[key] = [
                {"host": r[2], "gpu": key[1], "pid": r[4], "used_mem": r[5], "sm_util": r[6],
                 "run_id": r[7], "name": r[8]}
                for r in rows
                if (str(r[2]), int(r[3] if r[3] is not None else -1)) == key
                and abs(float(r[1] or 0) - ts) < 0.5
            ]
        out = []
        for key in sorted(self._procs):
            for p in self._procs[key]:
                run = by_id.get(p["run_id"]) if p["run_id"] else None
                out.append(ProcessRow(str(p["host"]), int(p["gpu"]), int(p["pid"] or 0),
                                      p["used_mem"], p["sm_util"], p["run_id"],
                                      run.name if run else (p["run_id"] or ""), str(p["name"] or "")))
        return out

    def _build_snapshot(self, runs: list[RunInfo], procs: list[ProcessRow]) -> Snapshot:
        counts: dict[str, int] = {}
        worst: dict[str, str] = {}
        for a in self._alerts:
            counts[a.run_id] = counts.get(a.run_id, 0) + 1
            if SEVERITY_RANK.get(a.severity, 0) >= SEVERITY_RANK.get(worst.get(a.run_id, ""), -1):
                worst[a.run_id] = a.severity
        gpus_by_run: dict[str, set[str]] = {}
        for p in procs:
            if p.run_id:
                gpus_by_run.setdefault(p.run_id, set()).add(str(p.gpu))
        for run in runs:
            keys = self._run_keys.get(run.run_id, {})
            for key, (last, _) in keys.items():
                if canonical_key(key) == "loss":
                    run.last_loss = last
            run.points = sum(n for _, n in keys.values())
            run.alert_count = counts.get(run.run_id, 0)
            run.worst_severity = worst.get(run.run_id)
            run.gpus = ",".join(sorted(gpus_by_run.get(run.run_id, ())))
        canon: set[str] = set()
        for run_id in self._wanted:
            canon.update(canonical_key(k) for k in self._run_keys.get(run_id, {}))
        gpus = [
            GpuTrace(host, gpu, ring.ts, dict(ring.fields), ring.mem_total, ring.power_limit)
            for (host, gpu), ring in sorted(self._gpu.items())
        ]
        rate = 0.0
        if len(self._rate_points) >= 2:
            (t0, c0), (t1, c1) = self._rate_points[0], self._rate_points[-1]
            rate = (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
        if self.ingest_rate_source is not None:
            external = self.ingest_rate_source()
            if external is not None:
                rate = external
        return Snapshot(
            seq=self.snapshot.seq + 1,
            runs=runs,
            alerts=list(self._alerts),
            gpus=gpus,
            processes=procs,
            keys=sorted(canon, key=_key_order),
            ingest_rate=rate,
            points_total=self._points_total,
            db_bytes=_db_bytes(self.db_path),
            polled_at=time.time(),
            evals=self._evals,
        )


def _closed_factory() -> duckdb.DuckDBPyConnection:
    raise duckdb.ConnectionException("the live cache was stopped")


def _key_order(key: str) -> tuple[int, str]:
    """Loss first, then the usual suspects, then the rest alphabetically."""
    first = ("loss", "val_loss", "grad_norm", "lr", "tokens_per_s", "step_time_ms")
    return (first.index(key), key) if key in first else (len(first), key)


def _as_float(col: Any) -> np.ndarray:
    """DuckDB's numpy columns are masked where NULL; NULL becomes NaN."""
    if isinstance(col, np.ma.MaskedArray):
        return np.ma.filled(col.astype(np.float64), np.nan)
    return np.asarray(col, dtype=np.float64)


def _db_bytes(path: Path | None) -> int:
    if path is None:
        return 0
    total = 0
    for p in (path, Path(str(path) + ".wal")):
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total


def _same_content(a: Snapshot, b: Snapshot) -> bool:
    """Whether two snapshots show the same runs, alerts, series and evals (GPU rows and
    processes only change through writes, which the change token already reports)."""
    return (a.runs, a.alerts, a.keys, a.evals, a.error, a.points_total) == (
        b.runs, b.alerts, b.keys, b.evals, b.error, b.points_total)


def _with_error(snap: Snapshot, message: str) -> Snapshot:
    log.warning("%s", message)
    return Snapshot(snap.seq + 1, snap.runs, snap.alerts, snap.gpus, snap.processes, snap.keys,
                    snap.ingest_rate, snap.points_total, snap.db_bytes, message, time.time(),
                    snap.evals)
