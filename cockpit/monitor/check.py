"""`cockpit check`: import paths, replay every run found through the detectors (training
health from stored points, GPU health from a recording), store and return the alerts.

Orchestration across ingest, store, health and telemetry, so it lives above them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cockpit.health.config import HealthConfig
from cockpit.health.monitor import HealthMonitor
from cockpit.health.posthoc import StoredRun, check_stored_run, stored_run
from cockpit.model.alert import Alert


def telemetry_alerts(run: StoredRun, replay_dir: Path | None) -> list[Alert]:
    """GPU-telemetry alerts (low_gpu_util, thermal_throttle, memory_pressure from NVML) of a
    run, from the recording in its folder or `replay_dir`."""
    from cockpit.telemetry.posthoc import gpu_alerts_for_run

    alerts: list[Alert] = gpu_alerts_for_run(Path(run.path), run.name, run.run_id, replay_dir)
    for alert in alerts:
        alert.run_id = alert.run_id or run.run_id
    return alerts


def check_paths(paths: list[Path], db_path: Path, config: HealthConfig | None = None,
                replay_dir: Path | None = None, now: float | None = None) -> CheckResult:
    """Import `paths` into `db_path`, check every run found, store and return the alerts."""
    from cockpit.monitor.engine import import_paths
    from cockpit.store.writer import StoreWriter

    run_ids = import_paths(list(paths), db_path)
    result = CheckResult(run_ids=run_ids)
    if not run_ids:
        return result
    writer = StoreWriter(db_path)
    try:
        cur = writer.cursor()
        try:
            for run_id in run_ids:
                run = stored_run(cur, run_id)
                if run is None:
                    continue
                result.runs.append(run)
                alerts = check_stored_run(cur, HealthMonitor(config), run, now)
                alerts += telemetry_alerts(run, replay_dir)
                result.alerts += alerts
            new = _not_stored(cur, result.alerts)
        finally:
            cur.close()
        writer.put_alerts(new)
        writer.flush()
    finally:
        writer.close()
    return result


@dataclass(slots=True)
class CheckResult:
    run_ids: list[str]
    runs: list[StoredRun] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def _not_stored(cur: duckdb.DuckDBPyConnection, alerts: list[Alert]) -> list[Alert]:
    """Alerts a previous `check` of the same database has not stored yet (no duplicates)."""
    run_ids = sorted({a.run_id for a in alerts if a.run_id})
    if not run_ids:
        return alerts
    rows = cur.execute(
        "SELECT run_id, detector, severity, step, metric FROM alerts "
        "WHERE list_contains(?, run_id)", [run_ids]
    ).fetchall()
    seen = {tuple(r) for r in rows}
    return [a for a in alerts if (a.run_id, a.detector, a.severity, a.step, a.metric) not in seen]
