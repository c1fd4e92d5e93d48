"""The consumer of alerts and lifecycle changes that tells the user off the desktop.

`on_alerts` and `on_lifecycle` only put what they are given on a queue: the engine's thread,
the GPU pipeline's or the GUI's never wait for a service. The notifier's own thread decides
what each route wants (severity, detector, run pattern, quiet hours, freshness, follow-ups)
and hands items to the destinations, each with its own sending thread.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cockpit.model.alert import Alert
from cockpit.model.lifecycle import LifecycleChange
from cockpit.notify.config import NotifyConfig, Route
from cockpit.notify.destination import Destination, DestinationStats, Sender
from cockpit.notify.message import Item, alert_item, follow_up_item
from cockpit.notify.secrets import install_log_redaction, redact

log = logging.getLogger("cockpit.notify")
install_log_redaction()

SEEN_MAX = 50_000  # episodes remembered for de-duplication
_RECOVERED_FROM = ("hung", "stalled", "failed")


@dataclass(slots=True)
class NotifierStats:
    alerts_received: int = 0
    alerts_routed: int = 0
    duplicates: int = 0
    stale: int = 0
    follow_ups: int = 0


class Notifier:
    def __init__(self, config: NotifyConfig, report: Callable[[str], None] | None = None,
                 sender: Sender | None = None, names: list[str] | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        if sender is None:
            from cockpit.notify.apprise_client import AppriseSender

            sender = AppriseSender(config.send_timeout_s)
        assert sender is not None
        if names is None:
            from cockpit.notify.apprise_client import display

            names = [display(r.url) for r in config.routes]
        self.config = config
        self.wall = wall
        self.host = config.host or socket.gethostname()
        self._report = report
        self.reports: list[str] = []  # every report, for the app's status bar and tests
        self.destinations = [Destination(route, name, config, sender, self._say, wall=wall)
                             for route, name in zip(config.routes, names, strict=True)]
        self.stats = NotifierStats()
        self._queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._seen: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self._alerted: dict[tuple[int, str], list[str]] = {}
        self._hosts: dict[str, str] = {}
        self._thread = threading.Thread(target=self._loop, name="cockpit-notify", daemon=True)
        self._started = False
        self._closed = False

    # ---- what producers call (any thread; never blocks) -----------------------------------
    def on_alerts(self, alerts: list[Alert]) -> None:
        if alerts and not self._closed:
            self._queue.put(("alerts", list(alerts)))

    def on_lifecycle(self, changes: list[LifecycleChange]) -> None:
        if changes and not self._closed:
            self._queue.put(("lifecycle", list(changes)))

    __call__ = on_alerts  # usable wherever an `on_alerts` callback is taken

    # ---- lifecycle of the notifier itself ------------------------------------------------------
    def start(self) -> Notifier:
        if not self._started:
            self._started = True
            for dest in self.destinations:
                dest.start()
            self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking input, hand over what was queued, give each destination one last try
        within `timeout` seconds, and report what was left undelivered."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        if self._started:
            self._queue.put(None)
            self._thread.join(max(0.0, deadline - time.monotonic()))
        for dest in self.destinations:  # all at once: one slow service must not eat the time
            dest.begin_close()
        for dest in self.destinations:
            dest.close(max(0.1, deadline - time.monotonic()) if self._started else 0.0)

    def wait_routed(self, timeout: float) -> bool:
        """Whether everything handed over so far reached the destinations' outboxes in time
        (a marker queued behind it is reached: the queue is first in, first out)."""
        reached = threading.Event()
        self._queue.put(("marker", reached))
        return reached.wait(timeout)

    def destination_stats(self) -> list[tuple[str, DestinationStats, int]]:
        return [(d.name, d.stats, d.pending) for d in self.destinations]

    def _say(self, text: str) -> None:
        text = redact(text)
        self.reports.append(text)
        log.info("%s", text)
        if self._report is not None:
            self._report(text)

    # ---- the notifier's thread ------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            kind, values = entry
            try:
                if kind == "alerts":
                    self._route_alerts(values)
                elif kind == "lifecycle":
                    self._route_changes(values)
                else:
                    values.set()
            except Exception:  # a bug here must not end notifications for the session
                log.exception("notification routing failed")

    def _release_at(self, severity: str) -> float:
        quiet = self.config.quiet_hours
        if quiet is None:
            return 0.0
        now = datetime.fromtimestamp(self.wall())
        return quiet.ends_after(now).timestamp() if quiet.holds(severity, now) else 0.0

    def _route_alerts(self, alerts: list[Alert]) -> None:
        wall = self.wall()
        batches: dict[int, list[Item]] = {}
        for alert in alerts:
            self.stats.alerts_received += 1
            key = (alert.run, alert.detector, alert.metric, alert.step, alert.severity)
            if key in self._seen:
                self.stats.duplicates += 1
                continue
            self._seen[key] = None
            if len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)
            if alert.ts is not None and wall - alert.ts > self.config.max_age_s:
                self.stats.stale += 1  # history found by an import, not news
                continue
            host = str((alert.evidence or {}).get("host") or self._hosts.get(alert.run)
                       or self.host)
            for index, dest in enumerate(self.destinations):
                if not dest.route.wants(alert):
                    continue
                item = alert_item(alert, host, self.config.open_app)
                item.release_at = self._release_at(alert.severity)
                batches.setdefault(index, []).append(item)
                self._alerted.setdefault((index, alert.run), []).append(alert.detector)
                self.stats.alerts_routed += 1
        for index, items in batches.items():
            self.destinations[index].put(items)

    def _route_changes(self, changes: list[LifecycleChange]) -> None:
        wall = self.wall()
        batches: dict[int, list[Item]] = {}
        for change in changes:
            if change.host:
                self._hosts[change.run] = change.host
            kind = _follow_up_kind(change)
            if kind is None or wall - change.ts > self.config.max_age_s:
                continue
            for index, dest in enumerate(self.destinations):
                detectors = self._alerted.get((index, change.run), [])
                if not _wants_follow_up(dest.route, change.run, kind, bool(detectors)):
                    continue
                item = follow_up_item(change, kind, detectors,
                                      change.host or self._hosts.get(change.run) or self.host,
                                      self.config.open_app)
                item.release_at = self._release_at(item.severity)
                batches.setdefault(index, []).append(item)
                self.stats.follow_ups += 1
            for index in range(len(self.destinations)):
                self._alerted.pop((index, change.run), None)  # the episode is over
        for index, items in batches.items():
            self.destinations[index].put(items)


def chain_on_lifecycle(engine: Any, callback: Callable[[list[LifecycleChange]], None]) -> None:
    """Have the engine hand its lifecycle changes to `callback` too, after whatever it
    already calls (`watch` prints them, the app keeps them); an engine that announces no
    lifecycle (no `on_lifecycle`) is left as it is."""
    if not hasattr(engine, "on_lifecycle"):
        return
    previous = engine.on_lifecycle

    def both(changes: list[LifecycleChange]) -> None:
        if previous is not None:
            previous(changes)
        callback(changes)

    engine.on_lifecycle = both


def _follow_up_kind(change: LifecycleChange) -> str | None:
    """recovered / finished / failed, or None for a change that is not news (a run found
    for the first time, or one that went hung: its alert says so)."""
    if change.previous is None:
        return None
    if change.state == "running" and change.previous in _RECOVERED_FROM:
        return "recovered"
    if change.state in ("finished", "failed") and change.previous != change.state:
        return change.state
    return None


def _wants_follow_up(route: Route, run: str, kind: str, alerted: bool) -> bool:
    if route.follow_ups == "off" or not route.wants_run(run):
        return False
    if route.follow_ups == "alerted" or kind == "recovered":
        return alerted
    return True
