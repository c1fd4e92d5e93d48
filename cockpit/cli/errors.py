"""Turning expected failures into one sentence on stderr and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

EXIT_USAGE = 2


class CliError(Exception):
    """A failure the user can fix (missing file, bad argument): printed as is."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def expected_errors() -> tuple[type[BaseException], ...]:
    from cockpit.store.db import StoreError

    return (CliError, StoreError)


def run_guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return func(args)
    except expected_errors() as err:
        print(f"cockpit: {err}", file=sys.stderr)
        return getattr(err, "code", EXIT_USAGE)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
