"""The right-hand side of the eval tab for one loaded eval: metric cards above four pages
(slices and calibration, samples with their detail, the two-run diff, triage).

Widgets only: the evals panel computes on its worker and hands results in."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.eval_calibration import CalibrationPlot
from cockpit.ui.eval_cards import MetricCards, summary_cards
from cockpit.ui.eval_detail import SampleDetail
from cockpit.ui.eval_diff import DiffView
from cockpit.ui.eval_samples import (
    CONF,
    CORRECT,
    INPUT,
    OUTPUT,
    SAMPLE,
    SCORE,
    TARGET,
    SampleFilterBar,
    SampleTableModel,
)
from cockpit.ui.eval_slices import (
    FIELD,
    FLAG,
    GAP,
    METRIC,
    P_ADJ,
    REST,
    VALUE,
    IntervalBarDelegate,
    N,
    SliceTableModel,
    slice_proxy,
)
from cockpit.ui.eval_text import display_name, plain_tooltip
from cockpit.ui.triage_panel import TriagePanel

SLICES_PAGE, SAMPLES_PAGE, DIFF_PAGE, TRIAGE_PAGE = range(4)


class EvalTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.notes = QLabel("")
        self.notes.setTextFormat(Qt.TextFormat.PlainText)
        self.notes.setWordWrap(True)
        self.summary = MetricCards()

        # Slices and calibration.
        self.slice_model = SliceTableModel(self)
        self.slice_proxy = slice_proxy(self.slice_model)
        self.slices = QTableView()
        self.slices.setModel(self.slice_proxy)
        self.slices.setItemDelegateForColumn(METRIC, IntervalBarDelegate(self.slice_model,
                                                                         self.slices))
        self.slices.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.slices.setSortingEnabled(True)
        self.slices.sortByColumn(GAP, Qt.SortOrder.AscendingOrder)
        self.slices.verticalHeader().setVisible(False)
        self.slices.setWordWrap(False)
        self.slices.setToolTip("Double-click a slice to see its samples")
        header = self.slices.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.slices.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        for col, width in ((FIELD, 105), (VALUE, 85), (N, 50), (METRIC, 300), (REST, 55),
                           (GAP, 60), (P_ADJ, 62), (FLAG, 70)):
            self.slices.setColumnWidth(col, width)
        self.calibration = CalibrationPlot()
        overview = QSplitter(Qt.Orientation.Horizontal)
        overview.addWidget(self.slices)
        overview.addWidget(self.calibration)
        overview.setStretchFactor(0, 3)
        overview.setStretchFactor(1, 2)
        overview.setSizes([820, 420])

        # Samples and their detail.
        self.filter_bar = SampleFilterBar()
        self.model = SampleTableModel(self)
        self.samples = QTableView()
        self.samples.setModel(self.model)
        self.samples.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.samples.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.samples.setWordWrap(False)
        self.samples.setSortingEnabled(False)  # enabled on the first header click (see below)
        self.samples.horizontalHeader().setSortIndicatorShown(True)
        self.samples.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.samples.horizontalHeader().sectionClicked.connect(self._sort_samples)
        vh = self.samples.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row size measuring
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        sh = self.samples.horizontalHeader()
        sh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        sh.setStretchLastSection(True)
        for col, width in ((SAMPLE, 120), (CORRECT, 55), (SCORE, 55), (CONF, 50), (INPUT, 280),
                           (TARGET, 110), (OUTPUT, 200)):
            self.samples.setColumnWidth(col, width)
        self.detail = SampleDetail()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.filter_bar)
        ll.addWidget(self.samples, 1)
        samples_page = QSplitter(Qt.Orientation.Horizontal)
        samples_page.addWidget(left)
        samples_page.addWidget(self.detail)
        samples_page.setStretchFactor(0, 3)
        samples_page.setStretchFactor(1, 2)
        samples_page.setSizes([800, 450])

        self.diff = DiffView()
        self.triage = TriagePanel()

        self.tabs = QTabWidget()
        self.tabs.addTab(overview, "Slices && calibration")
        self.tabs.addTab(samples_page, "Samples")
        self.tabs.addTab(self.diff, "Compare runs")
        self.tabs.addTab(self.triage, "Triage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.summary)
        layout.addWidget(self.notes)
        layout.addWidget(self.tabs, 1)
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    def show_summary(self, run: Any, summary: Any) -> None:
        name, model = display_name(run.name, run.model)
        parts = [name] + ([model] if model else [])
        if run.task and run.task not in run.name:
            parts.append(f"task {run.task}")
        parts += [run.format, f"{summary.n:,} samples, {summary.n_scored:,} scored"]
        self.title.setText(" · ".join(parts))
        self.title.setToolTip(plain_tooltip(run.path or ""))
        self.summary.set_cards(summary_cards(summary))
        notes = list(dict.fromkeys(summary.notes))
        self.notes.setText("Notes: " + "; ".join(notes) if notes else "")
        self.notes.setStyleSheet(f"color: {theme.current().dim_text}")
        self.notes.setVisible(bool(notes))
        primary = summary.primary
        overall = summary.metrics[primary].value if primary in summary.metrics else math.nan
        self.slice_model.set_slices(summary.slices, primary, overall)
        self.slices.sortByColumn(GAP, Qt.SortOrder.AscendingOrder)
        self.calibration.set_calibration(summary.calibration)

    def _sort_samples(self, column: int) -> None:
        """Header click: ascending, then descending, then back to failures first."""
        if column != self._sort_column:
            self._sort_column, self._sort_order = column, Qt.SortOrder.AscendingOrder
        elif self._sort_order == Qt.SortOrder.AscendingOrder:
            self._sort_order = Qt.SortOrder.DescendingOrder
        else:
            self._sort_column = -1
        header = self.samples.horizontalHeader()
        if self._sort_column < 0:
            header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        else:
            header.setSortIndicator(self._sort_column, self._sort_order)
        self.model.sort(self._sort_column, self._sort_order)
