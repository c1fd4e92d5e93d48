"""Post-hoc health check of stored runs: replay each run's history through the monitor.

`cockpit check` and the detector evaluation use it. Points are replayed in step order, then
the run's events (crash, finished), then one stall check against the current time; with
timestamps, stalls in the past show up as gaps.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cockpit.health.monitor import HealthMonitor
from cockpit.model.alert import Alert
from cockpit.model.records import RunEvent

FETCH = 200_000  # rows per fetch: a long run is replayed without holding it all


@dataclass(slots=True)
class StoredRun:
    run_id: str
    name: str
    path: str
    status: str | None
    status_reason: str | None


def stored_run(cur: duckdb.DuckDBPyConnection, run_id: str) -> StoredRun | None:
    row = cur.execute(
        "SELECT run_id, name, path, status, status_reason FROM runs WHERE run_id = ?", [run_id]
    ).fetchone()
    return StoredRun(*row) if row else None


def replay_stored_points(cur: duckdb.DuckDBPyConnection, monitor: HealthMonitor, run_id: str,
                         name: str, exclude_source: str | None = None
                         ) -> tuple[list[Alert], list[str]]:
    """Feed a stored run's points (in step order) and then its events to `monitor`: the
    detectors end in the state a live watch of the same points left them in. Returns the
    alerts raised and the kinds of the events seen. `exclude_source`: a file whose stored
    points are about to be replaced."""
    alerts: list[Alert] = []
    roles = cur.execute(
        "SELECT key, role FROM series WHERE run_id = ? AND role IS NOT NULL", [run_id]
    ).fetchall()
    if roles:  # the roles the engine chose (overrides included); else the rules on the keys
        monitor.set_roles(run_id, {key: role for key, role in roles})
    where = "run_id = ?" + (" AND source IS DISTINCT FROM ?" if exclude_source else "")
    params = [run_id, exclude_source] if exclude_source else [run_id]
    result = cur.execute(
        f"SELECT key, step, ts, value FROM metrics WHERE {where} ORDER BY step, key", params)
    while True:
        rows = result.fetchmany(FETCH)
        if not rows:
            break
        keys, steps, tss, values = (list(col) for col in zip(*rows, strict=True))
        alerts += monitor.observe(run_id, name, keys, steps, tss,
                                  [float("nan") if v is None else v for v in values])
    events = cur.execute(
        f"SELECT kind, message, step, ts FROM run_events WHERE {where} "
        "ORDER BY step NULLS LAST, ts NULLS LAST", params).fetchall()
    for kind, message, step, ts in events:
        alerts += monitor.observe_event(run_id, name, RunEvent(kind, message or "", step, ts))
    return alerts, [kind for kind, *_ in events]


def not_stored(cur: duckdb.DuckDBPyConnection, alerts: list[Alert]) -> list[Alert]:
    """The alerts the history does not hold yet: a second check, an import after a check, a
    watch restarted over the same points add no duplicate."""
    run_ids = sorted({a.run_id for a in alerts if a.run_id})
    if not run_ids:
        return alerts
    rows = cur.execute(
        "SELECT run_id, detector, severity, step, metric FROM alerts "
        "WHERE list_contains(?, run_id)", [run_ids]
    ).fetchall()
    seen = {tuple(r) for r in rows}
    return [a for a in alerts if (a.run_id, a.detector, a.severity, a.step, a.metric) not in seen]


def check_stored_run(cur: duckdb.DuckDBPyConnection, monitor: HealthMonitor, run: StoredRun,
                     now: float | None = None) -> list[Alert]:
    """Training-health alerts for one stored run (GPU telemetry is not looked at here)."""
    alerts, kinds = replay_stored_points(cur, monitor, run.run_id, run.name)
    finished = run.status == "finished" or "finished" in kinds
    crashed = "error" in kinds
    if run.status == "failed" and not crashed:
        # Failed by its process record (exit code), with no error line in any log.
        reason = run.status_reason or "the process exited with an error"
        alerts += monitor.observe_event(run.run_id, run.name, RunEvent("error", reason))
    at, alive, posthoc = _observation(Path(run.path), time.time() if now is None else now)
    alerts += monitor.check_stall(run.run_id, run.name, at, alive, finished, posthoc=posthoc)
    alerts += monitor.finish(run.run_id)
    return alerts


def _observation(run_dir: Path, now: float) -> tuple[float, bool | None, bool]:
    """(when, process alive, post-hoc) for the stall check of a stored run.

    A process record (process.json of the recording format, SPEC §5) that saw the process
    alive says so at its `observed_at`: the check is then as live as the recording was.
    Otherwise liveness is unknown and a silent end is only info.
    """
    try:
        record = json.loads((run_dir / "process.json").read_text())
    except (OSError, ValueError):
        return now, None, True
    if not isinstance(record, dict):
        return now, None, True
    observed = record.get("observed_at")
    if record.get("alive_at_observation") is True and isinstance(observed, int | float):
        return float(observed), True, False
    if record.get("process_end") is not None or record.get("exit_code") is not None:
        return now, False, True
    return now, None, True
