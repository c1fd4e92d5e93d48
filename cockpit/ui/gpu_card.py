"""One GPU's six live sparklines (utilization, SM and tensor-core activity, memory, power,
temperature) in one pyqtgraph view; split from the panel so pyqtgraph loads with the first GPU."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from cockpit.ui import theme
from cockpit.ui.gpu_fields import GIB, SPARKS, gap_breaks, with_gaps
from cockpit.ui.live_cache import GpuTrace

theme.pyqtgraph_defaults()


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
        self.gaps = 0  # gaps drawn in the last update (a source outage shows as one)
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
        self.gaps = 0
        for name, title, unit, _ in SPARKS:
            y = trace.fields[name]
            if name == "mem_used":
                y = y / GIB
                if math.isfinite(trace.mem_total):
                    self.plots[name].setYRange(0, trace.mem_total / GIB, padding=0.02)
            elif name == "power_w" and math.isfinite(trace.power_limit_w):
                self.plots[name].setYRange(0, trace.power_limit_w, padding=0.02)
            finite = np.isfinite(y)
            if finite.any():  # a missing value is skipped; a pause in the samples is a gap
                xs, ys = x[finite], y[finite]
                breaks = gap_breaks(trace.ts[finite])
                self.gaps = max(self.gaps, len(breaks))
                self.curves[name].setData(*with_gaps(xs, ys, breaks), connect="finite")
            else:
                self.curves[name].setData([], [])
            last = y[finite][-1] if finite.any() else float("nan")
            value = "n/a" if not math.isfinite(last) else (
                f"{last:.1f} {unit}" if unit == "GiB" else f"{last:.0f} {unit}")
            self.plots[name].setTitle(
                f"<span style='color:{t.dim_text}'>{title}</span> "
                f"<span style='color:{t.text}'><b>{value}</b></span>", size="8pt")
