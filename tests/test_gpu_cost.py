"""GPU-hours per run and the GPU time a failure burned, from the real H100 recordings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.model.alert import Alert
from cockpit.monitor.gpu_cost import LiveCost, gpu_price
from tests.conftest import H100


def held_seconds(run: str, since: float = float("-inf")) -> float:
    """GPU time the recording shows the run's process holding (one row a second)."""
    ticks = []
    for line in (H100 / run / "gpu_procs.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["procs"]:
            ticks.append(row["ts"])
    return sum(min(b, max(a, since) + 1.0) - max(a, since) for a, b in
               zip(ticks, [*ticks[1:], ticks[-1] + 1.0], strict=True) if b > since)


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], list[dict]]:
    tmp = tmp_path_factory.mktemp("cost")
    db = tmp / "h.duckdb"
    out = subprocess.run([sys.executable, "-m", "cockpit", "check", str(H100), "--db", str(db),
                          "--json", "--gpu-price", "2.5"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1, out.stderr
    alerts = [json.loads(line) for line in out.stdout.splitlines()]
    runs = subprocess.run([sys.executable, "-m", "cockpit", "runs", "--db", str(db), "--json"],
                          capture_output=True, text=True, timeout=60)
    return {r["name"]: r for r in json.loads(runs.stdout)}, alerts


def test_gpu_hours_come_from_the_attributed_telemetry(checked: tuple[dict, list]) -> None:
    runs, _ = checked
    for name in ("healthy_bf16", "starved_dataloader", "fp16_adam_eps_nan"):
        assert runs[name]["gpu_hours"] == pytest.approx(held_seconds(name) / 3600, abs=0.002)
    assert runs["healthy_bf16"]["wasted_gpu_hours"] == 0


def test_wasted_gpu_hours_after_the_first_critical_and_while_starved(checked: tuple) -> None:
    runs, alerts = checked
    nan = next(a for a in alerts if a["run"] == "fp16_adam_eps_nan" and a["detector"] == "nan")
    burned = held_seconds("fp16_adam_eps_nan", since=nan["ts"]) / 3600
    assert runs["fp16_adam_eps_nan"]["wasted_gpu_hours"] == pytest.approx(burned, abs=0.001)
    assert runs["fp16_adam_eps_nan"]["status"] == "failed"  # ended inside the NaN episode
    starved = runs["starved_dataloader"]
    assert starved["wasted_gpu_hours"] > 0.8 * starved["gpu_hours"]  # starved all along


def test_warnings_state_the_gpu_time_and_money_burned_since_onset(checked: tuple) -> None:
    _, alerts = checked
    loud = [a for a in alerts if a["severity"] != "info"]
    assert loud and all("gpu_hours_since_onset" in a["evidence"] for a in loud)
    nan = next(a for a in loud if a["detector"] == "nan")
    ev = nan["evidence"]
    assert ev["gpus_held"] == 1 and ev["price_per_gpu_hour"] == 2.5
    assert ev["gpu_hours_since_onset"] == pytest.approx(
        held_seconds("fp16_adam_eps_nan", since=ev["onset_ts"]) / 3600, abs=0.001)
    assert ev["cost_since_onset"] == round(ev["gpu_hours_since_onset"] * 2.5, 2)
    assert not [a for a in alerts if a["severity"] == "info" and "cost_since_onset" in a["evidence"]]


def test_live_cost_counts_the_gpus_held_since_the_onset() -> None:
    stall = Alert("r", "stall", "warning", 10, 1000.0 + 1800, None, "hung",
                  {"onset_ts": 1000.0}, run_id="r1")
    info = Alert("r", "spike", "info", 5, 900.0, "loss", "spike", {}, run_id="r1")
    LiveCost(lambda run_id: 8, 3.0)([stall, info])
    assert stall.evidence["gpu_hours_since_onset"] == 4.0  # 8 GPUs x 30 min
    assert stall.evidence["cost_since_onset"] == 12.0 and stall.evidence["gpus_held"] == 8
    assert "gpu_hours_since_onset" not in info.evidence
    cpu_only = Alert("r", "nan", "critical", 5, 900.0, "loss", "nan", {}, run_id="r1")
    LiveCost(None, None)([cpu_only])
    assert cpu_only.evidence["gpu_hours_since_onset"] is None  # no GPU telemetry here


def test_the_price_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COCKPIT_GPU_PRICE", raising=False)
    assert gpu_price() is None and gpu_price(1.5) == 1.5
    monkeypatch.setenv("COCKPIT_GPU_PRICE", "2.25")
    assert gpu_price() == 2.25
    monkeypatch.setenv("COCKPIT_GPU_PRICE", "lots")
    assert gpu_price() is None


def test_bad_price_is_one_sentence_exit_2(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "cockpit", "check", str(H100 / "healthy_bf16"),
                          "--gpu-price", "-3"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--gpu-price" in out.stderr and "Traceback" not in out.stderr
