"""One background thread per eval tab that runs its jobs in order, results back on the GUI thread.

Every job that touches an eval's `SampleTable` (loading, `warm()`, `mask()`, summaries) goes
through this one thread, so the table's lazily built filter caches are never written by two
threads at once and a filter queued after `warm()` finds them ready. The database is read
through a cursor made on the worker thread itself (DuckDB cursors are not shared).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

Done = Callable[[Any, "str | None"], None]

# Errors a user can cause (a bad file, a database that went away, an endpoint that refuses):
# their message is one sentence for the status line. Anything else is a bug: its traceback
# goes to stderr and the status line names the type.
EXPECTED = ("EvalLoadError", "Error", "EndpointError", "LlmError", "OSError", "KeyError",
            "ValueError", "FileNotFoundError", "PermissionError", "CatalogException",
            "IOException", "InvalidInputException", "BudgetExceeded", "Cancelled")


def error_sentence(err: BaseException) -> str:
    """The one line the status bar shows for a failed job."""
    name = type(err).__name__
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if name == "KeyError":
        return f"no field {text}"
    if name in EXPECTED or isinstance(err, OSError):
        return text or name
    traceback.print_exception(err)
    return f"{name}: {text}" if text else name


class SerialWorker(QObject):
    """Runs `job()` callables one after another on a daemon thread; `done(result, error)` is
    called on the GUI thread (through a queued signal) in submission order."""

    _finished = Signal(object)

    def __init__(self, name: str, cursor_factory: Callable[[], Any] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._cursor_factory = cursor_factory
        self._cur: Any = None
        self._jobs: queue.Queue[tuple[Callable[[], Any], Done] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.pending = 0  # jobs submitted and not yet delivered (GUI thread only)
        self._finished.connect(self._deliver)

    def submit(self, job: Callable[[], Any], done: Done) -> bool:
        if self._closed:
            return False
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()
        self.pending += 1
        self._jobs.put((job, done))
        return True

    def cursor(self) -> Any:
        """A database cursor owned by the worker thread (call it from a job only)."""
        if self._cursor_factory is None:
            raise ValueError("this eval tab was opened without a database")
        if self._cur is None:
            self._cur = self._cursor_factory()
        return self._cur

    @property
    def busy(self) -> bool:
        return self.pending > 0

    def _loop(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                break
            job, done = item
            try:
                result, error = job(), None
            except Exception as err:  # delivered as one sentence; bugs also print a traceback
                result, error = None, error_sentence(err)
            if self._closed:
                break
            try:
                self._finished.emit((done, result, error))
            except RuntimeError:  # the panel was deleted while the job ran
                break
        if self._cur is not None:
            with contextlib.suppress(Exception):
                self._cur.close()
            self._cur = None

    def _deliver(self, item: tuple[Done, Any, str | None]) -> None:
        done, result, error = item
        self.pending -= 1
        done(result, error)

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the running job (queued ones are dropped)."""
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        self._jobs.put(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
