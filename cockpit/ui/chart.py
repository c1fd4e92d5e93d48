"""One live chart: a metric key across the selected runs.

Every refresh asks each run's `SeriesBuffer` for what fits the view's pixel columns (the raw
points while there are fewer than about two per column, else each column's true min and max
as a vertical segment) and hands them to a lean `Trace` of one `CurveBundle` per layer (no
second downsampling pass, bounds known up front, one graphics item for all runs; log y is
applied here).

The chart owns its ranges (pyqtgraph's auto-range is off): x follows all the data until the
user zooms or pans it; y fits the finite values in view with outliers left out
(`cockpit.ui.y_range`), and the values of a run after the start of a critical alert's episode
do not count, so a diverged run does not flatten the others. Values outside the range get a
mark with the value at the edge, and one click shows the full range. NaN and +/-Inf, which a
line cannot show, are markers on the top (NaN, +Inf) or bottom (-Inf) edge; alerts are
triangles on the curve; a crosshair lists every run's value under the cursor; a legend strip
names every colour.
"""

from __future__ import annotations

import csv
import html
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QToolButton, QVBoxLayout, QWidget

from cockpit.model.keys import canonical_key
from cockpit.ui import theme
from cockpit.ui.chart_items import (
    ChartViewBox,
    CurveBundle,
    GridLines,
    Trace,
    ValueAxis,
    cosmetic_pen,
)
from cockpit.ui.export import export_widget_image
from cockpit.ui.legend import LegendEntry, LegendStrip
from cockpit.ui.live_cache import AlertRow, LiveSeriesCache
from cockpit.ui.series import SeriesBuffer
from cockpit.ui.y_range import YRange, robust_range

EDGE_SYMBOLS = {"nan": "x", "posinf": "t1", "neginf": "t"}
MAX_CLIP_LABELS = 6
# Evidence keys that say where an alert's episode began (detectors name it their own way).
EPISODE_START_KEYS = ("excursion_start_step", "since_step", "start_step", "window_start_step",
                      "healthy_step", "last_finite_step", "first_bad_step")
EPISODE_END_KEYS = ("recovered_at_step", "resumed_step")


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
    seen_key: tuple[object, ...] = ()  # (x range, width, x mode, log y, smoothing) drawn with
    tooltip: str = ""


@dataclass(frozen=True, slots=True)
class ClipMark:
    """A stretch of one run's curve beyond the shown range: where, and how far it went."""

    run_id: str
    x: float
    value: float  # in data units (not log10)
    above: bool


class TimedPlotWidget(pg.PlotWidget):
    """A PlotWidget that remembers what its repaints cost, so the frame timer can leave the
    repaint of a chart for the next tick rather than run past its budget."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
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
        self.follow_x = True  # x shows all the data and follows it as it grows
        self.fit_y = True  # y fits what is in view (False once the user moved y)
        self.full_y = False  # fit every finite value, outliers included
        self.y_range: YRange | None = None
        self.clip_marks: list[ClipMark] = []
        self._clips_drawn_for: tuple[object, ...] = ()
        self._protect: tuple[str, float, float] | None = None  # (run, x0, x1) kept in range
        self._follow_range: tuple[float, float] | None = None  # x shown while following
        self._own_range_change = False
        self._drawn_key: tuple[object, ...] = ()
        self._decor_y: tuple[float, float] = (0.0, 0.0)
        self._edges_drawn = False
        self._alerts_drawn = False
        self.frames = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.legend = LegendStrip()
        self.plot = TimedPlotWidget(viewBox=ChartViewBox(), axisItems={"left": ValueAxis("left")})
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        item = self.plot.getPlotItem()
        item.setTitle(key, size="9pt")
        item.hideButtons()
        self.view = item.getViewBox()
        self.view.disableAutoRange()
        self.grid = GridLines(item)
        self.view.addItem(self.grid, ignoreBounds=True)
        self.raw_layer = CurveBundle()  # every run's raw curve (faint while smoothing)
        self.smooth_layer = CurveBundle()  # the EMA curves, drawn over all raw ones
        self.plot.addItem(self.raw_layer)
        self.plot.addItem(self.smooth_layer)
        self.edge_markers = pg.ScatterPlotItem(size=7, pxMode=True, hoverable=False)
        self.alert_markers = pg.ScatterPlotItem(size=13, pxMode=True, hoverable=True,
                                                tip=self._alert_tip)
        self.clip_markers = pg.ScatterPlotItem(size=9, pxMode=True, hoverable=False)
        self.clip_labels: list[pg.TextItem] = []
        for marker in (self.edge_markers, self.alert_markers, self.clip_markers):
            self.view.addItem(marker, ignoreBounds=True)
        self.edge_markers.setZValue(20)
        self.clip_markers.setZValue(25)
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
        self.range_button = QToolButton(self.plot)
        self.range_button.setAutoRaise(True)
        self.range_button.setVisible(False)
        self.range_button.clicked.connect(self.toggle_full_range)
        menu = self.view.menu
        menu.addSeparator()
        menu.addAction("Export PNG…").triggered.connect(self._ask_png)
        menu.addAction("Export SVG…").triggered.connect(self._ask_svg)
        menu.addAction("Export CSV (full resolution)…").triggered.connect(self._ask_csv)
        self.view.sigXRangeChanged.connect(self._on_x_range_changed)
        self.view.sigYRangeChanged.connect(self._on_y_range_changed)
        self.view.sigResetRequested.connect(self.follow)
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
                raw = self.raw_layer.add_trace()
                smooth = self.smooth_layer.add_trace()
                curve = self.curves[run_id] = RunCurve(run_id, name, color, raw, smooth)
            curve.name = name
            if curve.color != color or curve.seen_version == -1:
                curve.color = color
                curve.seen_version = -2
            self._style(curve)
        self.curves = {run_id: self.curves[run_id] for run_id, _, _ in runs}
        self._follow_range = None
        self._update_legend()
        self._commit()

    def set_tooltips(self, tips: dict[str, str]) -> None:
        """Longer text (path, status) shown when hovering a run's legend entry."""
        for run_id, curve in self.curves.items():
            curve.tooltip = tips.get(run_id, "")
        self._update_legend()

    def _update_legend(self) -> None:
        self.legend.set_entries([LegendEntry(c.name, c.color, c.tooltip or c.name)
                                 for c in self.curves.values()])

    def set_key(self, key: str) -> None:
        """Show another metric of the same runs (the comparison's metric picker)."""
        if key == self.key:
            return
        self.key = key
        self.plot.getPlotItem().titleLabel.setText(key, color=theme.current().chart_fg,
                                                   size="9pt")
        self.alerts = []
        for curve in self.curves.values():
            curve.seen_version = -2
        self.follow()

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
        self._protect = None
        self._follow_range = None
        self.follow_x = self.fit_y = True

    def set_log_y(self, on: bool) -> None:
        if on == self.log_y:
            return
        self.log_y = on
        self._own_range_change = True
        try:
            self.plot.getPlotItem().setLogMode(x=False, y=on)
            # pyqtgraph turns auto-range back on with the log mode; left on, its next paint
            # moves the range outside our control, reads as a user's zoom (fit_y off) and
            # leaves the linear range and its clip marks over log10 values.
            self.view.disableAutoRange()
        finally:
            self._own_range_change = False
        self.fit_y = True

    def set_smoothing(self, weight: float) -> None:
        self.smoothing = weight
        for curve in self.curves.values():
            self._style(curve)
        self._commit()

    def set_alerts(self, alerts: list[AlertRow]) -> None:
        mine = [a for a in alerts if a.run_id in self.curves and _alert_key(a) == self.key]
        if mine != self.alerts:
            self.alerts = mine
            self._drawn_key = ()  # the scale may change (a critical episode began)

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
        self.range_button.setStyleSheet(
            f"QToolButton {{ color: {t.text}; background: {QColor(t.base).name()}cc; "
            f"border: 1px solid {t.dim_text}; border-radius: 3px; padding: 1px 6px; "
            f"font-size: 8pt; }}")
        self.legend.update()
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

    # ---- ranges ----------------------------------------------------------------------------
    def _data_x_bounds(self) -> tuple[float, float] | None:
        spans = [s for s in (b.x_bounds(self.x_mode) for b in
                             (self._buffer(r) for r in self.curves) if b) if s]
        if not spans:
            return None
        lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
        if hi <= lo:  # one point: give it some room
            half = 0.5 if self.x_mode == "step" else 1.0
            lo, hi = lo - half, hi + half
        return lo, hi

    def _x_window(self) -> tuple[float, float]:
        """The x range to draw: all the data while following, else the view's. While a run
        grows, the range keeps 5% of room on the right and moves only when the data reaches
        it: the pixel columns then stay put, and each frame recomputes only the columns the
        new points fall in (and nothing jitters)."""
        if self.follow_x:
            bounds = self._data_x_bounds()
            if bounds is not None:
                lo, hi = bounds
                held = self._follow_range
                if held is not None and held[0] == lo and held[1] >= hi:
                    return held
                if held is not None and held[0] == lo and hi > held[1]:  # it grew: room
                    hi = hi + 0.05 * (hi - lo)
                self._follow_range = (lo, hi)
                return lo, hi
        (x0, x1), _ = self.view.viewRange()
        return float(x0), float(x1)

    def _pixels(self, x0: float, x1: float) -> tuple[float, float]:
        """(width in device pixels of [x0, x1], how far x0 lies right of a pixel boundary):
        the chart decimates to exactly the screen's pixel columns."""
        a = self.view.mapViewToScene(QPointF(x0, 0.0)).x()
        b = self.view.mapViewToScene(QPointF(x1, 0.0)).x()
        width = b - a
        if not (math.isfinite(width) and width > 1):
            return max(float(self.view.width()), 16.0), 0.0
        return float(width), float(a - math.floor(a))

    def _set_range(self, x: tuple[float, float] | None = None,
                   y: tuple[float, float] | None = None) -> None:
        self._own_range_change = True
        try:
            if x is not None and tuple(self.view.viewRange()[0]) != x:
                self.view.setXRange(x[0], x[1], padding=0)
            if y is not None and tuple(self.view.viewRange()[1]) != y:
                self.view.setYRange(y[0], y[1], padding=0)
        finally:
            self._own_range_change = False

    def _on_x_range_changed(self, *_: object) -> None:
        if not self._own_range_change:  # the user (or code outside) moved x: stop following
            self.follow_x = False

    def _on_y_range_changed(self, *_: object) -> None:
        if not self._own_range_change:
            self.fit_y = False

    def toggle_full_range(self) -> None:
        """One click: every finite value in view (no outlier left out); again: back to fit."""
        self.full_y = not self.full_y
        self.fit_y = True
        self.refresh(force=True)

    def _cut_x(self) -> dict[str, float]:
        """Per run, where its first critical episode on this chart began: later values do not
        set the scale."""
        cuts: dict[str, float] = {}
        for alert in self.alerts:
            if alert.severity != "critical":
                continue
            start = _episode(alert)[0]
            x = self._x_of_step(alert.run_id, start) if start is not None else None
            x = x if x is not None else _alert_x(alert, self.x_mode)
            if x is not None:
                cuts[alert.run_id] = min(x, cuts.get(alert.run_id, math.inf))
        return cuts

    def _x_of_step(self, run_id: str, step: float) -> float | None:
        if self.x_mode == "step":
            return float(step)
        buffer = self._buffer(run_id)
        return buffer.x_at_step(step, self.x_mode) if buffer is not None else None

    def _drawn_in(self, x0: float, x1: float
                  ) -> Iterator[tuple[RunCurve, np.ndarray, np.ndarray, np.ndarray]]:
        """(curve, x, y, mask of x in [x0, x1]) of the raw vertices drawn for each run."""
        for curve in self.curves.values():
            if self._buffer(curve.run_id) is None:
                continue
            x, y = curve.raw.getData()
            with np.errstate(invalid="ignore"):
                yield curve, x, y, (x >= x0) & (x <= x1)

    def _fit_y(self, x0: float, x1: float) -> YRange | None:
        cuts = {} if self.full_y else self._cut_x()
        values: list[np.ndarray] = []
        protect: list[np.ndarray] = []
        for curve, x, y, inside in self._drawn_in(x0, x1):
            with np.errstate(invalid="ignore"):
                if curve.run_id in cuts:
                    values.append(y[inside & (x < cuts[curve.run_id])])
                else:
                    values.append(y[inside])
                if self._protect is not None and self._protect[0] == curve.run_id:
                    protect.append(y[inside & (x >= self._protect[1]) & (x <= self._protect[2])])
        if not values:
            return None
        got = robust_range(np.concatenate(values),
                           np.concatenate(protect) if protect else None, full=self.full_y)
        if got is None and cuts:  # every value came after a cut: show them anyway
            got = robust_range(np.concatenate([c.raw.getData()[1] for c in self.curves.values()]))
        return got

    # ---- drawing ---------------------------------------------------------------------------
    def _buffer(self, run_id: str) -> SeriesBuffer | None:
        return self.cache.series(run_id, self.key)

    @property
    def paint_cost(self) -> float:
        """Seconds a repaint of this chart takes, smoothed over the recent ones."""
        return self.plot.paint_s

    def _draw_key(self) -> tuple[object, ...]:
        x0, x1 = self._x_window()
        width, offset = self._pixels(x0, x1)
        return (x0, x1, round(width, 1), round(offset, 2), self.x_mode, self.log_y,
                self.smoothing)

    def needs_redraw(self) -> bool:
        """Whether `refresh()` has a curve to redraw (data, view or settings moved)."""
        key = self._draw_key()
        for curve in self.curves.values():
            buffer = self._buffer(curve.run_id)
            if buffer is None:
                if curve.seen_version != -1:
                    return True
            elif (curve.seen_key != key or buffer.version != curve.seen_version
                  or buffer.smoothing != curve.seen_smoothing):
                return True
        return key != self._drawn_key

    def refresh(self, force: bool = False, deadline: float | None = None) -> bool:
        """Redraw the curves whose data, view or settings changed. Returns True when
        something was drawn. With a `deadline` (perf_counter seconds) it stops between
        curves once past it; the rest are drawn on the next call (each curve remembers what
        it last drew), so one chart of many runs never holds the GUI thread for long."""
        x0, x1 = self._x_window()
        if self.follow_x and self._data_x_bounds() is not None:
            self._set_range(x=(x0, x1))
        key = self._draw_key()
        columns, offset = self._pixels(x0, x1)
        drawn = False
        complete = True
        for curve in self.curves.values():
            buffer = self._buffer(curve.run_id)
            if buffer is None:
                if curve.seen_version != -1:
                    curve.raw.clear()
                    curve.smooth.clear()
                    curve.seen_version = -1
                    drawn = True
                continue
            if not (force or curve.seen_key != key or buffer.version != curve.seen_version
                    or buffer.smoothing != curve.seen_smoothing):
                continue
            if drawn and deadline is not None and time.perf_counter() > deadline:
                complete = False
                break
            raw = buffer.decimate(x0, x1, columns, self.x_mode, offset_px=offset)
            curve.raw.set_data(raw.x, self._y(raw.y), "pairs" if raw.envelope else "finite")
            if self.smoothing > 0 and buffer.smoothing > 0:
                sm = buffer.decimate(x0, x1, columns, self.x_mode, True, offset)
                curve.smooth.set_data(sm.x, self._y(sm.y), "pairs" if sm.envelope else "finite")
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
        if (drawn and complete) or force or key != self._drawn_key:
            if self.fit_y:
                self.y_range = self._fit_y(x0, x1)
                if self.y_range is not None:
                    self._set_range(y=(self.y_range.lo, self.y_range.hi))
            self.view.updateMatrix()  # now, not in the paint (one repaint per update)
        y_range = tuple(self.view.viewRange()[1])
        if (drawn and complete) or force or key != self._drawn_key or y_range != self._decor_y:
            self._decor_y = (float(y_range[0]), float(y_range[1]))
            self._draw_clips(x0, x1)
            self._draw_edges()
            self._draw_alerts()
            self.frames += 1
        self._drawn_key = key
        return drawn

    def _y(self, y: np.ndarray) -> np.ndarray:
        """Values as the view plots them: log10 in log mode (non-positive values break the
        line, as pyqtgraph's own log mode does)."""
        if not self.log_y:
            return y
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)

    def _value(self, y: float) -> float:
        """A plotted y back in data units."""
        if not self.log_y:
            return y
        return 10.0**y if y < 308 else math.inf  # (a curve not redrawn since log y went on)

    def _draw_clips(self, x0: float, x1: float) -> None:
        """Where a curve leaves the range shown: a triangle at the edge, and the farthest value
        of that stretch as a label (the largest stretches first)."""
        _, (y0, y1) = self.view.viewRange()
        marks: list[ClipMark] = []
        gap = (x1 - x0) / max(self._pixels(x0, x1)[0], 1.0) * 12  # one stretch: gaps < 12 px
        for curve, x, y, inside in self._drawn_in(x0, x1):
            with np.errstate(invalid="ignore"):
                finite = inside & np.isfinite(y)  # +/-Inf have their own edge markers
                for above, beyond in ((True, finite & (y > y1)), (False, finite & (y < y0))):
                    idx = np.flatnonzero(beyond)
                    if len(idx) == 0:
                        continue
                    xs, ys = x[idx], y[idx]
                    breaks = np.flatnonzero(np.diff(xs) > gap) + 1
                    for part in np.split(np.arange(len(idx)), breaks):
                        j = part[np.argmax(ys[part])] if above else part[np.argmin(ys[part])]
                        marks.append(ClipMark(curve.run_id, float(xs[j]),
                                              self._value(float(ys[j])), above))
        view = (x0, x1, float(y0), float(y1), self.full_y)
        if marks == self.clip_marks and view == self._clips_drawn_for:
            return  # nothing moved: no new spots, no new labels (a frame of a live run)
        self.clip_marks = marks
        self._clips_drawn_for = view
        pad = (y1 - y0) * 0.02
        spots = []
        for m in marks:
            color = self.curves[m.run_id].color
            spots.append({"pos": (m.x, y1 - pad if m.above else y0 + pad),
                          "symbol": "t1" if m.above else "t", "brush": pg.mkBrush(color),
                          "pen": pg.mkPen(theme.current().chart_bg, width=1)})
        self.clip_markers.setData(spots)
        labelled: list[ClipMark] = []  # the farthest first, none within 70 px of another
        taken: list[tuple[bool, float]] = []
        for m in sorted(marks, key=lambda m: -abs(m.value)):
            px = self.view.mapViewToScene(QPointF(m.x, 0.0)).x()
            if all(above != m.above or abs(px - other) >= 70 for above, other in taken):
                labelled.append(m)
                taken.append((m.above, px))
            if len(labelled) == MAX_CLIP_LABELS:
                break
        while len(self.clip_labels) < len(labelled):
            label = pg.TextItem(anchor=(0.5, 0))
            label.setZValue(26)
            self.view.addItem(label, ignoreBounds=True)
            self.clip_labels.append(label)
        t = theme.current()
        for label, m in zip(self.clip_labels, labelled, strict=False):
            arrow = "\u2191" if m.above else "\u2193"
            # Centred on its x, but kept inside the chart near either side.
            where = (m.x - x0) / (x1 - x0) if x1 > x0 else 0.5
            ax = 0.0 if where < 0.08 else (1.0 if where > 0.92 else 0.5)
            label.setAnchor((ax, 0.0) if m.above else (ax, 1.0))
            label.setHtml(f"<span style='color:{self.curves[m.run_id].color}; font-size:8pt; "
                          f"background:{t.chart_bg}'>{arrow}{_fmt(m.value)}</span>")
            label.setPos(m.x, y1 - 2.5 * pad if m.above else y0 + 2.5 * pad)
            label.setVisible(True)
        for label in self.clip_labels[len(labelled):]:
            label.setVisible(False)
        clipping = bool(marks)
        self.range_button.setText("Fit range" if self.full_y else "Full range")
        self.range_button.setToolTip(
            "Back to the range that leaves outliers out" if self.full_y else
            "Values lie outside this range (marked at the edge): show every finite value")
        self.range_button.setVisible(clipping or self.full_y)
        self._place_range_button()

    def _place_range_button(self) -> None:
        self.range_button.adjustSize()
        self.range_button.move(self.plot.width() - self.range_button.width() - 8, 4)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._place_range_button()

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

    def focus(self, x: float, alert: AlertRow | None = None) -> None:
        """Fit x and y to an alert's episode (where it began to where it ended or the alert
        fired, with context on both sides) and mark the alert's x."""
        start_x, end_x = x, x
        if alert is not None:
            start, end = _episode(alert)
            for step, is_start in ((start, True), (end, False)):
                got = self._x_of_step(alert.run_id, step) if step is not None else None
                if got is not None and is_start:
                    start_x = min(start_x, got)
                elif got is not None:
                    end_x = max(end_x, got)
        bounds = self._data_x_bounds() or (x - 50, x + 50)
        least = max((bounds[1] - bounds[0]) * 0.04, 20.0 if self.x_mode == "step" else 30.0)
        pad = max((end_x - start_x) * 0.6, least)
        self._protect = (alert.run_id, start_x, end_x) if alert is not None else None
        self.follow_x = False
        self.fit_y = True
        self._set_range(x=(start_x - pad, end_x + pad))
        self.focus_line.setPos(x)
        self.focus_line.setVisible(True)
        self.refresh(force=True)

    def follow(self) -> None:
        """Back to showing everything as it grows, y fitted to it."""
        self.focus_line.setVisible(False)
        self._protect = None
        self._follow_range = None
        self.follow_x = self.fit_y = True
        self.refresh(force=True)  # all the data, not the zoomed-in slice

    # ---- export ----------------------------------------------------------------------------
    # Bound methods, not lambdas: the menu outlives nothing it does not own.
    def _ask_png(self) -> None:
        self.exportRequested.emit("png")

    def _ask_svg(self) -> None:
        self.exportRequested.emit("svg")

    def _ask_csv(self) -> None:
        self.exportRequested.emit("csv")

    def export_image(self, path: Path) -> None:
        """PNG or SVG (by suffix) of the chart as shown, legend included."""
        export_widget_image(self, path, f"Cockpit: {self.key}")

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


def _episode(alert: AlertRow) -> tuple[float | None, float | None]:
    """(first step, last step) of the episode an alert reports, from its evidence."""
    ev = alert.evidence or {}
    step = alert.step
    starts = [float(ev[k]) for k in EPISODE_START_KEYS if isinstance(ev.get(k), int | float)]
    ends = [float(ev[k]) for k in EPISODE_END_KEYS if isinstance(ev.get(k), int | float)]
    if step is not None:
        starts = [s for s in starts if s <= step] or [float(step)]
        ends = [e for e in ends if e >= step] or [float(step)]
    return (min(starts) if starts else None), (max(ends) if ends else None)


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

