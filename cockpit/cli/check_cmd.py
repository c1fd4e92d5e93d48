"""`cockpit check PATH...`: post-hoc health check of runs; the exit code says if any is sick.

Exit 0: no alert of warning or worse; 1: at least one; 2: bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from cockpit.cli.common import no_logs_found, report_problems, watched_locations
from cockpit.cli.errors import CliError
from cockpit.model.alert import Alert, severity_rank

EXIT_HEALTHY = 0
EXIT_ALERTS = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="post-hoc health check of runs (exit 1 if any alert is a warning or worse)",
        description="Import the runs under PATHs, replay their history through the health "
                    "detectors (timestamps included, so past stalls are found) and print the "
                    "alerts. Exit 0 = no alert of warning or worse, 1 = at least one, "
                    "2 = bad usage or unreadable input.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="run folders, log files, folders holding runs, or ssh://, s3://, "
                             "gs://, az:// locations")
    parser.add_argument("--json", action="store_true", help="one alert object per line")
    parser.add_argument("--db", type=Path, metavar="FILE",
                        help="history database to import into (default: a temporary one)")
    parser.add_argument("--replay-gpu", type=Path, metavar="DIR",
                        help="GPU telemetry recording to use for every run checked")
    parser.add_argument("--gpu-source", metavar="SOURCE",
                        help="prometheus://HOST:PORT: read each run's GPU history from the "
                             "Prometheus scraping dcgm-exporter (pod / HPC job labels or the "
                             "run's host tie GPUs to runs)")
    parser.add_argument("--gpu-price", type=_price, metavar="USD",
                        help="price per GPU-hour: warnings state what a failure cost "
                             "(default: $COCKPIT_GPU_PRICE)")
    parser.add_argument("--stall-after", type=_seconds, metavar="SEC",
                        help="a run silent this long is stalled (replaces the adaptive rule)")
    parser.set_defaults(func=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("--stall-after must be more than 0 seconds")
    return value


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a price per GPU-hour") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("--gpu-price must be a price of 0 or more")
    return value


def run(args: argparse.Namespace) -> int:
    from cockpit.cli.common import prometheus_url
    from cockpit.health.config import health_config
    from cockpit.monitor.check import check_paths
    from cockpit.monitor.engine import IngestError
    from cockpit.monitor.gpu_cost import gpu_price
    from cockpit.telemetry.sources import TelemetryUnavailable

    paths = watched_locations(args.paths)
    if args.replay_gpu is not None and not args.replay_gpu.is_dir():
        raise CliError(f"--replay-gpu {args.replay_gpu} is not a folder")
    prometheus = prometheus_url(args.gpu_source)
    if args.gpu_source not in (None, "off") and prometheus is None:
        raise CliError("check reads past telemetry: --gpu-source takes prometheus://HOST:PORT")
    if prometheus is not None and args.replay_gpu is not None:
        raise CliError("choose one GPU source: --replay-gpu DIR or --gpu-source SOURCE, not both")
    config = health_config(stall_after=args.stall_after)
    with tempfile.TemporaryDirectory(prefix="cockpit-check-") as tmp:
        db = args.db if args.db is not None else Path(tmp) / "check.duckdb"
        try:
            result = check_paths(paths, db, config, args.replay_gpu, prometheus=prometheus,
                                 price=gpu_price(args.gpu_price))
        except (IngestError, TelemetryUnavailable) as err:
            raise CliError(str(err)) from None
    if not result.run_ids:
        raise no_logs_found(args.paths, result.problems)
    report_problems(result.problems)
    alerts = sorted(result.alerts, key=_order)
    if args.json:
        for alert in alerts:
            print(json.dumps(alert.to_json()))
    else:
        print_human(alerts, len(result.runs), len(result.problems))
    sys.stdout.flush()
    sick = any(severity_rank(a.severity) >= severity_rank("warning") for a in alerts)
    if sick:
        return EXIT_ALERTS
    if result.unreadable:  # SPEC: 2 = unreadable input; alerts of the rest say more, above
        raise CliError(f"{len(result.unreadable)} folder(s) or file(s) could not be read "
                       "(listed above); the rest was checked")
    return EXIT_HEALTHY


def _order(alert: Alert) -> tuple[str, int, float, int]:
    step = alert.step if alert.step is not None else sys.maxsize
    ts = alert.ts if alert.ts is not None else float("inf")
    return (alert.run, step, ts, -severity_rank(alert.severity))


def print_human(alerts: list[Alert], runs: int, not_read: int = 0) -> None:
    for a in alerts:
        where = f"step {a.step}" if a.step is not None else "-"
        print(f"{a.severity.upper():<8} {a.run}  {a.detector}  {where}  {a.message}")
    counts = {s: sum(1 for a in alerts if a.severity == s) for s in ("critical", "warning", "info")}
    found = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no alerts"
    partly = f"; {not_read} folder(s) or file(s) not read in full (listed on stderr)" \
        if not_read else ""
    print(f"{runs} run{'s' if runs != 1 else ''} checked: {found}{partly}")
