"""`cockpit app --smoke-test` as packaging and CI run it: a subprocess on a copy of real runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

H100 = Path(__file__).parents[1] / "fixtures" / "h100-runs"


@pytest.mark.slow
def test_smoke_test_opens_every_panel_and_exits_zero(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(H100, runs)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cockpit",
            "app",
            "--smoke-test",
            str(runs),
            "--db",
            str(tmp_path / "smoke.duckdb"),
            "--settings",
            str(tmp_path / "s.ini"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smoke test passed" in done.stdout
    for panel in ("runs", "gpu", "alerts", "sql", "compare", "evals"):
        assert f"ok   panel {panel} renders" in done.stdout
    assert "layout saveState/restoreState round-trips" in done.stdout
    # Like qutebrowser's smoke test: nothing unexpected on stderr (no traceback, no leak report).
    assert "Traceback" not in done.stderr and "leaked" not in done.stderr, done.stderr


def test_app_with_a_missing_path_is_one_sentence(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "app", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"cockpit: {tmp_path / 'nope'} does not exist"
