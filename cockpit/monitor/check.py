"""`cockpit check` and `cockpit import`: import paths, replay every run found through the
detectors (training health from stored points, GPU health from a recording or from a
cluster's Prometheus over the run's logging window), store the alerts the history does not
hold yet and return them with what could not be read.

Orchestration across ingest, store, health and telemetry, so it lives above them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from cockpit.health.config import HealthConfig
from cockpit.health.monitor import HealthMonitor
from cockpit.health.posthoc import StoredRun, not_stored, replay_stored_run, stored_run
from cockpit.model.alert import Alert
from cockpit.model.lifecycle import LifecycleChange
from cockpit.monitor.lifecycle import declared_state
from cockpit.monitor.report import FileProblem
from cockpit.monitor.runlife import LifecycleTracker, Update

if TYPE_CHECKING:
    from cockpit.sources.processes import ProcessSource


def telemetry_alerts(run: StoredRun, replay_dir: Path | None) -> list[Alert]:
    """GPU-telemetry alerts (low_gpu_util, thermal_throttle, memory_pressure from NVML) of a
    run, from the recording in its folder or `replay_dir`: only those evidence ties to the run
    (its process record, or a recorded process whose lifetime matches its logging window)."""
    from cockpit.sources.location import is_remote
    from cockpit.telemetry.posthoc import gpu_alerts_for_run

    if is_remote(run.path):
        return []  # recordings are read from local folders only (docs/remote.md)
    window = ((run.started_at, run.updated_at)
              if run.started_at is not None and run.updated_at is not None else None)
    return gpu_alerts_for_run(Path(run.path), run.name, run.run_id, replay_dir, window=window)


# Telemetry read around a run's logging window: start-up before the first point, the tail after.
WINDOW_MARGIN_S = 120.0


def cluster_alerts(cur: duckdb.DuckDBPyConnection, run: StoredRun, prometheus: str) -> list[Alert]:
    """GPU alerts of a run from the Prometheus at `prometheus`, over its logging window; GPUs
    count when their labels (pod, HPC job) or host tie them to the run. Raises
    TelemetryUnavailable (one sentence) when Prometheus cannot be read."""
    from cockpit.telemetry.attribution import RunRef
    from cockpit.telemetry.posthoc import gpu_alerts_from_history
    from cockpit.telemetry.prometheus import PrometheusSource

    row = cur.execute("SELECT min(ts), max(ts) FROM metrics WHERE run_id = ? AND ts IS NOT NULL",
                      [run.run_id]).fetchone()
    if row is None or row[0] is None:
        return []
    host = cur.execute("SELECT host FROM runs WHERE run_id = ?", [run.run_id]).fetchone()
    ref = RunRef(run.run_id, run.name, Path(run.path), host[0] if host else None)
    source = PrometheusSource.from_env(prometheus)
    return gpu_alerts_from_history(source, ref, float(row[0]) - WINDOW_MARGIN_S,
                                   float(row[1]) + WINDOW_MARGIN_S)


def check_stored_run(cur: duckdb.DuckDBPyConnection, monitor: HealthMonitor, run: StoredRun,
                     now: float | None = None, processes: ProcessSource | None = None
                     ) -> tuple[list[Alert], Update]:
    """Training-health alerts of a stored run, then its lifecycle decided after the fact
    (the same decision `watch` makes live): a process record that saw it hung, an exit
    status, a run that ended in a critical episode, logs that simply end."""
    params = cur.execute("SELECT key, value FROM run_params WHERE run_id = ?", [run.run_id])
    monitor.note_params(run.run_id, run.name, dict(params.fetchall()))
    replay = replay_stored_run(cur, monitor, run.run_id, run.name)
    tracker = LifecycleTracker(monitor, processes,
                               monitor.config.stall_after_s or monitor.config.stall_floor_s)
    tracker.track(run.run_id, run.name, run.path)
    tracker.on_batch(run.run_id, replay.points, replay.last_step, replay.last_ts,
                     _newest_write(cur, run.run_id), replay.events)
    declared = cur.execute("SELECT value FROM run_params WHERE run_id = ? AND key = 'status'",
                           [run.run_id]).fetchone()
    if declared:
        tracker.declare(run.run_id, declared_state(declared[0]), f"MLflow status {declared[0]}")
    update = tracker.settle(now)
    return replay.alerts + update.alerts, update


def _newest_write(cur: duckdb.DuckDBPyConnection, run_id: str) -> float | None:
    """When the run's files were last written (their newest mtime), which bounds the last line
    of a log without timestamps."""
    rows = cur.execute("SELECT path FROM sources WHERE run_id = ? AND format <> 'gpu_recording'",
                       [run_id]).fetchall()
    newest = None
    for (path,) in rows:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return newest


def check_paths(paths: Sequence[Path | str], db_path: Path, config: HealthConfig | None = None,
                replay_dir: Path | None = None, now: float | None = None,
                prometheus: str | None = None, price: float | None = None,
                serve: bool = False) -> CheckResult:
    """Import `paths` into `db_path`, check every run found, store and return the alerts
    (warnings with the GPU time burned since their onset), each run's GPU-hours and what
    could not be read. `prometheus`: a Prometheus URL whose dcgm-exporter history gives the
    GPU alerts. `serve`: answer live reads of the history meanwhile (cockpit.store.live)."""
    from functools import partial

    from cockpit.monitor.engine import import_report
    from cockpit.monitor.gpu_cost import annotate_posthoc, store_gpu_cost
    from cockpit.sources.processes import LocalProcesses
    from cockpit.store.writer import StoreWriter

    processes = LocalProcesses()
    imported = import_report(list(paths), db_path, serve=serve, processes=processes)
    run_ids = imported.run_ids
    result = CheckResult(run_ids=run_ids, problems=imported.problems)
    if not run_ids:
        return result
    writer = StoreWriter(db_path, serve=serve)
    try:
        cur = writer.cursor()
        try:
            for run_id in run_ids:
                run = stored_run(cur, run_id)
                if run is None:
                    continue
                result.runs.append(run)
                alerts, update = check_stored_run(cur, HealthMonitor(config), run, now, processes)
                if prometheus is not None:
                    alerts += cluster_alerts(cur, run, prometheus)
                else:
                    alerts += telemetry_alerts(run, replay_dir)
                result.alerts += alerts
                for change in update.changes:
                    result.changes.append(change)
                    if (change.state, change.reason) != (run.status, run.status_reason):
                        writer.put_lifecycle(change, update.ended.get(change.run_id))
            annotate_posthoc(cur, result.alerts, price)
            new = not_stored(cur, result.alerts)
        finally:
            cur.close()
        writer.put_alerts(new)
        writer.call(partial(store_gpu_cost, run_ids=run_ids))
        writer.flush()
        result.stored = len(new)
    finally:
        writer.close()
    return result


@dataclass(slots=True)
class CheckResult:
    run_ids: list[str]
    runs: list[StoredRun] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    changes: list[LifecycleChange] = field(default_factory=list)  # each run's final state
    problems: list[FileProblem] = field(default_factory=list)  # what could not be read
    stored: int = 0  # alerts the history did not hold before

    @property
    def unreadable(self) -> list[FileProblem]:
        return [p for p in self.problems if p.unreadable]
