"""Lean pyqtgraph items for live charts: the curves of all runs as one item, a grid drawn in
device pixels, a value axis whose log ticks stay readable, and a view box that zooms x with
the wheel.

`PlotDataItem` re-checks, re-downsamples and re-clips on every `setData` and on every view
change, and its bounds cost an O(n) scan each time the view auto-ranges. Our vertices come
already decimated per pixel column (raw points, or each column's min and max as a vertical
segment), so a `Trace` only turns them into one QPainterPath and knows its bounds from the
moment it gets them. A lone finite point between NaNs, or a column whose min equals its max,
would draw nothing as a path: those vertices are drawn as pixels.
pyqtgraph's axis grid draws three tick levels through a QPicture; with the raster engine that
cost 8-10 ms per chart frame, about half of a frame. `GridLines` draws the two coarser levels
as pixel-aligned opaque lines.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph import functions as fn
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF

from cockpit.ui import theme

theme.pyqtgraph_defaults()


def cosmetic_pen(color: QColor | str, width: float = 1.0) -> QPen:
    pen = QPen(QColor(color))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    return pen


class Trace:
    """One run's vertices inside a `CurveBundle`, in view coordinates: a polyline (NaN breaks
    it) or, `connect="pairs"`, one segment per pair (a pixel column's min and max); a pen and
    a visibility flag. Not a QGraphicsItem: the bundle draws it."""

    def __init__(self, bundle: CurveBundle) -> None:
        self._bundle = bundle
        self.xData: np.ndarray = _EMPTY
        self.yData: np.ndarray = _EMPTY
        self.connect = "finite"
        self.opts: dict[str, QPen] = {"pen": cosmetic_pen("#ffffff")}
        self.path: QPainterPath | None = None
        self.points: QPolygonF | None = None
        self.bounds: tuple[float, float, float, float] | None = None  # x0, x1, y0, y1
        self.visible = True

    def set_data(self, x: np.ndarray, y: np.ndarray, connect: str = "finite") -> None:
        self.xData = np.asarray(x, dtype=np.float64)
        self.yData = np.asarray(y, dtype=np.float64)
        self.connect = connect
        self.path = None
        self.points = None
        self.bounds = _finite_bounds(self.xData, self.yData)
        self._bundle.touch()

    def clear(self) -> None:
        self.set_data(_EMPTY, _EMPTY)

    def getData(self) -> tuple[np.ndarray, np.ndarray]:  # noqa: N802 (pyqtgraph's spelling)
        return self.xData, self.yData

    def setPen(self, pen: QPen) -> None:  # noqa: N802
        if pen != self.opts["pen"]:
            self.opts["pen"] = QPen(pen)
            self._bundle.update()

    def setVisible(self, visible: bool) -> None:  # noqa: N802
        if visible != self.visible:
            self.visible = visible
            self._bundle.touch()

    def isVisible(self) -> bool:  # noqa: N802
        return self.visible and self._bundle.isVisible()


class CurveBundle(pg.GraphicsObject):
    """All runs' curves of one chart layer as one graphics item.

    With one item per run, every repaint and every auto-range crosses from C++ into Python
    once per curve per question (bounds, shape, paint), and each crossing waits for the GIL
    that the ingest threads hold; one item for 20 curves makes it one crossing. Vertices come
    decimated per pixel column (raw points or min/max segments), so they are drawn as they are.
    """

    def __init__(self) -> None:
        super().__init__()
        self.traces: list[Trace] = []
        self._bounds: tuple[float, float, float, float] | None = None
        self._dirty = False

    def add_trace(self) -> Trace:
        trace = Trace(self)
        self.traces.append(trace)
        return trace

    def remove_trace(self, trace: Trace) -> None:
        if trace in self.traces:
            self.traces.remove(trace)
            self.touch()

    def touch(self) -> None:
        """A trace changed: new bounds, a repaint, and the view's auto-range told (once per
        batch of changes: the chart calls `commit()` after drawing every curve)."""
        self._dirty = True

    def commit(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        bounds = [t.bounds for t in self.traces if t.visible and t.bounds is not None]
        self._bounds = (min(b[0] for b in bounds), max(b[1] for b in bounds),
                        min(b[2] for b in bounds), max(b[3] for b in bounds)) if bounds else None
        self.prepareGeometryChange()
        self.informViewBoundsChanged()
        self.update()

    # ---- what the ViewBox asks ------------------------------------------------------------
    def dataBounds(  # noqa: N802 (pyqtgraph's names)
        self,
        ax: int,
        frac: float = 1.0,
        orthoRange: tuple[float, float] | None = None,  # noqa: N803
    ) -> tuple[float | None, float | None]:
        if self._bounds is None:
            return (None, None)
        if orthoRange is not None:  # auto-range of the visible part only: rare, exact
            lo, hi = math.inf, -math.inf
            for t in self.traces:
                if not t.visible or t.bounds is None:
                    continue
                d, other = (t.xData, t.yData) if ax == 0 else (t.yData, t.xData)
                with np.errstate(invalid="ignore"):
                    mask = (other >= orthoRange[0]) & (other <= orthoRange[1]) & np.isfinite(d)
                if mask.any():
                    lo, hi = min(lo, float(d[mask].min())), max(hi, float(d[mask].max()))
            return (lo, hi) if lo <= hi else (None, None)
        x0, x1, y0, y1 = self._bounds
        return (x0, x1) if ax == 0 else (y0, y1)

    def pixelPadding(self) -> float:  # noqa: N802
        return 0.0

    def boundingRect(self) -> QRectF:  # noqa: N802
        if self._bounds is None:
            return QRectF()
        x0, x1, y0, y1 = self._bounds
        return QRectF(x0, y0, x1 - x0, y1 - y0)

    def paint(self, p: QPainter, *args: object) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for t in self.traces:
            if not t.visible or len(t.xData) == 0:
                continue
            if t.path is None:
                t.path = pg.arrayToQPath(t.xData, t.yData, connect=t.connect)
                t.points = _points(t.xData, t.yData, t.connect)
            p.setPen(t.opts["pen"])
            p.drawPath(t.path)
            if t.points is not None:
                p.drawPoints(t.points)


_EMPTY = np.empty(0)


def _points(x: np.ndarray, y: np.ndarray, connect: str) -> QPolygonF | None:
    """The vertices a path would not show, as a polygon for `drawPoints` (filled straight
    from numpy): a (min, max) pair with min == max, or a finite point whose neighbours
    are both NaN."""
    finite = np.isfinite(x) & np.isfinite(y)
    if connect == "pairs":
        flat = np.repeat(y[0::2] == y[1::2], 2)[: len(y)]
        keep = finite & flat
        keep[1::2] = False  # one of the pair is enough
    else:
        alone = np.ones(len(y), dtype=bool)
        alone[1:] &= ~finite[:-1]
        alone[:-1] &= ~finite[1:]
        keep = finite & alone
    n = int(keep.sum())
    if n == 0:
        return None
    poly = fn.create_qpolygonf(n)
    arr = fn.ndarray_from_qpolygonf(poly)
    arr[:, 0] = x[keep]
    arr[:, 1] = y[keep]
    return poly


class GridLines(pg.GraphicsObject):
    """Grid lines at the axes' major and minor ticks, drawn in device pixels under the curves.

    The colour is the grid colour already blended onto the chart background: opaque lines
    are filled without per-pixel blending, and look the same under the curves.
    """

    LEVELS = 2  # major and minor ticks; pyqtgraph's third level is what made its grid slow

    def __init__(self, plot_item: pg.PlotItem) -> None:
        super().__init__()
        self._plot_item = plot_item
        self._pens: tuple[QPen, QPen] = (cosmetic_pen("#303030"), cosmetic_pen("#202020"))
        self.setZValue(-100)

    def set_colors(self, background: str, foreground: str, alpha: float) -> None:
        bg, fg = QColor(background), QColor(foreground)
        self._pens = (cosmetic_pen(_mix(bg, fg, alpha)), cosmetic_pen(_mix(bg, fg, alpha * 0.5)))
        self.update()

    def viewRangeChanged(self) -> None:  # noqa: N802
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        view = self.getViewBox()
        return view.viewRect() if view is not None else QRectF()

    def paint(self, p: QPainter, *args: object) -> None:
        view = self.getViewBox()
        if view is None:
            return
        (x0, x1), (y0, y1) = view.viewRange()
        size = view.size()
        transform = p.transform()
        top_left = transform.map(QPointF(x0, y1))
        bottom_right = transform.map(QPointF(x1, y0))
        left, top = top_left.x(), top_left.y()
        right, bottom = bottom_right.x(), bottom_right.y()
        lines: list[list[QLineF]] = [[], []]
        taken: set[tuple[str, int]] = set()
        for axis_name, lo, hi, length in (("bottom", x0, x1, size.width()),
                                          ("left", y0, y1, size.height())):
            axis = self._plot_item.getAxis(axis_name)
            try:
                levels = axis.tickValues(lo, hi, length)[: self.LEVELS]
            except (ValueError, OverflowError, ZeroDivisionError):
                continue
            for level, (_, values) in enumerate(levels):
                for v in values:
                    if not math.isfinite(v):
                        continue
                    if axis_name == "bottom":
                        px = round(transform.map(QPointF(v, y0)).x())
                        if ("x", px) not in taken and left <= px <= right:
                            taken.add(("x", px))
                            lines[level].append(QLineF(px, top, px, bottom))
                    else:
                        py = round(transform.map(QPointF(x0, v)).y())
                        if ("y", py) not in taken and top <= py <= bottom:
                            taken.add(("y", py))
                            lines[level].append(QLineF(left, py, right, py))
        p.save()
        p.resetTransform()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for pen, level_lines in zip(self._pens, lines, strict=True):
            p.setPen(pen)
            for line in level_lines:
                p.drawLine(line)
        p.restore()


def _mix(bg: QColor, fg: QColor, alpha: float) -> QColor:
    a = min(max(alpha, 0.0), 1.0)
    return QColor(round(bg.red() + (fg.red() - bg.red()) * a),
                  round(bg.green() + (fg.green() - bg.green()) * a),
                  round(bg.blue() + (fg.blue() - bg.blue()) * a))


def _finite_bounds(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float] | None:
    if len(x) == 0:
        return None
    fx = x[np.isfinite(x)]
    fy = y[np.isfinite(y)]
    if len(fx) == 0 or len(fy) == 0:
        return None
    return float(fx.min()), float(fx.max()), float(fy.min()), float(fy.max())


class ValueAxis(pg.AxisItem):
    """The y axis. In log mode pyqtgraph labels every minor tick (2..9 of each decade), and
    the labels run into each other; here only decades (or, within a decade or so, 1-2-5
    steps) are labelled, spaced to fit the axis's height, with unlabelled minor ticks."""

    MIN_LABEL_PX = 28.0

    def setLogMode(self, *args: object, **kwargs: object) -> None:  # noqa: N802
        super().setLogMode(*args, **kwargs)
        self.setStyle(maxTextLevel=0 if self.logMode else 2)

    def logTickValues(  # noqa: N802
        self, minVal: float, maxVal: float, size: float, stdTicks: object  # noqa: N803
    ) -> list[tuple[float, list[float]]]:
        return log_ticks(minVal, maxVal, size, self.MIN_LABEL_PX)

    def logTickStrings(  # noqa: N802
        self, values: list[float], scale: float, spacing: float
    ) -> list[str]:
        return [format_power(v) for v in values]


def log_ticks(lo: float, hi: float, size_px: float, min_px: float = 28.0
              ) -> list[tuple[float, list[float]]]:
    """(spacing, values) levels for a log10 axis over [lo, hi] drawn `size_px` long: labelled
    ticks at least `min_px` apart, then unlabelled minor ticks."""
    lo, hi = sorted((lo, hi))
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo <= 0 or size_px <= 0:
        return []
    per_decade = size_px / (hi - lo)
    if per_decade * 0.3 < min_px:  # several decades: label 1, 10, 100 (or every k-th)
        step = next((k for k in (1, 2, 3, 5, 10, 20, 50, 100) if k * per_decade >= min_px), 200)
        first = math.ceil(lo / step) * step
        major = [float(v) for v in np.arange(first, hi + 1e-9, step)]
        if step > 1:
            minor = [float(v) for v in range(math.ceil(lo), math.floor(hi) + 1) if v % step]
        elif per_decade >= 4 * min_px / 3:
            minor = [d + math.log10(m) for d in range(math.floor(lo), math.ceil(hi))
                     for m in range(2, 10) if lo <= d + math.log10(m) <= hi]
        else:
            minor = []
        return [(float(step), major), (0.0, minor)]
    # Within a decade or two: nice steps of the values themselves, labelled where they fit.
    for mantissas in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        candidates = [d + math.log10(m) for d in range(math.floor(lo) - 1, math.ceil(hi) + 1)
                      for m in mantissas]
        inside = [v for v in candidates if lo <= v <= hi]
        gaps = np.diff(inside) * per_decade if len(inside) > 1 else np.array([np.inf])
        if gaps.min() >= min_px and len(inside) >= 3 or mantissas[-1] == 9:
            break
    labelled: list[float] = []
    for v in inside:  # keep those that do not run into the previous label
        if not labelled or (v - labelled[-1]) * per_decade >= min_px:
            labelled.append(float(v))
    rest = [float(v) for v in inside if v not in labelled]
    return [(0.0, labelled), (0.0, rest)]


_SUPERSCRIPT = str.maketrans("-0123456789",
                             "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def format_power(v: float) -> str:
    """10**v for an axis label: plain between 0.001 and 10000, else m·10ⁿ."""
    value = 10.0**v
    if 1e-3 <= value < 1e4:
        return f"{value:.4g}"
    exponent = math.floor(v + 1e-9)
    mantissa = 10.0 ** (v - exponent)
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    return power if abs(mantissa - 1) < 1e-6 else f"{mantissa:.2g}\u00b7{power}"


class ChartViewBox(pg.ViewBox):
    """The wheel zooms x only (the y range follows the data in view); over the y axis it
    zooms y. A double click asks the chart to show everything again."""

    sigResetRequested = Signal()

    def wheelEvent(self, ev: object, axis: int | None = None) -> None:  # noqa: N802
        if axis == 1:
            enabled = self.state["mouseEnabled"][:]
            self.state["mouseEnabled"] = [False, True]
            try:
                super().wheelEvent(ev, axis)
            finally:
                self.state["mouseEnabled"] = enabled
            return
        enabled = self.state["mouseEnabled"][:]
        self.state["mouseEnabled"] = [enabled[0], False]
        try:
            super().wheelEvent(ev, axis)
        finally:
            self.state["mouseEnabled"] = enabled

    def mouseClickEvent(self, ev: object) -> None:  # noqa: N802
        double = getattr(ev, "double", lambda: False)()
        if double and ev.button() == Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            ev.accept()  # type: ignore[attr-defined]
            self.sigResetRequested.emit()
            return
        super().mouseClickEvent(ev)
