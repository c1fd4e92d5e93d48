"""Entry point of the frozen app: exactly what the `cockpit` console script runs."""

from __future__ import annotations

import multiprocessing
import sys

from cockpit.cli.main import main

if __name__ == "__main__":
    # A frozen child process would otherwise re-run the CLI (only matters if a module
    # ever starts one; today none does).
    multiprocessing.freeze_support()
    sys.exit(main())
