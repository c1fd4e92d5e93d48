"""Arguments and helpers shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from cockpit.cli.errors import CliError
from cockpit.store.db import default_db_path


def add_db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=None, metavar="FILE",
                        help=f"history database (default: {default_db_path()})")


def db_path(args: argparse.Namespace) -> Path:
    return Path(args.db) if getattr(args, "db", None) else default_db_path()


def existing_paths(paths: list[str]) -> list[Path]:
    out = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.exists():
            raise CliError(f"{path} does not exist")
        out.append(path)
    return out
