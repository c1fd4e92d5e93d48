"""The y range a chart opens with: every finite value of the visible window but outliers.

One diverged run (a loss of 4e12) must not flatten every other run to a line at zero, and a
lone spike must not squash the curve it sits on; but the start of a loss curve, steep and
high, is the curve, not an outlier. The rule, on the sorted finite values:

1. start from the middle half (the 25th to 75th percentile);
2. grow down, then up, one value at a time while the gap to the next value is at most
   `GAP` times the range held so far (a dense curve grows all the way; an isolated value
   far from the rest stops it);
3. never past `FENCE` times that middle spread (plus a floor of 5% of its magnitude) beyond
   the middle half, which stops a run that blows up geometrically.

Values the caller protects (an alert's episode) are always inside. Qt-free; works on
whatever scale the chart plots (log10 values in log mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GAP = 3.0
FENCE = 20.0
FLOOR = 0.05
PAD = 0.05  # of the span, on each side


@dataclass(frozen=True, slots=True)
class YRange:
    lo: float  # the range to show, padded
    hi: float
    data_lo: float  # every finite value
    data_hi: float

    @property
    def clips(self) -> bool:
        """Some finite value lies outside the range shown."""
        return self.data_lo < self.lo or self.data_hi > self.hi


def robust_range(values: np.ndarray, protect: np.ndarray | None = None,
                 full: bool = False) -> YRange | None:
    """The range to show for `values` (None when none is finite); `full` = no exclusion."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    kept = np.asarray(protect, dtype=np.float64) if protect is not None else np.empty(0)
    kept = kept[np.isfinite(kept)]
    if len(v) == 0 and len(kept) == 0:
        return None
    both = np.concatenate((v, kept))
    data_lo, data_hi = float(both.min()), float(both.max())
    if full or len(v) < 8:
        lo, hi = data_lo, data_hi
    else:
        lo, hi = _core_limits(np.sort(v))
        if len(kept):
            lo, hi = min(lo, float(kept.min())), max(hi, float(kept.max()))
    lo, hi = _padded(lo, hi)
    return YRange(lo, hi, data_lo, data_hi)


def _core_limits(s: np.ndarray) -> tuple[float, float]:
    n = len(s)
    ia, ib = int(0.25 * (n - 1)), int(np.ceil(0.75 * (n - 1)))
    q1, q3 = float(s[ia]), float(s[ib])
    floor = FLOOR * max(abs(q1), abs(q3))
    spread = (q3 - q1) + floor
    if spread <= 0:  # all values equal zero in the middle half
        spread = max(float(s[-1] - s[0]), 1e-300)
    gaps = np.diff(s)
    # Down: the first i < ia (going down) whose gap below is too wide for the range above it.
    below = np.arange(ia - 1, -1, -1)
    too_wide = gaps[below] > GAP * np.maximum(q3 - s[below + 1], floor)
    too_far = s[below] < q1 - FENCE * spread
    cut = np.flatnonzero(too_wide | too_far)
    lo_i = int(below[cut[0]]) + 1 if len(cut) else 0
    lo = float(s[lo_i])
    above = np.arange(ib, n - 1)
    too_wide = gaps[above] > GAP * np.maximum(s[above] - lo, floor)
    too_far = s[above + 1] > q3 + FENCE * spread
    cut = np.flatnonzero(too_wide | too_far)
    hi_i = int(above[cut[0]]) if len(cut) else n - 1
    return lo, float(s[hi_i])


def _padded(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo
    if span <= 0:
        half = abs(lo) * 0.05 or 0.5
        return lo - half, hi + half
    return lo - PAD * span, hi + PAD * span
