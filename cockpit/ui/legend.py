"""A one-line legend: a colour swatch and the run's name for every run on a chart.

Hover-only identification (the crosshair readout) made a user move the mouse over every
curve to learn which colour was which run. The strip sits above each chart; names are
elided to share its width (the full name and path are in each entry's tooltip), and runs
that do not fit are counted as "+N", whose tooltip lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from cockpit.ui import theme

SWATCH = 10
GAP = 12  # between entries
MIN_NAME_PX = 48  # below this a name is not worth eliding: the entry goes into "+N"


@dataclass(slots=True)
class LegendEntry:
    name: str
    color: str
    tooltip: str = ""


class LegendStrip(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[LegendEntry] = []
        self._placed: list[tuple[QRect, str, LegendEntry]] = []  # (rect, shown text, entry)
        self._overflow: tuple[QRect, list[LegendEntry]] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    def set_entries(self, entries: list[LegendEntry]) -> None:
        if entries != self.entries:
            self.entries = list(entries)
            self._layout()
            self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, QFontMetrics(self.font()).height() + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(40, self.sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._layout()

    def shown_names(self) -> list[str]:
        """The text drawn for each entry that fits (elided names), in order."""
        return [text for _, text, _ in self._placed]

    def hidden(self) -> list[LegendEntry]:
        return self._overflow[1] if self._overflow else []

    def _layout(self) -> None:
        fm = QFontMetrics(self.font())
        width = max(self.width() - 8, 0)
        height = self.height()
        n = len(self.entries)
        self._placed = []
        self._overflow = None
        if n == 0:
            return
        natural = [fm.horizontalAdvance(e.name) for e in self.entries]
        # How many fit when each gets at least MIN_NAME_PX (reserving room for "+N").
        fits = n
        while fits > 1:
            more = f"+{n - fits}" if fits < n else ""
            reserve = fm.horizontalAdvance(more) + GAP if more else 0
            need = sum(SWATCH + 4 + min(w, MIN_NAME_PX) + GAP for w in natural[:fits])
            if need + reserve <= width:
                break
            fits -= 1
        more = f"+{n - fits}" if fits < n else ""
        reserve = fm.horizontalAdvance(more) + GAP if more else 0
        room = max(width - reserve - fits * (SWATCH + 4 + GAP), fits * 8)
        # Share the room: short names keep their width, long ones split what is left.
        widths = _share(natural[:fits], room)
        x = 4
        for entry, w, full in zip(self.entries[:fits], widths, natural[:fits], strict=True):
            # A name given its full width is shown whole (elidedText wants a pixel or two
            # more than horizontalAdvance reports).
            text = entry.name if w >= full else fm.elidedText(
                entry.name, Qt.TextElideMode.ElideMiddle, w)
            rect = QRect(x, 0, SWATCH + 4 + fm.horizontalAdvance(text), height)
            self._placed.append((rect, text, entry))
            x = rect.right() + GAP
        if more:
            self._overflow = (QRect(x, 0, fm.horizontalAdvance(more), height), self.entries[fits:])

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        h = self.height()
        for rect, text, entry in self._placed:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(entry.color))
            p.drawRoundedRect(rect.x(), (h - SWATCH) // 2, SWATCH, SWATCH, 2, 2)
            p.setPen(QColor(t.text))
            p.drawText(QRect(rect.x() + SWATCH + 4, 0, rect.width() - SWATCH - 4, h),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
        if self._overflow:
            rect, _ = self._overflow
            p.setPen(QColor(t.dim_text))
            p.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                       f"+{len(self._overflow[1])}")
        p.end()

    def tooltip_at(self, x: int, y: int) -> str:
        for rect, _, entry in self._placed:
            if rect.contains(x, y):
                return entry.tooltip or entry.name
        if self._overflow and self._overflow[0].contains(x, y):
            return "\n".join(e.name for e in self._overflow[1])
        return ""

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """The tooltip of the entry under the pointer (Qt shows it after the usual delay)."""
        pos = event.position()
        text = self.tooltip_at(int(pos.x()), int(pos.y()))
        if text != self.toolTip():
            self.setToolTip(text)
        super().mouseMoveEvent(event)


def _share(natural: list[int], room: int) -> list[int]:
    """Widths for names of `natural` widths in `room` pixels: the shortest keep theirs, the
    rest get equal shares of what is left (water-filling)."""
    n = len(natural)
    if n == 0:
        return []
    if sum(natural) <= room:
        return list(natural)
    order = sorted(range(n), key=lambda i: natural[i])
    widths = [0] * n
    left, remaining = room, n
    for i in order:
        share = left // remaining
        widths[i] = min(natural[i], share)
        left -= widths[i]
        remaining -= 1
    return widths
