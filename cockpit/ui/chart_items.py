"""Lean pyqtgraph items for live charts: the curves of all runs as one item, and a grid
drawn in device pixels.

`PlotDataItem` re-checks, re-downsamples and re-clips on every `setData` and on every view
change, and its bounds cost an O(n) scan each time the view auto-ranges. Our vertices come
already decimated from the min/max pyramid (about two per pixel column), so a `Trace` only
turns them into one QPainterPath and knows its bounds from the moment it gets them.
pyqtgraph's axis grid draws three tick levels through a QPicture; with the raster engine that
cost 8-10 ms per chart frame, about half of a frame. `GridLines` draws the two coarser levels
as pixel-aligned opaque lines.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen

from cockpit.ui import theme

theme.pyqtgraph_defaults()


def cosmetic_pen(color: QColor | str, width: float = 1.0) -> QPen:
    pen = QPen(QColor(color))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    return pen


class Trace:
    """One run's polyline inside a `CurveBundle`: vertices in view coordinates (NaN breaks
    the line), a pen and a visibility flag. Not a QGraphicsItem: the bundle draws it."""

    def __init__(self, bundle: CurveBundle) -> None:
        self._bundle = bundle
        self.xData: np.ndarray = _EMPTY
        self.yData: np.ndarray = _EMPTY
        self.opts: dict[str, QPen] = {"pen": cosmetic_pen("#ffffff")}
        self.path: QPainterPath | None = None
        self.bounds: tuple[float, float, float, float] | None = None  # x0, x1, y0, y1
        self.visible = True

    def set_data(self, x: np.ndarray, y: np.ndarray) -> None:
        self.xData = np.asarray(x, dtype=np.float64)
        self.yData = np.asarray(y, dtype=np.float64)
        self.path = None
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
    decimated from the series' min/max pyramid, so they are drawn as they are.
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
                t.path = pg.arrayToQPath(t.xData, t.yData, connect="finite")
            p.setPen(t.opts["pen"])
            p.drawPath(t.path)


_EMPTY = np.empty(0)


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
