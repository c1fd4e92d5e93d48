"""The SQL console over the DuckDB history: highlighted editor, Ctrl+Enter runs off the GUI
thread, results copy as TSV, a column can be plotted, queries can be saved, results exported
to CSV or Parquet. Read-only unless 'Allow writes' is ticked."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSettings,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import sql_runner, theme
from cockpit.ui.lazy_plot import LazyPlotHost
from cockpit.ui.sql_highlighter import SqlHighlighter
from cockpit.ui.sql_runner import QueryResult, QueryThread

if TYPE_CHECKING:
    import pyqtgraph as pg

Index = QModelIndex | QPersistentModelIndex

EXAMPLES = {
    "Runs with their last loss": (
        "SELECT r.name, r.status, r.last_step,\n"
        "       arg_max(m.value, m.step) AS last_loss\n"
        "FROM runs r JOIN metrics m USING (run_id)\n"
        "WHERE m.key IN ('loss', 'train/loss', 'train_loss')\n"
        "GROUP BY ALL ORDER BY r.name;"),
    "Alerts by detector": (
        "SELECT detector, severity, count(*) AS n\nFROM alerts\nGROUP BY ALL ORDER BY n DESC;"),
    "GPU utilization per minute": (
        "SELECT gpu, date_trunc('minute', to_timestamp(ts)) AS minute,\n"
        "       avg(util_gpu) AS util, avg(sm_active) AS sm, avg(tensor_active) AS tensor\n"
        "FROM gpu_samples GROUP BY ALL ORDER BY minute, gpu;"),
    "Non-finite points": (
        "SELECT run_id, key, min(step) AS first_step, count(*) AS n\nFROM metrics\n"
        "WHERE isnan(value) OR isinf(value)\nGROUP BY ALL ORDER BY first_step;"),
}


class ResultModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns: list[str] = []
        self.rows: list[tuple[Any, ...]] = []

    def set_result(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.beginResetModel()
        self.columns, self.rows = columns, rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section] if section < len(self.columns) else None
        return str(section + 1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, int | float):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class _Bridge(QObject):
    """Carries results from the query thread to the GUI thread (queued signal)."""

    finished = Signal(object, object)


class SqlConsole(QWidget):
    queryFinished = Signal(bool)  # True on success

    def __init__(self, cursor_factory: Any, settings: QSettings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sqlConsole")
        self.settings = settings
        self.runner = QueryThread(cursor_factory)
        self.bridge = _Bridge(self)
        self.bridge.finished.connect(self._on_finished)
        self.result: QueryResult | None = None
        self._pending: str = ""

        self.editor = QPlainTextEdit()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.editor.setFont(mono)
        self.editor.setPlaceholderText("SQL over the history (Ctrl+Enter runs)")
        self.editor.setPlainText(EXAMPLES["Runs with their last loss"])
        self.highlighter = SqlHighlighter(self.editor.document())

        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run (Ctrl+Enter)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.allow_writes = QCheckBox("Allow writes")
        self.allow_writes.setToolTip("Off: only SELECT / EXPLAIN statements run")
        self.saved = QComboBox()
        self.saved.setMinimumWidth(180)
        self.save_button = QPushButton("Save…")
        self.copy_button = QPushButton("Copy TSV")
        self.export_csv = QPushButton("CSV…")
        self.export_parquet = QPushButton("Parquet…")
        self.plot_column = QComboBox()
        self.plot_column.setToolTip("Plot a numeric result column")
        self.status = QLabel("")
        top = QHBoxLayout()
        for w in (self.run_button, self.stop_button, self.allow_writes, QLabel("Saved:"),
                  self.saved, self.save_button):
            top.addWidget(w)
        top.addStretch(1)
        bottom = QHBoxLayout()
        for w in (self.copy_button, self.export_csv, self.export_parquet, QLabel("Plot:"),
                  self.plot_column):
            bottom.addWidget(w)
        bottom.addWidget(self.status, 1)

        self.model = ResultModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.plot_host = LazyPlotHost()  # a PlotWidget once a column is plotted
        self.plot_host.setMinimumHeight(120)
        self.plot_host.setVisible(False)

        # Editor beside the results: the dock is wide and short, the results need the rows.
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("sqlSplit")
        split.addWidget(self.editor)
        results = QWidget()
        rl = QVBoxLayout(results)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(bottom)
        rl.addWidget(self.table, 3)
        rl.addWidget(self.plot_host, 2)
        split.addWidget(results)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(split)

        for seq in ("Ctrl+Return", "Ctrl+Enter"):
            run = QShortcut(QKeySequence(seq), self.editor)
            run.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            run.activated.connect(self.run_query)
        copy = QShortcut(QKeySequence(QKeySequence.StandardKey.Copy), self.table)
        copy.setContext(Qt.ShortcutContext.WidgetShortcut)
        copy.activated.connect(self.copy_tsv)
        self.run_button.clicked.connect(self.run_query)
        self.stop_button.clicked.connect(self.runner.interrupt)
        self.copy_button.clicked.connect(self.copy_tsv)
        self.export_csv.clicked.connect(lambda: self.export_dialog("csv"))
        self.export_parquet.clicked.connect(lambda: self.export_dialog("parquet"))
        self.save_button.clicked.connect(self.save_dialog)
        self.saved.activated.connect(self._load_saved)
        self.plot_column.activated.connect(lambda _: self.plot_selected())
        self._reload_saved()

    # ---- running ---------------------------------------------------------------------------
    def run_query(self, sql: str | None = None) -> bool:
        sql = sql if isinstance(sql, str) else self.editor.toPlainText()
        allow = self.allow_writes.isChecked()
        try:
            sql_runner.statements(sql, allow)  # reject early, on the GUI thread (cheap)
        except sql_runner.QueryRejected as err:
            self._show_error(str(err))
            return False
        started = self.runner.submit(lambda cur: sql_runner.run(cur, sql, allow),
                                     self.bridge.finished.emit)
        if started:
            self._pending = sql
            self.status.setText("running…")
            self.run_button.setEnabled(False)
            self.stop_button.setEnabled(True)
        return started

    def _on_finished(self, result: QueryResult | None, error: str | None) -> None:
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if error is not None or result is None:
            self._show_error(error or "query failed")
            return
        self.result = result
        self.model.set_result(result.columns, result.rows)
        self.table.resizeColumnsToContents()
        more = f" (first {len(result.rows):,} shown)" if result.truncated else ""
        self.status.setStyleSheet("")
        self.status.setText(f"{len(result.rows):,} rows{more} in {result.elapsed * 1000:.0f} ms")
        numeric = [c for i, c in enumerate(result.columns) if _numeric(result.rows, i)]
        self.plot_column.clear()
        self.plot_column.addItems(numeric)
        self.queryFinished.emit(True)

    def _show_error(self, message: str) -> None:
        self.status.setStyleSheet(f"color: {theme.current().severity['critical']}")
        self.status.setText(message)
        self.queryFinished.emit(False)

    # ---- results ---------------------------------------------------------------------------
    def tsv(self) -> str:
        """The selected cells (or the whole result) as TSV with a header."""
        if self.result is None:
            return ""
        picked = self.table.selectionModel().selectedIndexes() if self.table.selectionModel() else []
        if len(picked) > 1:
            rows = sorted({i.row() for i in picked})
            cols = sorted({i.column() for i in picked})
            return sql_runner.to_tsv([self.model.columns[c] for c in cols],
                                     [tuple(self.model.rows[r][c] for c in cols) for r in rows])
        return sql_runner.to_tsv(self.result.columns, self.result.rows)

    def copy_tsv(self) -> None:
        text = self.tsv()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.status.setText("copied as TSV")

    @property
    def plot(self) -> pg.PlotWidget:
        """The result plot, built on first use (pyqtgraph is not loaded at start)."""
        return self.plot_host.plot

    def plot_selected(self, column: str | None = None) -> bool:
        """Plot a numeric column against the row number (or the first numeric column)."""
        if self.result is None:
            return False
        column = column or self.plot_column.currentText()
        if column not in self.result.columns:
            return False
        i = self.result.columns.index(column)
        import pyqtgraph as pg

        y = np.array([_as_float(r[i]) for r in self.result.rows], dtype=np.float64)
        self.plot.clear()
        self.plot.setBackground(theme.current().chart_bg)
        self.plot.plot(np.arange(len(y)), y, pen=pg.mkPen(theme.current().accent, width=1.5),
                       connect="finite")
        self.plot.setTitle(column, size="9pt")
        self.plot_host.setVisible(True)
        return True

    def export_dialog(self, fmt: str) -> None:
        name, _ = QFileDialog.getSaveFileName(self, f"Export result as {fmt.upper()}",
                                              f"result.{fmt}", f"{fmt.upper()} (*.{fmt})")
        if name:
            self.export_to(Path(name), fmt)

    def export_to(self, path: Path, fmt: str) -> bool:
        """COPY the editor's query to a file in the background."""
        sql = self.editor.toPlainText()
        started = self.runner.submit(lambda cur: sql_runner.export(cur, sql, path, fmt),
                                     lambda n, err: self.bridge.finished.emit(
                                         None if err else _exported(n, path), err))
        if started:
            self.status.setText(f"exporting to {path}…")
        return started

    # ---- saved queries ---------------------------------------------------------------------
    def saved_queries(self) -> dict[str, str]:
        raw = self.settings.value("sql/saved", {})
        return dict(raw) if isinstance(raw, dict) else {}

    def save_query(self, name: str, sql: str | None = None) -> None:
        saved = self.saved_queries()
        saved[name] = sql if sql is not None else self.editor.toPlainText()
        self.settings.setValue("sql/saved", saved)
        self._reload_saved()

    def save_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Save query", "Name:")
        if ok and name.strip():
            self.save_query(name.strip())

    def _reload_saved(self) -> None:
        self.saved.clear()
        for name in EXAMPLES:
            self.saved.addItem(f"Example: {name}", EXAMPLES[name])
        for name, sql in sorted(self.saved_queries().items()):
            self.saved.addItem(name, sql)

    def _load_saved(self, index: int) -> None:
        sql = self.saved.itemData(index)
        if isinstance(sql, str):
            self.editor.setPlainText(sql)

    def apply_theme(self) -> None:
        self.highlighter.restyle()
        if self.plot_host.created:
            self.plot.setBackground(theme.current().chart_bg)

    def close_runner(self) -> None:
        self.runner.close()


def _exported(n: int, path: Path) -> QueryResult:
    return QueryResult(f"-- exported to {path}", ["exported_rows", "file"], ["BIGINT", "VARCHAR"],
                       [(n, str(path))], False, 0.0)


def _display(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
        return f"{value:.6g}"
    return str(value)


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _numeric(rows: list[tuple[Any, ...]], i: int) -> bool:
    sample = [r[i] for r in rows[:50] if r[i] is not None]
    return bool(sample) and all(isinstance(v, int | float) and not isinstance(v, bool)
                                for v in sample)


__all__ = ["SqlConsole", "duckdb"]
