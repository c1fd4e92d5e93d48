"""One SSH host: its single session, whether it is reachable, and reconnection with backoff.

Every user of a host (its watched folders, GPU telemetry, /proc, Slurm) shares one `SshHost`
from `ssh_host()`, so there is one connection per host however many runs it holds. When the
connection drops, requests fail at once with `SourceUnavailable` (nothing blocks waiting for
a dead host) and a background thread reconnects after 1, 2, 4 ... 30 s; `reachability()`
says "unreachable since 14:02 (why)" meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from cockpit.sources.base import Reachability, SourceUnavailable
from cockpit.sources.ssh.session import SshSession, StreamCallback
from cockpit.sources.ssh.target import SshTarget

log = logging.getLogger(__name__)

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


class SshHost:
    def __init__(self, target: SshTarget, request_timeout: float = 10.0) -> None:
        self.target = target
        self.name = target.name
        self.request_timeout = request_timeout
        self.connects = 0  # sessions started (the first one and every reconnect)
        self._session: SshSession | None = None
        self._state = Reachability(False, time.time(), "not connected yet")
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Reachability], None]] = []

    # ---- connection --------------------------------------------------------------------------
    def connect(self, timeout: float = 20.0) -> None:
        """Connect now if not connected (raises SourceUnavailable with ssh's reason), and keep
        the connection up from then on."""
        with self._lock:
            if self._session is not None and self._session.alive:
                return
        self._open(timeout)
        self._ensure_thread()

    def _open(self, timeout: float) -> None:
        session = SshSession(self.target, on_close=self._lost)
        try:
            session.start(timeout)
        except SourceUnavailable as err:
            session.close(str(err))
            self._set_state(Reachability(False, self._down_since(), str(err)))
            raise
        with self._lock:
            old, self._session = self._session, session
            self.connects += 1
        if old is not None:
            old.close("replaced")
        self._set_state(Reachability(True, time.time()))

    def _down_since(self) -> float:
        state = self._state
        return time.time() if state.ok else state.since

    def _lost(self, reason: str) -> None:
        if self._closed:
            return
        log.info("%s", reason)
        self._set_state(Reachability(False, self._down_since(), reason))
        with self._lock:
            self._wake.notify_all()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._keep_up, daemon=True,
                                                name=f"cockpit-ssh-{self.target.host}")
                self._thread.start()

    def _keep_up(self) -> None:
        """Reconnect with backoff whenever the session is gone."""
        attempt = 0
        while True:
            with self._lock:
                while not self._closed and self._session is not None and self._session.alive:
                    self._wake.wait(5.0)
                    attempt = 0
                if self._closed:
                    return
            delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            with self._lock:
                self._wake.wait(delay)
                if self._closed:
                    return
            attempt += 1
            try:
                self._open(timeout=20.0)
            except SourceUnavailable:
                continue

    def _set_state(self, state: Reachability) -> None:
        changed = state.ok != self._state.ok or state.reason != self._state.reason
        self._state = state
        if changed:
            for listener in list(self._listeners):
                listener(state)

    def on_change(self, listener: Callable[[Reachability], None]) -> None:
        """Call `listener(state)` whenever the host goes up or down (from ssh's threads)."""
        self._listeners.append(listener)

    def reachability(self) -> Reachability:
        return self._state

    def close(self) -> None:
        with self._lock:
            self._closed = True
            session, self._session = self._session, None
            self._wake.notify_all()
        if session is not None:
            session.close("closed")

    # ---- what sources use --------------------------------------------------------------------
    def session(self) -> SshSession:
        """The live session, or SourceUnavailable at once (never waits for a dead host)."""
        session = self._session
        if session is None or not session.alive:
            raise SourceUnavailable(self._state.reason or f"{self.name}: not connected")
        return session

    def request(self, op: str, timeout: float | None = None,
                **args: Any) -> tuple[dict[str, Any], bytes]:
        session = self.session()
        try:
            return session.request(op, timeout or self.request_timeout, **args)
        except TimeoutError:
            # A host that stops answering is treated as gone: drop the session so the next
            # request fails fast and the keeper reconnects.
            session.close(f"{self.name}: no answer within {timeout or self.request_timeout:.0f} s")
            raise

    def run(self, argv: list[str], timeout: float = 30.0) -> tuple[int, bytes, str]:
        """Run a command on the host once: (exit status, stdout, stderr); OSError when it
        cannot be started (not installed)."""
        msg, out = self.request("run", timeout=timeout + 5.0, argv=argv, timeout_s=timeout)
        return int(msg["rc"]), out, str(msg.get("stderr", ""))

    def stream(self, argv: list[str], callback: StreamCallback) -> tuple[SshSession, int]:
        session = self.session()
        return session, session.stream(argv, callback)


_hosts: dict[SshTarget, SshHost] = {}
_hosts_lock = threading.Lock()


def ssh_host(target: SshTarget) -> SshHost:
    """The one SshHost of `target` in this process (created on first use, not connected)."""
    with _hosts_lock:
        host = _hosts.get(target)
        if host is None or host._closed:
            host = _hosts[target] = SshHost(target)
        return host


def close_hosts() -> None:
    with _hosts_lock:
        hosts = list(_hosts.values())
        _hosts.clear()
    for host in hosts:
        host.close()
