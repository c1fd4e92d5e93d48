"""Post-hoc health check of stored runs: replay each run's history through the monitor.

`cockpit check` and the detector evaluation use it. Points are replayed in step order, then
the run's events (crash, finished); with timestamps, stalls in the past show up as gaps. The
lifecycle decision after the fact (hung, ended, exit status) is made above, in
cockpit/monitor/check.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    started_at: float | None = None  # first and last logged times (None: no timestamps)
    updated_at: float | None = None


def stored_run(cur: duckdb.DuckDBPyConnection, run_id: str) -> StoredRun | None:
    row = cur.execute(
        "SELECT run_id, name, path, status, status_reason, started_at, updated_at FROM runs "
        "WHERE run_id = ?", [run_id]
    ).fetchone()
    return StoredRun(*row) if row else None


@dataclass(slots=True)
class Replay:
    """What replaying a stored run showed: its alerts and the facts its lifecycle needs."""

    alerts: list[Alert]
    points: int = 0
    last_step: int | None = None
    last_ts: float | None = None
    events: list[RunEvent] = field(default_factory=list)


def replay_stored_run(cur: duckdb.DuckDBPyConnection, monitor: HealthMonitor, run_id: str,
                      name: str, exclude_source: str | None = None) -> Replay:
    """Feed a stored run's points (in step order) and then its events to `monitor`: the
    detectors end in the state a live watch of the same points left them in (a restarted
    watch rebuilds them so; `check` judges the run so). `exclude_source`: a file whose stored
    points are about to be replaced. GPU telemetry and the lifecycle are judged above, in
    cockpit/monitor."""
    out = Replay([])
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
        out.alerts += monitor.observe(run_id, name, keys, steps, tss,
                                      [float("nan") if v is None else v for v in values])
        out.points += len(rows)
        known_steps = [s for s in steps if s is not None]
        known_ts = [t for t in tss if t is not None]
        if known_steps:
            out.last_step = max(out.last_step or known_steps[-1], max(known_steps))
        if known_ts:
            out.last_ts = max(out.last_ts or known_ts[0], max(known_ts))
    events = cur.execute(
        f"SELECT kind, message, step, ts FROM run_events WHERE {where} "
        "ORDER BY step NULLS LAST, ts NULLS LAST", params).fetchall()
    for kind, message, step, ts in events:
        event = RunEvent(kind, message or "", step, ts)
        out.events.append(event)
        out.alerts += monitor.observe_event(run_id, name, event)
    return out


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
