"""`cockpit check` and `cockpit import`: import paths, replay every run found through the
detectors (training health from stored points, GPU health from a recording or from a
cluster's Prometheus over the run's logging window), store the alerts the history does not
hold yet and return them with what could not be read.

Orchestration across ingest, store, health and telemetry, so it lives above them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cockpit.health.config import HealthConfig
from cockpit.health.monitor import HealthMonitor
from cockpit.health.posthoc import StoredRun, check_stored_run, not_stored, stored_run
from cockpit.model.alert import Alert
from cockpit.monitor.report import FileProblem


def telemetry_alerts(run: StoredRun, replay_dir: Path | None) -> list[Alert]:
    """GPU-telemetry alerts (low_gpu_util, thermal_throttle, memory_pressure from NVML) of a
    run, from the recording in its folder or `replay_dir`."""
    from cockpit.sources.location import is_remote
    from cockpit.telemetry.posthoc import gpu_alerts_for_run

    if is_remote(run.path):
        return []  # recordings are read from local folders only (docs/remote.md)
    alerts: list[Alert] = gpu_alerts_for_run(Path(run.path), run.name, run.run_id, replay_dir)
    for alert in alerts:
        alert.run_id = alert.run_id or run.run_id
    return alerts


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


def check_paths(paths: Sequence[Path | str], db_path: Path, config: HealthConfig | None = None,
                replay_dir: Path | None = None, now: float | None = None,
                prometheus: str | None = None, serve: bool = False) -> CheckResult:
    """Import `paths` into `db_path`, check every run found, store and return the alerts.
    `prometheus`: a Prometheus URL whose dcgm-exporter history gives the GPU alerts.
    `serve`: answer live reads of the history meanwhile (cockpit.store.live)."""
    from cockpit.monitor.engine import import_report
    from cockpit.store.writer import StoreWriter

    imported = import_report(list(paths), db_path, serve=serve)
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
                alerts = check_stored_run(cur, HealthMonitor(config), run, now)
                if prometheus is not None:
                    alerts += cluster_alerts(cur, run, prometheus)
                else:
                    alerts += telemetry_alerts(run, replay_dir)
                result.alerts += alerts
            new = not_stored(cur, result.alerts)
        finally:
            cur.close()
        writer.put_alerts(new)
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
    problems: list[FileProblem] = field(default_factory=list)  # what could not be read
    stored: int = 0  # alerts the history did not hold before

    @property
    def unreadable(self) -> list[FileProblem]:
        return [p for p in self.problems if p.unreadable]
