"""One live chart: a metric key across the selected runs.

Every refresh asks each run's `SeriesBuffer` for the vertices that fit the current view
(min/max envelope when zoomed out, raw points when zoomed in) and hands them to a lean
`Trace` of one `CurveBundle` per layer (no second downsampling pass, bounds known up front,
one graphics item for all runs; log y is applied here). NaN and +/-Inf, which a line cannot
show, are drawn as markers on the top (NaN, +Inf) or bottom (-Inf) edge; alerts are triangles
on the curve; a crosshair lists every run's value under the cursor.
"""

from __future__ import annotations

import csv
import html
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPaintEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from cockpit.model.keys import canonical_key
from cockpit.ui import theme
from cockpit.ui.chart_items import CurveBundle, GridLines, Trace, cosmetic_pen
from cockpit.ui.live_cache import AlertRow, LiveSeriesCache
from cockpit.ui.series import SeriesBuffer

EDGE_SYMBOLS = {"nan": "x", "posinf": "t1", "neginf": "t"}


@dataclass(slots=True)
class RunCurve:
    run_id: str
    name: str
    color: str
    raw: Trace
    smooth: Trace
    seen_version: int = -1
    seen_smoothing: float = -1.0
    edges: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (kind, x) non-finite
    smooth_drawn: bool = False
    seen_key: tuple[object, ...] = ()  # (x range, x mode, log y, smoothing) last drawn with


class TimedPlotWidget(pg.PlotWidget):
    """A PlotWidget that remembers what its repaints cost, so the frame timer can leave the
    repaint of a chart for the next tick rather than run past its budget."""

    def __init__(self) -> None:
        super().__init__()
        self.paint_s = 0.004  # smoothed seconds per repaint; a guess until the first one

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_s = 0.7 * self.paint_s + 0.3 * (time.perf_counter() - t0)


class MetricChart(QWidget):
    """A pyqtgraph plot of one canonical metric key for several runs."""

    pointHovered = Signal(float)  # x under the cursor, for linked crosshairs
    exportRequested = Signal(str)  # "png" | "svg" | "csv", from the chart's context menu

    def __init__(self, key: str, cache: LiveSeriesCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.cache = cache
        self.x_mode = "step"
        self.log_y = False
        self.smoothing = 0.0
        self.curves: dict[str, RunCurve] = {}
        self.alerts: list[AlertRow] = []
        self._drawn_key: tuple[object, ...] = ()
        self._decor_y: tuple[float, float] = (0.0, 0.0)
        self._edges_drawn = False
        self._alerts_drawn = False
        self.frames = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = TimedPlotWidget()
        layout.addWidget(self.plot)
        item = self.plot.getPlotItem()
        item.setTitle(key, size="9pt")
        item.hideButtons()
        self.view = item.getViewBox()
        self.grid = GridLines(item)
        self.view.addItem(self.grid, ignoreBounds=True)
        self.raw_layer = CurveBundle()  # every run's raw curve (faint while smoothing)
        self.smooth_layer = CurveBundle()  # the EMA curves, drawn over all raw ones
        self.plot.addItem(self.raw_layer)
        self.plot.addItem(self.smooth_layer)
        self.edge_markers = pg.ScatterPlotItem(size=7, pxMode=True, hoverable=False)
        self.alert_markers = pg.ScatterPlotItem(size=13, pxMode=True, hoverable=True,
                                                tip=self._alert_tip)
        self.view.addItem(self.edge_markers, ignoreBounds=True)
        self.view.addItem(self.alert_markers, ignoreBounds=True)
        self.edge_markers.setZValue(20)
        self.alert_markers.setZValue(30)
        self.cross = pg.InfiniteLine(angle=90, movable=False)
        self.focus_line = pg.InfiniteLine(angle=90, movable=False)
        self.cross.setVisible(False)
        self.focus_line.setVisible(False)
        self.view.addItem(self.cross, ignoreBounds=True)
        self.view.addItem(self.focus_line, ignoreBounds=True)
        self.readout = pg.TextItem(anchor=(0, 0))
        self.readout.setZValue(40)
        self.readout.setVisible(False)
        self.view.addItem(self.readout, ignoreBounds=True)
        menu = self.view.menu
        menu.addSeparator()
        menu.addAction("Export PNG…").triggered.connect(self._ask_png)
        menu.addAction("Export SVG…").triggered.connect(self._ask_svg)
        menu.addAction("Export CSV (full resolution)…").triggered.connect(self._ask_csv)
        self._mouse_proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30,
                                           slot=self._on_mouse_moved)
        self.apply_theme()

    # ---- configuration --------------------------------------------------------------------
    def set_runs(self, runs: list[tuple[str, str, str]]) -> None:
        """(run_id, display name, colour) of the runs to draw, in legend order."""
        wanted = {run_id for run_id, _, _ in runs}
        for run_id in [r for r in self.curves if r not in wanted]:
            curve = self.curves.pop(run_id)
            self.raw_layer.remove_trace(curve.raw)
            self.smooth_layer.remove_trace(curve.smooth)
        for run_id, name, color in runs:
            known = self.curves.get(run_id)
            if known is not None:
                curve = known
            else:
                # Vertices come decimated from the series' min/max pyramid (every spike kept),
                # so the items draw them as they are: no second downsampling or clipping pass.
                raw = self.raw_layer.add_trace()
                smooth = self.smooth_layer.add_trace()
                curve = self.curves[run_id] = RunCurve(run_id, name, color, raw, smooth)
            curve.name = name
            if curve.color != color or curve.seen_version == -1:
                curve.color = color
                curve.seen_version = -2
            self._style(curve)
        self._commit()

    def set_x_mode(self, mode: str) -> None:
        if mode == self.x_mode:
            return
        self.x_mode = mode
        item = self.plot.getPlotItem()
        axis = pg.DateAxisItem(orientation="bottom") if mode == "time" else pg.AxisItem("bottom")
        item.setAxisItems({"bottom": axis})
        self.apply_theme()
        for curve in self.curves.values():
            curve.seen_version = -2
        self.focus_line.setVisible(False)
        self.view.enableAutoRange(x=True)

    def set_log_y(self, on: bool) -> None:
        if on == self.log_y:
            return
        self.log_y = on
        self.plot.getPlotItem().setLogMode(x=False, y=on)
        self.view.enableAutoRange(y=True)

    def set_smoothing(self, weight: float) -> None:
        self.smoothing = weight
        for curve in self.curves.values():
            self._style(curve)
        self._commit()

    def set_alerts(self, alerts: list[AlertRow]) -> None:
        mine = [a for a in alerts if a.run_id in self.curves and _alert_key(a) == self.key]
        self.alerts = mine

    def apply_theme(self) -> None:
        t = theme.current()
        self.plot.setBackground(t.chart_bg)
        item = self.plot.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(t.chart_fg))
            axis.setTextPen(pg.mkPen(t.chart_fg))
        item.titleLabel.setText(self.key, color=t.chart_fg, size="9pt")
        self.grid.set_colors(t.chart_bg, t.chart_fg, t.grid_alpha)
        self.cross.setPen(pg.mkPen(t.dim_text, width=1, style=Qt.PenStyle.DashLine))
        self.focus_line.setPen(pg.mkPen(t.severity["warning"], width=1))
        self.readout.fill = pg.mkBrush(QColor(t.base).lighter(110).name() + "e0")
        for curve in self.curves.values():
            self._style(curve)
        self._commit()

    def _commit(self) -> None:
        """Hand the curves changed since the last call to the view (bounds, repaint)."""
        self.raw_layer.commit()
        self.smooth_layer.commit()

    def _style(self, curve: RunCurve) -> None:
        color = QColor(curve.color)
        if self.smoothing > 0:
            faint = QColor(color)
            faint.setAlpha(70)
            curve.raw.setPen(cosmetic_pen(faint))
            curve.smooth.setPen(cosmetic_pen(color, 1.6))
            curve.smooth.setVisible(True)
        else:
            curve.raw.setPen(cosmetic_pen(color))  # 1 px: the raster engine's fast path
            curve.smooth.setVisible(False)

    # ---- drawing ---------------------------------------------------------------------------
    def _target_range(self) -> tuple[float, float, int]:
        """The x range to decimate for: the whole data while following, else the view."""
        width = max(int(self.view.width()), 100)
        auto_x = bool(self.view.state["autoRange"][0])
        if auto_x:
            bounds = [b for b in (self._buffer(c.run_id) for c in self.curves.values()) if b]
            spans = [s for s in (b.x_bounds(self.x_mode) for b in bounds) if s]
            if spans:
                return min(s[0] for s in spans), max(s[1] for s in spans), width
        (x0, x1), _ = self.view.viewRange()
        return float(x0), float(x1), width

    def _buffer(self, run_id: str) -> SeriesBuffer | None:
        return self.cache.series(run_id, self.key)

    @property
    def paint_cost(self) -> float:
        """Seconds a repaint of this chart takes, smoothed over the recent ones."""
        return self.plot.paint_s

    def needs_redraw(self) -> bool:
        """Whether `refresh()` has a curve to redraw (data, view or settings moved)."""
        target = self._target_range()
        key = (target, self.x_mode, self.log_y, self.smoothing)
        for curve in self.curves.values():
            buffer = self._buffer(curve.run_id)
            if buffer is None:
                if curve.seen_version != -1:
                    return True
            elif (curve.seen_key != key or buffer.version != curve.seen_version
                  or buffer.smoothing != curve.seen_smoothing):
                return True
        return False

    def refresh(self, force: bool = False, deadline: float | None = None) -> bool:
        """Redraw the curves whose data, view or settings changed. Returns True when
        something was drawn. With a `deadline` (perf_counter seconds) it stops between
        curves once past it; the rest are drawn on the next call (each curve remembers what
        it last drew), so one chart of many runs never holds the GUI thread for long."""
        target = self._target_range()
        key = (target, self.x_mode, self.log_y, self.smoothing)
        drawn = False
        complete = True
        for curve in self.curves.values():
            buffer = self._buffer(curve.run_id)
            if buffer is None:
                if curve.seen_version != -1:
                    curve.raw.clear()
                    curve.smooth.clear()
                    curve.seen_version = -1
                continue
            if not (force or curve.seen_key != key or buffer.version != curve.seen_version
                    or buffer.smoothing != curve.seen_smoothing):
                continue
            if drawn and deadline is not None and time.perf_counter() > deadline:
                complete = False
                break
            x0, x1, width = target
            raw = buffer.decimate(x0, x1, width, self.x_mode)
            curve.raw.set_data(raw.x, self._y(raw.y))
            if self.smoothing > 0 and buffer.smoothing > 0:
                sm = buffer.decimate(x0, x1, width, self.x_mode, smoothed=True)
                curve.smooth.set_data(sm.x, self._y(sm.y))
                curve.smooth_drawn = True
            elif curve.smooth_drawn:
                curve.smooth.clear()
                curve.smooth_drawn = False
            curve.seen_version = buffer.version
            curve.seen_smoothing = buffer.smoothing
            curve.seen_key = key
            curve.edges = [(kind, xs) for kind, xs in (
                ("nan", raw.nan_x), ("posinf", raw.posinf_x), ("neginf", raw.neginf_x)) if len(xs)]
            drawn = True
        self._commit()
        if drawn:
            self._settle_view()
        y_range = tuple(self.view.viewRange()[1])
        if (drawn and complete) or key != self._drawn_key or y_range != self._decor_y:
            self._decor_y = (float(y_range[0]), float(y_range[1]))
            self._draw_edges()
            self._draw_alerts()
            self._settle_view()
            self.frames += 1
        self._drawn_key = key
        return drawn

    def _settle_view(self) -> None:
        """Auto-range the view and apply its transform now rather than in its paint: pyqtgraph
        defers both to the paint, where they invalidate the scene again and every chart that
        changed was painted twice per frame."""
        if any(self.view.state["autoRange"]):
            self.view.updateAutoRange()
        self.view.updateMatrix()

    def _y(self, y: np.ndarray) -> np.ndarray:
        """Values as the view plots them: log10 in log mode (non-positive values break the
        line, as pyqtgraph's own log mode does)."""
        if not self.log_y:
            return y
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)

    def _draw_edges(self) -> None:
        """Non-finite points as symbols pinned to the top or bottom edge of the view."""
        _, (y0, y1) = self.view.viewRange()
        pad = (y1 - y0) * 0.03
        xs_all: list[np.ndarray] = []
        ys_all: list[np.ndarray] = []
        symbols: list[str] = []
        pens: list[object] = []
        brushes: list[object] = []
        for curve in self.curves.values():
            if not curve.edges or self._buffer(curve.run_id) is None:
                continue
            pen = pg.mkPen(curve.color, width=1)
            brush = pg.mkBrush(curve.color)
            for kind, xs in curve.edges:
                xs_all.append(xs)
                ys_all.append(np.full(len(xs), y0 + pad if kind == "neginf" else y1 - pad))
                symbols.extend([EDGE_SYMBOLS[kind]] * len(xs))
                pens.extend([pen] * len(xs))
                brushes.extend([brush] * len(xs))
        if not xs_all:
            if self._edges_drawn:
                self.edge_markers.setData([], [])
                self._edges_drawn = False
            return
        self._edges_drawn = True
        self.edge_markers.setData(x=np.concatenate(xs_all), y=np.concatenate(ys_all),
                                  symbol=symbols, pen=pens, brush=brushes)

    def _draw_alerts(self) -> None:
        if not self.alerts and not self._alerts_drawn:
            return
        self._alerts_drawn = bool(self.alerts)
        spots = []
        t = theme.current()
        _, (y0, y1) = self.view.viewRange()
        for alert in self.alerts:
            buffer = self._buffer(alert.run_id)
            if buffer is None:
                continue
            x = _alert_x(alert, self.x_mode)
            if x is None:
                continue
            hit = buffer.value_at(x, self.x_mode)
            y = hit[1] if hit else float("nan")
            if math.isfinite(y) and self.log_y:
                y = math.log10(y) if y > 0 else float("nan")
            if not math.isfinite(y):
                y = y1 - (y1 - y0) * 0.08  # the point itself is NaN: mark below the edge row
            color = t.severity.get(alert.severity, t.accent)
            spots.append({"pos": (x, y), "symbol": "t", "pen": pg.mkPen("#000000", width=1),
                          "brush": pg.mkBrush(color), "data": alert})
        self.alert_markers.setData(spots)

    @staticmethod
    def _alert_tip(x: float, y: float, data: object) -> str:
        if isinstance(data, AlertRow):
            return f"{data.severity} {data.detector} @ {data.step}: {data.message}"
        return ""

    # ---- crosshair and focus ---------------------------------------------------------------
    def _on_mouse_moved(self, event: tuple[QPointF]) -> None:
        pos = event[0]
        if not self.plot.sceneBoundingRect().contains(pos):
            return
        point = self.view.mapSceneToView(pos)
        self.show_crosshair(point.x())
        self.pointHovered.emit(point.x())

    def show_crosshair(self, x: float) -> list[tuple[str, float, float]]:
        """Put the crosshair at x and list (run name, raw, smoothed) there for every run."""
        rows: list[tuple[str, float, float]] = []
        lines = []
        at_x = x
        for curve in self.curves.values():
            buffer = self._buffer(curve.run_id)
            hit = buffer.value_at(x, self.x_mode) if buffer else None
            if hit is None:
                continue
            at_x, raw, smooth = hit
            rows.append((curve.name, raw, smooth))
            value = _fmt(raw) if not (self.smoothing > 0 and math.isfinite(smooth)) else (
                f"{_fmt(smooth)} <span style='color:{theme.current().dim_text}'>"
                f"(raw {_fmt(raw)})</span>")
            lines.append(f"<span style='color:{curve.color}'>&#9632;</span> "
                         f"{html.escape(curve.name)}: <b>{value}</b>")
        self.cross.setPos(x)
        self.cross.setVisible(True)
        if lines:
            head = f"{'step' if self.x_mode == 'step' else 'time'} {_fmt_x(at_x, self.x_mode)}"
            self.readout.setHtml(
                f"<div style='color:{theme.current().text}; font-size:8pt'>{head}<br>"
                + "<br>".join(lines) + "</div>")
            (vx0, vx1), (vy0, vy1) = self.view.viewRange()
            left = x < (vx0 + vx1) / 2
            self.readout.setAnchor((0, 0) if left else (1, 0))
            self.readout.setPos(x, vy1)
            self.readout.setVisible(True)
        return rows

    def hide_crosshair(self) -> None:
        self.cross.setVisible(False)
        self.readout.setVisible(False)

    def focus(self, x: float) -> None:
        """Center the view on x (an alert) with enough context, and mark it."""
        spans = [s for s in (b.x_bounds(self.x_mode) for b in
                             (self._buffer(r) for r in self.curves) if b) if s]
        lo = min((s[0] for s in spans), default=x - 50)
        hi = max((s[1] for s in spans), default=x + 50)
        half = max((hi - lo) * 0.1, 25.0 if self.x_mode == "step" else 30.0)
        self.view.setXRange(x - half, x + half, padding=0)
        self.view.enableAutoRange(y=True)
        self.focus_line.setPos(x)
        self.focus_line.setVisible(True)

    def follow(self) -> None:
        """Back to showing everything as it grows."""
        self.focus_line.setVisible(False)
        self.view.enableAutoRange(x=True, y=True)
        self.refresh(force=True)  # all the data, not the zoomed-in slice
        self.view.updateAutoRange()

    # ---- export ----------------------------------------------------------------------------
    # Bound methods, not lambdas: the menu outlives nothing it does not own.
    def _ask_png(self) -> None:
        self.exportRequested.emit("png")

    def _ask_svg(self) -> None:
        self.exportRequested.emit("svg")

    def _ask_csv(self) -> None:
        self.exportRequested.emit("csv")

    def export_image(self, path: Path) -> None:
        """PNG through pyqtgraph; SVG by painting the widget into QSvgGenerator (pyqtgraph's
        SVG exporter cannot parse the paths Qt 6.11 writes)."""
        if path.suffix.lower() == ".svg":
            from PySide6.QtCore import QRect, QSize
            from PySide6.QtGui import QPainter
            from PySide6.QtSvg import QSvgGenerator

            size = self.plot.size()
            gen = QSvgGenerator()
            gen.setFileName(str(path))
            gen.setSize(QSize(size.width(), size.height()))
            gen.setViewBox(QRect(0, 0, size.width(), size.height()))
            gen.setTitle(f"Cockpit: {self.key}")
            painter = QPainter(gen)
            try:
                self.plot.render(painter)
            finally:
                painter.end()
            return
        from pyqtgraph.exporters import ImageExporter

        ImageExporter(self.plot.getPlotItem()).export(str(path))

    def export_csv(self, path: Path) -> int:
        """Full-resolution points of every run on this chart; returns the row count."""
        n = 0
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run", "key", "step", "ts", "value"])
            for curve in self.curves.values():
                buffer = self._buffer(curve.run_id)
                if buffer is None:
                    continue
                with buffer.lock:
                    steps, ts, values = (a.view.copy() for a in (buffer.steps, buffer.ts,
                                                                  buffer.values))
                for s, t, v in zip(steps, ts, values, strict=True):
                    w.writerow([curve.name, self.key, int(s) if math.isfinite(s) else "",
                                repr(float(t)) if math.isfinite(t) else "", repr(float(v))])
                    n += 1
        return n


def _alert_key(alert: AlertRow) -> str:
    return canonical_key(alert.metric) if alert.metric else "loss"


def _alert_x(alert: AlertRow, x_mode: str) -> float | None:
    value = alert.ts if x_mode == "time" else alert.step
    return float(value) if value is not None else None


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
    return f"{v:.4g}"


def _fmt_x(x: float, mode: str) -> str:
    if mode == "time":
        import datetime as dt

        return dt.datetime.fromtimestamp(x).strftime("%H:%M:%S")
    return f"{x:.0f}"

