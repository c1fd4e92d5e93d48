"""Metric cards of the eval tab: each number with its 95% interval, the method that made the
interval and the n it rests on; never a bare number."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cockpit.ui import theme
from cockpit.ui.eval_text import plain_tooltip

MAX_CARD_TEXT = 420  # pixels of a card's detail line before it is elided


def fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


@dataclass(frozen=True, slots=True)
class Card:
    title: str
    value: str
    interval: str
    detail: str
    tone: str = "normal"  # "normal" | "warning"


def summary_cards(summary: Any) -> list[Card]:
    """The cards for an `EvalSummary`: every metric, calibration, the worse-slice count."""
    cards: list[Card] = []
    for name, est in summary.metrics.items():
        method = est.method
        if summary.cluster:
            method = f"{method}, clustered on {summary.cluster} ({summary.n_clusters} clusters)"
        cards.append(Card(name, fmt(est.value), f"95% CI [{fmt(est.low)}, {fmt(est.high)}]",
                          f"{method} · n={est.n:,}"))
    if not summary.metrics:
        cards.append(Card("score", "—", "no sample carries a score or a grade",
                          f"n={summary.n:,}", "warning"))
    cal = summary.calibration
    if cal is not None:
        tone = "warning" if cal.warnings else "normal"
        cards.append(Card("ECE", fmt(cal.ece), f"Brier {fmt(cal.brier)}",
                          f"{len(cal.bins)} equal-mass bins · n={cal.n:,}", tone))
    worse = summary.worse_slices
    tested = sum(1 for s in summary.slices if math.isfinite(s.p_value))
    if summary.slices:
        names = ", ".join(f"{s.field}={s.value}" for s in worse[:3])
        more = f" +{len(worse) - 3}" if len(worse) > 3 else ""
        cards.append(Card("worse slices", f"{len(worse)}", names + more if worse else
                          "none significantly worse",
                          f"of {tested} tested · BH q<0.05", "warning" if worse else "normal"))
    return cards


class MetricCard(QFrame):
    def __init__(self, card: Card, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.card = card
        self.setObjectName("metricCard")
        t = theme.current()
        border = t.severity["warning"] if card.tone == "warning" else t.selection
        self.setStyleSheet(f"#metricCard {{ background: {t.alt_base}; border: 1px solid "
                           f"{border}; border-radius: 4px; }}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 5, 10, 5)
        layout.setSpacing(0)
        self.labels: list[QLabel] = []
        for text, kind in ((card.title, "title"), (card.value, "value"),
                           (card.interval, "interval"), (card.detail, "detail")):
            label = QLabel(text)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setToolTip(plain_tooltip(text))
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            font = QFont(label.font())
            if kind == "value":
                font.setPointSizeF(font.pointSizeF() * 1.5)
                font.setBold(True)
                colour = t.severity["warning"] if card.tone == "warning" else t.text
            elif kind == "title":
                font.setBold(True)
                colour = t.dim_text
            else:
                colour = t.text if kind == "interval" else t.dim_text
            label.setFont(font)
            if kind in ("interval", "detail"):  # a long list of slices: elided, whole in tip
                label.setText(QFontMetrics(font).elidedText(
                    text, Qt.TextElideMode.ElideRight, MAX_CARD_TEXT))
            label.setStyleSheet(f"color: {colour}; border: none; background: transparent;")
            layout.addWidget(label)
            self.labels.append(label)

    def text(self) -> str:
        c = self.card
        return f"{c.title}: {c.value} {c.interval} ({c.detail})"


class MetricCards(QWidget):
    """A row of cards; `toPlainText()` gives what they say (for copying and tests)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards: list[MetricCard] = []
        self._restyling = False
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addStretch(1)

    def set_cards(self, cards: list[Card]) -> None:
        for card in self.cards:
            self._layout.removeWidget(card)
            card.deleteLater()
        self.cards = []
        for i, spec in enumerate(cards):
            widget = MetricCard(spec)
            self._layout.insertWidget(i, widget)
            self.cards.append(widget)

    def changeEvent(self, event: QEvent) -> None:
        """A theme switch repaints the cards in the new colours."""
        if event.type() == QEvent.Type.PaletteChange and self.cards and not self._restyling:
            self._restyling = True
            self.set_cards([c.card for c in self.cards])
            self._restyling = False
        super().changeEvent(event)

    def toPlainText(self) -> str:  # noqa: N802 - the Qt spelling, as QTextEdit has it
        return "\n".join(c.text() for c in self.cards)
