"""The live alerts list: severity, run, step, message and evidence; selecting one jumps the
charts to that point."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.live_cache import SEVERITY_RANK, AlertRow
from cockpit.ui.runs_panel import dot_icon
from cockpit.ui.table_model import FixedColumnsModel

COLUMNS = ("Time", "Severity", "Run", "Detector", "Step", "Metric", "Message")
ALERT_ROLE = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex


class AlertsModel(FixedColumnsModel):
    """Append-only table of alerts as the poller delivers them."""

    columns = COLUMNS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.alerts: list[AlertRow] = []

    def row_count(self) -> int:
        return len(self.alerts)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        a = self.alerts[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell(a, col)
        if role == ALERT_ROLE:
            return a
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return (a.rowid, SEVERITY_RANK.get(a.severity, 0), a.run_name, a.detector,
                    a.step if a.step is not None else -1, a.metric or "", a.message)[col]
        t = theme.current()
        if role == Qt.ItemDataRole.DecorationRole and col == 1:
            return dot_icon(t.severity.get(a.severity, t.accent))
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            return QBrush(QColor(t.severity.get(a.severity, t.text)))
        if role == Qt.ItemDataRole.ToolTipRole and col == 6:
            return a.message
        return None

    def extend(self, alerts: list[AlertRow]) -> int:
        """Append the alerts not held yet (the snapshot's list only grows)."""
        new = alerts[len(self.alerts):]
        if new:
            first = len(self.alerts)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self.alerts.extend(new)
            self.endInsertRows()
        return len(new)


class AlertsFilter(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.min_rank = 0
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def set_min_severity(self, severity: str) -> None:
        self.beginFilterChange()
        self.min_rank = SEVERITY_RANK.get(severity, 0)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, AlertsModel)
        if SEVERITY_RANK.get(model.alerts[row].severity, 0) < self.min_rank:
            return False
        return super().filterAcceptsRow(row, parent)


class AlertsPanel(QWidget):
    alertActivated = Signal(object)  # AlertRow

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertsPanel")
        self.model = AlertsModel(self)
        self.proxy = AlertsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.severity = QComboBox()
        for label, value in (("All severities", "info"), ("Warning and worse", "warning"),
                             ("Critical only", "critical")):
            self.severity.addItem(label, value)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter alerts…")
        self.search.setClearButtonEnabled(True)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # newest first
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.detail = QTextBrowser()
        self.detail.setOpenLinks(False)
        self.detail.setPlaceholderText("Select an alert to see its evidence.")
        # Side by side: the dock is wide and short, and the evidence needs its lines.
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("alertsSplit")
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.detail.setMinimumWidth(260)
        bar = QHBoxLayout()
        bar.addWidget(self.severity)
        bar.addWidget(self.search, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(split)
        self.severity.currentIndexChanged.connect(
            lambda _: self.proxy.set_min_severity(self.severity.currentData()))
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)

    def update_alerts(self, alerts: list[AlertRow]) -> list[AlertRow]:
        """Take the snapshot's alerts; returns the ones that are new. New alerts sort in at
        the top; the row under the pointer (else the selected one, else the top one when
        scrolled down) stays where it was on screen, so nothing moves under the user."""
        before = len(self.model.alerts)
        if len(alerts) <= before:
            return []
        anchor = self._anchor()
        self.model.extend(alerts)
        if anchor is not None:
            index, y = anchor
            if index.isValid():
                self.table.doItemsLayout()  # the rows' new places, now
                moved = self.table.visualRect(self.proxy.index(index.row(), 0)).top() - y
                bar = self.table.verticalScrollBar()
                bar.setValue(bar.value() + moved)
        return self.model.alerts[before:]

    def _anchor(self) -> tuple[QPersistentModelIndex, int] | None:
        """The row the user is looking at and its y in the viewport, if any."""
        viewport = self.table.viewport()
        pos = viewport.mapFromGlobal(QCursor.pos())
        index = self.table.indexAt(pos) if viewport.rect().contains(pos) else QModelIndex()
        if not index.isValid():
            current = self.table.currentIndex()
            if current.isValid() and viewport.rect().intersects(self.table.visualRect(current)):
                index = current
        if not index.isValid() and self.table.verticalScrollBar().value() > 0:
            index = self.table.indexAt(viewport.rect().topLeft())
        if not index.isValid():
            return None
        return QPersistentModelIndex(index), self.table.visualRect(index).top()

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        alert = self.proxy.data(current, ALERT_ROLE)
        if isinstance(alert, AlertRow):
            self.detail.setHtml(describe(alert))
            self.alertActivated.emit(alert)

    def select_alert(self, alert: AlertRow) -> bool:
        """Select this alert (clearing filters that hide it); False if it is not listed."""
        row = next((i for i, a in enumerate(self.model.alerts) if a.rowid == alert.rowid), None)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.search.clear()
            self.severity.setCurrentIndex(0)
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)
        return True

    def select_row(self, row: int) -> None:
        """Select the row-th visible alert (newest first)."""
        index = self.proxy.index(row, 0)
        self.table.setCurrentIndex(index)


def _cell(a: AlertRow, col: int) -> str:
    if col == 0:
        ts = a.ts if a.ts is not None else a.created_at
        return dt.datetime.fromtimestamp(ts).strftime("%m-%d %H:%M:%S") if ts else ""
    if col == 1:
        return a.severity
    if col == 2:
        return a.run_name
    if col == 3:
        return a.detector
    if col == 4:
        return "" if a.step is None else str(a.step)
    if col == 5:
        return a.metric or ""
    return a.message


def describe(a: AlertRow) -> str:
    import html

    t = theme.current()
    color = t.severity.get(a.severity, t.text)
    evidence = json.dumps(a.evidence, indent=2, default=str) if a.evidence else "{}"
    return (
        f"<p><b style='color:{color}'>{html.escape(a.severity.upper())}</b> "
        f"<b>{html.escape(a.detector)}</b> in <b>{html.escape(a.run_name)}</b>"
        f"{'' if a.step is None else f' at step {a.step}'}"
        f"{'' if not a.metric else f' on {html.escape(a.metric)}'}</p>"
        f"<p>{html.escape(a.message)}</p>"
        f"<pre style='color:{t.dim_text}'>{html.escape(evidence)}</pre>"
    )
