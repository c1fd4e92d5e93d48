"""Sliding time windows with O(1) amortized updates, for the GPU detectors."""

from __future__ import annotations

from collections import deque


class MeanWindow:
    """Running means of a few series over the last `span_s` seconds; None values are skipped."""

    def __init__(self, span_s: float, width: int) -> None:
        self.span_s = span_s
        self._items: deque[tuple[float, tuple[float | None, ...]]] = deque()
        self._sums = [0.0] * width
        self._counts = [0] * width

    def add(self, ts: float, *values: float | None) -> None:
        self._items.append((ts, values))
        for i, value in enumerate(values):
            if value is not None:
                self._sums[i] += value
                self._counts[i] += 1
        while self._items and self._items[0][0] < ts - self.span_s:
            _, old = self._items.popleft()
            for i, value in enumerate(old):
                if value is not None:
                    self._sums[i] -= value
                    self._counts[i] -= 1

    def __len__(self) -> int:
        return len(self._items)

    @property
    def first_ts(self) -> float | None:
        return self._items[0][0] if self._items else None

    def covers(self, ts: float, share: float = 0.9) -> bool:
        """True when the samples span at least `share` of the window."""
        first = self.first_ts
        return first is not None and ts - first >= share * self.span_s

    def mean(self, i: int) -> float | None:
        return self._sums[i] / self._counts[i] if self._counts[i] else None

    def count(self, i: int) -> int:
        return self._counts[i]

    def clear(self) -> None:
        self._items.clear()
        self._sums = [0.0] * len(self._sums)
        self._counts = [0] * len(self._counts)


class HalvesWindow:
    """The value at the start, middle and end of the last `span_s` seconds (a trend test)."""

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self._older: deque[tuple[float, float]] = deque()
        self._newer: deque[tuple[float, float]] = deque()

    def add(self, ts: float, value: float) -> None:
        self._newer.append((ts, value))
        half = ts - self.span_s / 2
        while self._newer and self._newer[0][0] < half:
            self._older.append(self._newer.popleft())
        while self._older and self._older[0][0] < ts - self.span_s:
            self._older.popleft()

    def points(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]] | None:
        """(oldest, middle, newest) or None until both halves hold a sample."""
        if not self._older or not self._newer:
            return None
        return self._older[0], self._newer[0], self._newer[-1]

    def clear(self) -> None:
        self._older.clear()
        self._newer.clear()


class SamplePace:
    """A series' typical sample interval (EWMA) and its gaps: a pause longer than
    `gap_intervals` intervals and `gap_min_s` seconds is a gap, not a slow sample."""

    def __init__(self, gap_intervals: float = 3.0, gap_min_s: float = 10.0) -> None:
        self.gap_intervals = gap_intervals
        self.gap_min_s = gap_min_s
        self.last_ts: float | None = None
        self.interval_s: float | None = None
        self.gaps = 0
        self.is_gap = False  # whether the last update was a gap

    def update(self, ts: float) -> float | None:
        """The step since the previous sample; None for the first one, a gap or an old ts."""
        self.is_gap = False
        last = self.last_ts
        if last is not None and ts <= last:
            return None
        self.last_ts = ts
        if last is None:
            return None
        dt = ts - last
        interval = self.interval_s
        if interval is not None and dt > max(self.gap_intervals * interval, self.gap_min_s):
            self.gaps += 1
            self.is_gap = True
            return None
        self.interval_s = dt if interval is None else 0.9 * interval + 0.1 * dt
        return dt
