"""The frame timer's pace: full rate while data or the view moves, slow when nothing does.

An app left open all day on finished runs should cost next to nothing: after a second of
frames that found no new snapshot and drew no chart, the timer drops to IDLE_MS, and to
MINIMISED_MS while the window is minimised. A new snapshot (the cache's poller says so) or
any input (mouse, wheel, key) brings the full rate back at once, so new data, zooming and
panning never wait for a slow frame.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer

IDLE_MS = 1000
MINIMISED_MS = 2000
IDLE_AFTER_FRAMES = 30  # frames in a row with nothing to do before slowing down

_INPUT = frozenset({
    QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.Wheel,
    QEvent.Type.KeyPress, QEvent.Type.Resize, QEvent.Type.Show,
    QEvent.Type.WindowStateChange})


class FramePacer(QObject):
    """Owns the frame timer's interval; installed as an application event filter."""

    def __init__(self, timer: QTimer, full_ms: Callable[[], int]) -> None:
        super().__init__(timer)
        self.timer = timer
        self.full_ms = full_ms
        self.quiet = 0  # frames in a row with nothing to do
        self.slowed = 0  # times the timer was slowed (for tests and benchmarks)

    def frame(self, busy: bool, minimised: bool) -> None:
        """After each frame: `busy` when it applied a snapshot or drew a chart."""
        if busy:
            self.quiet = 0
            self._set(self.full_ms())
            return
        self.quiet += 1
        if minimised:
            self._set(MINIMISED_MS)
        elif self.quiet >= IDLE_AFTER_FRAMES:
            self._set(max(IDLE_MS, self.full_ms()))

    def wake(self) -> None:
        """Back to the full rate now (input, settings changed)."""
        self.quiet = 0
        self._set(self.full_ms())

    def _set(self, ms: int) -> None:
        if self.timer.interval() != ms:
            if ms > self.timer.interval():
                self.slowed += 1
            self.timer.setInterval(ms)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if self.quiet and event.type() in _INPUT:
            self.wake()
        return False
