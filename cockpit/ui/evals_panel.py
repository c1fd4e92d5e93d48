"""Eval viewer: the stored evals, one's metrics with confidence intervals and its
significantly worse slices, and its samples (failures first) with a text filter.

Loading and statistics run off the GUI thread through cockpit.evals; when that package is
missing from a build the panel says so instead."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb
from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.sql_runner import QueryThread

SAMPLE_COLUMNS = ("Sample", "Correct", "Score", "Input", "Target", "Output")
MAX_SAMPLES = 5000


@dataclass(slots=True)
class EvalView:
    """What the panel shows for one eval (computed in the background)."""

    eval_id: str
    name: str
    summary_html: str
    samples: list[tuple[str, Any, Any, str, str, str]]


def list_evals(cur: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, int]]:
    return [(str(a), str(b or a), str(c or ""), int(d or 0)) for a, b, c, d in cur.execute(
        "SELECT e.eval_id, e.name, e.model, count(s.sample_id) FROM evals e "
        "LEFT JOIN eval_samples s USING (eval_id) GROUP BY e.eval_id, e.name, e.model, "
        "e.created_at ORDER BY e.created_at DESC NULLS LAST, e.name").fetchall()]


def build_view(cur: duckdb.DuckDBPyConnection, eval_id: str) -> EvalView:
    from cockpit.evals.store import load_stored_eval
    from cockpit.evals.summary import summarize

    run = load_stored_eval(cur, eval_id)
    if run is None:
        raise ValueError(f"eval {eval_id} is no longer in the database")
    summary = summarize(run)
    samples = []
    for s in run.samples:
        samples.append((s.sample_id, s.correct, s.score, s.input, s.target, s.output))
    samples.sort(key=lambda r: (r[1] is not False, str(r[0])))  # failures first
    return EvalView(eval_id, run.name, summary_html(summary), samples[:MAX_SAMPLES])


def summary_html(summary: Any) -> str:
    import html

    t = theme.current()
    rows = []
    for name, est in summary.metrics.items():
        rows.append(f"<tr><td><b>{html.escape(name)}</b></td><td>{_pct(est.value)}</td>"
                    f"<td style='color:{t.dim_text}'>95% CI [{_pct(est.low)}, {_pct(est.high)}]"
                    f" ({html.escape(est.method)}, n={est.n})</td></tr>")
    worse = []
    for s in summary.worse_slices[:12]:
        worse.append(f"<tr><td>{html.escape(s.field)} = <b>{html.escape(s.value)}</b></td>"
                     f"<td style='color:{t.severity['warning']}'>{_pct(s.estimate.value)}</td>"
                     f"<td style='color:{t.dim_text}'>rest {_pct(s.rest.value) if s.rest else '—'},"
                     f" n={s.n}, p_adj={s.p_adjusted:.3g}</td></tr>")
    calib = ""
    if summary.calibration is not None:
        c = summary.calibration
        calib = (f"<p>Calibration: ECE {getattr(c, 'ece', float('nan')):.3f}, "
                 f"Brier {getattr(c, 'brier', float('nan')):.3f}</p>")
    model = f" · {html.escape(summary.run.model)}" if summary.run.model else ""
    return (f"<h3>{html.escape(summary.run.name)}{model}</h3>"
            f"<p>{summary.n} samples, {summary.n_scored} scored</p>"
            f"<table cellspacing=6>{''.join(rows)}</table>"
            + (f"<p><b>Significantly worse slices</b></p><table cellspacing=6>{''.join(worse)}"
               "</table>" if worse else "<p>No slice is significantly worse than the rest.</p>")
            + calib)


def _pct(v: float) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.3f}"


class _Bridge(QObject):
    listed = Signal(object, object)
    loaded = Signal(object, object)


class EvalsPanel(QWidget):
    viewLoaded = Signal(str)

    def __init__(self, cursor_factory: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("evalsPanel")
        self.runner = QueryThread(cursor_factory)
        self.bridge = _Bridge(self)
        self.bridge.listed.connect(self._on_listed)
        self.bridge.loaded.connect(self._on_loaded)
        self.view: EvalView | None = None
        self.evals = QListWidget()
        self.refresh_button = QPushButton("Refresh")
        self.summary = QTextBrowser()
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter samples…")
        self.filter.setClearButtonEnabled(True)
        self.model = QStandardItemModel(0, len(SAMPLE_COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(SAMPLE_COLUMNS))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.samples = QTableView()
        self.samples.setModel(self.proxy)
        self.samples.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.samples.verticalHeader().setVisible(False)
        self.samples.setWordWrap(False)
        self.samples.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.samples.horizontalHeader().setStretchLastSection(True)
        self.status = QLabel("")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.evals)
        ll.addWidget(self.refresh_button)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.summary)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.filter)
        bl.addWidget(self.samples)
        right.addWidget(bottom)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)
        layout.addWidget(self.status)
        self.refresh_button.clicked.connect(self.refresh)
        self.evals.currentItemChanged.connect(self._on_pick)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        try:
            import cockpit.evals.summary  # noqa: F401
            self.available = True
        except ModuleNotFoundError:
            self.available = False
            self.status.setText("The eval core is not part of this build.")

    def refresh(self) -> bool:
        return self.runner.submit(list_evals, self.bridge.listed.emit)

    def _on_listed(self, rows: list[tuple[str, str, str, int]] | None, error: str | None) -> None:
        if error or rows is None:
            self.status.setText(error or "")
            return
        current = self.evals.currentItem()
        keep = current.data(Qt.ItemDataRole.UserRole) if current else None
        self.evals.clear()
        for eval_id, name, model, n in rows:
            item = QListWidgetItem(f"{name}" + (f"  ({model})" if model else "") + f"  · {n}")
            item.setData(Qt.ItemDataRole.UserRole, eval_id)
            self.evals.addItem(item)
            if eval_id == keep:
                self.evals.setCurrentItem(item)
        if not rows:
            self.status.setText("No evals in the history yet: `cockpit eval summary FILE` or "
                                "an import stores them.")
        else:
            self.status.setText(f"{len(rows)} evals")

    def _on_pick(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if item is not None:
            self.load(item.data(Qt.ItemDataRole.UserRole))

    def load(self, eval_id: str) -> bool:
        if not self.available:
            return False
        started = self.runner.submit(lambda cur: build_view(cur, eval_id), self._loaded_from_thread)
        if started:
            self.status.setText("computing summary…")
        return started

    def _loaded_from_thread(self, view: EvalView | None, error: str | None) -> None:
        self.bridge.loaded.emit(view, error)

    def _on_loaded(self, view: EvalView | None, error: str | None) -> None:
        if error or view is None:
            self.status.setText(error or "could not load the eval")
            return
        self.view = view
        self.summary.setHtml(view.summary_html)
        self.model.removeRows(0, self.model.rowCount())
        t = theme.current()
        for sid, correct, score, inp, tgt, out in view.samples:
            cells = [sid, "" if correct is None else ("yes" if correct else "no"),
                     "" if score is None or (isinstance(score, float) and math.isnan(score))
                     else f"{score:.3g}", _one_line(inp), _one_line(tgt), _one_line(out)]
            items = [QStandardItem(c) for c in cells]
            for it in items:
                it.setEditable(False)
            items[3].setToolTip(inp[:2000])
            items[5].setToolTip(out[:2000])
            if correct is False:
                items[1].setForeground(pg_brush(t.severity["critical"]))
            self.model.appendRow(items)
        self.status.setText(f"{view.name}: {len(view.samples)} samples shown, failures first")
        self.viewLoaded.emit(view.eval_id)

    def close_runner(self) -> None:
        self.runner.close()


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def pg_brush(color: str) -> Any:
    from PySide6.QtGui import QBrush, QColor

    return QBrush(QColor(color))
