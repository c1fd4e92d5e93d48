"""Fleet panel: every GPU of a cluster at a glance, and what is idle right now.

A host x GPU grid coloured by state (busy, starved, idle, no data) with the run or pod on
each GPU, and below it one row per GPU sortable by wasted GPU-hours. "Idle right now" keeps
only the GPUs that are idle or starved. A source outage ("Prometheus … unreachable since
14:02:05") is said in red above both. The data comes from the backend's FleetView through a
callable polled once a second while the panel is visible: no I/O on the GUI thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cockpit.telemetry.fleet import FleetGpu
from cockpit.ui import theme
from cockpit.ui.table_model import FixedColumnsModel, ModelIndex

FleetSource = Callable[[], tuple[list[FleetGpu], str | None]]
COLUMNS = ("Host", "GPU", "State", "Util %", "SM %", "Held by", "Run", "GPU-h", "Wasted GPU-h",
           "Since")
WASTED_COLUMN = COLUMNS.index("Wasted GPU-h")
STATE_COLORS = {"busy": "running", "starved": "stalled", "idle": "failed", "no data": "unknown"}


def state_color(state: str) -> QColor:
    return QColor(theme.current().status[STATE_COLORS.get(state, "unknown")])


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


class FleetModel(FixedColumnsModel):
    columns = COLUMNS

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[FleetGpu] = []

    def row_count(self) -> int:
        return len(self.rows)

    def set_rows(self, rows: list[FleetGpu]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        g = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.UserRole:  # the sort key
            return (g.host, g.gpu, g.state, g.util_gpu or 0.0, g.sm_active or 0.0, g.holder or "",
                    g.run or "", g.held_gpu_hours, g.wasted_gpu_hours, g.state_since or 0.0)[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 2:
            return QBrush(state_color(g.state))
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        since = time.strftime("%H:%M:%S", time.localtime(g.state_since)) if g.state_since else ""
        return (g.host, str(g.gpu), g.state, _pct(g.util_gpu), _pct(g.sm_active), g.holder or "",
                g.run or "", f"{g.held_gpu_hours:.2f}", f"{g.wasted_gpu_hours:.2f}", since)[col]


class _FleetFilter(QSortFilterProxyModel):
    def __init__(self) -> None:
        super().__init__()
        self.idle_only = False
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def set_idle_only(self, on: bool) -> None:
        self.beginFilterChange()
        self.idle_only = on
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: ModelIndex) -> bool:
        model = self.sourceModel()
        assert isinstance(model, FleetModel)
        return not self.idle_only or model.rows[row].wasting


class FleetPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fleetPanel")
        self._source: FleetSource | None = None
        self.summary = QLabel("No GPU telemetry yet.")
        self.outage = QLabel("")
        self.outage.setWordWrap(True)
        self.outage.setVisible(False)
        self.idle_button = QPushButton("Idle right now")
        self.idle_button.setCheckable(True)
        self.idle_button.setToolTip("Only the GPUs that are idle or starved at this moment")
        self.idle_button.toggled.connect(self.show_idle_only)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.idle_button)
        self.grid = QTableWidget(0, 0)
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.grid.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.model = FleetModel()
        self.proxy = _FleetFilter()
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(WASTED_COLUMN, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.grid)
        split.addWidget(self.table)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.outage)
        layout.addWidget(split, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.refresh)
        self._signature: tuple[Any, ...] = ()

    def set_source(self, source: FleetSource) -> None:
        """Where the fleet comes from (the backend's `fleet`); polled while visible."""
        self._source = source
        self.timer.start()

    def refresh(self) -> None:
        if self._source is None or not self.isVisible():
            return
        gpus, outage = self._source()
        self.update_fleet(gpus, outage)

    def show_idle_only(self, on: bool = True) -> None:
        """One click: what is idle (or starved) right now, most wasteful first."""
        if self.idle_button.isChecked() != on:
            self.idle_button.setChecked(on)  # re-enters through `toggled`
            return
        self.proxy.set_idle_only(on)
        self.table.sortByColumn(WASTED_COLUMN, Qt.SortOrder.DescendingOrder)
        self._paint_grid(self.model.rows)

    def update_fleet(self, gpus: list[FleetGpu], outage: str | None) -> None:
        signature = tuple(gpus), outage
        if signature == self._signature:  # polled every second: nothing new, touch nothing
            return
        self._signature = signature
        self.outage.setText(outage or "")
        self.outage.setVisible(bool(outage))
        self.outage.setStyleSheet(f"color: {theme.current().severity['critical']}")
        self.model.set_rows(gpus)
        self._paint_grid(gpus)
        self.summary.setText(_summary(gpus))

    def _paint_grid(self, gpus: list[FleetGpu]) -> None:
        hosts = sorted({g.host for g in gpus})
        indices = sorted({g.gpu for g in gpus})
        self.grid.setRowCount(len(hosts))
        self.grid.setColumnCount(len(indices))
        self.grid.setVerticalHeaderLabels(hosts)
        self.grid.setHorizontalHeaderLabels([f"GPU {i}" for i in indices])
        cells = {(g.host, g.gpu): g for g in gpus}
        for r, host in enumerate(hosts):
            for c, index in enumerate(indices):
                g = cells.get((host, index))
                item = self.grid.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.grid.setItem(r, c, item)
                if g is None:
                    item.setText("")
                    item.setBackground(QBrush())
                    continue
                dimmed = self.proxy.idle_only and not g.wasting
                color = state_color(g.state)
                color.setAlpha(40 if dimmed else 150)
                item.setBackground(QBrush(color))
                who = g.run or g.holder or ""
                item.setText(f"{g.state} {_pct(g.util_gpu)}%" + (f"\n{who}" if who else ""))
                item.setToolTip(f"{host} GPU {index}: {g.state}, util {_pct(g.util_gpu)}%, "
                                f"held by {g.holder or 'nobody known'}; wasted "
                                f"{g.wasted_gpu_hours:.2f} of {g.held_gpu_hours:.2f} GPU-h")

    def apply_theme(self) -> None:
        self._signature = ()  # repaint the colours at the next refresh
        self._paint_grid(self.model.rows)

    def selected_gpu(self) -> FleetGpu | None:
        index: QModelIndex = self.proxy.mapToSource(self.table.currentIndex())
        return self.model.rows[index.row()] if index.isValid() else None


def _summary(gpus: list[FleetGpu]) -> str:
    if not gpus:
        return "No GPU telemetry yet."
    counts = {state: sum(1 for g in gpus if g.state == state)
              for state in ("busy", "starved", "idle", "no data")}
    hosts = len({g.host for g in gpus})
    wasted = sum(g.wasted_gpu_hours for g in gpus)
    parts = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    return f"{len(gpus)} GPUs on {hosts} host(s): {parts}; {wasted:.2f} GPU-h wasted"
