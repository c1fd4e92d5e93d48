"""The slice table of the eval tab: every metadata value's metric with its interval drawn as a
bar, its gap to the rest of the eval, the BH-adjusted p-value, and a flag on the slices that
are significantly worse. Sorted by gap (worst first) until the user picks another column."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from cockpit.ui import theme
from cockpit.ui.eval_text import plain_tooltip

COLUMNS = ("Field", "Value", "n", "Metric [95% CI]", "Rest", "Gap", "p (BH)", "")
FIELD, VALUE, N, METRIC, REST, GAP, P_ADJ, FLAG = range(len(COLUMNS))
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # numbers the proxy sorts by
INTERVAL_ROLE = Qt.ItemDataRole.UserRole + 2  # (value, low, high) for the bar delegate
WORSE_ROLE = Qt.ItemDataRole.UserRole + 3
MISSING_LABEL = "(missing)"

ModelIndex = QModelIndex | QPersistentModelIndex


def fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "—"
    return f"{p:.2g}" if p < 0.01 else f"{p:.3f}"


class SliceTableModel(QAbstractTableModel):
    """Rows of `EvalSummary.slices` (SliceResult), with the overall metric for reference."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.slices: list[Any] = []
        self.metric = "accuracy"
        self.overall: float = math.nan
        self.scale = (0.0, 1.0)  # the bar's axis, shared by every row

    def set_slices(self, slices: list[Any], metric: str | None, overall: float) -> None:
        self.beginResetModel()
        self.slices = list(slices)
        self.metric = metric or "metric"
        self.overall = overall
        lows = [s.estimate.low for s in self.slices if math.isfinite(s.estimate.low)]
        highs = [s.estimate.high for s in self.slices if math.isfinite(s.estimate.high)]
        if metric == "accuracy" or not lows:
            self.scale = (0.0, 1.0)
        else:
            lo, hi = min(lows), max(highs)
            pad = (hi - lo) * 0.05 or 1.0
            self.scale = (lo - pad, hi + pad)
        self.endResetModel()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.slices)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{self.metric} [95% CI]" if section == METRIC else COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return {
                GAP: "slice minus the rest of the eval",
                P_ADJ: "one-sided test against the rest, Benjamini-Hochberg adjusted across "
                       "every slice shown",
                METRIC: "bar: the 95% interval; dot: the value; dashed line: the whole eval",
            }.get(section)
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        s = self.slices[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(s, col)
        if role == SORT_ROLE:
            return self._key(s, col)
        if role == INTERVAL_ROLE:
            return (s.estimate.value, s.estimate.low, s.estimate.high)
        if role == WORSE_ROLE:
            return bool(s.significantly_worse)
        if role == Qt.ItemDataRole.ForegroundRole:
            if s.significantly_worse and col in (VALUE, GAP, P_ADJ, FLAG):
                return QBrush(QColor(theme.current().severity["warning"]))
            return None
        if role == Qt.ItemDataRole.FontRole and s.significantly_worse and col in (VALUE, FLAG):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (N, REST, GAP, P_ADJ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(self._tip(s))
        return None

    def _text(self, s: Any, col: int) -> str:
        if col == FIELD:
            return str(s.field)
        if col == VALUE:
            return str(s.value) or MISSING_LABEL
        if col == N:
            return f"{s.n:,}"
        if col == METRIC:
            e = s.estimate
            return f"{fmt(e.value)} [{fmt(e.low)}, {fmt(e.high)}]"
        if col == REST:
            return fmt(s.rest.value) if s.rest else "—"
        if col == GAP:
            g = s.gap
            return "—" if not math.isfinite(g) else f"{g:+.3f}"
        if col == P_ADJ:
            return fmt_p(s.p_adjusted)
        return "▼ worse" if s.significantly_worse else ""

    def _key(self, s: Any, col: int) -> Any:
        if col == FIELD:
            return f"{s.field}\x00{s.value}"
        if col == VALUE:
            return str(s.value)
        if col == N:
            return s.n
        if col == METRIC:
            return _finite(s.estimate.value)
        if col == REST:
            return _finite(s.rest.value) if s.rest else math.inf
        if col == GAP:
            return _finite(s.gap)
        if col == P_ADJ:
            return _finite(s.p_adjusted)
        return 0 if s.significantly_worse else 1

    def _tip(self, s: Any) -> str:
        verdict = ("significantly worse than the rest" if s.significantly_worse
                   else "not significantly worse than the rest")
        rest = f"{fmt(s.rest.value)}" if s.rest else "—"
        return (f"{s.field} = {s.value or MISSING_LABEL}: {self.metric} {fmt(s.estimate.value)} "
                f"[{fmt(s.estimate.low)}, {fmt(s.estimate.high)}] ({s.estimate.method}, "
                f"n={s.n}) vs {rest} elsewhere; {s.test}, p={fmt_p(s.p_value)}, "
                f"BH-adjusted {fmt_p(s.p_adjusted)}: {verdict}")


def _finite(x: float) -> float:
    return x if math.isfinite(x) else math.inf


def slice_proxy(model: SliceTableModel) -> QSortFilterProxyModel:
    """Sorting by the numbers behind the cells (gap ascending = worst first)."""
    proxy = QSortFilterProxyModel(model)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    return proxy


class IntervalBarDelegate(QStyledItemDelegate):
    """Draws a cell's interval as a bar on the column's shared axis, the value as a dot and the
    whole eval's value as a dashed line, with the numbers as text on the left."""

    def __init__(self, model: Any, parent: Any = None, text_width: int = 150) -> None:
        """`model` has `scale` (the axis, low to high) and `overall` (NaN: no line)."""
        super().__init__(parent)
        self.model = model
        self.text_width = text_width

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        base = super().sizeHint(option, index)
        return QSize(self.text_width + 160, base.height())

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        interval = index.data(INTERVAL_ROLE)
        if not interval:
            super().paint(painter, option, index)
            return
        t = theme.current()
        painter.save()
        rect = option.rect
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, QColor(t.selection))
        worse = bool(index.data(WORSE_ROLE))
        colour = QColor(t.severity["warning"] if worse else t.accent)
        painter.setPen(QColor(t.text))
        text_rect = rect.adjusted(4, 0, 0, 0)
        text_rect.setWidth(min(self.text_width, rect.width()))
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                         str(index.data(Qt.ItemDataRole.DisplayRole)))
        bar = QRectF(rect.left() + self.text_width + 6, rect.top() + 3,
                     rect.width() - self.text_width - 14, rect.height() - 6)
        if bar.width() > 20:
            self._bar(painter, bar, interval, colour, t)
        painter.restore()

    def _bar(self, painter: QPainter, bar: QRectF, interval: tuple[float, float, float],
             colour: QColor, t: theme.Theme) -> None:
        lo_axis, hi_axis = self.model.scale
        span = (hi_axis - lo_axis) or 1.0

        def x(v: float) -> float:
            return bar.left() + (min(max(v, lo_axis), hi_axis) - lo_axis) / span * bar.width()

        mid = bar.center().y()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        track = QColor(t.dim_text)
        track.setAlpha(70)
        painter.setPen(QPen(track, 1))
        painter.drawLine(QPointF(bar.left(), mid), QPointF(bar.right(), mid))
        overall = self.model.overall
        if math.isfinite(overall):
            pen = QPen(QColor(t.dim_text), 1, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawLine(QPointF(x(overall), bar.top()), QPointF(x(overall), bar.bottom()))
        value, low, high = interval
        if math.isfinite(low) and math.isfinite(high):
            band = QColor(colour)
            band.setAlpha(110)
            h = max(4.0, bar.height() * 0.45)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(band)
            painter.drawRoundedRect(QRectF(x(low), mid - h / 2, max(2.0, x(high) - x(low)), h),
                                    2, 2)
        if math.isfinite(value):
            painter.setBrush(colour)
            painter.setPen(QPen(QColor(t.text), 1))
            painter.drawEllipse(QPointF(x(value), mid), 3.5, 3.5)
