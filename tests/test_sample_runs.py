"""sample_runs/ holds what its README and ground_truth.json say: formats, faults, onsets, sizes.

These read the committed output; only the slow smoke test runs the generator (20 steps).
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_runs"
FIXTURE_GPU = REPO / "tests" / "fixtures" / "h100-runs" / "healthy_bf16"
RUNS = ("healthy", "nan_collapse", "spike_diverge", "lr_bug_plateau", "stall")
ITER_LINE = re.compile(
    r"^iter (\d+): loss (\S+), time ([\d.]+)ms, lr (\S+), gnorm (\S+)$", re.MULTILINE
)


@cache
def truth() -> dict[str, Any]:
    return json.loads((SAMPLES / "ground_truth.json").read_text())


def run_truth(name: str) -> dict[str, Any]:
    return next(r for r in truth()["runs"] if r["run"] == name)


@cache
def lines(name: str) -> list[dict[str, Any]]:
    text = (SAMPLES / name / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def series(name: str, key: str) -> list[float]:
    return [line[key] for line in lines(name)]


@cache
def tfevents_scalars(name: str) -> dict[str, list[tuple[int, float, float]]]:
    """tag -> [(step, wall_time, value)] read with TensorBoard's own loader."""
    loader_module = pytest.importorskip("tensorboard.backend.event_processing.event_file_loader")
    (path,) = (SAMPLES / name).glob("events.out.tfevents.*")
    out: dict[str, list[tuple[int, float, float]]] = {}
    for event in loader_module.EventFileLoader(str(path)).Load():
        for value in event.summary.value:
            number = (
                value.simple_value
                if value.WhichOneof("value") == "simple_value"
                else value.tensor.float_val[0]
            )
            out.setdefault(value.tag, []).append((event.step, event.wall_time, number))
    return out


def same(a: float, b: float, rel: float = 1e-6) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel)


def test_ground_truth_lists_the_five_runs_and_nothing_else() -> None:
    assert [r["run"] for r in truth()["runs"]] == list(RUNS)
    for name in RUNS:
        assert (SAMPLES / name).is_dir()


@pytest.mark.parametrize("name", RUNS)
def test_every_run_logs_in_at_least_two_formats(name: str) -> None:
    folder = SAMPLES / name
    formats = {
        "jsonl": (folder / "metrics.jsonl").is_file(),
        "text": bool(ITER_LINE.search((folder / "train.log").read_text())),
        "tfevents": bool(list(folder.glob("events.out.tfevents.*"))),
    }
    assert sum(formats.values()) >= 2, formats
    assert formats["jsonl"]


@pytest.mark.parametrize("name", RUNS)
def test_jsonl_steps_are_contiguous_and_times_increase(name: str) -> None:
    steps = series(name, "step")
    assert steps == list(range(run_truth(name)["last_step"] + 1))
    times = series(name, "time")
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    for key in ("loss", "lr", "grad_norm", "param_norm", "step_time_ms", "tokens_per_s"):
        assert all(key in line for line in lines(name)), key
    assert any("val_loss" in line for line in lines(name))


@pytest.mark.parametrize("name", RUNS)
def test_the_three_formats_hold_the_same_points(name: str) -> None:
    scalars = tfevents_scalars(name)
    loss = scalars["train/loss"]
    assert [step for step, _, _ in loss] == series(name, "step")
    for (_, wall, value), line in zip(loss, lines(name), strict=True):
        assert same(value, line["loss"]) and wall == pytest.approx(line["time"])
    assert len(scalars["val/loss"]) == len([x for x in lines(name) if "val_loss" in x])
    text = (SAMPLES / name / "train.log").read_text()
    by_step = {line["step"]: line for line in lines(name)}
    logged = ITER_LINE.findall(text)
    assert [int(m[0]) for m in logged] == [s for s in by_step if s % 10 == 0]
    for step, loss_text, *_ in logged:
        assert loss_text == f"{by_step[int(step)]['loss']:.4f}"


def test_runs_share_the_healthy_curve_until_their_onset() -> None:
    healthy = series("healthy", "loss")
    for name in ("nan_collapse", "spike_diverge", "lr_bug_plateau", "stall"):
        onset = run_truth(name)["onset_step"]
        assert series(name, "loss")[:onset] == healthy[:onset], name
        if name != "stall":  # the fault acts on the step at onset, so the next loss differs
            assert not same(series(name, "loss")[onset + 1], healthy[onset + 1]), name


def test_healthy_loss_falls_and_stays_finite() -> None:
    loss = series("healthy", "loss")
    assert all(math.isfinite(v) for v in loss)
    windows = [statistics.mean(loss[i : i + 100]) for i in range(0, len(loss), 100)]
    assert all(b < a for a, b in zip(windows, windows[1:], strict=False)), windows
    assert windows[-1] < 0.3 * loss[0]
    val = [line["val_loss"] for line in lines("healthy") if "val_loss" in line]
    assert all(b < a for a, b in zip(val, val[1:], strict=False)), val
    lr = series("healthy", "lr")
    peak = lr.index(max(lr))
    assert 0 < peak < len(lr) // 4  # warmup, then decay only
    assert all(b <= a for a, b in zip(lr[peak:], lr[peak + 1 :], strict=False))
    assert "done after" in (SAMPLES / "healthy" / "train.log").read_text()


def test_nan_collapse_is_nan_from_its_onset_to_the_end() -> None:
    onset = run_truth("nan_collapse")["onset_step"]
    loss, gnorm = series("nan_collapse", "loss"), series("nan_collapse", "grad_norm")
    assert all(math.isfinite(v) for v in loss[:onset] + gnorm[:onset])
    assert all(math.isnan(v) for v in loss[onset:] + gnorm[onset:])
    assert len(loss) - onset >= 100  # the run keeps going long after it broke
    assert run_truth("nan_collapse")["first_nonfinite_step"] == onset
    assert lines("nan_collapse")[-1]["nonfinite_loss"] == len(loss) - onset
    raw = (SAMPLES / "nan_collapse" / "metrics.jsonl").read_text()
    assert '"loss": NaN' in raw and "null" not in raw
    text = (SAMPLES / "nan_collapse" / "train.log").read_text()
    assert f"iter {math.ceil(onset / 10) * 10}: loss nan," in text


def test_spike_diverge_runs_away_by_orders_of_magnitude_before_nan() -> None:
    fact = run_truth("spike_diverge")
    onset = fact["onset_step"]
    loss = series("spike_diverge", "loss")
    first_nan = next(i for i, v in enumerate(loss) if not math.isfinite(v))
    assert first_nan == fact["first_nonfinite_step"] > onset
    assert all(math.isfinite(v) for v in loss[:first_nan])
    assert all(math.isnan(v) for v in loss[first_nan:])
    assert max(loss[onset:first_nan]) > 1000 * loss[0]
    baseline = statistics.median(loss[onset - 50 : onset])
    above = next(i for i in range(onset, first_nan) if loss[i] > 10 * baseline)
    assert above == fact["first_step_loss_above_10x_median"]
    gnorm = series("spike_diverge", "grad_norm")
    first_bad_gnorm = next(i for i, v in enumerate(gnorm) if not math.isfinite(v))
    assert first_bad_gnorm == fact["first_nonfinite_grad_norm_step"] <= first_nan
    assert first_bad_gnorm - above >= 10  # a monitor has time to warn before anything is NaN
    assert max(gnorm[onset:first_nan]) > 100 * statistics.median(gnorm[onset - 50 : onset])
    assert any(k.startswith("grad_norm/") for k in lines("spike_diverge")[0])


def test_lr_bug_plateau_has_an_effectively_zero_lr_and_a_flat_loss() -> None:
    onset = run_truth("lr_bug_plateau")["onset_step"]
    lr = series("lr_bug_plateau", "lr")
    assert all(v > 1e-4 for v in lr[50:onset])
    assert all(0 <= v <= 1e-8 for v in lr[onset:])
    loss = series("lr_bug_plateau", "loss")
    before = statistics.mean(loss[onset - 25 : onset])
    late = statistics.mean(loss[-100:])
    assert late > 0.95 * before  # no real progress after the onset
    assert late > statistics.mean(series("healthy", "loss")[-100:]) + 0.1
    gnorm = series("lr_bug_plateau", "grad_norm")
    ratio = statistics.median(gnorm[onset:]) / statistics.median(gnorm[onset - 50 : onset])
    assert 0.5 < ratio < 2  # gradients stay normal: only the lr is wrong


def test_stall_ends_mid_run_long_before_the_corpus_ends() -> None:
    fact = run_truth("stall")
    onset, last = fact["onset_step"], fact["last_step"]
    assert last == onset - 1 and last < truth()["steps"] - 1
    assert series("stall", "step")[-1] == last
    assert tfevents_scalars("stall")["train/loss"][-1][0] == last
    assert "done after" not in (SAMPLES / "stall" / "train.log").read_text()
    process = json.loads((SAMPLES / "stall" / "process.json").read_text())
    assert process["process_end"] is None and process["exit_code"] is None
    assert process["alive_at_observation"] is True
    last_time = series("stall", "time")[-1]
    newest_elsewhere = max(series(name, "time")[-1] for name in RUNS if name != "stall")
    gaps = [
        b - a for a, b in zip(series("stall", "time"), series("stall", "time")[1:], strict=False)
    ]
    silent = process["observed_at"] - last_time
    assert silent == pytest.approx(fact["silent_seconds_at_observation"])
    assert silent > 1800 and silent > 1000 * statistics.median(gaps)
    assert newest_elsewhere - last_time > 1800


@pytest.mark.parametrize("name", [n for n in RUNS if n != "stall"])
def test_finished_runs_say_so(name: str) -> None:
    process = json.loads((SAMPLES / name / "process.json").read_text())
    assert process["exit_code"] == 0 and process["alive_at_observation"] is False
    last_time = series(name, "time")[-1]
    assert process["process_start"] < series(name, "time")[0]
    assert last_time < process["process_end"] < last_time + 10 <= process["observed_at"] + 10
    assert (
        (SAMPLES / name / "train.log")
        .read_text()
        .endswith(f"done after {truth()['steps']} steps\n")
    )


def test_readme_states_each_run_and_its_onset() -> None:
    readme = (SAMPLES / "README.md").read_text()
    assert "make samples" in readme and "scripts/make_sample_runs.py" in readme
    for name in RUNS:
        row = re.search(rf"^\| `{name}` \|.*$", readme, re.MULTILINE)
        assert row, name
        onset = run_truth(name)["onset_step"]
        cells = [c.strip() for c in row.group(0).strip("|").split("|")]
        assert cells[2] == ("-" if onset is None else str(onset)), (name, cells[2])


def test_gpu_replay_is_the_h100_recording_outside_any_run() -> None:
    replay = SAMPLES / "gpu_replay"
    names = sorted(p.name for p in replay.iterdir())
    assert names == ["gpu_procs.jsonl", "gpu_trace.jsonl", "process.json"]
    for name in names:
        assert (replay / name).read_bytes() == (FIXTURE_GPU / name).read_bytes()
    assert not (replay / "metrics.jsonl").exists()


def test_sample_runs_stay_small() -> None:
    def size(folder: Path) -> int:
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    ours = sum(size(SAMPLES / name) for name in (*RUNS, "gpu_replay"))
    assert ours < 2_500_000
    assert size(SAMPLES) < 5_000_000


@pytest.mark.slow
def test_generator_smoke_run(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("tensorboard")
    script = REPO / "scripts" / "make_sample_runs.py"
    done = subprocess.run(
        [sys.executable, str(script), "--steps", "20", "--out", str(tmp_path), "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr
    smoke = json.loads((tmp_path / "ground_truth.json").read_text())
    onsets = {r["run"]: r["onset_step"] for r in smoke["runs"]}
    assert onsets == {
        "healthy": None,
        "nan_collapse": 10,
        "spike_diverge": 10,
        "lr_bug_plateau": 8,
        "stall": 12,
    }
    nan_lines = (tmp_path / "nan_collapse" / "metrics.jsonl").read_text().splitlines()
    assert len(nan_lines) == 20 and '"loss": NaN' in nan_lines[10]
    assert len((tmp_path / "stall" / "metrics.jsonl").read_text().splitlines()) == 12
    for name in RUNS:
        assert list((tmp_path / name).glob("events.out.tfevents.*")), name
        assert (tmp_path / name / "train.log").is_file()
