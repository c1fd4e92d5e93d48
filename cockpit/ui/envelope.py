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
    lo = np.full(len(a), np.nan)
    hi = np.full(len(a), np.nan)
    mins, maxs = values, values
    idx = np.flatnonzero(b > a)  # the ranges still being reduced, and their bounds
    a, b = a[idx], b[idx]
    k = -1  # the level mins/maxs belong to; -1 = the raw values
    while len(idx):
        if k + 1 < pyramid.depth:  # complete blocks climb a level; the rest is reduced here
            up, down = -(-a // FACTOR), b // FACTOR
            climbs = up < down
        else:  # the top level holds at most 3 blocks
            up, down, climbs = a, b, np.zeros(len(a), dtype=bool)
        # Left piece [a, 4*up) when climbing, else all of [a, b) (at most 7 elements either
        # way); right piece [4*down, b) when climbing (at most 3), or nothing.
        left_end = np.where(climbs, up * FACTOR, b)
        right_start = np.where(climbs, down * FACTOR, b)
        got_lo, got_hi = _fold(mins, maxs, a, left_end, right_start, b, raw=k < 0)
        lo[idx] = np.fmin(lo[idx], got_lo)
        hi[idx] = np.fmax(hi[idx], got_hi)
        idx, a, b = idx[climbs], up[climbs], down[climbs]
        k += 1
        if len(idx):
            mins, maxs = pyramid.level(k)
    return lo, hi


_LEFT = np.arange(8)[:, None]
_RIGHT = np.arange(FACTOR - 1)[:, None]


def _fold(mins: np.ndarray, maxs: np.ndarray, a: np.ndarray, left_end: np.ndarray,
          right_start: np.ndarray, b: np.ndarray, raw: bool) -> tuple[np.ndarray, np.ndarray]:
    """Min and max over [a, left_end) and [right_start, b) for every range, gathered as one
    (11, m) block and reduced along its first axis. Positions past a piece's end repeat the
    range's first element, which cannot change a min or a max; an empty piece is all of
    that. Raw values may be NaN or +/-Inf, an all-NaN block of the pyramid is NaN: neither
    counts (fmin/fmax skip NaN; Inf is made NaN first)."""
    left = a[None, :] + _LEFT
    right = right_start[None, :] + _RIGHT
    take = np.concatenate((np.where(left < left_end[None, :], left, a[None, :]),
                           np.where(right < b[None, :], right, a[None, :])))
    got_lo, got_hi = mins[take], maxs[take]
    if raw:
        got_lo = np.where(np.isfinite(got_lo), got_lo, np.nan)
        got_hi = got_lo
    with np.errstate(invalid="ignore"):
        return np.fmin.reduce(got_lo, axis=0), np.fmax.reduce(got_hi, axis=0)


def column_ranges(
    xs: np.ndarray, ys: np.ndarray, pyramid: Levels, x0: float, x1: float, columns: int
) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of every pixel column of [x0, x1] split into `columns`, for a series sorted
    by x: the points in it and where the line crosses its edges (NaN where the line never
    passes)."""
    n = min(len(xs), len(ys))
    xs, ys = xs[:n], ys[:n]
    dx = (x1 - x0) / columns
    edges = x0 + dx * np.arange(columns + 1)
    bounds = np.searchsorted(xs, edges, side="left")
    lo, hi = range_min_max(ys, pyramid, bounds[:-1], bounds[1:])
    # Where the line between the last point before an edge and the first one after it
    # crosses that edge: the value there belongs to both columns it separates.
    inside = (bounds > 0) & (bounds < n)
    after = np.minimum(bounds, n - 1)
    before = np.maximum(after - 1, 0)
    xa, xb, ya, yb = xs[before], xs[after], ys[before], ys[after]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((edges - xa) / (xb - xa), 0.0, 1.0)
        crossing = ya + (yb - ya) * frac
    crossing[~(inside & np.isfinite(crossing))] = np.nan  # a NaN or Inf end: no line there
    lo = np.fmin(np.fmin(lo, crossing[:-1]), crossing[1:])  # left and right edge
    hi = np.fmax(np.fmax(hi, crossing[:-1]), crossing[1:])
    return lo, hi


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
