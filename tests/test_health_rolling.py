"""RollingMedian: the baseline every detector leans on must equal a recomputed median."""

from __future__ import annotations

import numpy as np
import pytest

from cockpit.health.rolling import RollingMedian, median_of


def test_median_and_mad_match_numpy_over_a_sliding_window() -> None:
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=500), 1)  # rounding makes many duplicates
    window = RollingMedian(7)
    for i, v in enumerate(values):
        window.push(float(v))
        ref = values[max(0, i - 6): i + 1]
        assert window.median() == pytest.approx(float(np.median(ref)))
        assert window.mad() == pytest.approx(float(np.median(np.abs(ref - np.median(ref)))))
        assert window.values() == [float(x) for x in ref]
    assert window.full and len(window) == 7
    assert window.oldest() == values[-7] and window.newest() == values[-1]


def test_empty_window_and_bad_size() -> None:
    window = RollingMedian(3)
    assert np.isnan(window.median()) and np.isnan(window.mad())
    assert not window.full
    with pytest.raises(ValueError):
        RollingMedian(0)


def test_median_of_even_and_odd() -> None:
    assert median_of([3.0, 1.0, 2.0]) == 2.0
    assert median_of([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert np.isnan(median_of([]))
