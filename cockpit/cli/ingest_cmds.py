"""`cockpit import`, `watch`, `runs` and `query`: the headless face of the ingest core."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cockpit.cli.common import (
    add_db_arg,
    add_gpu_source_arg,
    db_path,
    interrupt_on_sigterm,
    no_logs_found,
    prometheus_url,
    report_problems,
    watched_locations,
)
from cockpit.cli.errors import CliError
from cockpit.cli.notify_cmd import add_notify_args, build_notifier, notify_lifecycle
from cockpit.cli.output import format_alert, format_lifecycle, print_rows
from cockpit.model.alert import Alert
from cockpit.model.lifecycle import LifecycleChange
from cockpit.monitor.report import Unreadable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="ingest past runs into the history (idempotent)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    add_db_arg(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("watch", help="headless live monitor: tail runs, store, print alerts "
                                     "and lifecycle changes")
    p.add_argument("paths", nargs="+", metavar="PATH")
    add_db_arg(p)
    add_notify_args(p)
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line: alerts (with \"detector\") and lifecycle "
                        "changes (with \"lifecycle\")")
    p.add_argument("--once", action="store_true", help="process what exists, then exit")
    p.add_argument("--replay-gpu", type=Path, metavar="DIR", help="GPU telemetry recording to replay")
    add_gpu_source_arg(p)
    p.add_argument("--stall-after", type=float, metavar="SEC", help="seconds without a point = stalled")
    p.add_argument("--gpu-price", type=float, metavar="USD",
                   help="price per GPU-hour: warnings state what a failure cost "
                        "(default: $COCKPIT_GPU_PRICE)")
    p.add_argument("--poll", type=float, default=0.25, metavar="SEC", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("runs", help="list runs with status and last values")
    add_db_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("query", help="read-only SQL over the history (also while it is live)")
    p.add_argument("sql", metavar="SQL")
    add_db_arg(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--unsafe-sql", action="store_true",
                   help="let the SQL read and write files, attach databases and load "
                        "extensions (off: the history is all a query sees)")
    p.set_defaults(func=cmd_query)


def _count_points(db: Path) -> int:
    if not db.exists():
        return 0
    from cockpit.store.reading import query

    rows = query(db, "SELECT count(*) FROM metrics").rows()
    return int(rows[0][0]) if rows else 0


def cmd_import(args: argparse.Namespace) -> int:
    """Import, then run the same detectors as `check` and store the alerts they raise."""
    from cockpit.health.config import health_config
    from cockpit.monitor.check import check_paths
    from cockpit.monitor.engine import IngestError

    paths = watched_locations(args.paths)
    db = db_path(args)
    before = _count_points(db)
    try:
        result = check_paths(paths, db, health_config(), serve=True)
    except IngestError as err:
        raise CliError(str(err)) from None
    if not result.run_ids and result.problems:
        raise no_logs_found(paths, result.problems)
    report_problems(result.problems)
    after = _count_points(db)
    sick = [a for a in result.alerts if a.severity != "info"]
    alerts = f"{len(sick)} alert(s) of warning or worse" if sick else "no alert of warning or worse"
    print(f"imported {len(result.run_ids)} run(s), {after - before} new point(s) into {db}; "
          f"{alerts} ({result.stored} new stored; `cockpit runs` lists them)")
    if result.unreadable:
        raise CliError(f"{len(result.unreadable)} folder(s) or file(s) could not be read "
                       "(listed above); everything else was imported")
    return 0


def make_health(stall_after: float | None = None) -> Any:
    from cockpit.health.config import health_config
    from cockpit.health.monitor import HealthMonitor

    return HealthMonitor(health_config(stall_after=stall_after))


class AlertPrinter:
    """Prints alerts and lifecycle changes from any thread, one line each (or one JSON object
    per line: an alert has "detector", a lifecycle change has "lifecycle"), and hands alerts
    to the notifier when `--notify` set one."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.worst = -1
        self._lock = threading.Lock()
        self.notifier: Any = None  # cockpit.notify.notifier.Notifier

    def __call__(self, alerts: list[Alert]) -> None:
        from cockpit.model.alert import severity_rank

        with self._lock:
            for alert in alerts:
                data = alert.to_json()
                self.worst = max(self.worst, severity_rank(alert.severity))
                line = json.dumps(data) if self.as_json else format_alert(data)
                print(line, flush=True)
        if self.notifier is not None:
            self.notifier.on_alerts(alerts)  # a queue put: delivery has its own threads

    def lifecycle(self, changes: list[LifecycleChange]) -> None:
        with self._lock:
            for change in changes:
                data = change.to_json()
                line = (json.dumps(data, default=str) if self.as_json
                        else format_lifecycle(data))
                print(line, flush=True)


def cmd_watch(args: argparse.Namespace) -> int:
    from cockpit.monitor.engine import IngestEngine, IngestError
    from cockpit.sources.processes import LocalProcesses
    from cockpit.store.writer import StoreWriter

    interrupt_on_sigterm()
    prometheus = prometheus_url(args.gpu_source)
    if args.replay_gpu and args.gpu_source:
        raise CliError("choose one GPU source: --replay-gpu DIR or --gpu-source SOURCE, not both")
    paths = watched_locations(args.paths)
    printer = AlertPrinter(args.json)
    printer.notifier = build_notifier(args)
    health = make_health(args.stall_after)
    with StoreWriter(db_path(args), serve=True) as writer:
        try:
            engine = IngestEngine(writer, paths, health=health, on_alerts=printer,
                                  poll_interval=args.poll, recordings=not args.once,
                                  on_reachability=print_reachability,
                                  processes=LocalProcesses(), on_lifecycle=printer.lifecycle)
        except IngestError as err:
            raise CliError(str(err)) from None
        from cockpit.monitor.gpu_cost import gpu_price

        price = gpu_price(args.gpu_price)
        engine.attach_gpu(None, price)

        def on_pipeline(pipeline: Any) -> None:
            engine.attach_gpu(pipeline, price)

        gpu = _start_gpu_replay(args, writer, printer, engine, on_pipeline)
        local = None
        remote: list[Any] = []
        try:
            notify_lifecycle(engine, printer.notifier)
            if args.once:
                engine.poll_once(final=True)
                engine.settle_status()
                engine.ingest_recordings()
                if gpu is not None:
                    gpu.join()
            else:
                engine.poll_once()
                status = "off (--gpu-source off)"
                if gpu is None and args.gpu_source != "off":
                    local, status = _start_live_gpu(writer, printer, engine, prometheus,
                                                    on_pipeline)
                remote = _start_remote(writer, printer, engine, gpu=args.gpu_source != "off")
                if not args.json:
                    print(f"watching {', '.join(map(str, engine.roots))} (Ctrl+C to stop)",
                          file=sys.stderr, flush=True)
                    if gpu is None:
                        print(f"GPU telemetry: {status}", file=sys.stderr, flush=True)
                engine.start()
                reported: set[int] = set()
                while writer.error is None:  # a database that cannot be written ends it
                    time.sleep(1.0)
                    _report_remote_gpu(remote, reported, args.json)
        except KeyboardInterrupt:
            pass
        finally:
            engine.stop()
            if local is not None:
                local.stop()
            for part in remote:
                part.stop()
            writer.flush()
            if printer.notifier is not None:
                printer.notifier.close(timeout=10.0)
            from cockpit.sources.location import close_sources

            close_sources()
    return 0


def _start_remote(writer: Any, printer: AlertPrinter, engine: Any, gpu: bool) -> list[Any]:
    """For every SSH host watched, over its one connection: its GPUs (nvidia-smi, unless
    --gpu-source off) and, where it has Slurm, its job table (none for local roots)."""
    from cockpit.monitor.scheduler import watch_ssh_schedulers
    from cockpit.telemetry.remote_live import ssh_sources, start_remote_gpu

    parts: list[Any] = [start_remote_gpu(f, engine, writer, printer)
                        for f in ssh_sources(engine)] if gpu else []
    return parts + list(watch_ssh_schedulers(engine))


def _report_remote_gpu(parts: list[Any], reported: set[int], quiet: bool) -> None:
    """Say once why a host's GPU telemetry stopped (no nvidia-smi there, a driver error)."""
    for pipeline in parts:
        if getattr(pipeline, "error", None) and id(pipeline) not in reported:
            reported.add(id(pipeline))
            if not quiet:
                print(f"GPU telemetry: {pipeline.error}", file=sys.stderr, flush=True)


def print_reachability(place: str, state: Any) -> None:
    """One line on stderr when a remote host or bucket goes down or comes back."""
    if state.ok:
        print(f"{place}: reachable again; reading on where it stopped", file=sys.stderr, flush=True)
    else:
        since = time.strftime("%H:%M:%S", time.localtime(state.since))
        why = state.reason.removeprefix(f"{place}: ")
        print(f"{place}: unreachable since {since} ({why}); retrying", file=sys.stderr, flush=True)


def _start_gpu_replay(args: argparse.Namespace, writer: Any, printer: AlertPrinter,
                      engine: Any, on_pipeline: Any) -> threading.Thread | None:
    if not args.replay_gpu:
        return None
    from cockpit.telemetry.live import start_replay_for_watch

    thread: threading.Thread | None = start_replay_for_watch(
        args.replay_gpu, writer, printer, engine, as_fast_as_possible=args.once,
        on_pipeline=on_pipeline)
    return thread


def _start_live_gpu(writer: Any, printer: AlertPrinter, engine: Any,
                    prometheus: str | None, on_pipeline: Any) -> tuple[Any, str]:
    from cockpit.telemetry.live import start_live_for_watch

    return start_live_for_watch(writer, printer, engine, prometheus, on_pipeline)


RUNS_SQL = """
WITH loss AS (
  SELECT m.run_id, arg_max(m.value, m.step) AS last_loss
  FROM metrics m SEMI JOIN series s
    ON s.run_id = m.run_id AND s.key = m.key AND s.role = 'loss'
  GROUP BY m.run_id),
sick AS (SELECT run_id, count(*) AS alerts FROM alerts WHERE severity <> 'info' GROUP BY run_id)
SELECT r.name, r.status, r.last_step, loss.last_loss, coalesce(sick.alerts, 0) AS alerts,
       round(r.gpu_hours, 3) AS gpu_hours, round(r.wasted_gpu_hours, 3) AS wasted_gpu_hours,
       epoch_ms(CAST(r.updated_at * 1000 AS BIGINT)) AS updated, r.path, r.run_id
FROM runs r LEFT JOIN loss USING (run_id) LEFT JOIN sick USING (run_id)
ORDER BY r.updated_at DESC NULLS LAST, r.name
"""
# What each run's files held that could not be read (cockpit.monitor.report).
UNREAD_SQL = """
SELECT run_id, path, bad_records, first_bad, skipped FROM sources
WHERE coalesce(bad_records, 0) > 0 OR skipped IS NOT NULL ORDER BY path
"""


def cmd_runs(args: argparse.Namespace) -> int:
    from cockpit.store.reading import query

    db = db_path(args)
    runs = query(db, RUNS_SQL)
    unread: dict[str, list[tuple[str, Unreadable]]] = {}
    for run_id, path, bad, first, skipped in query(db, UNREAD_SQL).rows():
        unread.setdefault(run_id, []).append((path, Unreadable.from_row(bad, first, skipped)))
    columns = [*runs.columns[:-1], "skipped", "not_read"]
    rows = []
    for *row, run_id in runs.rows():
        files = unread.get(run_id, [])
        skipped_n = sum(u.total for _, u in files)
        why = "; ".join(f"{Path(p).name}: {u.sentence()}" for p, u in files) or None
        rows.append((*row, skipped_n, why))
    print_rows("json" if args.json else "table", columns, rows)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from cockpit.store.reading import query

    result = query(db_path(args), args.sql, unsafe=args.unsafe_sql)
    if result.columns:
        print_rows(args.format, result.columns, result.rows())
    return 0
