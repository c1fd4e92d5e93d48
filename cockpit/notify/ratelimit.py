"""A per-destination limit: at most N messages in any window of S seconds (a sliding log of
the last N send times, so the promise holds exactly, bursts included)."""

from __future__ import annotations

from collections import deque


class RateLimit:
    def __init__(self, count: int, per_s: float) -> None:
        self.count = max(1, count)
        self.per_s = per_s
        self._sent: deque[float] = deque(maxlen=self.count)

    def available(self, now: float) -> int:
        return self.count - sum(1 for t in self._sent if t > now - self.per_s)

    def next_at(self, now: float) -> float:
        """The earliest time a message may go (now if one may)."""
        if len(self._sent) < self.count:
            return now
        return max(now, self._sent[0] + self.per_s)

    def take(self, now: float) -> None:
        self._sent.append(now)
