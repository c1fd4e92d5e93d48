"""The reliability diagram of the eval tab: accuracy per equal-mass confidence bin with its
Wilson interval against the diagonal of perfect calibration, and ECE / Brier / n above it
(with the core's warning when there are too few samples to trust the bins)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cockpit.ui import theme


class CalibrationPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.calibration: Any = None
        self.header = QLabel("")
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.header.setWordWrap(True)
        self.warning = QLabel("")
        self.warning.setTextFormat(Qt.TextFormat.PlainText)
        self.warning.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.setLabel("bottom", "confidence (bin mean)")
        self.plot.setLabel("left", "accuracy")
        self.plot.setMinimumSize(220, 180)
        self.diagonal = pg.PlotDataItem([0, 1], [0, 1])
        self.gaps = pg.BarGraphItem(x=[], height=[], width=0.0, y0=[])
        self.errors = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), top=np.zeros(0),
                                      bottom=np.zeros(0), beam=0.012)
        self.points = pg.PlotDataItem([], [], symbol="o", symbolSize=7)
        for item in (self.gaps, self.diagonal, self.errors, self.points):
            self.plot.addItem(item)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.warning)
        layout.addWidget(self.plot, 1)
        self.apply_theme()
        self.set_calibration(None)

    def apply_theme(self) -> None:
        t = theme.current()
        self.plot.setBackground(t.chart_bg)
        for axis in ("bottom", "left"):
            ax = self.plot.getAxis(axis)
            ax.setPen(pg.mkPen(t.chart_fg))
            ax.setTextPen(pg.mkPen(t.chart_fg))
        self.plot.showGrid(x=True, y=True, alpha=t.grid_alpha)
        self.diagonal.setPen(pg.mkPen(t.dim_text, width=1, style=Qt.PenStyle.DashLine))
        self.errors.setData(pen=pg.mkPen(t.accent, width=1.5))
        self.points.setPen(pg.mkPen(t.accent, width=1.5))
        self.points.setSymbolBrush(pg.mkBrush(t.accent))
        self.points.setSymbolPen(pg.mkPen(t.text))
        gap = pg.mkColor(t.severity["warning"])
        gap.setAlpha(60)
        self.gaps.setOpts(brush=pg.mkBrush(gap), pen=pg.mkPen(None))
        self.warning.setStyleSheet(f"color: {t.severity['warning']}")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.apply_theme()
        super().changeEvent(event)

    def set_calibration(self, cal: Any) -> None:
        """A `Calibration` from the core, or None when the eval has no confidences."""
        self.calibration = cal
        if cal is None or not cal.bins:
            self.header.setText("No confidences in this eval: no calibration to show.")
            self.warning.setText("")
            self.warning.hide()
            self.errors.setData(x=np.zeros(0), y=np.zeros(0), top=np.zeros(0),
                                bottom=np.zeros(0))
            self.points.setData([], [])
            self.gaps.setOpts(x=[], height=[], y0=[], width=0.0)
            return
        conf = np.array([b.mean_confidence for b in cal.bins])
        acc = np.array([b.accuracy for b in cal.bins])
        low = np.array([b.ci[0] if b.ci[0] is not None else b.accuracy for b in cal.bins])
        high = np.array([b.ci[1] if b.ci[1] is not None else b.accuracy for b in cal.bins])
        self.errors.setData(x=conf, y=acc, top=high - acc, bottom=acc - low)
        self.points.setData(conf, acc)
        # The shaded gap between each bin's accuracy and its confidence: what ECE averages.
        width = np.array([max(0.006, b.conf_high - b.conf_low) for b in cal.bins])
        self.gaps.setOpts(x=(np.array([b.conf_low for b in cal.bins]) + width / 2),
                          y0=np.minimum(conf, acc), height=np.abs(conf - acc), width=width)
        self.header.setText(
            f"ECE {cal.ece:.3f} ({len(cal.bins)} equal-mass bins) · Brier {cal.brier:.3f} · "
            f"n={cal.n:,} · mean confidence {cal.mean_confidence:.3f} vs accuracy "
            f"{cal.accuracy:.3f}")
        warning = "; ".join(cal.warnings)
        self.warning.setText(f"⚠ {warning}" if warning else "")
        self.warning.setVisible(bool(warning))
