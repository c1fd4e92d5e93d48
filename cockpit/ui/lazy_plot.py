"""A slot in a layout that becomes a pyqtgraph PlotWidget the first time it is needed.

Panels that plot only on request (SQL result column, run comparison) would otherwise import
pyqtgraph and build a PlotWidget (about 70 ms each) before the first window can show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QVBoxLayout, QWidget

if TYPE_CHECKING:
    import pyqtgraph as pg


class LazyPlotHost(QWidget):
    def __init__(self, setup: Callable[[pg.PlotWidget], None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._setup = setup
        self._plot: pg.PlotWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def created(self) -> bool:
        return self._plot is not None

    @property
    def plot(self) -> pg.PlotWidget:
        if self._plot is None:
            import pyqtgraph as pg

            from cockpit.ui import theme

            theme.pyqtgraph_defaults()
            self._plot = pg.PlotWidget()
            self._layout.addWidget(self._plot)
            if self._setup is not None:
                self._setup(self._plot)
        return self._plot
