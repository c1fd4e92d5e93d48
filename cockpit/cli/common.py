"""Arguments and helpers shared by several commands."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.cli.errors import CliError

if TYPE_CHECKING:  # annotations only: `cockpit gpu` loads nothing of the monitor
    from cockpit.monitor.report import FileProblem


def default_db_path() -> Path:
    """The history's default place (imported here, not at module level: `cockpit gpu` uses
    these helpers and must not load DuckDB)."""
    from cockpit.store.db import default_db_path as where

    return where()


def add_db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=None, metavar="FILE",
                        help=f"history database (default: {default_db_path()})")


def db_path(args: argparse.Namespace) -> Path:
    return Path(args.db) if getattr(args, "db", None) else default_db_path()


def existing_paths(paths: list[str] | list[Path]) -> list[Path]:
    """The named paths, each of which exists and can be read (SPEC: exit 2 otherwise)."""
    out = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.exists():
            raise CliError(f"{path} does not exist")
        try:
            if path.is_dir():
                with os.scandir(path) as entries:
                    next(entries, None)
            else:
                with open(path, "rb") as fh:
                    fh.read(1)
        except OSError as err:
            raise CliError(f"cannot read {path}: {err.strerror or err}") from None
        out.append(path)
    return out


GPU_SOURCE_HELP = ("where GPU telemetry comes from: nvml (this machine, the default), off, or "
                   "prometheus://HOST:PORT (prometheus+https://… for TLS): a Prometheus scraping "
                   "dcgm-exporter, whose pod / HPC job labels tie GPUs to runs")


def add_gpu_source_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu-source", metavar="SOURCE", help=GPU_SOURCE_HELP)


def prometheus_url(spec: str | None) -> str | None:
    """The Prometheus URL a --gpu-source names; None for nvml/off; CliError for anything else."""
    if spec is None or spec in ("nvml", "local", "off"):
        return None
    if spec.startswith(("prometheus://", "prometheus+http://", "prometheus+https://")):
        from cockpit.telemetry.prometheus import source_url

        url = source_url(spec)
        if not urllib.parse.urlsplit(url).hostname:
            raise CliError(f"--gpu-source {spec} names no server: prometheus://HOST:PORT")
        return url
    raise CliError(f"--gpu-source {spec} is not a GPU source: use nvml, off or "
                   "prometheus://HOST:PORT")


def interrupt_on_sigterm() -> None:
    """`kill` (SIGTERM) stops a command as cleanly as Ctrl+C: what is pending is stored.
    A second SIGTERM while that happens is ignored, so the final flush completes."""
    import signal
    import threading

    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def watched_locations(paths: list[str]) -> list[str | Path]:
    """What `watch`, `import`, `check` and `app` accept: local folders or files (which must
    exist) and ssh:// / s3:// / gs:// / az:// locations, checked when first contacted."""
    from cockpit.sources.location import is_remote

    out: list[str | Path] = []
    for p in paths:
        if is_remote(p):
            out.append(str(p))
            continue
        out.extend(existing_paths([p]))
    return out


def report_problems(problems: list[FileProblem]) -> None:
    """What could not be read, one line per folder or file, on stderr."""
    for p in problems:
        print(f"not read: {p.path}: {p.reason}", file=sys.stderr)


def no_logs_found(paths: Sequence[str | Path], problems: list[FileProblem]) -> CliError:
    """One sentence naming the first problems; the full list first when it is longer."""
    names = ", ".join(str(p) for p in paths)
    if len(problems) > 3:
        report_problems(problems)
    if not problems:
        return CliError(f"no training logs found in {names}")
    shown = "; ".join(f"{p.path}: {p.reason}" for p in problems[:3])
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return CliError(f"no training logs found in {names} ({shown}{more})")
