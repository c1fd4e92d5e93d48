"""What eval files say besides their samples: lm-eval results-only files (0.4 and pre-0.4)
with their stderr, every per-sample metric (acc_norm beside acc), Inspect headers without
samples, and picking one eval of several for triage. Files written by the real tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cockpit.evals.loaders import load_eval, load_evals
from cockpit.evals.store import load_stored_eval, store_eval
from cockpit.evals.summary import summarize
from cockpit.store.writer import StoreWriter
from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "sample_runs" / "evals" / "tool_logs"
LM_RESULTS = next((TOOL / "lm_eval").glob("results_*.json"))  # lm_eval 0.4.13
HEADER_ONLY = FIXTURES / "eval-logs" / "inspect-header-only"  # inspect_ai 0.3.285
DATA = tempfile.mkdtemp(prefix="cockpit-data-")
PROMPTFOO = next((TOOL / "promptfoo").glob("*.json"))  # promptfoo 0.120.0, two providers


def cockpit(*args: str) -> subprocess.CompletedProcess[str]:
    # XDG_DATA_HOME: commands that store evals never touch the user's default history
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_DATA_HOME=DATA)
    return subprocess.run([sys.executable, "-m", "cockpit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_lm_eval_results_file_alone_gives_results_only_runs(tmp_path: Path) -> None:
    alone = tmp_path / LM_RESULTS.name
    shutil.copy(LM_RESULTS, alone)
    doc = json.loads(alone.read_text())["results"]
    runs = {r.task: r for r in load_evals(alone)}
    assert set(runs) == {"tiny_mc", "tiny_gen"}
    mc = summarize(runs["tiny_mc"]).to_json()
    assert mc["results_only"] is True and mc["n"] == 0
    acc = mc["metrics"]["acc"]
    se = doc["tiny_mc"]["acc_stderr,none"]
    assert acc["value"] == doc["tiny_mc"]["acc,none"] and acc["se"] == se and acc["n"] == 12
    assert acc["ci"] == [pytest.approx(max(0.0, 0.25 - 1.959964 * se)),
                         pytest.approx(0.25 + 1.959964 * se)]
    assert mc["metrics"]["acc_norm"]["value"] == doc["tiny_mc"]["acc_norm,none"]
    assert any("--log_samples" in note for note in mc["notes"])
    gen = summarize(runs["tiny_gen"]).to_json()["metrics"]
    assert set(gen) == {"exact_match[strict-match]", "exact_match[flexible-extract]"}
    done = cockpit("eval", "summary", str(alone), "--json")
    assert done.returncode == 0 and '"results_only": true' in done.stdout
    done = cockpit("triage", str(alone), "--eval", "tiny_mc", "--offline", "--no-store")
    assert done.returncode == 2 and "results only" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_per_sample_metric_is_summarised_and_matches_the_harness() -> None:
    runs = {r.task: r for r in load_evals(LM_RESULTS)}
    doc = json.loads(LM_RESULTS.read_text())["results"]
    mc = summarize(runs["tiny_mc"]).metrics
    assert mc["accuracy"].value == pytest.approx(doc["tiny_mc"]["acc,none"])
    assert mc["acc_norm"].value == pytest.approx(doc["tiny_mc"]["acc_norm,none"])
    assert mc["acc_norm"].n == 12 and mc["acc_norm"].method != "reported"  # from the samples
    gen = summarize(runs["tiny_gen"]).metrics
    assert gen["exact_match[flexible-extract]"].value == pytest.approx(
        doc["tiny_gen"]["exact_match,flexible-extract"])


@pytest.mark.parametrize("fmt", ["eval", "json"])
def test_inspect_header_without_samples_reports_the_header_score(fmt: str,
                                                                 tmp_path: Path) -> None:
    path = next((HEADER_ONLY / fmt).iterdir())
    run = load_eval(path)
    assert run.results_only and len(run) == 0
    summary = summarize(run).to_json()
    acc = summary["metrics"]["accuracy"]
    assert acc["value"] == 0.5 and acc["se"] == pytest.approx(0.2886751) and acc["n"] == 4
    assert acc["ci"] == [0.0, 1.0]  # 0.5 ± 1.96 × 0.289, kept inside [0, 1]
    assert any("header only" in note for note in summary["notes"])
    with StoreWriter(tmp_path / "e.duckdb") as writer:
        store_eval(writer, run)
        writer.flush()
        back = load_stored_eval(writer.cursor(), run.eval_id)
    assert back is not None and back.results_only and back.reported == run.reported


def test_triage_picks_one_provider_of_a_promptfoo_export() -> None:
    done = cockpit("triage", str(PROMPTFOO), "--offline", "--no-store", "--json")
    assert done.returncode == 2 and "--eval NAME" in done.stderr
    assert "'tiny echo comparison:echo'" in done.stderr
    for name in ("shouty", "tiny echo comparison:shouty"):
        done = cockpit("triage", str(PROMPTFOO), "--eval", name, "--offline", "--no-store",
                       "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["eval"] == "tiny echo comparison:shouty"
    done = cockpit("triage", str(PROMPTFOO), "--eval", "nope", "--offline", "--no-store")
    assert done.returncode == 2 and "no eval named 'nope'" in done.stderr


def test_pre_0_4_lm_eval_res_json_is_results_only() -> None:
    """`main.py --output_path tinycapitals-res.json` of lm-eval 0.3.0 (no samples exist)."""
    path = FIXTURES / "eval-logs" / "lm-eval-0.3" / "tinycapitals-res.json"
    doc = json.loads(path.read_text())["results"]["TinyCapitals"]
    run = load_eval(path)
    assert run.results_only and run.task == "TinyCapitals" and run.model == "dummy"
    metrics = summarize(run).to_json()["metrics"]
    assert set(metrics) == {"acc", "acc_norm"}
    assert metrics["acc_norm"]["value"] == doc["acc_norm"]
    assert metrics["acc_norm"]["se"] == doc["acc_norm_stderr"]
    done = cockpit("eval", "summary", str(path))
    assert done.returncode == 0 and "acc_norm" in done.stdout and "results only" in done.stdout
