"""A fixed-size window with an O(log n) median, the robust baseline every detector uses.

A median ignores the one-step spikes that make mean-and-stddev rules cry wolf; keeping the
window sorted makes each update a bisect plus a short memmove (windows are ~50 logs).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque


class RollingMedian:
    """The last `size` values pushed, with their median and median absolute deviation."""

    __slots__ = ("_order", "_sorted", "size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("window size must be at least 1")
        self.size = size
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def push(self, value: float) -> None:
        if len(self._order) == self.size:
            old = self._order.popleft()
            del self._sorted[bisect_left(self._sorted, old)]
        self._order.append(value)
        insort(self._sorted, value)

    def __len__(self) -> int:
        return len(self._order)

    @property
    def full(self) -> bool:
        return len(self._order) == self.size

    def median(self) -> float:
        s = self._sorted
        n = len(s)
        if not n:
            return float("nan")
        mid = n // 2
        return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])

    def mad(self) -> float:
        """Median absolute deviation: O(n log n), so call it only when a rule is close to firing."""
        if not self._sorted:
            return float("nan")
        med = self.median()
        devs = sorted(abs(v - med) for v in self._sorted)
        n = len(devs)
        mid = n // 2
        return devs[mid] if n % 2 else 0.5 * (devs[mid - 1] + devs[mid])

    def oldest(self) -> float:
        return self._order[0]

    def newest(self) -> float:
        return self._order[-1]

    def values(self) -> list[float]:
        """In arrival order (a copy)."""
        return list(self._order)


def median_of(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    if not n:
        return float("nan")
    mid = n // 2
    return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])
