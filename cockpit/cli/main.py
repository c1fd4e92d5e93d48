"""`cockpit` entry point: parses arguments and hands off to one module per command.

Each command module exposes `register(subparsers)` which adds its parser and sets
`func(args) -> int`. Expected failures raise `CliError` (or a core error) and are printed
as one sentence on stderr; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Command modules, in the order `--help` lists them.
COMMANDS = [
    "cockpit.cli.app_cmd",
    "cockpit.cli.ingest_cmds",
    "cockpit.cli.series_cmd",
    "cockpit.cli.check_cmd",
    "cockpit.cli.gpu_cmd",
    "cockpit.cli.eval_cmd",
    "cockpit.cli.triage_cmd",
    "cockpit.cli.notify_cmd",
    "cockpit.cli.doctor_cmd",
]
# Commands that may run all day: `cockpit <name> ...` registers only its own module, so the
# process loads nothing the command does not use (`cockpit gpu` never imports the history,
# DuckDB or the readers).
LEAN = {"gpu": "cockpit.cli.gpu_cmd"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cockpit",
        description="Local-first ML-ops cockpit: watch training runs, GPUs and evals.",
    )
    from cockpit import __version__

    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [only] if only else COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from cockpit.cli.errors import run_guarded

    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(LEAN.get(words[0]) if words else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # Bare `cockpit` opens the app (SPEC §1).
        args = parser.parse_args(["app", *(argv or sys.argv[1:])])
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
    return run_guarded(args.func, args)
