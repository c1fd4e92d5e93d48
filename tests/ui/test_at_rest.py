"""An app with nothing new to show does next to nothing: the poller reads no table while the
writer commits nothing, and the frame timer slows down until data or input arrives."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QSettings, Qt, QTimer
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from cockpit.ui.frame_pacer import IDLE_AFTER_FRAMES, IDLE_MS, MINIMISED_MS, FramePacer
from cockpit.ui.live_cache import REST_AFTER, LiveSeriesCache
from cockpit.ui.main_window import MainWindow
from tests.ui.conftest import History


def test_pacer_slows_after_quiet_frames_and_input_restores_the_full_rate(qtbot) -> None:
    timer = QTimer()
    timer.setInterval(33)
    pacer = FramePacer(timer, lambda: 33)
    for _ in range(IDLE_AFTER_FRAMES - 1):
        pacer.frame(busy=False, minimised=False)
    assert timer.interval() == 33  # not yet
    pacer.frame(busy=False, minimised=False)
    assert timer.interval() == IDLE_MS and pacer.slowed == 1
    pacer.eventFilter(timer, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_A,
                                       Qt.KeyboardModifier.NoModifier))
    assert timer.interval() == 33
    pacer.frame(busy=False, minimised=False)
    assert timer.interval() == 33  # one quiet frame after input is not idleness
    for _ in range(IDLE_AFTER_FRAMES):
        pacer.frame(busy=False, minimised=False)
    pacer.frame(busy=True, minimised=False)
    assert timer.interval() == 33
    pacer.frame(busy=False, minimised=True)
    assert timer.interval() == MINIMISED_MS  # minimised: slow at once


def test_window_with_nothing_new_slows_its_frames_and_new_data_wakes_them(
        qtbot, filled: History, tmp_path: Path) -> None:
    cache = LiveSeriesCache(filled.cursor, filled.path)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(cache, filled.cursor, settings)
    qtbot.addWidget(window)
    window.show()
    cache.poll(filled.cursor())
    full = window.frame_timer.interval()
    for _ in range(IDLE_AFTER_FRAMES + 60):  # a snapshot, then charts settle, then nothing
        window.on_frame()
    assert window.frame_timer.interval() == IDLE_MS
    with qtbot.waitSignal(window.snapshotReady, timeout=5000):
        cache.on_snapshot()  # what the poller calls after a poll that found something
    assert window.frame_timer.interval() == full
    QApplication.processEvents()


def test_poller_reads_nothing_while_the_change_token_stands_still(filled: History) -> None:
    token = [0]
    published = threading.Event()
    cache = LiveSeriesCache(filled.cursor, filled.path, interval=0.01)
    cache.change_token = lambda: token[0]
    cache.on_snapshot = published.set
    cache.start()
    try:
        assert published.wait(10)  # the first poll always reads
        first = cache.cycles
        rested = threading.Event()
        for _ in range(2000):
            if cache._resting:
                rested.set()
                break
            rested.wait(0.01)
        # REST_AFTER quiet turns (the first poll's own among them), no query, then a rest until the next commit
        assert rested.is_set() and cache.skipped >= REST_AFTER - 1 and cache.cycles == first
        skipped = cache.skipped
        threading.Event().wait(0.5)  # resting: 50 turns of the old 10 ms loop, not one taken
        assert cache.skipped == skipped and cache.cycles == first
        points = cache.snapshot.points_total
        published.clear()
        filled.metrics("a", "loss", np.arange(500, 510), np.full(10, 1.5))
        token[0] += 1  # the writer committed something...
        cache.nudge()  # ...and says so (Writer.on_transaction)
        assert published.wait(10)
        assert cache.cycles > first and cache.snapshot.points_total == points + 10
    finally:
        cache.stop()


def test_the_writer_wakes_a_resting_app_at_its_next_commit(tmp_path: Path) -> None:
    """End to end with the real writer: a commit after a long rest is on screen at once."""
    from cockpit.store.writer import StoreWriter

    writer = StoreWriter(tmp_path / "h.duckdb")
    cache = LiveSeriesCache(writer.cursor, tmp_path / "h.duckdb", interval=0.01)
    cache.change_token = lambda: writer.transactions
    writer.on_transaction = cache.nudge
    published = threading.Event()
    cache.on_snapshot = published.set
    cache.start()
    try:
        assert published.wait(10)
        for _ in range(1000):
            if cache._resting:
                break
            threading.Event().wait(0.01)
        assert cache._resting
        published.clear()
        writer.call(lambda con: con.execute("SELECT 1"))  # one transaction, nothing else
        writer.flush()
        assert published.wait(5)  # read at once, not at the 30 s routine look
    finally:
        cache.stop()
        writer.close()


def test_status_rate_falls_to_zero_between_snapshots(
        qtbot, filled: History, tmp_path: Path) -> None:
    """The poller rests once writes stop; the status bar's rate must still fall to 0."""
    cache = LiveSeriesCache(filled.cursor, filled.path)
    rate = [1234.0]
    cache.ingest_rate_source = lambda: rate[0]
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(cache, filled.cursor, settings)
    qtbot.addWidget(window)
    cache.poll(filled.cursor())
    window.on_frame()
    assert window.rate_label.text() == "ingest 1,234 pts/s"
    rate[0] = 0.0  # writes stopped: no commit, so no new snapshot
    seq = window.snapshot_seq
    window.on_frame()
    assert window.snapshot_seq == seq and window.rate_label.text() == "ingest 0 pts/s"
