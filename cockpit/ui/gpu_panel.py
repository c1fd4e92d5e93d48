"""GPU panel: per GPU, live sparklines of utilization, SM and tensor-core activity, memory,
power and temperature; below, the processes on the GPUs and the runs they belong to."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.live_cache import GpuTrace, ProcessRow

GIB = 1024**3
# (field, title, unit, fixed y max or None)
SPARKS = (
    ("util_gpu", "Util", "%", 100.0),
    ("sm_active", "SM active", "%", 100.0),
    ("tensor_active", "Tensor active", "%", 100.0),
    ("mem_used", "Memory", "GiB", None),
    ("power_w", "Power", "W", None),
    ("temp_c", "Temp", "°C", None),
)
PROC_COLUMNS = ("GPU", "PID", "Process", "Memory", "SM %", "Run")


class GpuCard(pg.GraphicsLayoutWidget):
    """Six sparklines of one GPU in one graphics view (cheap to repaint)."""

    def __init__(self, host: str, gpu: int) -> None:
        super().__init__()
        self.host, self.gpu = host, gpu
        self.setMinimumHeight(190)
        self.setMaximumHeight(230)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.header = self.addLabel(f"GPU {gpu}" + (f" · {host}" if host else ""), row=0, col=0,
                                    colspan=3, justify="left")
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        for i, (name, title, _, ymax) in enumerate(SPARKS):
            plot = self.addPlot(row=1 + i // 3, col=i % 3)
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setTitle(title, size="8pt")
            if ymax is not None:
                plot.setYRange(0, ymax, padding=0.02)
            curve = plot.plot([], [], fillLevel=0)
            self.plots[name] = plot
            self.curves[name] = curve
        self.last_ts = -1.0
        self.apply_theme()

    def apply_theme(self) -> None:
        t = theme.current()
        self.setBackground(t.chart_bg)
        for i, (name, _, _, _) in enumerate(SPARKS):
            color = t.series[i % len(t.series)]
            fill = pg.mkColor(color)
            fill.setAlpha(50)
            self.curves[name].setPen(pg.mkPen(color, width=1.5))
            self.curves[name].setBrush(pg.mkBrush(fill))

    def update_trace(self, trace: GpuTrace) -> None:
        if len(trace.ts) == 0 or trace.ts[-1] == self.last_ts:
            return
        self.last_ts = float(trace.ts[-1])
        x = trace.ts - trace.ts[-1]
        t = theme.current()
        for name, title, unit, _ in SPARKS:
            y = trace.fields[name]
            if name == "mem_used":
                y = y / GIB
                if math.isfinite(trace.mem_total):
                    self.plots[name].setYRange(0, trace.mem_total / GIB, padding=0.02)
            elif name == "power_w" and math.isfinite(trace.power_limit_w):
                self.plots[name].setYRange(0, trace.power_limit_w, padding=0.02)
            finite = np.isfinite(y)
            self.curves[name].setData(x[finite], y[finite]) if finite.any() else (
                self.curves[name].setData([], []))
            last = y[finite][-1] if finite.any() else float("nan")
            value = "n/a" if not math.isfinite(last) else (
                f"{last:.1f} {unit}" if unit == "GiB" else f"{last:.0f} {unit}")
            self.plots[name].setTitle(
                f"<span style='color:{t.dim_text}'>{title}</span> "
                f"<span style='color:{t.text}'><b>{value}</b></span>", size="8pt")


class GpuPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gpuPanel")
        self.cards: dict[tuple[str, int], GpuCard] = {}
        self.empty = QLabel("No GPU telemetry yet (no NVML on this machine, or nothing sampled).")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.cards_host = QWidget()
        self.cards_layout = QVBoxLayout(self.cards_host)
        self.cards_layout.setContentsMargins(2, 2, 2, 2)
        self.cards_layout.addWidget(self.empty)
        self.cards_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.cards_host)
        self.procs = QTableWidget(0, len(PROC_COLUMNS))
        self.procs.setHorizontalHeaderLabels(list(PROC_COLUMNS))
        self.procs.verticalHeader().setVisible(False)
        self.procs.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.procs.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.procs.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.procs.horizontalHeader().setStretchLastSection(True)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(scroll)
        split.addWidget(self.procs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self._procs_sig: tuple[object, ...] = ()

    def update_gpus(self, gpus: list[GpuTrace], processes: list[ProcessRow]) -> None:
        for trace in gpus:
            key = (trace.host, trace.gpu)
            card = self.cards.get(key)
            if card is None:
                card = self.cards[key] = GpuCard(trace.host, trace.gpu)
                self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)
                self.empty.setVisible(False)
            card.update_trace(trace)
        sig = tuple((p.gpu, p.pid, p.used_mem, p.sm_util, p.run_name) for p in processes)
        if sig != self._procs_sig:
            self._procs_sig = sig
            self._fill_processes(processes)

    def _fill_processes(self, processes: list[ProcessRow]) -> None:
        self.procs.setRowCount(len(processes))
        for row, p in enumerate(processes):
            mem = "" if p.used_mem is None else f"{p.used_mem / GIB:.1f} GiB"
            sm = "" if p.sm_util is None or not math.isfinite(p.sm_util) else f"{p.sm_util:.0f}"
            cells = (str(p.gpu), str(p.pid), p.name or "—", mem, sm, p.run_name or "—")
            for col, text in enumerate(cells):
                item = self.procs.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.procs.setItem(row, col, item)
                item.setText(text)

    def apply_theme(self) -> None:
        for card in self.cards.values():
            card.apply_theme()
            card.last_ts = -1.0
