"""Histograms of weights and gradients over steps, as TensorBoard's and W&B's users read them:
percentile bands ("distributions") and a density heat map of every step.

Rows come from the `histograms` table (TensorFlow's HistogramProto: `bucket_limits` are the
right edges of the buckets, the first bucket starting at `min`). Qt-free: the panel draws
what these functions compute, and the tests check them against numpy on the raw samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np

# TensorBoard's distribution bands: min, -2σ, -1.5σ, -1σ, -0.5σ... as normal percentiles.
PERCENTILES = (0.0, 6.68, 15.87, 30.85, 50.0, 69.15, 84.13, 93.32, 100.0)


@dataclass(slots=True)
class Histogram:
    step: int
    lo: float
    hi: float
    edges: np.ndarray  # len(counts) + 1, from lo to hi
    counts: np.ndarray

    @property
    def total(self) -> float:
        return float(self.counts.sum())


@dataclass(slots=True)
class HistogramSeries:
    """Every histogram of one (run, key), in step order."""

    run_id: str
    key: str
    items: list[Histogram] = field(default_factory=list)

    @property
    def steps(self) -> np.ndarray:
        return np.array([h.step for h in self.items], dtype=np.float64)


def from_row(step: int, lo: float, hi: float, limits: list[float] | None,
             counts: list[float] | None) -> Histogram:
    """A HistogramProto row as buckets with both edges (the outer ones clipped to min/max)."""
    lim = np.asarray(limits or [], dtype=np.float64)
    cnt = np.asarray(counts or [], dtype=np.float64)
    n = min(len(lim), len(cnt))
    lim, cnt = lim[:n], cnt[:n]
    lo = float(lo) if lo is not None and np.isfinite(lo) else (float(lim[0]) if n else 0.0)
    hi = float(hi) if hi is not None and np.isfinite(hi) else (float(lim[-1]) if n else lo)
    edges = np.concatenate(([lo], np.clip(lim, lo, hi)))
    edges[-1] = max(edges[-1], hi) if n else hi
    edges = np.maximum.accumulate(edges)
    return Histogram(int(step), lo, hi, edges, cnt)


def percentiles(h: Histogram, ps: tuple[float, ...] = PERCENTILES) -> np.ndarray:
    """The values below which p% of the counts lie, interpolated inside buckets (counts
    spread evenly over a bucket; empty buckets skipped)."""
    nz = h.counts > 0
    if not nz.any():
        return np.full(len(ps), np.nan)
    c = h.counts[nz]
    after = np.cumsum(c)
    xp = np.empty(2 * len(c))
    fp = np.empty(2 * len(c))
    xp[0::2], xp[1::2] = after - c, after
    fp[0::2], fp[1::2] = h.edges[:-1][nz], h.edges[1:][nz]
    return np.interp(np.asarray(ps, dtype=np.float64) / 100.0 * after[-1], xp, fp)


def bands(series: HistogramSeries, ps: tuple[float, ...] = PERCENTILES) -> np.ndarray:
    """(steps, percentiles) array of every histogram's percentiles."""
    if not series.items:
        return np.empty((0, len(ps)))
    return np.vstack([percentiles(h, ps) for h in series.items])


def density_grid(series: HistogramSeries, bins: int = 120) -> tuple[np.ndarray, float, float]:
    """(steps x bins density, value lo, value hi): each histogram's counts spread over one
    common value grid (spread evenly inside each bucket), normalised per step."""
    finite = [h for h in series.items if h.total > 0]
    if not finite:
        return np.zeros((len(series.items), bins)), 0.0, 1.0
    lo = min(h.lo for h in finite)
    hi = max(h.hi for h in finite)
    if hi <= lo:
        hi = lo + 1.0
    grid = np.linspace(lo, hi, bins + 1)
    out = np.zeros((len(series.items), bins))
    for i, h in enumerate(series.items):
        if h.total <= 0:
            continue
        cum = np.concatenate(([0.0], np.cumsum(h.counts)))
        at = np.interp(grid, h.edges, cum)  # counts below each grid edge
        row = np.diff(at)
        out[i] = row / row.max() if row.max() > 0 else row
    return out, lo, hi


def histogram_keys(cur: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(run_id, key, histograms) of every stored series."""
    rows = cur.execute("SELECT run_id, key, count(*) FROM histograms GROUP BY ALL "
                       "ORDER BY run_id, key").fetchall()
    return [(str(r), str(k), int(n)) for r, k, n in rows]


def load_series(cur: duckdb.DuckDBPyConnection, run_id: str, key: str,
                limit: int = 2000) -> HistogramSeries:
    """One series, thinned to at most `limit` steps evenly (a chart has no room for more)."""
    rows = cur.execute(
        "SELECT step, min, max, bucket_limits, bucket_counts FROM histograms "
        "WHERE run_id = ? AND key = ? ORDER BY step, ts", [run_id, key]).fetchall()
    if len(rows) > limit:
        keep = np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))
        rows = [rows[i] for i in keep]
    series = HistogramSeries(run_id, key)
    for step, lo, hi, limits, counts in rows:
        series.items.append(from_row(step if step is not None else len(series.items),
                                     lo, hi, limits, counts))
    return series
