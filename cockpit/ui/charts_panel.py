"""The live charts panel: one chart per metric key over the selected runs, with the controls
that apply to all of them (x by step or wall time, EMA smoothing, log y, follow).

`cockpit.ui.chart` (and with it pyqtgraph) is imported when the first chart is made, not at
start: the first window shows no chart, and pyqtgraph is a third of the start-up time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui.live_cache import AlertRow, LiveSeriesCache, Snapshot

if TYPE_CHECKING:
    from cockpit.ui.chart import MetricChart


CHART_BUILD_BUDGET_MS = 40.0


class ChartsPanel(QWidget):
    """Owns the MetricCharts; `tick()` is called by the main window's frame timer."""

    smoothingChanged = Signal(float)

    def __init__(self, cache: LiveSeriesCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chartsPanel")
        self.cache = cache
        self.charts: dict[str, MetricChart] = {}
        self.runs: list[tuple[str, str, str]] = []
        self._keys: list[str] = []
        self._alerts_len = -1
        self._alerts: list[AlertRow] = []
        self._pending_focus: AlertRow | None = None
        self.columns = 2
        self._next_chart = 0

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        self.x_mode = QComboBox()
        self.x_mode.addItem("Step", "step")
        self.x_mode.addItem("Wall time", "time")
        self.x_mode.setToolTip("X axis: training step or wall-clock time")
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setFixedWidth(140)
        self.smoothing.setToolTip("EMA smoothing (the raw curve stays, faint)")
        self.smoothing_label = QLabel("0.00")
        self.log_y = QCheckBox("Log y")
        self.follow = QPushButton("Follow")
        self.follow.setToolTip("Show all data and keep following new points")
        self.key_filter = QLineEdit()
        self.key_filter.setPlaceholderText("Filter metrics…")
        self.key_filter.setClearButtonEnabled(True)
        self.key_filter.setFixedWidth(160)
        for w in (QLabel("X:"), self.x_mode, QLabel("Smoothing:"), self.smoothing,
                  self.smoothing_label, self.log_y, self.follow):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.key_filter)

        self.placeholder = QLabel("Select one or more runs to chart their metrics.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(2, 2, 2, 2)
        self.grid.setSpacing(4)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(self.grid_host)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.scroll_area, 1)
        self.scroll_area.setVisible(False)

        self.x_mode.currentIndexChanged.connect(self._on_x_mode)
        self.smoothing.valueChanged.connect(self._on_smoothing)
        self.log_y.toggled.connect(self._on_log_y)
        self.follow.clicked.connect(self.follow_all)
        self.key_filter.textChanged.connect(lambda _: self._relayout())

    # ---- controls ----------------------------------------------------------------------------
    def _on_x_mode(self) -> None:
        for chart in self.charts.values():
            chart.set_x_mode(self.x_mode.currentData())

    def _on_smoothing(self, value: int) -> None:
        weight = value / 100.0
        self.smoothing_label.setText(f"{weight:.2f}")
        self.cache.set_smoothing(weight)
        for chart in self.charts.values():
            chart.set_smoothing(weight)
        self.smoothingChanged.emit(weight)

    def _on_log_y(self, on: bool) -> None:
        for chart in self.charts.values():
            chart.set_log_y(on)

    def follow_all(self) -> None:
        for chart in self.charts.values():
            chart.follow()

    # ---- data --------------------------------------------------------------------------------
    def set_runs(self, runs: list[tuple[str, str, str]]) -> None:
        """(run_id, name, colour) of the selected runs."""
        self.runs = runs
        for chart in self.charts.values():
            chart.set_runs(runs)
        self._alerts_len = -1
        self.placeholder.setVisible(not runs)
        self.scroll_area.setVisible(bool(runs))

    def update_from(self, snap: Snapshot) -> None:
        """Add or remove charts for the keys of the selected runs; pass alerts down."""
        keys = snap.keys if self.runs else []
        if keys != self._keys:
            self._keys = keys
            for key in [k for k in self.charts if k not in keys]:
                chart = self.charts.pop(key)
                chart.setParent(None)
                chart.deleteLater()
            self._relayout()
        if len(snap.alerts) != self._alerts_len:
            self._alerts_len = len(snap.alerts)
            self._alerts = snap.alerts
            for chart in self.charts.values():
                chart.set_alerts(snap.alerts)
        self.make_missing_charts()
        if self._pending_focus is not None:
            self.focus_alert(self._pending_focus)

    def make_missing_charts(self, budget_ms: float = CHART_BUILD_BUDGET_MS) -> int:
        """Build charts for keys that have none, in key order, while within the budget (at
        least one): a chart costs 15-25 ms to build, and ten new metrics at once would hold
        the GUI thread for a quarter of a second. The frame timer builds the rest."""
        missing = [k for k in self._keys if k not in self.charts]
        if not missing:
            return 0
        deadline = time.perf_counter() + budget_ms / 1000
        made = 0
        for key in missing:
            chart = self.charts[key] = self._make_chart(key)
            chart.set_alerts(self._alerts)
            made += 1
            if time.perf_counter() > deadline:
                break
        self._relayout()
        return made

    def _make_chart(self, key: str) -> MetricChart:
        from cockpit.ui.chart import MetricChart

        chart = MetricChart(key, self.cache)
        chart.setMinimumHeight(220)
        chart.set_runs(self.runs)
        chart.set_x_mode(self.x_mode.currentData())
        chart.set_log_y(self.log_y.isChecked())
        chart.set_smoothing(self.smoothing.value() / 100.0)
        chart.exportRequested.connect(self._on_export_requested)
        return chart

    def _relayout(self) -> None:
        while self.grid.count():
            self.grid.takeAt(0)
        needle = self.key_filter.text().strip().lower()
        shown = [k for k in self._keys if needle in k.lower() and k in self.charts]
        for key, chart in self.charts.items():
            chart.setVisible(key in shown)
        for i, key in enumerate(shown):
            self.grid.addWidget(self.charts[key], i // self.columns, i % self.columns)

    def tick(self, budget_ms: float = 20.0) -> int:
        """Redraw the on-screen charts whose data or view changed, within a time budget.

        The budget covers the repaint too: a chart that redraws here is repainted later in
        the same event-loop turn, so its last repaint time is charged up front, and a chart
        that does not fit waits for the next tick (it goes first then). Charts are visited
        round-robin, so with many charts each still redraws several times a second while no
        turn of the event loop holds the GUI thread long. Returns how many charts drew.
        """
        self.make_missing_charts()
        charts = list(self.charts.values())
        if not charts:
            return 0
        viewport = self.scroll_area.viewport()
        area = viewport.rect()
        deadline = time.perf_counter() + budget_ms / 1000
        n = 0
        first = self._next_chart % len(charts)
        for i in range(len(charts)):
            chart = charts[(first + i) % len(charts)]
            self._next_chart = first + i + 1
            if not chart.isVisible():
                continue
            top_left = chart.mapTo(viewport, QPoint(0, 0))
            if not area.intersects(QRect(top_left, chart.size())) or not chart.needs_redraw():
                continue
            paint = chart.paint_cost
            if n and time.perf_counter() + paint > deadline:
                self._next_chart = first + i  # first in line next tick
                break
            if chart.refresh(deadline=deadline - paint):
                n += 1
                deadline -= paint
                if time.perf_counter() > deadline:
                    break
        return n

    def refresh_all(self) -> None:
        for chart in self.charts.values():
            chart.refresh(force=True)

    def apply_theme(self) -> None:
        for chart in self.charts.values():
            chart.apply_theme()
            chart.refresh(force=True)

    # ---- alerts --------------------------------------------------------------------------------
    def focus_alert(self, alert: AlertRow) -> bool:
        """Scroll to the alert's chart and center it on the alert; retried once data is in."""
        from cockpit.ui.chart import _alert_key, _alert_x

        key = _alert_key(alert)
        chart = self.charts.get(key) or self.charts.get("loss")
        x = _alert_x(alert, self.x_mode.currentData())
        if chart is None or x is None or not self.cache.loaded(alert.run_id):
            self._pending_focus = alert
            return False
        self._pending_focus = None
        if self.key_filter.text() and key not in self.key_filter.text():
            self.key_filter.clear()
        chart.focus(x, alert)
        self.scroll_area.ensureWidgetVisible(chart)
        return True

    # ---- export ----------------------------------------------------------------------------------
    def _on_export_requested(self, fmt: str) -> None:
        from cockpit.ui.chart import MetricChart

        chart = self.sender()
        if isinstance(chart, MetricChart):
            self.export_dialog(chart, fmt)

    def export_dialog(self, chart: MetricChart | None = None, fmt: str = "png") -> Path | None:
        chart = chart or next(iter(self.charts.values()), None)
        if chart is None:
            return None
        name, _ = QFileDialog.getSaveFileName(
            self, f"Export {chart.key}", f"{chart.key}.{fmt}", f"{fmt.upper()} (*.{fmt})")
        if not name:
            return None
        path = Path(name)
        export_chart(chart, path)
        return path


def export_chart(chart: MetricChart, path: Path) -> None:
    """PNG or SVG of what is drawn, or CSV of the full-resolution data, by suffix."""
    if path.suffix.lower() == ".csv":
        chart.export_csv(path)
    else:
        chart.export_image(path)
