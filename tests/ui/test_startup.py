"""Start-up: the first window is Qt and the database only; threads start after its first frame,
pyqtgraph loads off the GUI thread, and the GUI thread gets the GIL back quickly."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from cockpit.monitor.backend import Backend, BackendOptions
from cockpit.ui import app as ui_app

FIRST_WINDOW = textwrap.dedent("""
    import sys, tempfile
    from pathlib import Path
    from PySide6.QtWidgets import QApplication
    from cockpit.ui import app as ui_app
    work = Path(tempfile.mkdtemp())
    window, backend, cache = ui_app.build(ui_app.AppOptions(
        db_path=work / 'x.duckdb', roots=[work], settings_path=work / 's.ini', gpu='off'))
    QApplication.processEvents()  # the first frame
    print('first', backend.started, 'pyqtgraph' in sys.modules, 'torch' in sys.modules)
    live = ui_app.wait_until(lambda: backend.started and window.snapshot_seq > 0, 30)
    charts = ui_app.wait_until(lambda: 'cockpit.ui.chart' in sys.modules, 30)
    print('later', live, charts, 'torch' in sys.modules)
    window.close(); cache.stop(); backend.close(); ui_app._release(window)
""")


def test_first_frame_comes_before_threads_pyqtgraph_and_torch(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", FIRST_WINDOW], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(("first", "later"))]
    assert lines == ["first False False False", "later True True False"], out.stderr


@pytest.fixture
def window() -> Iterator[QWidget]:
    widget = QWidget()
    yield widget
    # Deleted now: a Qt object alive at interpreter exit keeps duckdb's module alive through
    # cockpit.ui.app, and nanobind prints a leak report.
    widget.close()
    widget.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def test_after_first_frame_runs_once_after_the_paint(qtbot: QtBot, window: QWidget) -> None:
    calls: list[bool] = []
    ui_app.AfterFirstFrame(window, lambda: calls.append(window.isVisible()), fallback_ms=60_000)
    assert calls == []
    window.show()
    qtbot.waitUntil(lambda: calls == [True])
    window.update()
    qtbot.wait(50)  # more paints: still once (a wait on the event loop, not a sleep)
    assert calls == [True]


def test_after_first_frame_falls_back_when_never_painted(qtbot: QtBot, window: QWidget) -> None:
    calls: list[int] = []  # the window is never shown
    ui_app.AfterFirstFrame(window, lambda: calls.append(1), fallback_ms=10)
    qtbot.waitUntil(lambda: calls == [1])


def test_a_backend_closed_before_its_start_never_starts(tmp_path: Path) -> None:
    backend = Backend(BackendOptions(db_path=tmp_path / "x.duckdb", gpu="off"))
    backend.close()
    backend.start()
    assert not backend.started and backend.engine is None


def test_the_gui_process_takes_the_gil_back_within_a_millisecond(qapp: QApplication) -> None:
    before = sys.getswitchinterval()
    try:
        ui_app.application()
        assert sys.getswitchinterval() <= ui_app.GUI_SWITCH_INTERVAL_S <= 0.001
    finally:
        sys.setswitchinterval(before)  # the rest of the test session keeps its own
