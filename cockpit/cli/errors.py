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
    except Exception as err:
        # The database file failing under a command (a full disk, damaged blocks) is the
        # user's to fix, not a bug: one sentence. Anything else is a bug: a traceback.
        from cockpit.store.db import storage_failure

        failure = storage_failure(getattr(args, "db", None) or "the history", err)
        if failure is None:
            raise
        print(f"cockpit: {failure}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
