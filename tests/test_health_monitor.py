"""HealthMonitor routing: canonical keys, duplicates across sources, runs kept apart, bad input."""

from __future__ import annotations

import math
import time

import numpy as np

from cockpit.health.config import HealthConfig
from cockpit.health.monitor import HealthMonitor, is_memory_metric, is_nan_watched


def test_aliases_of_one_metric_are_one_series_and_duplicates_are_skipped() -> None:
    mon = HealthMonitor()
    # The same loss read from JSONL ("loss"), TensorBoard ("train/loss") and llm.c ("trl").
    keys = ["loss", "train/loss", "trl"] * 3
    steps = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    values = [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, math.nan, math.nan, math.nan]
    alerts = mon.observe("r", "r", keys, steps, [None] * 9, values)
    assert [(a.detector, a.step) for a in alerts] == [("nan", 2)]


def test_runs_are_kept_apart_when_interleaved() -> None:
    mon = HealthMonitor()
    for step in range(100):
        assert mon.observe("a", "run-a", ["loss"], [step], [None], [3.0]) == []
        value = math.nan if step == 50 else 3.0
        alerts = mon.observe("b", "run-b", ["train_loss"], [step], [None], [value])
        if step == 50:
            assert [(a.run, a.run_id, a.step) for a in alerts] == [("run-b", "b", 50)]
        else:
            assert alerts == []
    assert sorted(mon.runs()) == ["a", "b"]
    mon.finish("a")
    assert mon.runs() == ["b"]


def test_out_of_order_and_replayed_steps_are_ignored() -> None:
    mon = HealthMonitor()
    mon.observe("r", "r", ["loss"] * 3, [10, 11, 12], [None] * 3, [2.0, 2.0, 2.0])
    # A resumed run re-logs steps 5..12: nothing new, not even this NaN.
    assert mon.observe("r", "r", ["loss"], [5], [None], [math.nan]) == []
    assert mon.observe("r", "r", ["loss"], [13], [None], [math.nan])


def test_points_without_steps_or_timestamps_still_work() -> None:
    mon = HealthMonitor()
    n = 60
    alerts = mon.observe("r", "r", ["loss"] * n, [None] * n, [None] * n,
                         [3.0] * 40 + [math.nan] * 20)
    nan = [a for a in alerts if a.detector == "nan"]
    assert len(nan) == 1 and nan[0].step is None and "an unnumbered log" in nan[0].message
    assert mon.silence("r", time.time()) is None  # no timestamps: silence is the engine's to time


def test_unknown_metrics_are_stored_not_judged() -> None:
    mon = HealthMonitor()
    values = [1.0, -5.0, math.inf, math.nan, 1e300] * 20
    n = len(values)
    assert mon.observe("r", "r", ["weird/thing"] * n, list(range(n)), [None] * n, values) == []


def test_metric_name_classes() -> None:
    assert is_memory_metric("gpu_mem_alloc_gb") and is_memory_metric("cuda_memory_reserved")
    assert not is_memory_metric("mem_util") and not is_memory_metric("gpu_mem_free_gb")
    assert not is_memory_metric("memo")
    assert is_nan_watched("loss") and is_nan_watched("aux_loss") and is_nan_watched("param_norm")
    assert is_nan_watched("lr") and is_nan_watched("val_ppl")
    assert not is_nan_watched("step_avg_ms") and not is_nan_watched("tokens_per_s")


def test_run_name_follows_the_latest_call() -> None:
    mon = HealthMonitor()
    mon.observe("r", "old", ["loss"], [0], [None], [1.0])
    alerts = mon.observe("r", "new", ["loss"], [1], [None], [math.nan])
    assert alerts[0].run == "new"


def test_config_is_frozen_and_overridable() -> None:
    cfg = HealthConfig(spike_ratio=2.0)
    assert cfg.spike_ratio == 2.0 and HealthConfig().spike_ratio == 1.5
    try:
        cfg.spike_ratio = 3.0  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("HealthConfig must be frozen")


def test_cost_per_point_is_small_and_flat() -> None:
    """Amortized O(1): twice the points cost about twice the time (not four times)."""
    rng = np.random.default_rng(0)

    def run(n: int) -> float:
        mon = HealthMonitor()
        keys = ["loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem_alloc_gb"]
        base = [3.0, 3e-4, 0.5, 3e5, 7.0]
        ks, st, ts, vs = [], [], [], []
        noise = 1 + 0.01 * rng.standard_normal(n * len(keys))
        for i in range(n):
            for j, k in enumerate(keys):
                ks.append(k)
                st.append(i)
                ts.append(1.7e9 + i * 0.05)
                vs.append(base[j] * float(noise[i * len(keys) + j]))
        start = time.perf_counter()
        mon.observe("r", "r", ks, st, ts, vs)
        return time.perf_counter() - start

    small, large = run(10_000), run(20_000)
    assert large < 4 * small
    assert large / (20_000 * 5) < 100e-6  # well under 100 us per point (about 7 here)
