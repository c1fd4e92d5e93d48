"""The HF Trainer and Lightning hooks, on real CPU training: one line per optimizer step with
the step's own loss, the lr it stepped with and the gradient norm before clipping, checked
against what the library itself logged; no app or Qt module loaded in the training process."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def train(kind: str, out: Path, *extra: str) -> Path:
    modules = out.parent / f"{out.name}.modules"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, "-m", "tests.realtrain", kind, str(out), "--cockpit",
                           str(out / "cockpit"), "--modules", str(modules), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert modules.read_text() == ""  # no PySide6, pyqtgraph or app module in the training run
    return out / "cockpit" / "metrics.jsonl"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_hf_trainer_callback_writes_every_step_with_pre_clip_grad_norm(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    metrics = train("hf", tmp_path / "hf", "--steps", "30")
    rows = lines(metrics)
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 31))  # every optimizer step
    state = json.loads((tmp_path / "hf" / "trainer_state.json").read_text())
    logged = {e["step"]: e for e in state["log_history"] if "loss" in e}  # logging_steps=1
    for r in steps:
        hf = logged[r["step"]]
        assert r["loss"] == pytest.approx(hf["loss"], rel=1e-6)
        assert r["lr"] == pytest.approx(hf["learning_rate"], rel=1e-9)
        assert r["grad_norm"] == pytest.approx(hf["grad_norm"], rel=1e-5)
        assert r["step_time_ms"] > 0 and r["samples_per_s"] > 0
    # max_grad_norm=0.5: a norm above it was measured before the Trainer clipped it
    assert max(r["grad_norm"] for r in steps) > 0.5
    evals = [r for r in rows if "eval_loss" in r]
    assert [r["step"] for r in evals] == [10, 20, 30]
    hf_evals = [e["eval_loss"] for e in state["log_history"] if "eval_loss" in e]
    assert [r["eval_loss"] for r in evals] == pytest.approx(hf_evals)


def test_lightning_callback_writes_every_step_with_pre_clip_grad_norm(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    metrics = train("lightning", tmp_path / "pl", "--steps", "30")
    rows = lines(metrics)
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == list(range(30))
    with (tmp_path / "pl" / "csv" / "version_0" / "metrics.csv").open() as fh:
        table = list(csv.DictReader(fh))
    own = {int(r["step"]): float(r["train_loss_step"]) for r in table if r["train_loss_step"]}
    lr = {int(r["step"]): float(r["lr-SGD"]) for r in table if r["lr-SGD"]}
    for r in steps:
        assert r["loss"] == pytest.approx(own[r["step"]], rel=1e-6)
        assert r["lr"] == pytest.approx(lr[r["step"]], rel=1e-9)
        assert math.isfinite(r["grad_norm"]) and r["samples_per_s"] > 0
    assert {r["lr"] for r in steps} == {0.1, 0.05, 0.025}  # the step scheduler's three values
    assert max(r["grad_norm"] for r in steps) > 0.5  # gradient_clip_val=0.5 clips after us
    vals = [r for r in rows if "val_loss" in r]
    csv_vals = [float(r["val_loss"]) for r in table if r["val_loss"]]
    assert [r["val_loss"] for r in vals] == pytest.approx(csv_vals) and len(vals) >= 2
