"""Export what a panel shows: an image of a widget (PNG or SVG by suffix) and rows as CSV.

The charts, the histogram view and the hyper-parameter view all export the same way; the
SVG is painted through QSvgGenerator (pyqtgraph's SVG exporter cannot parse the paths Qt
6.11 writes), so it holds vector curves and text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from PySide6.QtWidgets import QWidget


def export_widget_image(widget: QWidget, path: Path, title: str) -> None:
    if path.suffix.lower() == ".svg":
        from PySide6.QtCore import QPoint, QRect, QSize
        from PySide6.QtGui import QPainter
        from PySide6.QtSvg import QSvgGenerator

        size = widget.size()
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(QSize(size.width(), size.height()))
        gen.setViewBox(QRect(0, 0, size.width(), size.height()))
        gen.setTitle(title)
        painter = QPainter(gen)
        try:
            widget.render(painter, QPoint(0, 0))
        finally:
            painter.end()
        return
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write {path}")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Rows as CSV; floats keep full precision (repr), NaN and Inf as Python writes them."""
    n = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow([_cell(v) for v in row])
            n += 1
    return n


def _cell(v: object) -> object:
    if isinstance(v, float):
        return repr(v)  # full precision; nan, inf and -inf as Python reads them back
    return "" if v is None else v
