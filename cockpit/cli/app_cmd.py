"""`cockpit app [PATH...]` and `cockpit demo`: the desktop app.

The CLI stays Qt-free: cockpit.ui (PySide6, pyqtgraph) is imported inside the command
functions only, so `cockpit --help` and every headless command never load Qt.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from cockpit.cli.common import add_db_arg, add_gpu_source_arg, db_path, prometheus_url
from cockpit.cli.errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="open the desktop app, watching PATHs")
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders or files of runs to watch")
    add_db_arg(p)
    _common(p)
    p.add_argument("--run", metavar="NAME", dest="select_run",
                   help="chart this run when the window opens (what alert messages say)")
    p.add_argument("--smoke-test", action="store_true",
                   help="open the window on a temp database with sample_runs, render every "
                        "panel once, check the layout round-trips, exit 0 on success")
    p.set_defaults(func=cmd_app)

    p = sub.add_parser("demo", help="the app on sample_runs with replayed GPU telemetry and a "
                                    "run that goes bad live (throwaway database)")
    p.add_argument("--sample-runs", type=Path, metavar="DIR", help="folder of sample runs")
    p.add_argument("--run", metavar="NAME", help="the sample run to replay live")
    p.add_argument("--duration", type=float, default=45.0, metavar="SEC",
                   help="seconds the live run takes to replay (default 45)")
    p.add_argument("--settings", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    p.add_argument("--smoke-test", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replay-gpu", type=Path, metavar="DIR",
                   help="replay a GPU telemetry recording instead of local NVML")
    p.add_argument("--no-gpu", action="store_true", help="no GPU telemetry")
    add_gpu_source_arg(p)
    p.add_argument("--stall-after", type=float, metavar="SEC",
                   help="seconds without a point = stalled")
    p.add_argument("--settings", type=Path, metavar="FILE",
                   help="settings INI file (default: the platform's settings store)")


def _need_display() -> None:
    if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or os.environ.get("QT_QPA_PLATFORM")):
        raise CliError("no display: set DISPLAY or WAYLAND_DISPLAY, or QT_QPA_PLATFORM=offscreen "
                       "for a headless smoke test")


def _import_ui() -> object:
    try:
        from cockpit.ui import app
    except ImportError as err:
        raise CliError(f"the desktop app cannot start: {err} (is PySide6-Essentials "
                       "installed?)") from None
    return app


def cmd_app(args: argparse.Namespace) -> int:
    from cockpit.cli.common import watched_locations

    paths = watched_locations(args.paths)
    temp: Path | None = None
    settings = args.settings
    if args.smoke_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        temp = Path(tempfile.mkdtemp(prefix="cockpit-smoke-"))
        if not paths:
            from cockpit.demo import find_sample_runs

            samples = find_sample_runs()
            paths = [_copy_runs(samples, temp / "runs")] if samples else [temp / "runs"]
            (temp / "runs").mkdir(exist_ok=True)
        settings = settings or temp / "settings.ini"
    _need_display()
    app = _import_ui()
    db = temp / "smoke.duckdb" if temp and not args.db else db_path(args)
    gpu_url = prometheus_url(args.gpu_source)
    if gpu_url and args.replay_gpu:
        raise CliError("choose one GPU source: --replay-gpu DIR or --gpu-source SOURCE, not both")
    gpu = "off" if args.no_gpu or args.gpu_source == "off" else (
        "replay" if args.replay_gpu else "prometheus" if gpu_url else "auto")
    if args.smoke_test and not args.replay_gpu and not gpu_url:
        gpu = "off"
    try:
        return int(app.run(app.AppOptions(  # type: ignore[attr-defined]
            db_path=db, roots=paths, settings_path=settings, gpu=gpu,
            gpu_replay=args.replay_gpu, gpu_url=gpu_url, stall_after=args.stall_after,
            smoke_test=args.smoke_test, select_run=args.select_run)))
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def _copy_runs(samples: Path, dest: Path) -> Path:
    """The smoke test never writes into sample_runs: it watches a copy."""
    from cockpit.demo import NOT_RUNS

    dest.mkdir(parents=True, exist_ok=True)
    for child in samples.iterdir():
        if child.is_dir() and child.name not in NOT_RUNS:
            shutil.copytree(child, dest / child.name, dirs_exist_ok=True)
    return dest


def cmd_demo(args: argparse.Namespace) -> int:
    from cockpit.demo import DemoError, LineReplayer, find_sample_runs, prepare

    samples = find_sample_runs(args.sample_runs)
    if samples is None:
        raise CliError("no sample runs found: run `make samples` (scripts/make_sample_runs.py) "
                       "or pass --sample-runs DIR")
    if args.smoke_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _need_display()
    try:
        plan = prepare(samples, live=args.run)
    except DemoError as err:
        raise CliError(str(err)) from None
    replayer = LineReplayer(plan.live_source, plan.root / plan.live_name, args.duration)
    app = _import_ui()
    print(f"cockpit demo: watching {plan.root}; {plan.live_name} replays live over "
          f"{args.duration:.0f} s (database {plan.db_path}, removed on exit)", file=sys.stderr)
    try:
        return int(app.run(app.AppOptions(  # type: ignore[attr-defined]
            db_path=plan.db_path, roots=[plan.root],
            settings_path=args.settings or plan.workdir / "settings.ini",
            gpu="replay" if plan.gpu_replay else "off", gpu_replay=plan.gpu_replay,
            replay_pin_run=plan.live_name, smoke_test=args.smoke_test,
            title="Cockpit — demo", evals=plan.evals, on_started=replayer.start)))
    finally:
        replayer.stop()
        plan.cleanup()
