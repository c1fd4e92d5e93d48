"""Every threshold and window of the training-health detectors, in one place.

Windows count logged points ("logs"), not optimizer steps, so a run that logs every 10
steps is judged like one that logs every step. docs/detectors.md explains each default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Thresholds with defaults that work untuned; override any of them by keyword."""

    # nan: a non-finite value of a watched metric (loss, val_loss, grad_norm, lr, *loss*, *norm*).
    nan_rearm_logs: int = 20  # finite logs of each offending metric before a new episode

    # spike / divergence on loss-like series (loss, val_loss), relative to a trailing median.
    spike_window: int = 50  # logs in the trailing median
    spike_min_history: int = 20  # logs before the first judgement
    spike_ratio: float = 1.5  # a log this many times the trailing median is "high"
    spike_min_mads: float = 5.0  # ...and this many robust deviations above it (noisy losses)
    spike_sustain_logs: int = 3  # consecutive high logs: warning (divergence)
    runaway_ratio: float = 10.0  # consecutive logs this far above the median: critical
    runaway_sustain_logs: int = 2
    blowup_ratio: float = 100.0  # one log this far above the median: critical at once
    spike_rearm_logs: int = 10  # logs back under ratio x the pre-episode median: episode over
    spike_rearm_new_level_logs: int = 250  # ...or this many logs without an excursion
    spike_info_ratio: float = 2.0  # a recovered excursion is reported (info) from this size
    spike_info_cooldown_logs: int = 250  # at most one info spike per this many logs

    # grad_explosion on grad_norm.
    grad_window: int = 50
    grad_min_history: int = 20
    grad_ratio: float = 10.0
    grad_sustain_logs: int = 2
    grad_rearm_logs: int = 10

    # no_learning: loss still near its initial value after warmup.
    no_learning_initial_logs: int = 5  # median of the first logs is "the initial loss"
    no_learning_min_logs: int = 100  # loss logs before judging (lr logged, warmup over)
    no_learning_min_logs_without_lr: int = 300  # ...when no lr is logged
    no_learning_after_warmup_logs: int = 50  # loss logs after the lr warmup ended
    no_learning_block_logs: int = 25  # recent loss = median of the last block
    no_learning_min_improvement: float = 0.02  # below this relative drop: not learning
    no_learning_trend_blocks: int = 4  # ...and the last blocks are not improving either
    no_learning_trend_improvement: float = 0.005

    # plateau: no meaningful improvement over a long window while the lr is flat.
    plateau_block_logs: int = 50  # loss medians are taken per block of logs
    plateau_min_blocks: int = 6  # the lookback is at least this many blocks (300 logs)
    plateau_window_fraction: float = 0.3  # ...and at least this share of the run so far
    plateau_min_improvement: float = 0.01  # trend improving the loss less than this...
    plateau_confidence: float = 2.0  # ...even at +this many standard errors: a plateau
    plateau_lr_flat_ratio: float = 1.1  # lr max/min over the window at most this: "flat"

    # lr_zero: lr zero or effectively zero outside warmup start and final decay.
    lr_zero_fraction: float = 1e-3  # "effectively zero" = below this share of the peak lr
    lr_zero_confirm_logs: int = 3  # logs at ~0 after an abrupt drop before alerting
    lr_abrupt_lookback_logs: int = 10  # a drop from >= lr_abrupt_from x peak within this
    lr_abrupt_from: float = 0.1
    lr_zero_tail_min_logs: int = 100  # after a gradual decay: ~0 for this many logs...
    lr_zero_tail_fraction: float = 0.1  # ...and this share of the run before the decay ended
    lr_zero_start_logs: int = 20  # lr exactly 0 from the first log for this many logs
    lr_warmup_flat_logs: int = 3  # lr not rising for this many logs: warmup is over

    # stuck_at_chance: after warmup the loss sits at chance level (its initial value, or
    # ln(vocab) when the vocabulary size is known) for a long window, after having been lower
    # or from a higher start (a loss that never moved at all is no_learning's).
    chance_block_logs: int = 25  # the loss is judged by medians of blocks of logs
    chance_window_blocks: int = 8  # the window: 8 blocks (200 logs)
    chance_band: float = 0.03  # every block median within 3% of the chance level
    chance_flat: float = 0.02  # ...and the window's medians spread less than 2% of it

    # overfitting: validation loss rising well above its best while the train loss improves.
    overfit_min_evals: int = 4  # validation logs before the first judgement
    overfit_rise: float = 0.10  # val at least 10% above its best...
    overfit_train_drop: float = 0.10  # ...while train loss is 10% below its level at that best
    overfit_sustain_evals: int = 3  # for this many consecutive validation logs

    # input_stall: 1 step in every p (p <= 32) is much slower than the rest, regularly.
    input_stall_window_logs: int = 120
    input_stall_every_logs: int = 20  # the window is judged every this many logs
    input_stall_slow_ratio: float = 2.0  # a slow step takes > 2x the median step...
    input_stall_min_extra_ms: float = 20.0  # ...and >= 20 ms more
    input_stall_min_slow: int = 6  # slow steps in the window
    input_stall_min_period: int = 3  # every other step is how a shared CPU alternates too
    input_stall_max_period: int = 32  # longer periods are evals and checkpoints, by design
    input_stall_max_spread: float = 0.5  # slow steps' interquartile range <= 50% of their median
    input_stall_regularity: float = 0.7  # share of gaps between slow steps equal to the period
    input_stall_min_share: float = 0.15  # the waits cost >= 15% of the window's time

    # throughput_drop on tokens_per_s (higher is better) or step_time_ms (lower is better).
    throughput_skip_logs: int = 10  # first logs hold compilation and warmup
    throughput_baseline_logs: int = 100  # steady state = median of this many logs...
    throughput_recent_logs: int = 20  # ...before the recent window (median of these)
    throughput_drop: float = 0.30  # recent this much worse than the steady state
    throughput_sustain_logs: int = 10  # for this many consecutive logs
    throughput_rearm: float = 0.15  # back within this of the steady state: re-armed
    throughput_min_extra_ms: float = 20.0  # ...and each step costs at least this much more
    throughput_contention: float = 0.6  # other processes keep this share of cores busy: info
    # the fastest steps (top 20% of the recent window) still at steady-state speed: the run is
    # held up intermittently (preempted on a busy CPU), not running slower: info
    throughput_fast_quantile: float = 0.8

    # memory_pressure from logged memory metrics (gpu_mem_alloc_gb, ...).
    memory_skip_logs: int = 10
    memory_window_logs: int = 50  # growth judged over this many logs
    memory_min_growth: float = 0.25  # relative growth over the window that counts as a climb
    memory_min_rising_share: float = 0.8  # share of log-to-log changes that are >= 0
    memory_max_jump_share: float = 0.5  # no single jump holds more of the growth (step change)
    memory_capacity_gb: float | None = None  # known device capacity: critical near it
    memory_capacity_fraction: float = 0.95

    # stall: no new point for max(k x typical interval, floor) while not finished.
    stall_interval_factor: float = 20.0
    stall_floor_s: float = 300.0
    stall_after_s: float | None = None  # `--stall-after SEC`: replaces the rule above
    stall_min_intervals: int = 5  # intervals seen before the typical one is trusted
    stall_interval_window: int = 50


def health_config(overrides: Mapping[str, Any] | None = None,
                  stall_after: float | None = None) -> HealthConfig:
    """The defaults with a user's overrides (unknown names ignored: settings outlive
    renamed thresholds) and `--stall-after SEC`."""
    names = {f.name for f in dataclasses.fields(HealthConfig)}
    changes = {k: v for k, v in (overrides or {}).items() if k in names}
    if stall_after is not None:
        changes["stall_after_s"] = stall_after
    return dataclasses.replace(HealthConfig(), **changes)
