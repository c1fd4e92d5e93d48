"""Which watched files changed: the kernel says (inotify through watchfiles), so the engine
reads only those instead of stat-ing every file of every run several times a second.

The watcher runs on its own thread and only collects paths; the engine takes them on its
next turn. Anything that makes the event stream unreliable (no inotify on this file system,
the watch limit reached, the roots changed) is reported as "everything may have changed"
(`take()` returns None) or as `failed`, and the engine falls back to polling.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class _Interrupt:
    """The stop signal watchfiles polls: set to stop, or to restart with other roots."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def is_set(self) -> bool:
        return self.event.is_set()


class FolderWatcher:
    """Collects paths changed under the watched roots; `on_change` is called (from the
    watcher's thread) whenever new ones arrive, at most once per `batch_ms`."""

    def __init__(self, roots: list[Path], on_change: Callable[[], None] | None = None,
                 batch_ms: int = 50) -> None:
        self._roots = list(roots)
        self._on_change = on_change
        self._batch_ms = max(1, int(batch_ms))
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self._everything = True  # nothing seen yet: the first take() means "poll all"
        self._stop = threading.Event()
        self._interrupt = _Interrupt()
        self._thread: threading.Thread | None = None
        self._prefixes: list[tuple[str, str]] = []
        self.failed: str | None = None  # why events are not available (then: poll)
        # The kernel watches are in place (or failed); cleared while they are being replaced.
        self.ready = threading.Event()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cockpit-changes",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._interrupt.event.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def set_roots(self, roots: list[Path]) -> None:
        """Watch other roots from now on (restarts the kernel watches)."""
        with self._lock:
            self._roots = list(roots)
        self.ready.clear()
        self._interrupt.event.set()

    def take(self) -> set[str] | None:
        """Paths changed since the last call; None when any path may have changed unseen."""
        with self._lock:
            if self._everything or self.failed:
                self._everything = False
                self._changed.clear()
                return None
            changed, self._changed = self._changed, set()
            return changed

    # -- watcher thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            from watchfiles import watch
        except ImportError:
            self._fail("watchfiles is not installed")
            return
        while not self._stop.is_set():
            with self._lock:
                roots = [r for r in self._roots if r.exists()]
                self._everything = True  # events between two watch sessions were missed
            self._interrupt.event.clear()
            if not roots:
                self.ready.set()
                self._interrupt.event.wait()
                continue
            self._prefixes = _real_prefixes(roots)
            try:
                changes = watch(*roots, watch_filter=None, debounce=self._batch_ms,
                                step=max(1, min(self._batch_ms, 100)), stop_event=self._interrupt,
                                rust_timeout=1000, yield_on_timeout=True,
                                raise_interrupt=False, force_polling=False)
                for batch in changes:
                    if not self.ready.is_set():
                        # The kernel watches exist from the first answer on; a change before
                        # it may have been missed: the next take() says "look at everything".
                        with self._lock:
                            self._everything = True
                        self.ready.set()
                        self._add(())
                    if batch:
                        self._add(p for _, p in batch)
            except Exception as err:  # inotify limit, unsupported file system, ...
                self._fail(f"file change events unavailable ({err}); polling instead")
                return

    def _add(self, paths: object) -> None:
        with self._lock:
            for path in paths:  # type: ignore[attr-defined]
                self._changed.add(self._as_watched(path))
        if self._on_change is not None:
            self._on_change()

    def _as_watched(self, path: str) -> str:
        """An event path spelled the way the engine spells the file (a root given through a
        symlink is reported by its real path)."""
        for real, given in self._prefixes:
            if path.startswith(real):
                return given + path[len(real):]
        return path

    def _fail(self, why: str) -> None:
        log.info(why)
        with self._lock:
            self.failed = why
        self.ready.set()
        if self._on_change is not None:
            self._on_change()


def _real_prefixes(roots: list[Path]) -> list[tuple[str, str]]:
    out = []
    for root in roots:
        given = str(root)
        real = os.path.realpath(given)
        if real != given:
            out.append((real, given))
    return out
