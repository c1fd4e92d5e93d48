"""The sample table of the eval tab: a virtualized model over the eval's columns, and its
filter bar (a metadata field and value, right/wrong, full-text search).

The model keeps one integer array of table positions in display order; `data()` reads the
cell straight from the columnar `SampleTable`, so 100k samples cost an index array, not
100k Python rows. Filtering is asked of the eval tab's worker (the mask is computed there)
and applied here with `set_mask`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QWidget

from cockpit.ui import theme
from cockpit.ui.eval_text import plain_tooltip
from cockpit.ui.table_model import FixedColumnsModel

COLUMNS = ("Sample", "Correct", "Score", "Conf.", "Input", "Target", "Output", "Metadata")
SAMPLE, CORRECT, SCORE, CONF, INPUT, TARGET, OUTPUT, META = range(len(COLUMNS))
CELL_CHARS = 160  # characters of a text cell (the detail pane shows the whole text)
TIP_CHARS = 1500
POSITION_ROLE = Qt.ItemDataRole.UserRole  # the row's position in the eval's table
ANY_FIELD = "(any field)"
MAX_VALUES_SHOWN = 500  # values offered per field; a field with more is an id, not a filter

ModelIndex = QModelIndex | QPersistentModelIndex


def one_line(text: str, limit: int = CELL_CHARS) -> str:
    """A text cell: whitespace folded, cut to `limit` characters (only the head is read)."""
    head = text[: limit * 4]
    flat = " ".join(head.split())
    return flat if len(flat) <= limit and len(head) == len(text) else flat[: limit - 1] + "…"


def _num(x: float, digits: int = 3) -> str:
    return "" if math.isnan(x) else f"{x:.{digits}g}"


def default_order(correct: np.ndarray) -> np.ndarray:
    """Failures first, then ungraded, then right answers; file order within each."""
    rank = np.where(correct == 0.0, 0, np.where(np.isnan(correct), 1, 2))
    return np.argsort(rank, kind="stable").astype(np.int64)


class SampleTableModel(FixedColumnsModel):
    """Rows of an eval's `SampleTable`, filtered by a boolean mask and sorted by a column."""

    columns = COLUMNS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.table: Any = None
        self._order = np.zeros(0, dtype=np.int64)  # every position, in display order
        self._mask: np.ndarray | None = None
        self._rows = np.zeros(0, dtype=np.int64)  # positions shown
        self._fail = QBrush(QColor(theme.current().severity["critical"]))
        self._ok = QBrush(QColor(theme.current().status["running"]))

    # ---- content -----------------------------------------------------------------------
    def set_table(self, table: Any) -> None:
        self.beginResetModel()
        self.table = table
        t = theme.current()
        self._fail = QBrush(QColor(t.severity["critical"]))
        self._ok = QBrush(QColor(t.status["running"]))
        self._order = default_order(table.correct) if table is not None else np.zeros(
            0, dtype=np.int64)
        self._mask = None
        self._rows = self._order
        self.endResetModel()

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Show only the positions where `mask` is true (None: all), in the current order."""
        self.beginResetModel()
        self._mask = mask
        self._rows = self._order if mask is None else self._order[mask[self._order]]
        self.endResetModel()

    def position(self, row: int) -> int:
        """The table position of a displayed row."""
        return int(self._rows[row])

    def row_of(self, position: int) -> int | None:
        hits = np.flatnonzero(self._rows == position)
        return int(hits[0]) if len(hits) else None

    @property
    def positions(self) -> np.ndarray:
        return self._rows

    # ---- Qt model ----------------------------------------------------------------------
    def row_count(self) -> int:
        return len(self._rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(int(self._rows[index.row()]), index.column())
        if role == Qt.ItemDataRole.ForegroundRole:
            if index.column() == CORRECT:
                c = self.table.correct[self._rows[index.row()]]
                return self._fail if c == 0.0 else self._ok if c == 1.0 else None
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if index.column() in (CORRECT, SCORE, CONF):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            col = index.column()
            if col in (INPUT, TARGET, OUTPUT):
                pos = int(self._rows[index.row()])
                text = str((self.table.inputs, self.table.targets, self.table.outputs)[
                    col - INPUT][pos])
                return plain_tooltip(text, TIP_CHARS)
            return None
        if role == POSITION_ROLE:
            return int(self._rows[index.row()])
        return None

    def _display(self, pos: int, col: int) -> str:
        t = self.table
        if col == SAMPLE:
            return str(t.sample_ids[pos])
        if col == CORRECT:
            c = t.correct[pos]
            return "" if c != c else ("yes" if c == 1.0 else "no")
        if col == SCORE:
            return _num(float(t.scores[pos]))
        if col == CONF:
            c = float(t.confidences[pos])
            return "" if math.isnan(c) else f"{c:.3f}"
        if col == INPUT:
            return one_line(str(t.inputs[pos]))
        if col == TARGET:
            return one_line(str(t.targets[pos]))
        if col == OUTPUT:
            return one_line(str(t.outputs[pos]))
        meta = t.metadata[pos]
        return one_line(", ".join(f"{k}={v}" for k, v in list(meta.items())[:8]))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort every row (filtered out ones too, so a new filter keeps the order)."""
        t = self.table
        if t is None:
            return
        if column < 0:  # no sort column: back to failures first
            order_ = default_order(t.correct)
            order = Qt.SortOrder.AscendingOrder
        elif column in (CORRECT, SCORE, CONF):
            col = (t.correct, t.scores, t.confidences)[column - CORRECT]
            key = np.where(np.isnan(col), np.inf, col)  # no value sorts last
            order_ = np.argsort(key, kind="stable")
        elif column == META:
            return
        else:
            text = {SAMPLE: t.sample_ids, INPUT: t.inputs, TARGET: t.targets,
                    OUTPUT: t.outputs}[column]
            order_ = np.argsort(text, kind="stable")  # object array: str comparisons
        if order == Qt.SortOrder.DescendingOrder:
            order_ = order_[::-1]
        self.layoutAboutToBeChanged.emit()
        self._order = order_.astype(np.int64)
        mask = self._mask
        self._rows = self._order if mask is None else self._order[mask[self._order]]
        self.layoutChanged.emit()


class SampleFilterBar(QWidget):
    """Field + value combos (values with their counts), right/wrong, and a search box.

    Emits `changed` (debounced for typing) with the filter as `mask()` keyword arguments."""

    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = QComboBox()
        self.field.setToolTip("Filter on a metadata field")
        self.field.setMinimumContentsLength(12)
        self.value = QComboBox()
        self.value.setToolTip("The value of the field to keep (count of samples)")
        self.value.setMinimumContentsLength(14)
        self.value.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.outcome = QComboBox()
        self.outcome.addItems(["all samples", "wrong only", "right only"])
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search id, input, target, output…")
        self.search.setClearButtonEnabled(True)
        self.count = QLabel("")
        self._values: dict[str, dict[str, int]] = {}
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._emit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.field)
        layout.addWidget(self.value)
        layout.addWidget(self.outcome)
        layout.addWidget(self.search, 1)
        layout.addWidget(self.count)
        self.field.currentIndexChanged.connect(self._field_changed)
        self.value.currentIndexChanged.connect(self._emit)
        self.outcome.currentIndexChanged.connect(self._emit)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.set_fields({})

    def set_fields(self, values: dict[str, dict[str, int]]) -> None:
        """The fields to offer with their value counts (from `SampleTable.values`)."""
        self._values = values
        for w in (self.field, self.value):
            w.blockSignals(True)
        self.field.clear()
        self.field.addItem(ANY_FIELD)
        for name in values:
            self.field.addItem(name)
        self.field.setEnabled(bool(values))
        self.value.clear()
        self.value.setEnabled(False)
        for w in (self.field, self.value):
            w.blockSignals(False)

    def reset(self) -> None:
        for w in (self.field, self.value, self.outcome, self.search):
            w.blockSignals(True)
        self.field.setCurrentIndex(0)
        self.value.clear()
        self.value.setEnabled(False)
        self.outcome.setCurrentIndex(0)
        self.search.clear()
        for w in (self.field, self.value, self.outcome, self.search):
            w.blockSignals(False)

    def select(self, field: str | None = None, value: str | None = None,
               text: str | None = None, outcome: int | None = None) -> None:
        """Set the filter from code (a slice clicked, a test) and emit it once."""
        for w in (self.field, self.value, self.outcome, self.search):
            w.blockSignals(True)
        if field is not None:
            self.field.setCurrentIndex(max(0, self.field.findText(field)))
            self._fill_values()
            if value is not None:
                i = self.value.findData(value)
                self.value.setCurrentIndex(max(0, i))
        if outcome is not None:
            self.outcome.setCurrentIndex(outcome)
        if text is not None:
            self.search.setText(text)
        for w in (self.field, self.value, self.outcome, self.search):
            w.blockSignals(False)
        self._emit()

    def _field_changed(self) -> None:
        self._fill_values()
        self._emit()

    def _fill_values(self) -> None:
        self.value.blockSignals(True)
        self.value.clear()
        name = self.field.currentText()
        counts = self._values.get(name) if self.field.currentIndex() > 0 else None
        if counts:
            self.value.addItem("(any value)", None)
            for value, n in list(counts.items())[:MAX_VALUES_SHOWN]:
                self.value.addItem(f"{value or '(missing)'}  ({n:,})", value)
        self.value.setEnabled(bool(counts))
        self.value.blockSignals(False)

    def current(self) -> dict[str, Any]:
        """The filter as keyword arguments of `SampleTable.mask`."""
        where = None
        if self.field.currentIndex() > 0 and self.value.currentIndex() > 0:
            value = self.value.currentData()
            if value is not None:
                where = {self.field.currentText(): value}
        outcome = self.outcome.currentIndex()
        correct = None if outcome == 0 else outcome == 2
        text = self.search.text().strip() or None
        return {"where": where, "text": text, "correct": correct}

    def is_empty(self) -> bool:
        f = self.current()
        return f["where"] is None and f["text"] is None and f["correct"] is None

    def _emit(self) -> None:
        self._debounce.stop()
        self.changed.emit(self.current())
