"""The runs tree: watched folders and their runs with a live status badge, last loss, alert
count and GPU; a filter box; multi-select drives the charts."""

from __future__ import annotations

import math
import time
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QIcon,
    QPainter,
    QPixmap,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLineEdit,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.live_cache import RunInfo

RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
COLUMNS = ("Run", "Status", "Loss", "Alerts", "GPU", "Step", "Updated", "GPU-h", "Wasted GPU-h")
GPU_COLUMN = 4
COST_COLUMNS = (7, 8)  # GPU-hours and wasted GPU-hours (cockpit/monitor/gpu_cost.py)


@lru_cache(maxsize=64)
def dot_icon(color: str, square: bool = False) -> QIcon:
    """A small filled circle (status) or square (chart colour) as an icon."""
    pix = QPixmap(12, 12)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(color))
    painter.setPen(Qt.PenStyle.NoPen)
    if square:
        painter.drawRoundedRect(1, 1, 10, 10, 2, 2)
    else:
        painter.drawEllipse(2, 2, 8, 8)
    painter.end()
    return QIcon(pix)


class RunsFilter(QSortFilterProxyModel):
    """Case-insensitive match on any column; a folder stays while one of its runs matches."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setSortRole(SORT_ROLE)


class RunsPanel(QWidget):
    runsSelected = Signal(list)  # run ids

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runsPanel")
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = RunsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter runs (name, status)…")
        self.filter.setClearButtonEnabled(True)
        self.tree = QTreeView()
        self.tree.setModel(self.proxy)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.tree.setRootIsDecorated(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # Not ResizeToContents: that mode measures every row on every cell change (20 ms per
        # update of 20 live runs); columns are fitted when their widest text may have grown.
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        self._widest: dict[int, int] = {}
        for col in (5, 6):  # step and last update: in the tooltip; the name needs the room
            self.tree.setColumnHidden(col, True)
        for col in (GPU_COLUMN, *COST_COLUMNS):  # shown once a run is seen on a GPU
            self.tree.setColumnHidden(col, True)
        self.tree.setIndentation(14)
        self.model.horizontalHeaderItem(2).setToolTip("Last logged loss")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self._roots: dict[str, QStandardItem] = {}
        self._rows: dict[str, list[QStandardItem]] = {}
        self._colors: dict[str, str] = {}
        self._looks: dict[str, tuple[object, ...]] = {}  # what the icons and tooltips show
        self._selected: list[str] = []
        self._pending: list[str] | None = None
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.tree.selectionModel().selectionChanged.connect(self._on_selection)

    # ---- data ----------------------------------------------------------------------------------
    def update_runs(self, runs: list[RunInfo]) -> None:
        """Add new runs and refresh the cells of known ones in place (selection survives)."""
        t = theme.current()
        now = time.time()
        grown: set[int] = set()
        for run in runs:
            items = self._rows.get(run.run_id)
            if items is None:
                items = self._add_row(run)
                grown.update(range(1, len(COLUMNS)))
            status = run.status or "unknown"
            cells = (
                run.name,
                status,
                _fmt_loss(run.last_loss),
                str(run.alert_count) if run.alert_count else "",
                run.gpus,
                "" if run.last_step is None else str(run.last_step),
                _ago(run.updated_at, now),
                _fmt_hours(run.gpu_hours),
                _fmt_hours(run.wasted_gpu_hours),
            )
            sort_keys = (run.name.lower(), status, run.last_loss if run.last_loss is not None
                         else math.inf, run.alert_count, run.gpus, run.last_step or -1,
                         -(run.updated_at or 0), run.gpu_hours or 0.0,
                         run.wasted_gpu_hours or 0.0)
            for col, (item, text, key) in enumerate(zip(items, cells, sort_keys, strict=True)):
                if item.text() != text:
                    item.setText(text)
                    if len(text) > self._widest.get(col, 0):
                        self._widest[col] = len(text)
                        grown.add(col)
                if item.data(SORT_ROLE) != key:
                    item.setData(key, SORT_ROLE)
            tip = (f"{run.path}\n{status}" + (f": {run.status_reason}" if run.status_reason else "")
                   + f"\nstep {cells[5] or '?'}, updated {cells[6] or '?'}")
            sev = run.worst_severity
            color = self._colors.get(run.run_id)
            # Every setter is a dataChanged through the proxy to the view: set only what moved.
            if items[0].toolTip() != tip:
                items[0].setToolTip(tip)
                items[1].setToolTip(tip)
            look = (t.name, status, sev, color)
            if self._looks.get(run.run_id) != look:
                self._looks[run.run_id] = look
                items[1].setIcon(dot_icon(t.status.get(status, t.status["unknown"])))
                items[3].setForeground(QBrush(QColor(t.severity[sev])) if sev else QBrush())
                items[0].setIcon(dot_icon(color, square=True) if color else QIcon())
        on_gpu = any(run.gpus for run in runs)
        if on_gpu == self.tree.isColumnHidden(GPU_COLUMN):
            self.tree.setColumnHidden(GPU_COLUMN, not on_gpu)
            grown.add(GPU_COLUMN)
        costed = any(run.gpu_hours is not None for run in runs)
        for col in COST_COLUMNS:
            if costed == self.tree.isColumnHidden(col):
                self.tree.setColumnHidden(col, not costed)
                grown.add(col)
        for col in sorted(grown):
            if col > 0 and not self.tree.isColumnHidden(col):
                self.tree.resizeColumnToContents(col)

    def _add_row(self, run: RunInfo) -> list[QStandardItem]:
        root_key = run.root or "(no folder)"
        parent = self._roots.get(root_key)
        if parent is None:
            parent = QStandardItem(Path(root_key).name or root_key)
            parent.setEditable(False)
            parent.setData(root_key.lower(), SORT_ROLE)
            parent.setToolTip(root_key)
            fillers = [QStandardItem("") for _ in COLUMNS[1:]]
            for f in fillers:
                f.setEditable(False)
            self.model.appendRow([parent, *fillers])
            self._roots[root_key] = parent
            self.tree.expand(self.proxy.mapFromSource(parent.index()))
        items = [QStandardItem("") for _ in COLUMNS]
        for item in items:
            item.setEditable(False)
            item.setData(run.run_id, RUN_ID_ROLE)
        for col in (2, 3, 5, 7, 8):
            items[col].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        parent.appendRow(items)
        self._rows[run.run_id] = items
        return items

    def set_colors(self, colors: dict[str, str]) -> None:
        """Chart colours of the selected runs, shown as a swatch beside their names."""
        self._colors = colors
        for run_id, items in self._rows.items():
            color = colors.get(run_id)
            items[0].setIcon(dot_icon(color, square=True) if color else QIcon())
            self._looks.pop(run_id, None)

    # ---- selection -------------------------------------------------------------------------------
    def _on_selection(self, *_: object) -> None:
        """Selection moved. Runs hidden by the filter stay charted (filtering is not
        deselecting), and the signal goes out after the proxy has finished its own change:
        reacting inside it (new colour swatches) would corrupt the proxy's mapping."""
        ids: list[str] = []
        for index in self.tree.selectionModel().selectedRows(0):
            source = self.proxy.mapToSource(index)
            item = self.model.itemFromIndex(source)
            if item is None:
                continue
            run_id = item.data(RUN_ID_ROLE)
            if run_id:
                ids.append(run_id)
            else:  # a folder: all of its runs
                ids.extend(item.child(r, 0).data(RUN_ID_ROLE) for r in range(item.rowCount()))
        hidden = [r for r in self._selected
                  if r in self._rows and not self.proxy.mapFromSource(self._rows[r][0].index()).isValid()]
        self._pending = list(dict.fromkeys(ids + hidden))
        QTimer.singleShot(0, self._emit_selection)

    def _emit_selection(self) -> None:
        ids = self._pending
        if ids is not None and ids != self._selected:
            self._selected = ids
            self.runsSelected.emit(ids)
        self._pending = None

    @property
    def selected(self) -> list[str]:
        return list(self._selected)

    def select_runs(self, run_ids: list[str], add: bool = False) -> None:
        sel = self.tree.selectionModel()
        selection = QItemSelection()
        for run_id in run_ids:
            items = self._rows.get(run_id)
            if not items:
                continue
            index = self.proxy.mapFromSource(items[0].index())
            if not index.isValid():  # filtered out: clear the filter so it can be shown
                self.filter.clear()
                index = self.proxy.mapFromSource(items[0].index())
            selection.select(index, index)
            self.tree.scrollTo(index)
        flags = QItemSelectionModel.SelectionFlag.Rows | (
            QItemSelectionModel.SelectionFlag.Select if add
            else QItemSelectionModel.SelectionFlag.ClearAndSelect)
        sel.select(selection, flags)
        self._emit_selection()  # a programmatic selection takes effect at once

    def run_ids(self) -> list[str]:
        return list(self._rows)

    def index_of(self, run_id: str) -> QModelIndex:
        items = self._rows.get(run_id)
        return self.proxy.mapFromSource(items[0].index()) if items else QModelIndex()


def _fmt_hours(hours: float | None) -> str:
    """GPU-hours as a person reads them: blank without telemetry, 3 significant figures."""
    if hours is None:
        return ""
    return f"{hours:.2f}" if hours < 10 else f"{hours:.1f}" if hours < 100 else f"{hours:.0f}"


def _fmt_loss(v: float | None) -> str:
    if v is None:
        return ""
    if not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
    return f"{v:.4f}"


def _ago(ts: float | None, now: float) -> str:
    if ts is None or not math.isfinite(ts):
        return ""
    d = now - ts
    if d < 0:
        return "just now"
    if d < 60:
        return f"{d:.0f}s ago"
    if d < 3600:
        return f"{d / 60:.0f}m ago"
    if d < 86400:
        return f"{d / 3600:.0f}h ago"
    return time.strftime("%Y-%m-%d", time.localtime(ts))
