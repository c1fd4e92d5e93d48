"""The true min and max of a series in every pixel column, from its min/max pyramid.

A chart zoomed out to many points per pixel draws, for each pixel column, one vertical
segment from the lowest to the highest value the raw line reaches inside that column: the
points whose x falls in it, and where the line from the previous point (or to the next one)
crosses the column's edges. That is exactly the set of heights a full-resolution polyline
would touch, so nothing is hidden (a one-step spike is its column's max) and nothing is
invented (no diagonal from one bucket's max to the next one's min).

Qt-free. The range queries go down the pyramid level by level: at each level a column's
index range keeps its complete blocks for the next level up and reduces the at most three
elements left over on either side, so a column costs O(log n) whatever its width.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

FACTOR = 4  # block size growth per pyramid level (series.MinMaxPyramid)


class Levels(Protocol):
    """What the range query reads from a `MinMaxPyramid`."""

    @property
    def depth(self) -> int: ...

    def level(self, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def range_min_max(
    values: np.ndarray, pyramid: Levels, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Finite min and max of values[a[i]:b[i]] for every i (NaN where there is none)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    lo = np.full(len(a), np.inf)
    hi = np.full(len(a), -np.inf)
    mins, maxs = values, values  # raw values may hold NaN/Inf: masked where gathered
    active = b > a
    k = -1  # the level mins/maxs belong to; -1 = the raw values
    while active.any():
        if k + 1 < pyramid.depth:  # complete blocks climb a level; the rest is reduced here
            up, down = -(-a // FACTOR), b // FACTOR
            climbs = active & (up < down)
        else:  # the top level holds at most 3 blocks
            up, down, climbs = a, b, np.zeros(len(a), dtype=bool)
        # Left piece [a, 4*up) when climbing, else all of [a, b) (at most 7 elements either
        # way); right piece [4*down, b) when climbing (at most 3).
        _reduce_into(lo, hi, mins, maxs, a, np.where(climbs, up * FACTOR, b), active, 8)
        _reduce_into(lo, hi, mins, maxs, down * FACTOR, b, climbs, FACTOR)
        active = climbs
        a, b = np.where(climbs, up, 0), np.where(climbs, down, 0)
        k += 1
        if active.any():
            mins, maxs = pyramid.level(k)
    none = np.isinf(lo)  # no finite value in the range
    lo[none] = np.nan
    hi[none] = np.nan
    return lo, hi


def _reduce_into(
    lo: np.ndarray,
    hi: np.ndarray,
    mins: np.ndarray,
    maxs: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    which: np.ndarray,
    width: int,
) -> None:
    """Fold mins/maxs[start[i]:end[i]] (at most `width` long) into lo/hi[i] for i in `which`.
    Gathered as (width, m) and reduced along the first axis: one vectorised pass per row."""
    idx = np.flatnonzero(which & (end > start))
    if len(idx) == 0:
        return
    offsets = start[idx][None, :] + np.arange(width)[:, None]
    inside = offsets < end[idx][None, :]
    take = np.minimum(offsets, len(mins) - 1)
    got_lo, got_hi = mins[take], maxs[take]
    # Raw values may be NaN or +/-Inf, an all-NaN block of the pyramid is NaN: neither counts.
    got_lo = np.where(inside & np.isfinite(got_lo), got_lo, np.inf)
    got_hi = np.where(inside & np.isfinite(got_hi), got_hi, -np.inf)
    lo[idx] = np.minimum(lo[idx], got_lo.min(axis=0))
    hi[idx] = np.maximum(hi[idx], got_hi.max(axis=0))


def column_envelope(
    xs: np.ndarray, ys: np.ndarray, pyramid: Levels, x0: float, x1: float, columns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre x, min, max) of every pixel column of [x0, x1] split into `columns`, for a
    series sorted by x; columns the line never touches are left out."""
    n = min(len(xs), len(ys))
    xs, ys = xs[:n], ys[:n]
    dx = (x1 - x0) / columns
    edges = x0 + dx * np.arange(columns + 1)
    bounds = np.searchsorted(xs, edges, side="left")
    lo, hi = range_min_max(ys, pyramid, bounds[:-1], bounds[1:])
    # Where the line between the last point before an edge and the first one after it
    # crosses that edge: the value there belongs to both columns it separates.
    before, after = bounds - 1, bounds
    ok = (before >= 0) & (after < n)
    bi, ai = np.clip(before, 0, max(n - 1, 0)), np.clip(after, 0, max(n - 1, 0))
    xa, xb, ya, yb = xs[bi], xs[ai], ys[bi], ys[ai]
    with np.errstate(invalid="ignore", divide="ignore"):
        ok &= np.isfinite(ya) & np.isfinite(yb)
        frac = np.where(xb > xa, (edges - xa) / np.where(xb > xa, xb - xa, 1.0), 0.0)
        crossing = np.where(ok, ya + (yb - ya) * np.clip(frac, 0.0, 1.0), np.nan)
    for side in (crossing[:-1], crossing[1:]):  # left and right edge of each column
        lo = np.fmin(lo, side)
        hi = np.fmax(hi, side)
    keep = np.isfinite(lo)
    centres = x0 + dx * (np.arange(columns) + 0.5)
    return centres[keep], lo[keep], hi[keep]


def unsorted_column_envelope(
    xs: np.ndarray, ys: np.ndarray, x0: float, x1: float, columns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same for x that goes back (a restarted run's steps): min and max of the points in
    each column, found by sorting them by column (no line between them is defined)."""
    n = min(len(xs), len(ys))
    xs, ys = xs[:n], ys[:n]
    dx = (x1 - x0) / columns
    with np.errstate(invalid="ignore"):
        col = np.floor((xs - x0) / dx)
        keep = np.isfinite(col) & (col >= 0) & (col < columns) & np.isfinite(ys)
    col = col[keep].astype(np.int64)
    vals = ys[keep]
    if len(col) == 0:
        empty = np.empty(0)
        return empty, empty, empty
    order = np.argsort(col, kind="stable")
    col, vals = col[order], vals[order]
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    lo = np.minimum.reduceat(vals, starts)
    hi = np.maximum.reduceat(vals, starts)
    return x0 + dx * (col[starts] + 0.5), lo, hi
