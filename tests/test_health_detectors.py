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


def test_a_slowly_rising_loss_is_called_rising_not_plateaued() -> None:
    n = 3000
    steps = np.arange(n)
    # Learns, then creeps up by 20% over the rest of the run (too slow for divergence).
    loss = (noisy_loss(n, level=3.0, noise=0.002) + 7 * np.exp(-steps / 60)
            + 0.6 * np.clip((steps - 400) / 2600, 0, 1))
    plateau = by(feed({"loss": loss, "lr": np.full(n, 6e-4)}), "plateau")
    assert len(plateau) == 1 and plateau[0].evidence["direction"] == "rising"
    assert "has been rising since" in plateau[0].message and "plateaued" not in plateau[0].message
    flat = by(feed({"loss": noisy_loss(n, level=3.0, noise=0.002) + 7 * np.exp(-steps / 60),
                    "lr": np.full(n, 6e-4)}), "plateau")
    assert flat[0].evidence["direction"] == "flat" and "plateaued around" in flat[0].message


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


# ---- stuck_at_chance --------------------------------------------------------------------

def _learned_then(n: int, after: np.ndarray) -> np.ndarray:
    learned = 2.0 + 2.0 * np.exp(-np.arange(300) / 60) + 0.02 * np.random.default_rng(1).standard_normal(300)
    return np.concatenate([learned, after])[:n]


def test_a_loss_that_collapses_back_to_its_initial_level_is_stuck_at_chance() -> None:
    n = 700
    loss = _learned_then(n, np.full(400, 4.0))  # a zeroed output layer: uniform predictions
    alerts = feed({"loss": loss, "lr": np.full(n, 1e-3)})
    stuck = by(alerts, "stuck_at_chance")
    assert len(stuck) == 1 and stuck[0].severity == "warning"
    assert stuck[0].step is not None and 300 < stuck[0].step <= 550
    assert stuck[0].evidence["chance_kind"] == "initial"
    assert "stuck at chance level" in stuck[0].message


def test_ln_vocab_is_chance_level_when_the_run_says_its_vocabulary() -> None:
    n = 700
    rng = np.random.default_rng(2)
    loss = np.concatenate([6.0 - np.linspace(0, 6.0 - math.log(50), 100),
                           math.log(50) * (1 + 0.002 * rng.standard_normal(600))])
    mon = HealthMonitor()
    mon.note_params("r", "r", {"param.vocab_size": "50"})
    stuck = by(feed({"loss": loss, "lr": np.full(n, 1e-3)}, monitor=mon), "stuck_at_chance")
    assert [a.evidence["chance_kind"] for a in stuck] == ["ln(V)"]
    assert not by(feed({"loss": loss, "lr": np.full(n, 1e-3)}), "stuck_at_chance")


def test_healthy_or_never_moving_losses_are_not_stuck_at_chance() -> None:
    n = 1000
    steps = np.arange(n)
    healthy = 2.0 + 2.0 * np.exp(-steps / 200) + 0.03 * np.random.default_rng(3).standard_normal(n)
    assert not by(feed({"loss": healthy, "lr": np.full(n, 1e-3)}), "stuck_at_chance")
    frozen = noisy_loss(n, level=4.0, noise=0.005)
    alerts = feed({"loss": frozen, "lr": np.full(n, 1e-3)})
    assert by(alerts, "no_learning") and not by(alerts, "stuck_at_chance")


# ---- overfitting --------------------------------------------------------------------------

def _train_val(n: int, val_after_best: float) -> tuple[np.ndarray, list[int], np.ndarray]:
    train = 3.0 * np.exp(-np.arange(n) / 150) + 0.01
    val_steps = list(range(0, n, 20))
    val = np.array([2.0 + 1.0 * math.exp(-s / 100) + max(0, s - 300) * val_after_best
                    for s in val_steps])
    return train, val_steps, val


def _feed_train_val(train: np.ndarray, val_steps: list[int], val: np.ndarray) -> list[Alert]:
    mon = HealthMonitor()
    out: list[Alert] = []
    vals = dict(zip(val_steps, val, strict=True))
    for step, t in enumerate(train):
        keys, values = ["loss"], [float(t)]
        if step in vals:
            keys.append("val_loss")
            values.append(float(vals[step]))
        out += mon.observe("r", "r", keys, [step] * len(keys), [None] * len(keys), values)
    return out


def test_validation_rising_while_training_improves_is_overfitting() -> None:
    alerts = _feed_train_val(*_train_val(800, 0.002))  # val up 1 per 500 steps after 300
    over = by(alerts, "overfitting")
    assert len(over) == 1 and over[0].metric == "val_loss"
    assert over[0].step is not None and 300 < over[0].step < 600
    assert over[0].evidence["best_step"] <= 320 and "above its best" in over[0].message


def test_early_stopping_patience_is_not_overfitting() -> None:
    train, val_steps, val = _train_val(800, 0.0001)  # a percent or two above the best
    assert not by(_feed_train_val(train, val_steps, val), "overfitting")


# ---- input_stall --------------------------------------------------------------------------

def test_every_sixth_step_waiting_for_data_is_a_periodic_input_stall() -> None:
    n = 400
    step_ms = noisy_loss(n, level=5.0, noise=0.1)
    step_ms[5::6] += 150.0
    stall = by(feed({"step_time_ms": step_ms}), "input_stall")
    assert len(stall) == 1 and stall[0].evidence["period_steps"] == 6
    assert stall[0].step is not None and stall[0].step < 150
    assert "1 step in 6" in stall[0].message


def test_random_slow_steps_and_periodic_evaluations_are_not_input_stalls() -> None:
    n = 600
    rng = np.random.default_rng(4)
    shared = noisy_loss(n, level=5.0, noise=0.1)
    shared[rng.random(n) < 1 / 6] += 150.0  # a shared CPU: as many slow steps, at random
    assert not by(feed({"step_time_ms": shared}), "input_stall")
    evals = noisy_loss(n, level=5.0, noise=0.1)
    evals[49::50] += 2000.0  # an evaluation inside every 50th step: by design
    assert not by(feed({"step_time_ms": evals}), "input_stall")


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


def test_millisecond_jitter_of_a_shared_cpu_is_under_the_absolute_floor() -> None:
    n = 600
    step_ms = noisy_loss(n, level=4.0, noise=0.05)
    step_ms[300:] *= 2.0  # 4 ms -> 8 ms: half the throughput, but 4 ms a step
    assert not feed({"step_time_ms": step_ms})
    step_ms[300:] *= 20.0  # 4 ms -> 160 ms: a real drop
    assert by(feed({"step_time_ms": step_ms}), "throughput_drop", "warning")


def test_tokens_per_s_floor_uses_the_step_time_the_timestamps_show() -> None:
    n = 600
    tps = noisy_loss(n, level=1e6, noise=0.02)
    tps[300:] *= 0.5
    for step_s, expect in ((0.004, False), (0.5, True)):
        mon = HealthMonitor()
        ts = [1.7e9 + step_s * i for i in range(n)]
        alerts = mon.observe("r", "r", ["tokens_per_s"] * n, list(range(n)), ts, list(tps))
        assert bool(by(alerts, "throughput_drop")) is expect, step_s


def test_a_drop_while_other_processes_saturate_the_cpu_is_info() -> None:
    n = 600
    step_ms = noisy_loss(n, level=60.0, noise=0.03)
    step_ms[300:] *= 2.0
    mon = HealthMonitor()
    mon.note_host_load(1.7e9, 0.95)  # others keep 95% of the cores busy
    drops = by(feed({"step_time_ms": step_ms}, monitor=mon), "throughput_drop")
    assert [(a.severity, a.evidence["host_cpu_others"]) for a in drops] == [("info", 0.95)]
    assert "host contention" in drops[0].message
    calm = HealthMonitor()
    calm.note_host_load(1.7e9, 0.1)
    drops = by(feed({"step_time_ms": step_ms}, monitor=calm), "throughput_drop")
    assert [a.severity for a in drops] == ["warning"]


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


def test_silence_and_one_stall_alert_per_silence() -> None:
    """The stall detector measures the silence; the lifecycle decision classifies it and asks
    for the alert, which comes once per silence (cockpit/monitor/lifecycle.py decides)."""
    mon = HealthMonitor()
    keys, steps, ts, vals = _timed(100)
    mon.observe("r", "run-a", keys, steps, ts, vals)
    last = ts[-1]
    assert last is not None
    quiet = mon.silence("r", last + 100)
    assert quiet is not None and quiet.silent_s == pytest.approx(100)
    assert quiet.threshold_s == 300  # max(20 x 0.5 s, the 300 s floor)
    hung = mon.report_silence("r", "run-a", last + 900, "hung", "warning", "; PID 7 is idle", {})
    assert [(a.severity, a.evidence["classification"]) for a in hung] == [("warning", "hung")]
    assert "PID 7 is idle" in hung[0].message and "15 min" in hung[0].message
    assert mon.report_silence("r", "run-a", last + 1800, "hung", "warning", "", {}) == []
    # New data ends the episode without a second (past-gap) alert.
    more = mon.observe("r", "run-a", ["loss"], [100], [last + 2000], [3.0])
    assert not by(more, "stall")
    again = mon.report_silence("r", "run-a", last + 3000, "unknown", "info", "", {})
    assert again[0].evidence["classification"] == "unknown" and again[0].severity == "info"
    assert "cannot be told from the logs" in again[0].message
    assert mon.silence("unknown-run", last) is None


def test_a_log_without_timestamps_is_silent_since_its_file_last_grew() -> None:
    mon = HealthMonitor()
    mon.observe("r", "r", ["loss"] * 3, [1, 2, 3], [None] * 3, [2.0, 1.9, 1.8])
    assert mon.silence("r", 1000.0) is None
    quiet = mon.silence("r", 1000.0, last_seen=400.0)
    assert quiet is not None and quiet.silent_s == 600


def test_an_open_critical_episode_is_reported_until_it_recovers() -> None:
    mon = HealthMonitor()
    n = 60
    mon.observe("r", "r", ["loss"] * n, list(range(n)), [None] * n,
                [2.0] * 30 + [math.nan] * 30)
    critical = mon.critical("r")
    assert critical is not None and (critical.detector, critical.step) == ("nan", 30)
    mon.observe("r", "r", ["loss"] * 25, list(range(n, n + 25)), [None] * 25, [1.5] * 25)
    assert mon.critical("r") is None  # finite again for 20 logs: the episode ended



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
