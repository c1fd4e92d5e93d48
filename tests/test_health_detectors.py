"""Each training-health detector on hand-made and synthetic curves: fires when it should,
stays silent when it should, and reports one alert per episode."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from cockpit.health.config import HealthConfig
from cockpit.health.monitor import HealthMonitor
from cockpit.health.synthetic import make_run, schedule
from cockpit.model.alert import Alert


def feed(series: dict[str, Any], *, config: HealthConfig | None = None,
         steps: Sequence[int] | None = None, monitor: HealthMonitor | None = None,
         run: str = "r") -> list[Alert]:
    """Points of several metrics, logged together at each step, through a monitor."""
    mon = monitor or HealthMonitor(config)
    n = len(next(iter(series.values())))
    steps = list(steps) if steps is not None else list(range(n))
    keys: list[str] = []
    st: list[int | None] = []
    vals: list[float] = []
    for i in range(n):
        for key, arr in series.items():
            keys.append(key)
            st.append(steps[i])
            vals.append(float(arr[i]))
    return mon.observe(run, run, keys, st, [None] * len(keys), vals)


def by(alerts: list[Alert], detector: str, min_severity: str = "info") -> list[Alert]:
    order = ("info", "warning", "critical")
    return [a for a in alerts if a.detector == detector
            and order.index(a.severity) >= order.index(min_severity)]


def loud(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.severity != "info"]


def noisy_loss(n: int, seed: int = 0, level: float = 3.0, noise: float = 0.01) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * (1 + noise * rng.standard_normal(n))


# ---- nan ---------------------------------------------------------------------------------

def test_nan_is_critical_at_the_first_non_finite_step_and_one_alert_per_episode() -> None:
    loss = noisy_loss(100)
    loss[40:] = math.nan
    grad = np.full(100, 0.5)
    grad[40:] = math.inf
    alerts = feed({"grad_norm": grad, "loss": loss})
    nans = by(alerts, "nan")
    assert len(nans) == 1
    a = nans[0]
    assert (a.severity, a.step, a.metric) == ("critical", 40, "loss")  # the loss leads the story
    assert a.evidence["also_non_finite"] == {"grad_norm": "inf"}
    assert "at step 40" in a.message and "Rule:" in a.message and "Next:" in a.message


def test_nan_rearms_after_recovery() -> None:
    loss = noisy_loss(200)
    loss[50] = math.nan
    loss[150] = math.nan
    nans = by(feed({"loss": loss}), "nan")
    assert [a.step for a in nans] == [50, 150]
    loss[60] = math.nan  # not 20 finite logs since the first: same episode
    assert [a.step for a in by(feed({"loss": loss}), "nan")] == [50, 150]


def test_nan_in_timings_is_not_watched() -> None:
    step_avg = np.full(50, 210.0)
    step_avg[:3] = math.nan  # modded-nanogpt's `step_avg:nanms` on the first steps
    assert feed({"step_avg_ms": step_avg, "loss": noisy_loss(50)}) == []


def test_non_finite_grad_norm_under_loss_scaling_is_info() -> None:
    run = make_run("healthy_fp16_amp", 0)
    alerts = HealthMonitor().observe(run.name, run.name, run.keys, run.steps, run.ts, run.values)
    nans = by(alerts, "nan")
    assert [a.severity for a in nans] == ["info"]
    assert not loud(alerts)
    # Without the loss-scale series the same inf grad norm is critical.
    keep = [i for i, k in enumerate(run.keys) if k != "loss_scale"]
    alerts = HealthMonitor().observe(run.name, run.name, [run.keys[i] for i in keep],
                                     [run.steps[i] for i in keep], [run.ts[i] for i in keep],
                                     [run.values[i] for i in keep])
    assert by(alerts, "nan", "critical")[0].step == 1


# ---- spike / divergence ------------------------------------------------------------------

def test_one_step_spike_is_info_and_small_ones_are_silent() -> None:
    loss = noisy_loss(200)
    loss[100] *= 2.5
    loss[150] *= 1.6
    alerts = feed({"loss": loss})
    assert not loud(alerts)
    spikes = by(alerts, "spike")
    assert [(a.step, a.severity) for a in spikes] == [(100, "info")]


def test_sustained_excursion_is_a_warning_at_the_third_log() -> None:
    loss = noisy_loss(200)
    loss[100:106] *= 1.8
    alerts = feed({"loss": loss})
    div = by(alerts, "divergence")
    assert [(a.step, a.severity) for a in div] == [(102, "warning")]
    assert "3 consecutive logs" in div[0].message


def test_runaway_is_critical_before_the_first_nan() -> None:
    loss = noisy_loss(200)
    loss[100:108] = 3.0 * 1.8 ** np.arange(1, 9)
    loss[108:] = math.nan
    alerts = feed({"loss": loss})
    div = by(alerts, "divergence")
    assert [a.severity for a in div] == ["warning", "critical"]
    assert all(a.step is not None and a.step < 108 for a in div)
    assert by(alerts, "nan")[0].step == 108


def test_a_single_blowup_log_is_critical_at_once() -> None:
    loss = noisy_loss(100)
    loss[60] = 3.0 * 500
    loss[61:] = math.nan
    div = by(feed({"loss": loss}), "divergence", "critical")
    assert [a.step for a in div] == [60]


def test_divergence_rearms_only_after_calm() -> None:
    loss = noisy_loss(400)
    loss[100:105] *= 2
    loss[300:305] *= 2
    div = by(feed({"loss": loss}), "divergence")
    assert [a.step for a in div] == [102, 302]


def test_noisy_small_loss_does_not_diverge() -> None:
    rng = np.random.default_rng(1)
    loss = 0.02 * np.exp(0.5 * rng.standard_normal(3000))  # heavy relative noise
    assert not by(feed({"loss": loss}), "divergence")


def test_level_shift_becomes_the_new_baseline() -> None:
    loss = noisy_loss(400)
    loss[200:] *= 1.7  # e.g. a new data mixture: warned once, then the new normal
    div = by(feed({"loss": loss}), "divergence")
    assert len(div) == 1


# ---- grad_explosion ---------------------------------------------------------------------

def test_grad_explosion_needs_two_logs_above_ten_times_the_median() -> None:
    grad = noisy_loss(200, level=0.5)
    grad[80] *= 40  # one-step spike: fine
    grad[120:123] *= np.array([15, 30, 60])
    alerts = by(feed({"grad_norm": grad}), "grad_explosion")
    assert [(a.step, a.severity) for a in alerts] == [(121, "warning")]
    assert "loss usually follows" in alerts[0].message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_explosion_synthetic_leads_the_nan(seed: int) -> None:
    run = make_run("fault_grad_explosion", seed)
    alerts = HealthMonitor().observe(run.name, run.name, run.keys, run.steps, run.ts, run.values)
    onset = run.labels[0].onset
    first_nan = by(alerts, "nan")[0].step
    grad = by(alerts, "grad_explosion")
    assert grad and grad[0].step is not None and first_nan is not None
    assert onset <= grad[0].step < first_nan - 3  # several steps of warning


# ---- no_learning ------------------------------------------------------------------------

def test_no_learning_fires_after_warmup_when_the_loss_stays_at_its_start() -> None:
    n = 400
    lr = schedule("cosine", n, 100, 6e-4)
    loss = noisy_loss(n, level=10.8)
    alerts = feed({"loss": loss, "lr": lr})
    nl = by(alerts, "no_learning")
    assert len(nl) == 1 and nl[0].severity == "warning"
    assert nl[0].step is not None and nl[0].step >= 150  # warmup ends at 100, +50 logs
    assert not by(alerts, "plateau")


def test_learning_run_and_lr_zero_run_are_not_no_learning() -> None:
    n = 600
    lr = schedule("cosine", n, 100, 6e-4)
    loss = 3 + 7 * np.exp(-np.arange(n) / 100) + 0.01 * np.random.default_rng(0).standard_normal(n)
    assert not feed({"loss": loss, "lr": lr})
    zero = np.zeros(n)
    alerts = feed({"loss": noisy_loss(n, level=10.8), "lr": zero})
    assert by(alerts, "lr_zero") and not by(alerts, "no_learning")


def test_no_learning_waits_for_a_slow_start_that_is_still_improving() -> None:
    n = 400
    loss = 10 * (1 - 0.00005 * np.arange(n))  # -2% over 400 logs, steadily
    lr = np.full(n, 1e-4)
    assert not by(feed({"loss": loss, "lr": lr}), "no_learning")


# ---- plateau ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_plateau_at_a_flat_lr_fires_once_after_the_onset(seed: int) -> None:
    run = make_run("fault_plateau", seed)
    alerts = HealthMonitor().observe(run.name, run.name, run.keys, run.steps, run.ts, run.values)
    plateau = by(alerts, "plateau")
    assert len(plateau) == 1
    assert plateau[0].step is not None and plateau[0].step > run.labels[0].onset
    assert not [a for a in loud(alerts) if a.detector != "plateau"]


def test_flattening_under_a_decaying_lr_is_not_a_plateau() -> None:
    n = 3000
    lr = schedule("cosine", n, 100, 6e-4, final=0.0)
    steps = np.arange(n)
    # Improves until step 2000, then flat (noise only) while the cosine decays to 0.
    loss = noisy_loss(n, level=3.0, noise=0.002) + 0.5 * np.clip((2000 - steps) / 2000, 0, 1)
    assert not by(feed({"loss": loss, "lr": lr}), "plateau")
    assert not by(feed({"loss": loss, "lr": lr[::-1].copy()}), "plateau")  # warmup-ish rise


def test_flat_loss_at_a_flat_lr_is_a_plateau() -> None:
    n = 3000
    loss = noisy_loss(n, level=3.0, noise=0.002) + 7 * np.exp(-np.arange(n) / 60)
    alerts = feed({"loss": loss, "lr": np.full(n, 6e-4)})
    plateau = by(alerts, "plateau")
    assert len(plateau) == 1 and plateau[0].severity == "warning"
    assert "lr flat at 0.0006" in plateau[0].message
    # Unknown schedule (no lr logged): judged on the loss alone.
    assert by(feed({"loss": loss}), "plateau")


def test_noisy_slowly_improving_loss_is_not_a_plateau() -> None:
    n = 6000
    rng = np.random.default_rng(5)
    loss = (2.8 + 8 * (1 + np.arange(n) / 40) ** -0.3) * (1 + 0.03 * rng.standard_normal(n))
    assert not loud(feed({"loss": loss, "lr": np.full(n, 3e-4)}))


# ---- lr_zero ----------------------------------------------------------------------------

def test_lr_dropping_to_zero_fires_within_a_few_logs() -> None:
    n = 600
    lr = schedule("cosine", n, 100, 6e-4)
    lr[300:] = 0.0
    alerts = by(feed({"lr": lr}), "lr_zero")
    assert len(alerts) == 1 and alerts[0].step is not None
    assert 300 <= alerts[0].step <= 305 and alerts[0].evidence["abrupt"] is True
    assert "not a warmup start or a final decay" in alerts[0].message


@pytest.mark.parametrize("kind", ["cosine", "linear", "wsd", "sgdr"])
def test_warmup_from_zero_and_final_decay_to_zero_are_quiet(kind: str) -> None:
    n = 4000
    lr = schedule(kind, n, 200, 6e-4, final=0.0)
    lr[0] = 0.0  # warmup that starts at exactly 0
    assert not feed({"lr": lr})


def test_step_schedule_down_to_one_thousandth_is_quiet() -> None:
    lr = schedule("resnet", 3000, 0, 0.1)
    assert lr.min() == pytest.approx(1e-4)
    assert not feed({"lr": lr})


def test_schedule_that_ends_before_training_fires() -> None:
    run = make_run("fault_lr_short_schedule", 0)
    alerts = HealthMonitor().observe(run.name, run.name, run.keys, run.steps, run.ts, run.values)
    lr = by(alerts, "lr_zero")
    assert len(lr) == 1 and lr[0].evidence["abrupt"] is False
    assert lr[0].step is not None and lr[0].step > run.labels[0].onset


def test_lr_zero_from_the_first_log() -> None:
    alerts = by(feed({"lr": np.zeros(50)}), "lr_zero")
    assert [a.step for a in alerts] == [19]


# ---- throughput_drop --------------------------------------------------------------------

def test_throughput_drop_fires_once_for_tokens_and_step_time_together() -> None:
    n = 600
    tps = noisy_loss(n, level=300_000.0, noise=0.03)
    tps[400:] *= 0.6
    alerts = feed({"step_time_ms": 16384 / tps * 1000, "tokens_per_s": tps})
    drops = by(alerts, "throughput_drop")
    assert len(drops) == 1 and drops[0].step is not None
    assert 400 <= drops[0].step <= 440
    assert drops[0].metric == "tokens_per_s"  # step time stands down when both are logged
    assert "40% less throughput" in drops[0].message
    alone = by(feed({"step_time_ms": 16384 / tps * 1000}), "throughput_drop")
    assert len(alone) == 1 and alone[0].metric == "step_time_ms"
    assert "40% less throughput" in alone[0].message


def test_throughput_needs_a_steady_state_first_and_ignores_short_dips() -> None:
    n = 600
    tps = noisy_loss(n, level=300_000.0, noise=0.03)
    tps[:60] *= 1.5  # fast at first (before the steady state exists)
    tps[300:310] *= 0.5  # a 10-log dip: shorter than the sustain window
    assert not feed({"tokens_per_s": tps})


def test_starved_style_bimodal_step_time_is_not_a_drop() -> None:
    rng = np.random.default_rng(2)
    n = 400
    fast = rng.random(n) < 0.3
    step_ms = np.where(fast, 80.0, 118.0) * (1 + 0.03 * rng.standard_normal(n))
    assert not feed({"step_time_ms": step_ms})


# ---- memory_pressure --------------------------------------------------------------------

def test_memory_climbing_every_step_is_a_warning_well_before_capacity() -> None:
    mem = 1.4 + 0.25 * np.arange(300)
    alerts = by(feed({"gpu_mem_alloc_gb": mem}), "memory_pressure")
    assert len(alerts) == 1
    a = alerts[0]
    assert a.severity == "warning" and a.step is not None and a.step < 100
    assert a.evidence["source"] == "log"


def test_memory_near_a_known_capacity_escalates_to_critical() -> None:
    mem = 1.4 + 0.25 * np.arange(330)
    cfg = HealthConfig(memory_capacity_gb=80.0)
    alerts = by(feed({"gpu_mem_alloc_gb": mem}, config=cfg), "memory_pressure")
    assert [a.severity for a in alerts] == ["warning", "critical"]
    assert alerts[1].step is not None and mem[alerts[1].step] >= 76
    assert "reaches the 80 GB capacity" in alerts[0].message


def test_memory_steps_and_flat_memory_are_quiet() -> None:
    mem = np.full(500, 7.0) + 0.004 * np.random.default_rng(0).standard_normal(500)
    mem[100:] += 3.0  # one jump (a longer batch)
    mem[300:] += 3.0
    assert not feed({"gpu_mem_alloc_gb": mem, "mem_util": np.full(500, 99.0)})


# ---- stall ------------------------------------------------------------------------------

def _timed(n: int, interval: float = 0.5, gap_at: int | None = None, gap: float = 0.0,
           t0: float = 1.7e9) -> tuple[list[str], list[int | None], list[float | None], list[float]]:
    ts = t0 + interval * np.arange(n)
    if gap_at is not None:
        ts[gap_at:] += gap
    return (["loss"] * n, list(range(n)), [float(t) for t in ts], list(noisy_loss(n)))


def test_a_gap_in_the_timestamps_is_a_past_stall() -> None:
    mon = HealthMonitor()
    alerts = mon.observe("r", "r", *_timed(200, gap_at=120, gap=3600))
    stalls = by(alerts, "stall")
    assert [(a.step, a.severity) for a in stalls] == [(119, "warning")]
    assert stalls[0].evidence["gap_s"] == pytest.approx(3600.5)


def test_pauses_under_the_floor_are_not_stalls() -> None:
    mon = HealthMonitor()
    assert not mon.observe("r", "r", *_timed(200, gap_at=120, gap=250))
    cfg = HealthConfig(stall_after_s=60)
    assert by(HealthMonitor(cfg).observe("r", "r", *_timed(200, gap_at=120, gap=250)), "stall")


def test_live_stall_classification() -> None:
    mon = HealthMonitor()
    keys, steps, ts, vals = _timed(100)
    mon.observe("r", "run-a", keys, steps, ts, vals)
    last = ts[-1]
    assert last is not None
    assert mon.check_stall("r", "run-a", last + 100, True, False) == []  # under the floor
    hung = mon.check_stall("r", "run-a", last + 900, True, False)
    assert [(a.severity, a.evidence["classification"]) for a in hung] == [("warning", "hung")]
    assert mon.check_stall("r", "run-a", last + 1800, True, False) == []  # same episode
    # New data ends the episode without a second (past-gap) alert.
    more = mon.observe("r", "run-a", ["loss"], [100], [last + 2000], [3.0])
    assert not by(more, "stall")
    gone = mon.check_stall("r", "run-a", last + 3000, False, False)
    assert gone[0].evidence["classification"] == "exited"
    assert "process is gone" in gone[0].message


def test_live_watch_does_not_page_for_old_runs_it_never_saw_running() -> None:
    keys, steps, ts, vals = _timed(100)
    last = ts[-1]
    assert last is not None
    mon = HealthMonitor()
    mon.observe("old", "old", keys, steps, ts, vals)
    assert mon.check_stall("old", "old", last + 86400, None, False) == []
    # ...unless the process is known to be alive: then it is hung, however old.
    assert mon.check_stall("old", "old", last + 86400, True, False)[0].evidence[
        "classification"] == "hung"
    mon.observe("live", "live", keys, steps, ts, vals)
    assert mon.check_stall("live", "live", last + 1, None, False) == []  # seen logging
    stalled = mon.check_stall("live", "live", last + 900, None, False)
    assert [(a.severity, a.evidence["classification"]) for a in stalled] == [
        ("warning", "stalled")]


def test_finished_or_crashed_runs_never_stall_and_posthoc_unknown_is_info() -> None:
    from cockpit.model.records import RunEvent

    keys, steps, ts, vals = _timed(100)
    last = ts[-1]
    assert last is not None
    mon = HealthMonitor()
    mon.observe("a", "a", keys, steps, ts, vals)
    assert mon.check_stall("a", "a", last + 1e5, None, True) == []
    mon.observe_event("a", "a", RunEvent("finished", "done"))
    assert mon.check_stall("a", "a", last + 1e5, None, False) == []
    mon.observe("b", "b", keys, steps, ts, vals)
    mon.observe_event("b", "b", RunEvent("error", "RuntimeError: boom"))
    assert mon.check_stall("b", "b", last + 1e5, None, False) == []
    mon.observe("c", "c", keys, steps, ts, vals)
    post = mon.check_stall("c", "c", last + 86400 * 3, None, False, posthoc=True)
    assert [(a.severity, a.evidence["classification"]) for a in post] == [("info", "unknown")]
    assert "3.0 days" in post[0].message
    assert mon.check_stall("unknown-run", "x", last, None, False) == []


# ---- crash ------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "kind"), [
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 256.00 MiB", "out of memory"),
    ("RuntimeError: NCCL communicator was aborted on rank 3", "NCCL / distributed failure"),
    ("RuntimeError: CUDA error: an illegal memory access was encountered", "CUDA error"),
    ("Killed", "killed"),
    ("OSError: [Errno 28] No space left on device", "disk full"),
    ("ValueError: too many values to unpack", "exception"),
])
def test_crash_names_the_kind_of_failure(line: str, kind: str) -> None:
    from cockpit.model.records import RunEvent

    mon = HealthMonitor()
    mon.observe("r", "r", ["loss"], [41], [None], [2.0])
    alerts = mon.observe_event("r", "r", RunEvent("error", line))
    assert len(alerts) == 1
    a = alerts[0]
    assert (a.detector, a.severity, a.step) == ("crash", "critical", 41)
    assert a.message.startswith(f"run crashed: {kind}")
    assert a.evidence["kind"] == kind
    assert mon.observe_event("r", "r", RunEvent("error", line)) == []  # one per crash
    mon.observe("r", "r", ["loss"], [42], [None], [2.0])  # the run resumed
    assert mon.observe_event("r", "r", RunEvent("error", line))


def test_crash_message_is_one_line_and_bounded() -> None:
    from cockpit.model.records import RunEvent

    mon = HealthMonitor()
    a = mon.observe_event("r", "r", RunEvent("error", "Error:\n" + "x" * 5000))[0]
    assert "\n" not in a.message and len(a.message) < 1000
    assert a.step is None
