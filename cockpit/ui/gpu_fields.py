"""What the GPU panel and its sparkline cards show, shared by both (no widget code), and how a
sparkline shows a gap in the samples."""

from __future__ import annotations

import numpy as np

GIB = 1024**3
# (field, title, unit, fixed y max or None)
SPARKS = (
    ("util_gpu", "Util", "%", 100.0),
    ("sm_active", "SM active", "%", 100.0),
    ("tensor_active", "Tensor active", "%", 100.0),
    ("mem_used", "Memory", "GiB", None),
    ("power_w", "Power", "W", None),
    ("temp_c", "Temp", "°C", None),
)


def gap_breaks(ts: np.ndarray, gap_intervals: float = 3.0, gap_min_s: float = 10.0) -> np.ndarray:
    """Indices after which the samples pause for a gap (a source outage, an exporter down):
    longer than `gap_intervals` typical steps and `gap_min_s`. A sparkline breaks there."""
    if len(ts) < 3:
        return np.zeros(0, dtype=np.int64)
    steps = np.diff(ts)
    limit = max(gap_intervals * float(np.median(steps)), gap_min_s)
    return np.flatnonzero(steps > limit)


def with_gaps(x: np.ndarray, y: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y with a NaN point after each break, so a curve drawn with connect="finite" shows
    the gap as a gap instead of a straight line across it."""
    if len(breaks) == 0:
        return x, y
    at = breaks + 1
    return (np.insert(x.astype(float), at, np.nan), np.insert(y.astype(float), at, np.nan))
