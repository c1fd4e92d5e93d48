"""The hyper-parameters panel: every run with its parameters as columns and the final/best
value of a metric (sort by any column, filter by any text), parallel coordinates of the runs
shown (coloured by the metric), and one parameter against the metric. Export: PNG/SVG of
the plot, CSV of the table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.export import export_widget_image, write_csv
from cockpit.ui.hparams import HParamsTable, as_number, load_hparams
from cockpit.ui.lazy_plot import LazyPlotHost
from cockpit.ui.sql_runner import QueryThread

if TYPE_CHECKING:
    import pyqtgraph as pg

RUN_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
MAX_AXES = 10  # parallel coordinates: the first differing parameters, then the metric


class _Bridge(QObject):
    loaded = Signal(object, object)


class HParamsPanel(QWidget):
    loadedTable = Signal()

    def __init__(self, cursor_factory: object, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hparamsPanel")
        self.runner = QueryThread(cursor_factory)  # type: ignore[arg-type]
        self.bridge = _Bridge(self)
        self.bridge.loaded.connect(self._on_loaded)
        self.table: HParamsTable | None = None
        self.metric_box = QComboBox()
        self.metric_box.setMinimumContentsLength(14)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter runs (any column)…")
        self.filter.setClearButtonEnabled(True)
        self.export_button = QPushButton("Export…")
        self.status = QLabel("")
        self.model = QStandardItemModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setSortRole(SORT_ROLE)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(20)
        self.parallel_host = LazyPlotHost()
        self.scatter_param = QComboBox()
        self.scatter_host = LazyPlotHost()
        scatter = QWidget()
        sl = QVBoxLayout(scatter)
        sl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Parameter:"))
        row.addWidget(self.scatter_param, 1)
        sl.addLayout(row)
        sl.addWidget(self.scatter_host, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.parallel_host, "Parallel coordinates")
        self.tabs.addTab(scatter, "Parameter vs metric")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("hparamsSplit")
        split.addWidget(self.view)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        bar = QHBoxLayout()
        for w in (QLabel("Metric:"), self.metric_box, self.filter, self.export_button):
            bar.addWidget(w)
        bar.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        self.metric_box.activated.connect(lambda _: self.refresh())
        self.filter.textChanged.connect(self._on_filter)
        self.scatter_param.currentTextChanged.connect(lambda _: self.draw_scatter())
        self.tabs.currentChanged.connect(lambda _: self.draw())
        self.export_button.clicked.connect(self._export_dialog)

    # ---- loading -------------------------------------------------------------------------------
    def refresh(self) -> bool:
        metric = self.metric_box.currentText() or "loss"
        return self.runner.submit(lambda cur: load_hparams(cur, metric), self.bridge.loaded.emit)

    def _on_loaded(self, table: HParamsTable | None, error: str | None) -> None:
        if error or table is None:
            self.status.setText(error or "could not read the parameters")
            return
        self.table = table
        self.metric_box.blockSignals(True)
        self.metric_box.clear()
        self.metric_box.addItems(table.metrics or [table.metric])
        self.metric_box.setCurrentText(table.metric)
        self.metric_box.blockSignals(False)
        self._fill()
        current = self.scatter_param.currentText()
        self.scatter_param.blockSignals(True)
        self.scatter_param.clear()
        self.scatter_param.addItems(table.params)
        if current in table.params:
            self.scatter_param.setCurrentText(current)
        self.scatter_param.blockSignals(False)
        self.status.setText(f"{len(table.run_ids)} runs, {len(table.params)} parameters")
        self.draw()
        self.loadedTable.emit()

    def _fill(self) -> None:
        table = self.table
        assert table is not None
        headers = ["Run", f"final {table.metric}", f"best {table.metric}", *table.params]
        self.model.clear()
        self.model.setHorizontalHeaderLabels(headers)
        for run_id in table.run_ids:
            cells: list[QStandardItem] = []
            for col, text, key in self._row(table, run_id):
                item = QStandardItem(text)
                item.setEditable(False)
                item.setData(run_id, RUN_ROLE)
                item.setData(key, SORT_ROLE)
                if col > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                cells.append(item)
            cells[0].setToolTip(table.names.get(run_id, run_id))
            self.model.appendRow(cells)
        self.view.resizeColumnsToContents()
        self.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)

    @staticmethod
    def _row(table: HParamsTable, run_id: str) -> list[tuple[int, str, object]]:
        final, best = table.final.get(run_id, math.nan), table.best.get(run_id, math.nan)
        row: list[tuple[int, str, object]] = [
            (0, table.names.get(run_id, run_id), table.names.get(run_id, run_id).lower()),
            (1, _fmt(final), final if math.isfinite(final) else math.inf),
            (2, _fmt(best), best if math.isfinite(best) else math.inf)]
        for i, key in enumerate(table.params):
            text = table.value(run_id, key)
            if table.numeric(key):  # a column of numbers sorts as numbers, empty cells last
                number = as_number(text)
                row.append((3 + i, text, number if number is not None else math.inf))
            else:
                row.append((3 + i, text, text.lower()))
        return row

    def _on_filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        self.draw()

    def shown_runs(self) -> list[str]:
        """The runs the table shows (after the filter), in its order."""
        return [self.proxy.index(r, 0).data(RUN_ROLE) for r in range(self.proxy.rowCount())]

    # ---- drawing ---------------------------------------------------------------------------------
    def draw(self) -> None:
        if self.table is None:
            return
        if self.tabs.currentIndex() == 0:
            self.draw_parallel()
        else:
            self.draw_scatter()

    def _colors(self, values: np.ndarray) -> list[object]:
        """Colour by rank of the metric (best to worst along the colour map): one outlier
        cannot paint every other run the same colour."""
        import pyqtgraph as pg

        cmap = pg.colormap.get("viridis")
        order = np.argsort(np.where(np.isfinite(values), values, np.inf), kind="stable")
        rank = np.empty(len(values))
        rank[order] = np.arange(len(values))
        span = max(len(values) - 1, 1)
        return [cmap.map(1.0 - r / span, mode="qcolor") for r in rank]

    def axes(self) -> list[str]:
        assert self.table is not None
        return self.table.params[:MAX_AXES] + ["final"]

    def draw_parallel(self) -> pg.PlotWidget:
        import pyqtgraph as pg

        table = self.table
        assert table is not None
        plot = self.parallel_host.plot
        plot.clear()
        t = theme.current()
        plot.setBackground(t.chart_bg)
        item = plot.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setMouseEnabled(x=False, y=False)
        if not table.params:
            note = pg.TextItem("No hyper-parameters stored yet: run_params is filled from MLflow "
                               "params, trainer_state, config files and logs.",
                               color=t.dim_text, anchor=(0.5, 0.5))
            note.setPos(0.5, 0.5)
            plot.addItem(note)
            plot.setXRange(0, 1, padding=0)
            plot.setYRange(0, 1, padding=0)
            return plot
        runs = table.swept(self.shown_runs())
        axes = self.axes()
        positions = {key: table.axis(key, runs) for key in axes}
        final = np.array([table.final.get(r, math.nan) for r in runs])
        colors = self._colors(final)
        x = np.arange(len(axes), dtype=np.float64)
        for i, color in enumerate(colors):
            y = np.array([positions[key][0][i] for key in axes])
            plot.plot(x, y, pen=pg.mkPen(color, width=1.5), connect="finite")
        for j, key in enumerate(axes):
            plot.addItem(pg.InfiniteLine(pos=j, angle=90, pen=pg.mkPen(t.chart_fg, width=1)))
            head = pg.TextItem(f"{table.metric} (final)" if key == "final" else key,
                               color=t.text, anchor=(0.5, 1.0))
            head.setPos(j, 1.04)
            plot.addItem(head)
            for pos, label in positions[key][1][:8]:
                tick = pg.TextItem(label, color=t.dim_text, anchor=(0, 0.5))
                tick.setPos(j + 0.02, pos)
                plot.addItem(tick)
        plot.setXRange(-0.35, len(axes) - 0.35, padding=0)
        plot.setYRange(-0.05, 1.12, padding=0)
        return plot

    def draw_scatter(self) -> pg.PlotWidget | None:
        import pyqtgraph as pg

        table = self.table
        key = self.scatter_param.currentText()
        if table is None or not key:
            return None
        plot = self.scatter_host.plot
        plot.clear()
        t = theme.current()
        plot.setBackground(t.chart_bg)
        shown = set(table.swept(self.shown_runs()))
        runs = [r for r in table.run_ids if r in shown]
        numeric = table.numeric(key)
        axis = plot.getPlotItem().getAxis("bottom")
        log_x = False
        if numeric:
            xs = np.array([as_number(table.value(r, key)) or math.nan for r in runs])
            axis.setTicks(None)
            finite = xs[np.isfinite(xs)]
            log_x = bool(len(finite)) and finite.min() > 0 and finite.max() / finite.min() > 30
            if log_x:  # learning rates: decades apart
                xs = np.log10(xs)
        else:
            cats = sorted({table.value(r, key) for r in runs})
            xs = np.array([cats.index(table.value(r, key)) for r in runs], dtype=np.float64)
            axis.setTicks([list(enumerate(cats))])
        axis.setLogMode(log_x)
        ys = np.array([table.final.get(r, math.nan) for r in runs])
        colors = self._colors(ys)
        spots = [{"pos": (x, y), "brush": pg.mkBrush(c), "size": 10,
                  "data": table.names.get(r, r)}
                 for x, y, c, r in zip(xs, ys, colors, runs, strict=True)
                 if math.isfinite(x) and math.isfinite(y)]
        scatter = pg.ScatterPlotItem(spots=spots, hoverable=True,
                                     tip=lambda x, y, data: f"{data}: {key}="
                                                            f"{10**x if log_x else x:.4g}, "
                                                            f"{table.metric}={y:.4g}")
        plot.addItem(scatter)
        plot.setLabel("bottom", key)
        plot.setLabel("left", f"final {table.metric}")
        return plot

    # ---- export ------------------------------------------------------------------------------------
    def _export_dialog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export hyper-parameters", "hparams.csv",
                                              "CSV (*.csv);;PNG (*.png);;SVG (*.svg)")
        if name:
            self.export(Path(name))

    def export(self, path: Path) -> int:
        """CSV of the table as shown (filtered, sorted), or PNG/SVG of the current plot."""
        if path.suffix.lower() != ".csv":
            host = self.parallel_host if self.tabs.currentIndex() == 0 else self.scatter_host
            export_widget_image(host, path, "Cockpit hyper-parameters")
            return 0
        table = self.table
        if table is None:
            return write_csv(path, ["run"], [])
        header = ["run", f"final_{table.metric}", f"best_{table.metric}", *table.params]
        rows = ([table.names.get(r, r), table.final.get(r, math.nan),
                 table.best.get(r, math.nan), *(table.value(r, k) for k in table.params)]
                for r in self.shown_runs())
        return write_csv(path, header, rows)

    def close_runner(self) -> None:
        self.runner.close()


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
    return f"{v:.5g}"
