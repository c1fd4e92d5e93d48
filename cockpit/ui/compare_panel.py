"""Run comparison: pick runs, overlay one metric on a full chart (the live charts' own: every
run named in its legend, true pixel-column envelopes, outlier-robust range), and see final
and best values and the config keys that differ. Data is read off the GUI thread."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb
import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cockpit.model.keys import canonical_key
from cockpit.ui import theme
from cockpit.ui.hparams import higher_is_better
from cockpit.ui.live_cache import RunInfo
from cockpit.ui.runs_panel import dot_icon
from cockpit.ui.series import SeriesBuffer
from cockpit.ui.sql_runner import QueryThread

if TYPE_CHECKING:
    from cockpit.ui.chart import MetricChart


@dataclass(slots=True)
class Comparison:
    """Everything the comparison view shows for one set of runs."""

    names: dict[str, str]
    series: dict[tuple[str, str], SeriesBuffer] = field(default_factory=dict)
    params: dict[str, dict[str, str]] = field(default_factory=dict)  # run -> key -> value

    def keys(self) -> list[str]:
        return sorted({k for _, k in self.series})

    def summary(self) -> list[tuple[str, str, float, float, int]]:
        """(run, key, final, best, points) for every series."""
        out = []
        for (run_id, key), buf in sorted(self.series.items()):
            with buf.lock:
                values = buf.values.view
                steps = buf.steps.view
                finite = np.isfinite(values)
                if finite.any():
                    last = float(values[finite][np.argmax(steps[finite])]) if len(steps) else math.nan
                    best = float(values[finite].max() if higher_is_better(key)
                                 else values[finite].min())
                else:
                    last = best = math.nan
                out.append((self.names.get(run_id, run_id), key, last, best, len(values)))
        return out

    def differing_params(self) -> list[tuple[str, list[str]]]:
        """Config keys whose values are not the same across the compared runs."""
        runs = list(self.names)
        keys = sorted({k for p in self.params.values() for k in p})
        out = []
        for key in keys:
            values = [self.params.get(r, {}).get(key, "—") for r in runs]
            if len(set(values)) > 1:
                out.append((key, values))
        return out


def load_comparison(cur: duckdb.DuckDBPyConnection, run_ids: list[str],
                    names: dict[str, str]) -> Comparison:
    comp = Comparison({r: names.get(r, r) for r in run_ids})
    owners = {(r, c): s for r, c, s in cur.execute(
        "SELECT run_id, canonical, source FROM series WHERE list_contains(?, run_id)",
        [run_ids]).fetchall()}
    parts = cur.execute(
        "SELECT run_id, key, source FROM metrics WHERE list_contains(?, run_id) "
        "GROUP BY ALL ORDER BY ALL", [run_ids]).fetchall()
    for run_id, key, source in parts:
        canon = canonical_key(str(key))
        owner = owners.get((run_id, canon))
        if owner is not None and owner != source:
            continue
        data = cur.execute(
            "SELECT step, ts, value FROM metrics WHERE run_id = ? AND key = ? AND "
            "source IS NOT DISTINCT FROM ? ORDER BY rowid", [run_id, key, source]).fetchnumpy()
        buf = comp.series.setdefault((run_id, canon), SeriesBuffer())
        buf.append(*(np.ma.filled(np.ma.asarray(data[c], dtype=np.float64), np.nan)
                     for c in ("step", "ts", "value")))
    for run_id, key, value in cur.execute(
            "SELECT run_id, key, value FROM run_params WHERE list_contains(?, run_id)",
            [run_ids]).fetchall():
        comp.params.setdefault(run_id, {})[str(key)] = str(value)
    return comp


class _Bridge(QObject):
    loaded = Signal(object, object)


class _ComparisonSeries:
    """The comparison's series, as a chart asks for them (a LiveSeriesCache's `series`)."""

    def __init__(self) -> None:
        self.comparison: Comparison | None = None

    def series(self, run_id: str, key: str) -> SeriesBuffer | None:
        comp = self.comparison
        return comp.series.get((run_id, key)) if comp is not None else None


class ComparePanel(QWidget):
    """Checked runs on the left; the chosen metric of all of them in one chart (legend,
    robust range, export) in the middle; final/best values and differing config on the
    right. Side by side, because the dock is wide and short."""

    compared = Signal()

    def __init__(self, cursor_factory: object, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("comparePanel")
        self.runner = QueryThread(cursor_factory)  # type: ignore[arg-type]
        self.bridge = _Bridge(self)
        self.bridge.loaded.connect(self._on_loaded)
        self.comparison: Comparison | None = None
        self._source = _ComparisonSeries()
        self._chart: MetricChart | None = None
        self.run_list = QListWidget()
        self.run_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.compare_button = QPushButton("Compare checked runs")
        self.key = QComboBox()
        self.key.setMinimumContentsLength(16)
        self.status = QLabel("Check two or more runs, then Compare.")
        self.chart_host = QWidget()
        self._chart_layout = QVBoxLayout(self.chart_host)
        self._chart_layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QTableWidget(0, 4)
        self.summary.setHorizontalHeaderLabels(["Run", "Final", "Best", "Points"])
        self.params = QTableWidget(0, 1)
        for table in (self.summary, self.params):
            table.verticalHeader().setVisible(False)
            table.verticalHeader().setDefaultSectionSize(20)
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            table.horizontalHeader().setStretchLastSection(True)
        tabs = QTabWidget()
        tabs.addTab(self.summary, "Final / best")
        tabs.addTab(self.params, "Config differences")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.run_list)
        ll.addWidget(self.compare_button)
        middle = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Metric:"))
        bar.addWidget(self.key)
        bar.addWidget(self.status, 1)
        ml.addLayout(bar)
        ml.addWidget(self.chart_host, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("compareSplit")
        split.addWidget(left)
        split.addWidget(middle)
        split.addWidget(tabs)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 4)
        split.setStretchFactor(2, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)
        self.compare_button.clicked.connect(lambda: self.compare(self.checked()))
        self.key.currentTextChanged.connect(lambda _: self._draw())
        self._names: dict[str, str] = {}

    @property
    def chart(self) -> MetricChart:
        """The overlay chart, built on first use (pyqtgraph is not loaded at start)."""
        if self._chart is None:
            from cockpit.ui.chart import MetricChart

            self._chart = MetricChart(self.key.currentText() or "loss",
                                      self._source)  # type: ignore[arg-type]
            self._chart_layout.addWidget(self._chart)
        return self._chart

    def update_runs(self, runs: list[RunInfo]) -> None:
        known = {self.run_list.item(i).data(Qt.ItemDataRole.UserRole)
                 for i in range(self.run_list.count())}
        for run in runs:
            self._names[run.run_id] = run.name
            if run.run_id not in known:
                item = QListWidgetItem(run.name)
                item.setToolTip(f"{run.name}\n{run.path}")
                item.setData(Qt.ItemDataRole.UserRole, run.run_id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Unchecked)
                self.run_list.addItem(item)

    def checked(self) -> list[str]:
        return [self.run_list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.run_list.count())
                if self.run_list.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked(self, run_ids: list[str]) -> None:
        for i in range(self.run_list.count()):
            item = self.run_list.item(i)
            state = item.data(Qt.ItemDataRole.UserRole) in run_ids
            item.setCheckState(Qt.CheckState.Checked if state else Qt.CheckState.Unchecked)

    def compare(self, run_ids: list[str]) -> bool:
        if not run_ids:
            self.status.setText("Check at least one run.")
            return False
        names = dict(self._names)
        started = self.runner.submit(lambda cur: load_comparison(cur, run_ids, names),
                                     self.bridge.loaded.emit)
        if started:
            self.status.setText("loading…")
        return started

    def _on_loaded(self, comp: Comparison | None, error: str | None) -> None:
        if error or comp is None:
            self.status.setText(error or "comparison failed")
            return
        self.comparison = comp
        self._source.comparison = comp
        current = self.key.currentText()
        self.key.blockSignals(True)
        self.key.clear()
        keys = comp.keys()
        self.key.addItems(keys)
        if current in keys:
            self.key.setCurrentText(current)
        elif "loss" in keys:
            self.key.setCurrentText("loss")
        self.key.blockSignals(False)
        self._draw()
        self.status.setText(f"{len(comp.names)} runs, {len(keys)} metrics")
        self.compared.emit()

    def run_colors(self) -> dict[str, str]:
        comp = self.comparison
        return {} if comp is None else {
            run_id: theme.series_color(i) for i, run_id in enumerate(comp.names)}

    def _draw(self) -> None:
        comp = self.comparison
        if comp is None:
            return
        chart = self.chart
        key = self.key.currentText()
        colors = self.run_colors()
        chart.set_runs([(r, name, colors[r]) for r, name in comp.names.items()])
        chart.set_tooltips({r: name if (r, key) in comp.series else f"{name}\n(no {key} logged)"
                            for r, name in comp.names.items()})
        if key:
            chart.set_key(key)
        chart.follow()
        self._fill_tables()

    def _fill_tables(self) -> None:
        comp = self.comparison
        if comp is None:
            return
        key = self.key.currentText()
        rows = [r for r in comp.summary() if r[1] == key]
        self.summary.setRowCount(len(rows))
        colors = {comp.names[r]: c for r, c in self.run_colors().items()}
        for r, (name, _, last, best, n) in enumerate(rows):
            for c, text in enumerate((name, _fmt(last), _fmt(best), str(n))):
                item = QTableWidgetItem(text)
                if c == 0 and name in colors:
                    item.setIcon(dot_icon(colors[name], square=True))
                    item.setToolTip(name)
                self.summary.setItem(r, c, item)
        diffs = comp.differing_params()
        runs = list(comp.names.values())
        self.params.setColumnCount(1 + len(runs))
        self.params.setHorizontalHeaderLabels(["Config key", *runs])
        self.params.setRowCount(len(diffs))
        for r, (pkey, values) in enumerate(diffs):
            self.params.setItem(r, 0, QTableWidgetItem(pkey))
            for c, value in enumerate(values):
                self.params.setItem(r, c + 1, QTableWidgetItem(value))

    def close_runner(self) -> None:
        self.runner.close()


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
    return f"{v:.5g}"
