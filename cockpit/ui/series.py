"""One metric series of one run, held in memory for drawing at any zoom in O(pixels).

Qt-free on purpose: the background poller appends here and the GUI thread only asks for
what fits on screen. A min/max pyramid (each level keeps the finite min and max of blocks of
4**k points) gives every pixel column's true min and max in O(log n) (`cockpit.ui.envelope`),
so a chart of a million points is a few thousand vertices that still show every one-step
spike and nothing the data never did; zoomed in to under ~2 points per column, the raw
points are returned. Non-finite values are kept apart as markers because a line cannot show
them.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from cockpit.ui.envelope import FACTOR, column_ranges, unsorted_column_envelope

_EMA_BLOCK = 64


class GrowableArray:
    """An append-only numpy array with amortised O(1) appends."""

    __slots__ = ("_data", "n")

    def __init__(self, dtype: type | np.dtype = np.float64, capacity: int = 256) -> None:
        self._data = np.empty(capacity, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        m = len(values)
        if self.n + m > len(self._data):
            # Headroom after a bulk load too, so a live append does not copy everything.
            capacity = max(len(self._data) * 2, (self.n + m) * 5 // 4)
            data = np.empty(capacity, dtype=self._data.dtype)
            data[: self.n] = self._data[: self.n]
            self._data = data
        self._data[self.n : self.n + m] = values
        self.n += m

    def truncate(self, n: int) -> None:
        self.n = min(self.n, n)

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.n]


class MinMaxPyramid:
    """Finite min/max envelopes of y at block sizes 4, 16, 64, ... kept up to date on append."""

    def __init__(self) -> None:
        self.mins: list[GrowableArray] = []
        self.maxs: list[GrowableArray] = []

    def clear(self) -> None:
        self.mins.clear()
        self.maxs.clear()

    def update(self, y: np.ndarray) -> None:
        """Extend every level with the blocks that became complete since the last call."""
        lower_min, lower_max = y, y
        level = 0
        while len(lower_min) >= FACTOR:
            if level == len(self.mins):
                self.mins.append(GrowableArray(np.float64))
                self.maxs.append(GrowableArray(np.float64))
            mins, maxs = self.mins[level], self.maxs[level]
            complete = len(lower_min) // FACTOR
            done = mins.n
            if complete > done:
                lo = lower_min[done * FACTOR : complete * FACTOR].reshape(-1, FACTOR)
                hi = lower_max[done * FACTOR : complete * FACTOR].reshape(-1, FACTOR)
                if level == 0:
                    finite = np.isfinite(lo)
                    lo = np.where(finite, lo, np.nan)
                    hi = lo
                mins.extend(np.fmin.reduce(lo, axis=1))
                maxs.extend(np.fmax.reduce(hi, axis=1))
            lower_min, lower_max = mins.view, maxs.view
            level += 1

    def level(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Envelope arrays of level k (block size FACTOR**(k+1))."""
        return self.mins[k].view, self.maxs[k].view

    @property
    def depth(self) -> int:
        return len(self.mins)


def linear_recurrence(u: np.ndarray, a: float, c0: float) -> np.ndarray:
    """c[i] = a * c[i-1] + u[i] with c[-1] = c0, vectorised in blocks (no Python loop per point).

    Within a block of B points the recurrence is a lower-triangular matrix of powers of `a`;
    the carries between blocks follow the same recurrence with factor a**B, solved the same
    way, so the cost is O(n * B) flops with O(log n) Python steps.
    """
    n = len(u)
    if n == 0:
        return np.empty(0)
    if n <= _EMA_BLOCK:
        powers = a ** np.arange(1, n + 1, dtype=np.float64)
        i = np.arange(n)
        expo = i[:, None] - i[None, :]
        m = np.where(expo >= 0, a ** np.maximum(expo, 0).astype(np.float64), 0.0)
        return m @ u + powers * c0
    b = _EMA_BLOCK
    nb = -(-n // b)
    padded = np.zeros(nb * b)
    padded[:n] = u
    blocks = padded.reshape(nb, b)
    i = np.arange(b)
    expo = i[:, None] - i[None, :]
    m = np.where(expo >= 0, a ** np.maximum(expo, 0).astype(np.float64), 0.0)
    local = blocks @ m.T  # zero-initial recurrence inside each block
    carries = linear_recurrence(local[:, -1], a**b, c0)  # value at the end of each block
    before = np.concatenate(([c0], carries[:-1]))
    powers = a ** np.arange(1, b + 1, dtype=np.float64)
    out = local + before[:, None] * powers[None, :]
    return out.reshape(-1)[:n]


def ema(values: np.ndarray, weight: float, state: float | None = None) -> tuple[np.ndarray, float | None]:
    """Exponential moving average skipping non-finite values (they stay NaN in the output).

    `weight` is the smoothing in [0, 1) as TensorBoard's slider; `state` continues a previous
    call (the last smoothed value), so appends are smoothed incrementally.
    """
    out = np.full(len(values), np.nan)
    finite = np.isfinite(values)
    x = values[finite]
    if len(x) == 0:
        return out, state
    c0 = float(x[0]) if state is None else state
    smoothed = linear_recurrence((1.0 - weight) * x, weight, c0)
    out[finite] = smoothed
    return out, float(smoothed[-1])


@dataclass(slots=True)
class Decimated:
    """What a chart draws for one series in one view: line vertices plus non-finite markers."""

    x: np.ndarray
    y: np.ndarray
    nan_x: np.ndarray  # x of NaN points
    posinf_x: np.ndarray
    neginf_x: np.ndarray
    full_resolution: bool  # True: raw points, a polyline; False: (min, max) pairs per column

    @property
    def envelope(self) -> bool:
        """Vertices come in (min, max) pairs, one vertical segment per pixel column."""
        return not self.full_resolution


class SeriesBuffer:
    """Steps, wall times and values of one (run, metric), with pyramids for raw and smoothed y."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.steps = GrowableArray(np.float64)
        self.ts = GrowableArray(np.float64)
        self.values = GrowableArray(np.float64)
        self.bad_index = GrowableArray(np.int64, 16)  # indices of non-finite values
        self.pyramid = MinMaxPyramid()
        self.smoothing = 0.0
        self.smoothed = GrowableArray(np.float64)
        self.smoothed_pyramid = MinMaxPyramid()
        self._ema_state: float | None = None
        self.version = 0  # bumped on every change: the GUI redraws when it moves
        self.step_sorted = True
        self.ts_sorted = True
        # Per (x mode, smoothed): the last pixel-column ranges computed, so a live append
        # recomputes only the columns its points reach while the column grid stays put.
        self._columns: dict[tuple[str, bool], _ColumnCache] = {}

    def __len__(self) -> int:
        return self.values.n

    def append(self, steps: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
        steps = np.asarray(steps, dtype=np.float64)
        ts = np.asarray(ts, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        if len(values) == 0:
            return
        with self.lock:
            start = self.values.n
            if np.isnan(steps).any():  # no step logged: use the arrival index
                idx = np.arange(start, start + len(steps), dtype=np.float64)
                steps = np.where(np.isnan(steps), idx, steps)
            self.step_sorted = self.step_sorted and _appends_sorted(self.steps.view, steps)
            self.ts_sorted = self.ts_sorted and _appends_sorted(self.ts.view, ts)
            self.steps.extend(steps)
            self.ts.extend(ts)
            self.values.extend(values)
            bad = np.flatnonzero(~np.isfinite(values))
            if len(bad):
                self.bad_index.extend(bad + start)
            self.pyramid.update(self.values.view)
            if self.smoothing > 0:
                smoothed, self._ema_state = ema(values, self.smoothing, self._ema_state)
                self.smoothed.extend(smoothed)
                self.smoothed_pyramid.update(self.smoothed.view)
            self.version += 1

    def set_smoothing(self, weight: float) -> None:
        """Recompute the smoothed series for a new weight (background thread: O(n))."""
        with self.lock:
            if weight == self.smoothing and (weight == 0 or self.smoothed.n == self.values.n):
                return
            self.smoothing = weight
            self._columns.clear()
            self.smoothed = GrowableArray(np.float64)
            self.smoothed_pyramid = MinMaxPyramid()
            self._ema_state = None
            if weight > 0 and self.values.n:
                smoothed, self._ema_state = ema(self.values.view, weight)
                self.smoothed.extend(smoothed)
                self.smoothed_pyramid.update(self.smoothed.view)
            self.version += 1

    def x_array(self, x_mode: str) -> np.ndarray:
        return self.ts.view if x_mode == "time" else self.steps.view

    def value_at(self, x: float, x_mode: str = "step") -> tuple[float, float, float] | None:
        """(x, raw value, smoothed value or NaN) of the point nearest to x."""
        with self.lock:
            xs = self.x_array(x_mode)
            if len(xs) == 0:
                return None
            if self._sorted(x_mode):
                i = int(np.searchsorted(xs, x))
                if i >= len(xs) or (i > 0 and abs(xs[i - 1] - x) <= abs(xs[i] - x)):
                    i = max(i - 1, 0)
            else:
                with np.errstate(invalid="ignore"):
                    i = int(np.nanargmin(np.abs(xs - x))) if np.isfinite(xs).any() else 0
            smooth = self.smoothed.view[i] if self.smoothed.n > i else np.nan
            return float(xs[i]), float(self.values.view[i]), float(smooth)

    def _sorted(self, x_mode: str) -> bool:
        return self.ts_sorted if x_mode == "time" else self.step_sorted

    def x_at_step(self, step: float, x_mode: str) -> float | None:
        """The x (step or wall time) of the first point logged at or after `step`."""
        with self.lock:
            steps = self.steps.view
            if len(steps) == 0:
                return None
            if self.step_sorted:
                i = min(int(np.searchsorted(steps, step, side="left")), len(steps) - 1)
            else:
                with np.errstate(invalid="ignore"):
                    i = int(np.nanargmin(np.abs(steps - step)))
            return float(self.x_array(x_mode)[i])

    def x_bounds(self, x_mode: str) -> tuple[float, float] | None:
        with self.lock:
            xs = self.x_array(x_mode)
            if len(xs) == 0:
                return None
            if self._sorted(x_mode):
                return float(xs[0]), float(xs[-1])
            finite = xs[np.isfinite(xs)]
            return (float(finite.min()), float(finite.max())) if len(finite) else None

    def decimate(
        self,
        x0: float,
        x1: float,
        width_px: float,
        x_mode: str = "step",
        smoothed: bool = False,
        offset_px: float = 0.0,
    ) -> Decimated:
        """What to draw of [x0, x1] spread over `width_px` pixels: the raw points while there
        are at most about 2 per pixel column (plus one beyond each edge, so the line leaves
        the view), else each column's true min and max as a vertical segment (`envelope`).
        `offset_px` (0 to 1): how far left of x0 the first device pixel column begins, so the
        columns are the screen's own."""
        with self.lock:
            xs = self.x_array(x_mode)
            ys = self.smoothed.view if smoothed else self.values.view
            pyramid = self.smoothed_pyramid if smoothed else self.pyramid
            n = min(len(xs), len(ys))
            if n == 0:
                return Decimated(_E, _E, _E, _E, _E, True)
            xs, ys = xs[:n], ys[:n]
            per_px = (x1 - x0 if x1 > x0 else 1.0) / max(width_px, 1e-9)
            columns = max(int(math.ceil(width_px + offset_px)), 1)
            left = x0 - offset_px * per_px  # the first column's left edge
            right = left + columns * per_px  # the last column's right edge
            ordered = self._sorted(x_mode)
            if ordered:
                i0 = max(int(np.searchsorted(xs, x0, side="left")) - 1, 0)
                i1 = min(int(np.searchsorted(xs, x1, side="right")) + 1, n)
            else:
                i0, i1 = 0, n
            markers = self._markers(xs, i0, i1, columns) if not smoothed else (_E, _E, _E)
            if i1 - i0 <= 2 * columns:
                return Decimated(xs[i0:i1].copy(), ys[i0:i1].copy(), markers[0], markers[1],
                                 markers[2], True)
            if ordered:
                lo, hi = self._column_ranges(xs, ys, pyramid, (x_mode, smoothed),
                                             (left, per_px, columns))
                keep = np.isfinite(lo)
                cx = (left + per_px * (np.arange(columns) + 0.5))[keep]
                lo, hi = lo[keep], hi[keep]
            else:
                cx, lo, hi = unsorted_column_envelope(xs, ys, left, right, columns)
        y = np.empty(2 * len(cx))
        y[0::2] = lo
        y[1::2] = hi
        return Decimated(np.repeat(cx, 2), y, markers[0], markers[1], markers[2], False)

    def _column_ranges(self, xs: np.ndarray, ys: np.ndarray, pyramid: MinMaxPyramid,
                       which: tuple[str, bool], grid: tuple[float, float, int]
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Every column's (min, max) on this grid; with the grid of the last call and only
        points appended since, just the columns from the one that held the last old point
        on are computed again (its right edge's crossing moved)."""
        left, per_px, columns = grid
        n = len(ys)
        known = self._columns.get(which)
        if known is not None and known.grid == grid and 0 < known.n <= n:
            if known.n == n:
                return known.lo, known.hi
            c0 = int(np.clip((xs[known.n - 1] - left) // per_px, 0, columns))
            if c0 < columns:
                lo, hi = column_ranges(xs, ys, pyramid, left + c0 * per_px,
                                       left + columns * per_px, columns - c0)
                known.lo = np.concatenate((known.lo[:c0], lo))
                known.hi = np.concatenate((known.hi[:c0], hi))
            known.n = n
            return known.lo, known.hi
        lo, hi = column_ranges(xs, ys, pyramid, left, left + columns * per_px, columns)
        self._columns[which] = _ColumnCache(grid, n, lo, hi)
        return lo, hi

    def _markers(
        self, xs: np.ndarray, i0: int, i1: int, width_px: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bad = self.bad_index.view
        if len(bad) == 0:
            return _E, _E, _E
        lo, hi = np.searchsorted(bad, i0), np.searchsorted(bad, i1)
        idx = bad[lo:hi]
        room = max(width_px // 8, 1)  # one marker per ~8 px: a row of symbols, not a bar
        if len(idx) > room:
            idx = idx[:: -(-len(idx) // room)]
        vals = self.values.view[idx]
        x = xs[idx]
        return x[np.isnan(vals)], x[vals == np.inf], x[vals == -np.inf]


_E = np.empty(0)


@dataclass(slots=True)
class _ColumnCache:
    grid: tuple[float, float, int]  # (first column's left edge, x per column, columns)
    n: int  # points the ranges were computed from
    lo: np.ndarray
    hi: np.ndarray


def _appends_sorted(existing: np.ndarray, new: np.ndarray) -> bool:
    if len(new) > 1 and bool((np.diff(new) < 0).any()):
        return False
    return not (len(existing) and len(new) and new[0] < existing[-1])
