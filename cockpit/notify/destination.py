"""One destination's outbox and the thread that empties it.

Items wait `gather_s` for others to join them; the rate limit decides when the next message
may go; several ready at once (or more than the limit lets through) go as one digest. A
failed send keeps its items and retries with exponential backoff for `keep_s`: the first
failure is reported once, so is the recovery, and so is anything dropped in the end. A slow
or dead service only ever holds this thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cockpit.notify.config import NotifyConfig, Route
from cockpit.notify.message import Item, Message, digest
from cockpit.notify.ratelimit import RateLimit

log = logging.getLogger("cockpit.notify")


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    reason: str = ""  # why not, redacted, one line


class Sender(Protocol):
    """Delivers one message to one URL template, synchronously (AppriseSender)."""

    def send(self, template: str, message: Message) -> SendResult: ...


@dataclass(slots=True)
class DestinationStats:
    messages_sent: int = 0
    items_delivered: int = 0
    digests_sent: int = 0
    failed_attempts: int = 0
    items_dropped: int = 0


class Destination:
    def __init__(self, route: Route, name: str, config: NotifyConfig, sender: Sender,
                 report: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.route = route
        self.name = name  # the masked URL: safe to print
        self.config = config
        self.sender = sender
        self.report = report
        self.clock = clock
        self.wall = wall
        self.stats = DestinationStats()
        self.last_error = ""
        self._limit = RateLimit(*(route.rate or config.rate))
        self._pending: list[Item] = []
        self._cond = threading.Condition()
        self._retry_at = 0.0
        self._backoff = config.retry_initial_s
        self._failing = False
        self._overflow_said = False  # the outbox overflowed: said once until a send works
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="cockpit-notify-send", daemon=True)

    # ---- the caller's side (the notifier's dispatcher) ----------------------------------------
    def start(self) -> None:
        self._thread.start()

    def put(self, items: list[Item]) -> None:
        now, wall = self.clock(), self.wall()
        dropped = 0
        with self._cond:
            for item in items:
                item.arrived = now
                item.created_wall = wall
            self._pending.extend(items)
            excess = len(self._pending) - self.config.max_kept
            if excess > 0:
                del self._pending[:excess]
                dropped = excess
            self._cond.notify()
        if dropped:
            self._dropped(dropped, f"more than {self.config.max_kept} waiting")

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def begin_close(self) -> None:
        """Make one last try for what is ready now (no gather wait), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()

    def close(self, timeout: float) -> None:
        """Wait up to `timeout` for the last try, then say what was not sent."""
        self.begin_close()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._cond:
            held = [i for i in self._pending if i.release_at > self.wall()]
            left = len(self._pending) - len(held)
        if left:
            why = f": {self.last_error}" if self.last_error else ""
            self.report(f"notifications: {left} message(s) for {self.name} were not delivered "
                        f"before exit{why}")
        if held:
            self.report(f"notifications: {len(held)} message(s) for {self.name} held for quiet "
                        "hours were not sent before exit")
        if self.stats.items_dropped:
            self.report(f"notifications: {self.stats.items_dropped} message(s) for {self.name} "
                        "were dropped in all")

    # ---- the destination's thread ---------------------------------------------------------------
    def _run(self) -> None:
        final = False
        while True:
            batch = self._next_batch(final)
            if batch is None:
                return
            final = self._closing
            self._deliver(batch)

    def _next_batch(self, final_done: bool) -> list[Item] | None:
        gather = self.config.gather_s
        with self._cond:
            while True:
                now, wall = self.clock(), self.wall()
                self._expire(wall)
                ready = [i for i in self._pending if i.release_at <= wall]
                if self._closing:
                    # One last attempt, within the rate limit and not while backing off.
                    if (final_done or not ready or now < self._retry_at
                            or self._limit.next_at(now) > now):
                        return None
                    return ready
                if not ready:
                    wake = min((i.release_at for i in self._pending), default=None)
                    self._cond.wait(None if wake is None else max(0.01, wake - wall))
                    continue
                due = max(min(i.arrived for i in ready) + gather, self._retry_at,
                          self._limit.next_at(now))
                if now < due:
                    self._cond.wait(due - now)
                    continue
                return ready

    def _deliver(self, batch: list[Item]) -> None:
        open_app = self.config.open_app
        free = self._limit.available(self.clock())
        if len(batch) < self.config.digest_at and len(batch) <= free:
            groups = [[item] for item in batch]
        else:
            groups = [batch]
        for group in groups:
            message = group[0].message if len(group) == 1 else digest(group, open_app)
            result = self.sender.send(self.route.url, message)
            now = self.clock()
            with self._cond:
                if result.ok:
                    self._limit.take(now)
                    sent = {id(i) for i in group}
                    self._pending = [i for i in self._pending if id(i) not in sent]
                    self.stats.messages_sent += 1
                    self.stats.items_delivered += len(group)
                    self.stats.digests_sent += len(group) > 1
                    recovered, self._failing = self._failing, False
                    self._overflow_said = False
                    self._backoff = self.config.retry_initial_s
                    self._retry_at = 0.0
                else:
                    self.stats.failed_attempts += 1
                    self.last_error = result.reason
                    first, self._failing = not self._failing, True
                    self._retry_at = now + self._backoff
                    self._backoff = min(self._backoff * 2, self.config.retry_max_s)
            if result.ok:
                log.info("notification sent to %s (%d item(s))", self.name, len(group))
                if recovered:
                    self.report(f"notifications to {self.name} are delivered again")
                continue
            log.info("notification to %s failed: %s", self.name, result.reason)
            if first:
                self.report(f"notifications to {self.name} failed: {result.reason}; keeping "
                            f"messages and retrying for up to {_duration(self.config.keep_s)}")
            return

    def _expire(self, wall: float) -> None:
        """Drop what waited longer than keep_s past its release (called under the lock)."""
        keep = self.config.keep_s
        fresh = [i for i in self._pending if max(i.created_wall, i.release_at) + keep >= wall]
        gone = len(self._pending) - len(fresh)
        if gone:
            self._pending = fresh
            self.stats.items_dropped += gone
            why = f"; last error: {self.last_error}" if self.last_error else ""
            # Reported outside the lock would be cleaner; a report only prints or appends.
            self.report(f"notifications: dropped {gone} message(s) for {self.name} after "
                        f"{_duration(keep)} without delivery{why}")

    def _dropped(self, n: int, why: str) -> None:
        with self._cond:
            self.stats.items_dropped += n
            said, self._overflow_said = self._overflow_said, True
        if not said:
            self.report(f"notifications: dropping the oldest messages for {self.name} ({why}); "
                        "the total is said at exit")


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
