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


def replay_stored_run(cur: duckdb.DuckDBPyConnection, monitor: HealthMonitor,
                      run: StoredRun) -> Replay:
    """Training-health alerts of one stored run: its points in step order, then its events
    (GPU telemetry and the lifecycle are judged above, in cockpit/monitor/check.py)."""
    out = Replay([])
    roles = cur.execute(
        "SELECT key, role FROM series WHERE run_id = ? AND role IS NOT NULL", [run.run_id]
    ).fetchall()
    if roles:  # the roles the engine chose (overrides included); else the rules on the keys
        monitor.set_roles(run.run_id, {key: role for key, role in roles})
    result = cur.execute(
        "SELECT key, step, ts, value FROM metrics WHERE run_id = ? ORDER BY step, key",
        [run.run_id],
    )
    while True:
        rows = result.fetchmany(FETCH)
        if not rows:
            break
        keys, steps, tss, values = (list(col) for col in zip(*rows, strict=True))
        out.alerts += monitor.observe(run.run_id, run.name, keys, steps, tss,
                                      [float("nan") if v is None else v for v in values])
        out.points += len(rows)
        known_steps = [s for s in steps if s is not None]
        known_ts = [t for t in tss if t is not None]
        if known_steps:
            out.last_step = max(out.last_step or known_steps[-1], max(known_steps))
        if known_ts:
            out.last_ts = max(out.last_ts or known_ts[0], max(known_ts))
    events = cur.execute(
        "SELECT kind, message, step, ts FROM run_events WHERE run_id = ? "
        "ORDER BY step NULLS LAST, ts NULLS LAST",
        [run.run_id],
    ).fetchall()
    for kind, message, step, ts in events:
        event = RunEvent(kind, message or "", step, ts)
        out.events.append(event)
        out.alerts += monitor.observe_event(run.run_id, run.name, event)
    return out
