"""SeriesBuffer: peak-preserving decimation at every zoom, incremental appends, EMA, markers."""

from __future__ import annotations

import numpy as np
import pytest

from cockpit.ui.series import SeriesBuffer, ema


def _loop_ema(x: np.ndarray, w: float) -> np.ndarray:
    out = np.full(len(x), np.nan)
    s = None
    for i, v in enumerate(x):
        if not np.isfinite(v):
            continue
        s = v if s is None else w * s + (1 - w) * v
        out[i] = s
    return out


def test_one_step_spike_survives_decimation_at_every_zoom() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    y = rng.normal(2.0, 0.01, n)
    y[654_321] = 50.0  # a single-step spike
    buf = SeriesBuffer()
    buf.append(np.arange(n), np.zeros(n), y)
    for x0, x1 in ((0, n), (600_000, 700_000), (654_000, 655_000), (654_300, 654_340)):
        d = buf.decimate(x0, x1, 1000)
        assert len(d.x) <= 4 * 1000 + 8
        assert d.y.max() == pytest.approx(50.0)
    assert not buf.decimate(0, n, 1000).full_resolution
    zoomed = buf.decimate(654_300, 654_340, 1000)
    assert zoomed.full_resolution  # zoomed in: raw points, not envelopes
    assert 654_321 in zoomed.x


def test_incremental_appends_match_one_bulk_append() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=100_003)
    bulk = SeriesBuffer()
    bulk.append(np.arange(len(y)), np.arange(len(y)), y)
    parts = SeriesBuffer()
    for start in range(0, len(y), 997):
        stop = min(start + 997, len(y))
        parts.append(np.arange(start, stop), np.arange(start, stop), y[start:stop])
    a, b = bulk.decimate(0, len(y), 800), parts.decimate(0, len(y), 800)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert parts.version > bulk.version


def test_non_finite_values_become_markers_not_line_points() -> None:
    y = np.linspace(1, 2, 1000)
    y[10], y[20], y[30] = np.nan, np.inf, -np.inf
    buf = SeriesBuffer()
    buf.append(np.arange(1000), np.zeros(1000), y)
    d = buf.decimate(0, 1000, 2000)
    assert list(d.nan_x) == [10] and list(d.posinf_x) == [20] and list(d.neginf_x) == [30]
    far = buf.decimate(0, 1000, 50)  # decimated: envelopes ignore them, markers stay
    assert np.isfinite(far.y[np.isfinite(far.y)]).all() and far.y[np.isfinite(far.y)].max() <= 2
    assert list(far.nan_x) == [10]


def test_markers_are_thinned_to_a_readable_row() -> None:
    y = np.full(100_000, np.nan)
    buf = SeriesBuffer()
    buf.append(np.arange(len(y)), np.zeros(len(y)), y)
    d = buf.decimate(0, len(y), 500)
    assert 40 <= len(d.nan_x) <= 70  # about one per 8 pixels
    assert d.nan_x[0] == 0 and d.nan_x[-1] >= 98_000  # spread over the whole range


@pytest.mark.parametrize("weight", [0.0, 0.6, 0.99])
def test_ema_matches_the_recurrence_and_continues_across_calls(weight: float) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=5000)
    x[[3, 400, 4999]] = np.nan
    full, _ = ema(x, weight)
    np.testing.assert_allclose(full, _loop_ema(x, weight), rtol=1e-9, equal_nan=True)
    first, state = ema(x[:2500], weight)
    second, _ = ema(x[2500:], weight, state)
    np.testing.assert_allclose(np.concatenate([first, second]), full, rtol=1e-9, equal_nan=True)


def test_smoothed_series_follows_appends() -> None:
    x = np.random.default_rng(3).normal(size=3000)
    buf = SeriesBuffer()
    buf.set_smoothing(0.9)
    buf.append(np.arange(1500), np.zeros(1500), x[:1500])
    buf.append(np.arange(1500, 3000), np.zeros(1500), x[1500:])
    np.testing.assert_allclose(buf.smoothed.view, _loop_ema(x, 0.9), rtol=1e-9)
    buf.set_smoothing(0.5)
    np.testing.assert_allclose(buf.smoothed.view, _loop_ema(x, 0.5), rtol=1e-9)


def test_value_at_finds_the_nearest_point_in_step_or_time() -> None:
    buf = SeriesBuffer()
    buf.append(np.array([0, 10, 20]), np.array([100.0, 200.0, 300.0]), np.array([1.0, 2.0, 3.0]))
    assert buf.value_at(12)[:2] == (10.0, 2.0)
    assert buf.value_at(16)[:2] == (20.0, 3.0)
    assert buf.value_at(290, "time")[:2] == (300.0, 3.0)
    assert buf.value_at(-5)[:2] == (0.0, 1.0)


def test_missing_steps_use_arrival_order_and_restarts_keep_all_points() -> None:
    buf = SeriesBuffer()
    buf.append(np.array([np.nan, np.nan]), np.array([1.0, 2.0]), np.array([5.0, 6.0]))
    assert list(buf.steps.view) == [0.0, 1.0]
    restarted = SeriesBuffer()
    restarted.append(np.array([0, 1, 2, 1, 2, 3]), np.arange(6.0), np.arange(6.0))
    assert not restarted.step_sorted
    assert len(restarted.decimate(0, 3, 500).x) == 6


def test_live_appends_recompute_only_new_columns_and_match_a_fresh_buffer() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=60_000)
    y[[100, 59_990]] = np.nan
    live = SeriesBuffer()
    live.append(np.arange(50_000), np.arange(50_000), y[:50_000])
    grid = (0.0, 66_000.0, 800.0)  # the view keeps room on the right while the run grows
    live.decimate(*grid)
    for start in range(50_000, 60_000, 1_000):
        live.append(np.arange(start, start + 1_000), np.arange(start, start + 1_000),
                    y[start:start + 1_000])
        got = live.decimate(*grid)
        fresh = SeriesBuffer()
        fresh.append(np.arange(start + 1_000), np.arange(start + 1_000), y[:start + 1_000])
        want = fresh.decimate(*grid)
        np.testing.assert_array_equal(got.x, want.x)
        np.testing.assert_array_equal(got.y, want.y)
    assert got.envelope and got.y[np.isfinite(got.y)].max() == np.nanmax(y)
