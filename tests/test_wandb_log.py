"""W&B offline run folders: history, system metrics, config and exit read from the `.wandb`
log with no wandb import, on a committed run written by wandb 0.31.0 and, where wandb is
installed, on a run wandb writes in the test (offline mode, no network)."""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.ingest.wandb_log import WandbReader
from cockpit.model.records import ReadResult
from cockpit.monitor.engine import import_paths
from tests.conftest import FIXTURES, query_db

FIXTURE = FIXTURES / "wandb-offline"


q = query_db


def check_run(db: Path, steps: int, system: bool = True) -> None:
    (name,) = q(db, "SELECT name FROM runs")[0]
    assert name.startswith("wandb/offline-run-")
    loss = q(db, "SELECT step, value FROM metrics WHERE key = 'train/loss' ORDER BY step")
    assert [s for s, _ in loss] == list(range(steps))
    for step, value in loss:
        assert math.isnan(value) if step == 20 else value == pytest.approx(1.0 / (step + 1))
    val = q(db, "SELECT step, value FROM metrics WHERE key = 'val/loss' ORDER BY step")
    assert val == [(s, pytest.approx(0.9 / (s + 1))) for s in range(9, steps, 10)]
    assert q(db, "SELECT count(*) FROM metrics WHERE key = 'nested/a'") == [(steps,)]
    assert q(db, "SELECT count(*) FROM metrics WHERE ts IS NULL AND key NOT LIKE 'system/%'") == [(0,)]
    stats = q(db, "SELECT count(*), count(step), min(ts) > 1e9 FROM metrics "
                  "WHERE key LIKE 'system/%'")[0]
    assert stats[1] == 0 and (stats[0] > 0) == system  # system metrics: timestamps, no steps
    assert stats[2] or not system
    params = dict(q(db, "SELECT key, value FROM run_params"))
    assert params["config.lr"] == "0.01" and params["config.layers"] == "2"
    assert params["wandb.project"] == "cockpit-test"
    assert q(db, "SELECT status FROM runs") == [("finished",)]
    roles = dict(q(db, "SELECT role, key FROM series WHERE role IS NOT NULL"))
    assert roles["loss"] == "train/loss" and roles["val_loss"] == "val/loss"
    assert roles["lr"] == "lr" and roles["grad_norm"] == "grad_norm"


def test_committed_offline_run_folder(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE / "wandb", tmp_path / "proj" / "wandb")
    db = tmp_path / "w.duckdb"
    import_paths([tmp_path / "proj"], db)
    check_run(db, 30)
    import_paths([tmp_path / "proj"], db)  # nothing twice
    assert q(db, "SELECT count(*) FROM metrics WHERE key = 'train/loss'") == [(30,)]


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A longer run (its log spans several 32 KiB blocks) written by the installed wandb."""
    pytest.importorskip("wandb")
    out = tmp_path_factory.mktemp("wandb")
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DISABLE_GIT="true")
    done = subprocess.run([sys.executable, str(FIXTURE / "make_wandb_run.py"), str(out), "1500"],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.mark.slow
def test_a_run_the_installed_wandb_writes(fresh_run: Path, tmp_path: Path) -> None:
    (log,) = fresh_run.glob("wandb/offline-run-*/run-*.wandb")
    assert log.stat().st_size > 3 * 32768
    db = tmp_path / "w.duckdb"
    import_paths([fresh_run], db)
    # the system monitor's first sample comes after ~15 s in older versions: not always there
    check_run(db, 1500, system=q(db, "SELECT count(*) FROM metrics WHERE key LIKE 'system/%'")[0][0] > 0)


@pytest.mark.slow
def test_the_log_read_in_random_chunks_gives_the_same_points(fresh_run: Path) -> None:
    data = next(fresh_run.glob("wandb/offline-run-*/run-*.wandb")).read_bytes()
    whole = WandbReader().feed(data)
    rng = random.Random(16)
    for _ in range(3):
        reader, got, at = WandbReader(), ReadResult(), 0
        while at < len(data):
            n = rng.randint(1, 9000)
            part = reader.feed(data[at : at + n])
            at += n
            got.points.extend(part.points)
            got.bad_records += part.bad_records
            if rng.random() < 0.3:  # a restart: rebuilt from its stored state
                pending, state = reader.pending, reader.state()
                reader = WandbReader()
                reader.restore(state)
                reader.pending = pending
        assert got.bad_records == 0 and reader.pending == b""
        assert repr(got.points.rows()) == repr(whole.points.rows())


def test_damaged_records_are_counted_and_skipped() -> None:
    data = bytearray(next((FIXTURE / "wandb").glob("*/run-*.wandb")).read_bytes())
    clean = WandbReader().feed(bytes(data))
    data[len(data) // 3] ^= 0xFF  # inside a history record (one wandb.log): checksum fails
    damaged = WandbReader().feed(bytes(data))
    assert damaged.bad_records == 1 and "checksum" in (damaged.first_bad or "")
    assert len(clean.points) - 5 <= len(damaged.points) < len(clean.points)  # that row only
    assert WandbReader().feed(b"not a wandb file at all").bad_records == 1
