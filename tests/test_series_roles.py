"""Every raw series stored, and the watched one chosen by the role rules (cockpit.model.roles):
deterministically, on files the real libraries wrote, and overridable per run."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.model.roles import assign_roles, role_of
from cockpit.monitor.engine import import_paths
from tests.conftest import FIXTURES, query_db

ROOT = Path(__file__).resolve().parents[1]


q = query_db


def roles(db: Path, run: str | None = None) -> dict[str, str]:
    where = "AND r.name = ?" if run else ""
    rows = q(db, "SELECT s.role, s.key FROM series s JOIN runs r USING (run_id) "
                 f"WHERE s.role IS NOT NULL {where}", [run] if run else [])
    return dict(rows)


def cockpit(*args: str, seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED=seed)
    return subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


# --- the rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(("keys", "expected"), [
    # HF trainer_state: per-step `loss` beats the end-of-training summary `train_loss`
    (["loss", "train_loss", "learning_rate", "grad_norm", "eval_loss", "epoch"],
     {"loss": "loss", "lr": "learning_rate", "grad_norm": "grad_norm", "val_loss": "eval_loss"}),
    # Lightning: `_step` beats `_epoch` for training; the epoch aggregate for validation
    (["train_loss_step", "train_loss_epoch", "val_loss_step", "val_loss_epoch", "lr-AdamW"],
     {"loss": "train_loss_step", "val_loss": "val_loss_epoch", "lr": "lr-AdamW"}),
    # nanoGPT: `iter N: loss` every step beats the eval line's `train loss`
    (["loss", "train_loss", "val_loss", "step_time_ms", "mfu_pct"],
     {"loss": "loss", "val_loss": "val_loss", "step_time_ms": "step_time_ms"}),
    # the SummaryWriter tutorial's tags
    (["Loss/train", "Loss/val", "Accuracy/val"], {"loss": "Loss/train", "val_loss": "Loss/val"}),
    (["eval/loss", "train/loss", "train/learning_rate"],
     {"loss": "train/loss", "val_loss": "eval/loss", "lr": "train/learning_rate"}),
    (["validation_loss", "gpu_mem_total_gb", "gpu_mem_alloc_gb", "tokens_per_s"],
     {"val_loss": "validation_loss", "memory": "gpu_mem_alloc_gb", "tokens_per_s": "tokens_per_s"}),
])
def test_role_rules(keys: list[str], expected: dict[str, str]) -> None:
    for order in (keys, list(reversed(keys)), sorted(keys)):
        assert {r: c.key for r, c in assign_roles(order).items()} == expected


def test_overrides_take_a_key_or_leave_a_role_unwatched() -> None:
    chosen = assign_roles(["loss", "train_loss"], {"loss": "train_loss"})
    assert chosen["loss"].key == "train_loss" and chosen["loss"].rule == "override"
    assert "loss" not in assign_roles(["loss", "train_loss"], {"loss": None})
    assert "loss" not in assign_roles(["loss"], {"loss": "not_logged"})
    assert role_of("epoch") is None and role_of("step_avg_ms") is None


# --- real HF Trainer output ------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Trainer run: stdout redirected to train.log, checkpoints, last-checkpoint/,
    trainer_state.json saved at the end (holding per-step `loss` and a summary `train_loss`)."""
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    out = tmp_path_factory.mktemp("hf") / "gpt-tiny"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with (out / "train.log").open("w") as log:
        done = subprocess.run([sys.executable, "-m", "tests.realtrain", "hf", str(out),
                               "--hub-checkpoint", "--steps", "40"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.PIPE, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_the_same_hf_folder_gives_the_same_series_under_any_hash_seed(hf_run: Path,
                                                                      tmp_path: Path) -> None:
    seen = []
    for seed in ("0", "1", "2", "3", "4"):
        db = tmp_path / f"h{seed}.duckdb"
        done = cockpit("import", str(hf_run.parent), "--db", str(db), seed=seed)
        assert done.returncode == 0, done.stderr
        seen.append((
            q(db, "SELECT r.name, s.source, s.key, s.canonical, s.format, s.role, s.role_rule "
                  "FROM series s JOIN runs r USING (run_id) ORDER BY ALL"),
            q(db, "SELECT key, source, count(*), sum(step), sum(value) FROM metrics "
                  "GROUP BY ALL ORDER BY ALL"),
        ))
    assert all(s == seen[0] for s in seen[1:])
    series, points = seen[0]
    assert {r[0] for r in series} == {"gpt-tiny"}  # last-checkpoint/ is no run of its own
    watched = {role: (key, source) for _, source, key, _, _, role, _ in series if role}
    assert watched["loss"] == ("loss", "trainer_state.json")  # 40 steps, not the summary
    assert watched["val_loss"] == ("eval_loss", "trainer_state.json")
    assert watched["lr"] == ("learning_rate", "trainer_state.json")
    counts = {(k, s): n for k, s, n, _, _ in points}
    assert counts[("loss", "trainer_state.json")] == 40
    assert counts[("train_loss", "trainer_state.json")] == 1  # stored too, just not watched


@pytest.mark.slow
def test_hf_stdout_with_quoted_numbers_is_read(hf_run: Path, tmp_path: Path) -> None:
    """transformers 5 prints `{'loss': '0.6943', ...}`; the log alone is a run."""
    text = (hf_run / "train.log").read_text()
    assert "{'loss': '" in text  # really the quoted form
    alone = tmp_path / "stdout-only"
    alone.mkdir()
    shutil.copy(hf_run / "train.log", alone / "train.log")
    db = tmp_path / "h.duckdb"
    import_paths([alone], db)
    state = json.loads((hf_run / "trainer_state.json").read_text())["log_history"]
    expected = {e["step"]: e["loss"] for e in state if "loss" in e}
    got = dict(q(db, "SELECT step, value FROM metrics WHERE key = 'loss' ORDER BY step"))
    assert got.keys() == expected.keys()
    assert all(got[s] == pytest.approx(v, rel=1e-3) for s, v in expected.items())
    assert roles(db)["loss"] == "loss" and roles(db)["val_loss"] == "val_loss"
    params = dict(q(db, "SELECT key, value FROM run_params"))
    assert float(params["train_loss"]) == pytest.approx(state[-1]["train_loss"], rel=1e-3)


@pytest.mark.slow
def test_a_role_override_moves_the_watched_series(hf_run: Path, tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    import_paths([hf_run.parent], db)
    done = cockpit("series", "gpt-tiny", "--db", str(db), "--role", "loss=train_loss", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["key"]: r["role"] for r in rows if r["role"]}["train_loss"] == "loss"
    assert roles(db)["loss"] == "train_loss"
    # the override survives a re-import, and `runs` reports the overridden loss
    import_paths([hf_run.parent], db)
    assert roles(db)["loss"] == "train_loss"
    runs = json.loads(cockpit("runs", "--db", str(db), "--json").stdout)
    summary = json.loads((hf_run / "trainer_state.json").read_text())["log_history"][-1]
    assert runs[0]["last_loss"] == pytest.approx(summary["train_loss"])
    assert cockpit("series", "gpt-tiny", "--db", str(db), "--auto", "loss").returncode == 0
    assert roles(db)["loss"] == "loss"
    bad = cockpit("series", "gpt-tiny", "--db", str(db), "--role", "loss=nope")
    assert bad.returncode == 2 and "logs no series 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = cockpit("series", "gpt-tiny", "--db", str(db), "--role", "speed=loss")
    assert bad.returncode == 2 and "unknown role 'speed'" in bad.stderr


# --- logs of other libraries ------------------------------------------------------------------


def test_nanogpt_eval_lines_and_iter_lines_do_not_compete(tmp_path: Path) -> None:
    """nanoGPT's own print formats (train.py), with a run that goes NaN and then Inf."""
    run = tmp_path / "runs" / "nano"
    run.mkdir(parents=True)
    lines = []
    for it in range(301):
        loss = 4.0 - it / 100 if it < 250 else (math.nan if it < 290 else math.inf)
        if it % 50 == 0:
            lines.append(f"step {it}: train loss {loss + 0.01:.4f}, val loss {loss + 0.1:.4f}")
        lines.append(f"iter {it}: loss {loss:.4f}, time {30.5:.2f}ms, mfu {12.5:.2f}%")
    (run / "train.log").write_text("\n".join(lines) + "\n")
    db = tmp_path / "n.duckdb"
    import_paths([tmp_path / "runs"], db)
    assert roles(db) == {"loss": "loss", "val_loss": "val_loss", "step_time_ms": "step_time_ms"}
    counts = dict(q(db, "SELECT key, count(*) FROM metrics GROUP BY 1"))
    assert counts["loss"] == 301 and counts["train_loss"] == 7 and counts["val_loss"] == 7
    nonfinite = q(db, "SELECT count(*) FILTER (isnan(value)), count(*) FILTER (isinf(value)) "
                      "FROM metrics WHERE key = 'loss'")
    assert nonfinite == [(40, 11)]
    done = cockpit("check", str(tmp_path / "runs"), "--db", str(tmp_path / "c.duckdb"), "--json")
    nan = [json.loads(line) for line in done.stdout.splitlines() if '"nan"' in line]
    assert nan and nan[0]["metric"] == "loss" and nan[0]["step"] == 250


def test_summarywriter_tutorial_tags_are_loss_and_validation_loss(tmp_path: Path) -> None:
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    run = tmp_path / "runs" / "tutorial"
    with torch_tb.SummaryWriter(str(run)) as writer:
        for step in range(20):
            writer.add_scalar("Loss/train", 1.0 / (step + 1), step)
            writer.add_scalar("Loss/val", 1.2 / (step + 1), step)
            writer.add_scalar("Accuracy/val", step / 20, step)
    db = tmp_path / "t.duckdb"
    import_paths([tmp_path / "runs"], db)
    assert roles(db) == {"loss": "Loss/train", "val_loss": "Loss/val"}


@pytest.mark.slow
def test_lightning_csv_logger_roles(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    from tests.realtrain import lightning

    lightning(tmp_path / "runs", steps=20)
    db = tmp_path / "l.duckdb"
    import_paths([tmp_path / "runs"], db)
    assert roles(db) == {"loss": "train_loss_step", "val_loss": "val_loss", "lr": "lr-SGD"}
    keys = {k for (k,) in q(db, "SELECT DISTINCT key FROM metrics")}
    assert {"train_loss_step", "train_loss_epoch", "val_loss", "lr-SGD"} <= keys


def test_keras_csvlogger_default_training_log_is_a_csv_run(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from tests.realtrain import keras_csv

    keras_csv(tmp_path / "runs" / "keras", epochs=4)
    assert (tmp_path / "runs" / "keras" / "training.log").read_text().startswith("epoch,")
    db = tmp_path / "k.duckdb"
    import_paths([tmp_path / "runs"], db)
    assert q(db, "SELECT DISTINCT source, format FROM series") == [("training.log", "csv")]
    assert roles(db) == {"loss": "loss", "val_loss": "val_loss"}
    assert q(db, "SELECT count(*) FROM metrics WHERE key = 'val_accuracy'") == [(4,)]


def test_csv_is_recognised_by_content_whatever_the_extension(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "history").write_text("step,loss,lr\n0,2.0,0.1\n1,1.5,0.1\n")
    (run / "notes.dat").write_text("not,a,metrics,log\nsome,words,here,too\n")
    (run / "model.safetensors").write_bytes(b"step,loss\n0,1\n")  # never sniffed
    db = tmp_path / "c.duckdb"
    import_paths([tmp_path / "runs"], db)
    assert q(db, "SELECT DISTINCT source FROM metrics") == [("history",)]


def test_modded_nanogpt_nanms_points_are_kept_as_nan(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "public-healthy" / "muon-2024-10-10", tmp_path / "runs" / "muon")
    db = tmp_path / "m.duckdb"
    import_paths([tmp_path / "runs"], db)
    assert q(db, "SELECT count(*) FROM metrics WHERE key = 'step_avg_ms' AND isnan(value)") == [(13,)]
    assert roles(db)["loss"] == "train_loss"
