"""GPU panel: per GPU, live sparklines of utilization, SM and tensor-core activity, memory,
power and temperature; below, the processes on the GPUs and the runs they belong to.

The sparkline cards (`cockpit.ui.gpu_card`, pyqtgraph) are imported with the first GPU seen:
the first window, and a machine without GPUs, never load pyqtgraph for this panel.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
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

from cockpit.ui.gpu_fields import GIB
from cockpit.ui.live_cache import GpuTrace, ProcessRow

if TYPE_CHECKING:
    from cockpit.ui.gpu_card import GpuCard

PROC_COLUMNS = ("GPU", "PID", "Process", "Memory", "SM %", "Run")


class GpuPanel(QWidget):
    """Without GPU telemetry the panel is one line (its dock shrinks to it and the runs tree
    above gets the room); the first GPU sampled turns it into the cards and process table."""

    gpusAppeared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gpuPanel")
        self.cards: dict[tuple[str, int], GpuCard] = {}
        self.empty = QLabel("No GPU telemetry (no NVML here, or nothing sampled yet)")
        self.empty.setObjectName("gpuEmpty")
        self.empty.setToolTip("`cockpit doctor` says what this machine offers; GPUs sampled "
                              "by NVML, a replay or Prometheus appear here")
        self.empty.setContentsMargins(6, 2, 6, 2)
        self.cards_host = QWidget()
        self.cards_layout = QVBoxLayout(self.cards_host)
        self.cards_layout.setContentsMargins(2, 2, 2, 2)
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
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.setObjectName("gpuSplit")
        self.split.addWidget(scroll)
        self.split.addWidget(self.procs)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 1)
        self.split.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty)
        layout.addWidget(self.split, 1)
        self._procs_sig: tuple[object, ...] = ()
        self._fit_to_line()

    @property
    def has_gpus(self) -> bool:
        return bool(self.cards)

    def _fit_to_line(self) -> None:
        """No GPU: as tall as the one line that says so."""
        self.setMaximumHeight(self.empty.sizeHint().height() + 4)

    def _unfit(self) -> None:
        self.empty.setVisible(False)
        self.split.setVisible(True)
        self.setMaximumHeight(16_777_215)  # QWIDGETSIZE_MAX
        self.split.setSizes([300, 100])  # the cards first; it was laid out while hidden

    def update_gpus(self, gpus: list[GpuTrace], processes: list[ProcessRow]) -> None:
        for trace in gpus:
            key = (trace.host, trace.gpu)
            card = self.cards.get(key)
            if card is None:
                from cockpit.ui.gpu_card import GpuCard

                first = not self.cards
                card = self.cards[key] = GpuCard(trace.host, trace.gpu)
                self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)
                if first:
                    self._unfit()
                    self.gpusAppeared.emit()
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
