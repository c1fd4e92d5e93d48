"""Starting the desktop app: QApplication, theme, backend threads, the cache and the window;
and the smoke test that packaging and CI run (`cockpit app --smoke-test`)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from PySide6.QtCore import (
    QEvent,
    QEventLoop,
    QMessageLogContext,
    QObject,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication

from cockpit.monitor.backend import Backend, BackendOptions
from cockpit.sources.location import is_remote
from cockpit.ui import theme
from cockpit.ui.live_cache import LiveSeriesCache
from cockpit.ui.main_window import LAYOUT_VERSION, MainWindow
from cockpit.ui.settings import AppSettings, open_settings


@dataclass(slots=True)
class AppOptions:
    db_path: Path
    roots: list[Path | str] = field(default_factory=list)  # folders, ssh:// or bucket URLs
    settings_path: Path | None = None  # INI file instead of the platform store
    gpu: str = "auto"
    gpu_replay: Path | None = None
    gpu_url: str | None = None  # gpu "prometheus": the server scraping dcgm-exporter
    replay_pin_run: str | None = None
    stall_after: float | None = None
    smoke_test: bool = False
    title: str = "Cockpit"
    on_started: Callable[[], None] | None = None  # demo: start the live replay
    evals: list[Path] = field(default_factory=list)  # eval files/folders to import at start
    select_run: str | None = None  # `cockpit app --run NAME`: chart this run once it is seen


# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
# The GUI thread gives the GIL up on most Qt calls and needs it back for every Python paint
# and virtual call; against the ingest, writer and poller threads each of those hand-backs
# waited up to 5 ms, which stretched a 10 ms repaint of the charts to 150+ ms.
GUI_SWITCH_INTERVAL_S = 0.001


def application() -> QApplication:
    app = QApplication.instance()
    sys.setswitchinterval(min(sys.getswitchinterval(), GUI_SWITCH_INTERVAL_S))
    if isinstance(app, QApplication):
        return app
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Cockpit")
    app.setOrganizationName("Cockpit")
    app.setDesktopFileName("cockpit")
    return app


def build(options: AppOptions) -> tuple[MainWindow, Backend, LiveSeriesCache]:
    """Everything wired and the window shown; the caller runs the event loop.

    The database is opened here (a locked or unreadable history is one sentence before any
    window), but the threads (ingest, GPU, the cache's poller) start once the first frame is
    on screen, and pyqtgraph loads on a background thread meanwhile: the first window costs
    Qt and the database only.
    """
    application()
    qsettings = open_settings(options.settings_path)
    settings = AppSettings(qsettings)
    theme.apply(theme.resolve(settings.theme))
    remembered = [] if options.smoke_test else settings.remote_folders()
    backend = Backend(BackendOptions(
        db_path=options.db_path, roots=[*options.roots, *remembered], gpu=options.gpu,
        gpu_replay=options.gpu_replay, gpu_url=options.gpu_url,
        replay_pin_run=options.replay_pin_run,
        stall_after=options.stall_after, health=settings.detector_overrides(),
        gpu_interval=settings.gpu_interval, notify=settings.notify_config(options.db_path),
        sql_file_access=settings.sql_file_access))
    cache = LiveSeriesCache(backend.cursor, options.db_path)
    cache.ingest_rate_source = backend.ingest_rate
    writer = backend.writer
    if writer is not None:  # this app owns the history: nothing committed means nothing new
        cache.change_token = lambda: writer.transactions
        writer.on_transaction = cache.nudge  # ...and a commit ends the poller's rest at once
    window = MainWindow(
        cache, backend.cursor, qsettings, add_root=backend.add_root,
        status_source=lambda: (backend.gpu_status_text(), backend.last_error()),
        title=options.title, add_remote=backend.add_root_in_background)
    window.fleet.set_source(backend.fleet)
    window.evals.set_writer(backend.writer)  # opened evals stored, triage labels saved
    window.settingsChanged.connect(
        lambda: backend.set_notify(settings.notify_config(options.db_path)))
    if options.select_run:
        window.select_run_named(options.select_run)
    for root in options.roots:
        if is_remote(root) or Path(root).is_dir():
            settings.add_recent(root)
    window._fill_recent()

    def start() -> None:
        warm_up_charts()
        backend.start()
        if options.evals:
            backend.import_evals(options.evals)
        window.start()

    AfterFirstFrame(window, start)
    window.show()
    return window, backend, cache


class AfterFirstFrame(QObject):
    """Calls `then` once, right after `window` painted its first frame (or after
    `fallback_ms` if the platform never exposes it, e.g. a minimised start)."""

    def __init__(self, window: QObject, then: Callable[[], None], fallback_ms: int = 500) -> None:
        super().__init__(window)
        self._window = window
        self._then: Callable[[], None] | None = then
        window.installEventFilter(self)
        QTimer.singleShot(fallback_ms, self, self._fire)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if watched is self._window and event.type() == QEvent.Type.Paint:
            QTimer.singleShot(0, self, self._fire)  # after this paint has been flushed
        return False

    def _fire(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            self._window.removeEventFilter(self)
            then()


def warm_up_charts() -> None:
    """Import the chart module (pyqtgraph, a third of the start-up time) on a background
    thread, so neither the first window nor the first chart waits for it on the GUI thread;
    then settle the heap."""
    if "cockpit.ui.chart" in sys.modules:
        settle_heap()
        return

    def load() -> None:
        import cockpit.ui.chart  # noqa: F401

        settle_heap()

    threading.Thread(target=load, name="cockpit-import-charts", daemon=True).start()


GC_THRESHOLDS = (10_000, 20, 50)


def settle_heap() -> None:
    """Keep the garbage collector from holding the GUI thread under live load.

    A full collection walks every tracked object; with Qt, pyqtgraph, NumPy and DuckDB loaded
    that took ~40 ms, in whichever thread happened to allocate (often the GUI thread while it
    paints). What is loaded by now lives as long as the app, so it is frozen out of every
    later collection, and young objects are collected in fewer, still small, passes.
    """
    import gc

    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# Messages the offscreen platform prints for features it lacks (size hints, raising
# windows); they say nothing about Cockpit and would drown the smoke test's output.
PLATFORM_NOISE = ("This plugin does not support",)


def _message_handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    if any(message.startswith(noise) for noise in PLATFORM_NOISE):
        return
    print(message, file=sys.stderr, flush=True)


def run(options: AppOptions) -> int:
    previous = qInstallMessageHandler(_message_handler)
    app = application()
    window, backend, cache = build(options)
    code = 0
    try:
        if options.on_started is not None:
            options.on_started()
        code = smoke_test(window) if options.smoke_test else app.exec()
    finally:
        window.close()
        cache.stop()
        backend.close()
        _release(window)
        # A Python handler left installed keeps module globals (and duckdb's) alive at exit.
        qInstallMessageHandler(previous)
    return code


def _release(window: MainWindow) -> None:
    """Destroy the window now, so no DuckDB object outlives the interpreter's teardown of the
    duckdb module (nanobind prints a leak report for every one that does)."""
    import gc

    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    gc.collect()


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Spin the event loop until `predicate()` holds (app code, not tests: no pytest-qt)."""
    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        QTimer.singleShot(20, loop.quit)
        loop.exec()
    return True


def smoke_test(window: MainWindow, timeout: float = 60.0, out: TextIO | None = None) -> int:
    """Render every panel once with real data and check the layout round-trips. 0 = pass."""
    out = out or sys.stdout
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what}", file=out, flush=True)
        if not ok:
            failures.append(what)

    cache = window.cache
    check(wait_until(lambda: window.snapshot_seq > 0, timeout), "first snapshot from the database")
    has_runs = wait_until(lambda: bool(cache.snapshot.runs), timeout)
    check(has_runs, f"runs discovered ({len(cache.snapshot.runs)})")
    if has_runs:
        check(wait_until(lambda: bool(window.runs.selected), timeout), "runs selected for charts")
        check(wait_until(lambda: bool(window.charts.charts) and all(
            cache.loaded(r) for r in window.runs.selected), timeout),
            f"charts drawn ({len(window.charts.charts)} metrics)")
        window.charts.refresh_all()
    for name, dock in window.docks.items():
        window.show_dock(dock)
        QApplication.processEvents()
        pix = dock.widget().grab()
        check(not pix.isNull() and pix.width() > 0 and pix.height() > 0, f"panel {name} renders")
    central = window.charts.grab()
    check(not central.isNull(), "charts panel renders")
    check(window.sql.run_query("SELECT count(*) AS runs FROM runs"), "SQL query submitted")
    check(wait_until(lambda: window.sql.result is not None, timeout), "SQL query answered")
    window.palette_dialog.open_fresh()
    QApplication.processEvents()
    check(bool(window.commands.search("theme")), "command palette finds commands")
    window.palette_dialog.close()
    check(not window.commands.shortcut_conflicts(), "no two commands share a shortcut")
    state = window.saveState(LAYOUT_VERSION)
    window.docks["gpu"].hide()
    restored = window.restoreState(state, LAYOUT_VERSION)
    QApplication.processEvents()
    check(restored and window.docks["gpu"].isVisible() and
          window.saveState(LAYOUT_VERSION) == state, "layout saveState/restoreState round-trips")
    window.save_layout()
    check(window.restore_layout(), "layout persisted in settings and restored")
    shot = os.environ.get("COCKPIT_SMOKE_SCREENSHOT")
    if shot:  # what the display shows (on xcb: the X server's own pixels of the screen)
        QApplication.processEvents()
        screen = window.screen()
        pix = screen.grabWindow(0) if screen is not None else window.grab()
        check(pix.save(shot), f"screenshot saved to {shot}")
    print(f"smoke test {'passed' if not failures else 'FAILED'}; "
          f"Qt {os.environ.get('QT_QPA_PLATFORM', 'native')} platform", file=out, flush=True)
    return 0 if not failures else 1
