"""The histograms panel: weights and gradients of a run over steps, as percentile bands
(TensorBoard's "distributions") or a density heat map (its "histograms", W&B's view), with
PNG/SVG/CSV export. Rows are read off the GUI thread; pyqtgraph loads on first use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.export import export_widget_image, write_csv
from cockpit.ui.histograms import (
    PERCENTILES,
    HistogramSeries,
    bands,
    density_grid,
    histogram_keys,
    load_series,
)
from cockpit.ui.lazy_plot import LazyPlotHost
from cockpit.ui.sql_runner import QueryThread

if TYPE_CHECKING:
    import pyqtgraph as pg

MODES = ("Distribution (percentile bands)", "Histograms (density over steps)")


class _Bridge(QObject):
    listed = Signal(object, object)
    loaded = Signal(object, object)


class HistogramsPanel(QWidget):
    loadedSeries = Signal()

    def __init__(self, cursor_factory: object, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("histogramsPanel")
        self.runner = QueryThread(cursor_factory)  # type: ignore[arg-type]
        self.bridge = _Bridge(self)
        self.bridge.listed.connect(self._on_listed)
        self.bridge.loaded.connect(self._on_loaded)
        self.names: dict[str, str] = {}
        self.series: HistogramSeries | None = None
        self._items: list[object] = []
        self.run = QComboBox()
        self.run.setMinimumContentsLength(18)
        self.key = QComboBox()
        self.key.setMinimumContentsLength(18)
        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.export_button = QPushButton("Export…")
        self.status = QLabel("No histograms stored yet (TensorBoard add_histogram, the torch "
                             "integration).")
        bar = QHBoxLayout()
        for w in (QLabel("Run:"), self.run, QLabel("Tensor:"), self.key, self.mode,
                  self.export_button):
            bar.addWidget(w)
        bar.addWidget(self.status, 1)
        self.plot_host = LazyPlotHost()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.plot_host, 1)
        self._keys: dict[str, list[str]] = {}
        self.run.currentIndexChanged.connect(self._on_run)
        self.key.currentTextChanged.connect(lambda _: self.load())
        self.mode.currentIndexChanged.connect(lambda _: self.draw())
        self.export_button.clicked.connect(self._export_dialog)

    @property
    def plot(self) -> pg.PlotWidget:
        return self.plot_host.plot

    def set_run_names(self, names: dict[str, str]) -> None:
        self.names = names

    # ---- loading -----------------------------------------------------------------------------
    def refresh(self) -> bool:
        """List the stored (run, tensor) series again."""
        return self.runner.submit(histogram_keys, self.bridge.listed.emit)

    def _on_listed(self, rows: list[tuple[str, str, int]] | None, error: str | None) -> None:
        if error or rows is None:
            self.status.setText(error or "could not list histograms")
            return
        keys: dict[str, list[str]] = {}
        for run_id, key, _ in rows:
            keys.setdefault(run_id, []).append(key)
        if keys == self._keys:
            return
        self._keys = keys
        current = self.run.currentData()
        self.run.blockSignals(True)
        self.run.clear()
        for run_id in keys:
            self.run.addItem(self.names.get(run_id, run_id), run_id)
        index = self.run.findData(current)
        self.run.setCurrentIndex(max(index, 0))
        self.run.blockSignals(False)
        self.status.setText(f"{len(rows)} tensors in {len(keys)} runs" if rows else
                            self.status.text())
        self._on_run()

    def _on_run(self, *_: object) -> None:
        keys = self._keys.get(self.run.currentData(), [])
        current = self.key.currentText()
        self.key.blockSignals(True)
        self.key.clear()
        self.key.addItems(keys)
        if current in keys:
            self.key.setCurrentText(current)
        self.key.blockSignals(False)
        self.load()

    def load(self) -> bool:
        run_id, key = self.run.currentData(), self.key.currentText()
        if not run_id or not key:
            return False
        started = self.runner.submit(lambda cur: load_series(cur, run_id, key),
                                     self.bridge.loaded.emit)
        if not started:  # the listing is still finishing on the reader thread: ask again
            QTimer.singleShot(50, self.load)
        return started

    def _on_loaded(self, series: HistogramSeries | None, error: str | None) -> None:
        if error or series is None:
            self.status.setText(error or "could not read the histograms")
            return
        self.series = series
        self.status.setText(f"{len(series.items)} steps")
        self.draw()
        self.loadedSeries.emit()

    # ---- drawing -----------------------------------------------------------------------------
    def draw(self) -> None:
        import pyqtgraph as pg

        series = self.series
        if series is None:
            return
        plot = self.plot
        plot.clear()
        t = theme.current()
        plot.setBackground(t.chart_bg)
        plot.setTitle(f"{self.names.get(series.run_id, series.run_id)} · {series.key}",
                      color=t.chart_fg, size="9pt")
        plot.setLabel("bottom", "step")
        steps = series.steps
        if self.mode.currentIndex() == 0:
            values = bands(series)
            color = QColor(t.accent)
            n = len(PERCENTILES)
            for i in range(n // 2):  # outer bands faint, inner ones stronger
                edge = QColor(color)
                edge.setAlpha(60)
                lo = pg.PlotCurveItem(steps, values[:, i], pen=pg.mkPen(edge))
                hi = pg.PlotCurveItem(steps, values[:, n - 1 - i], pen=pg.mkPen(edge))
                fill = QColor(color)
                fill.setAlpha(40 + 35 * i)
                plot.addItem(lo)  # the band's edges: drawn faintly, and they set the range
                plot.addItem(hi)
                plot.addItem(pg.FillBetweenItem(lo, hi, brush=fill))
            plot.plot(steps, values[:, n // 2], pen=pg.mkPen(color, width=1.5), name="median")
        else:
            grid, lo, hi = density_grid(series)
            image = pg.ImageItem(grid)
            image.setColorMap(pg.colormap.get("viridis"))
            span = steps[-1] - steps[0] if len(steps) > 1 else 1.0
            image.setRect(float(steps[0]) if len(steps) else 0.0, lo, span or 1.0, hi - lo)
            plot.addItem(image)
        plot.getPlotItem().autoRange()

    # ---- export --------------------------------------------------------------------------------
    def _export_dialog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export histograms", "histograms.png",
                                              "PNG (*.png);;SVG (*.svg);;CSV (*.csv)")
        if name:
            self.export(Path(name))

    def export(self, path: Path) -> int:
        """PNG/SVG of the plot, or CSV of the percentiles per step; returns rows written."""
        if path.suffix.lower() != ".csv":
            export_widget_image(self.plot_host, path, "Cockpit histograms")
            return 0
        series = self.series
        if series is None:
            return write_csv(path, ["run", "key", "step"], [])
        values = bands(series)
        header = ["run", "key", "step"] + [f"p{p:g}" for p in PERCENTILES]
        name = self.names.get(series.run_id, series.run_id)
        return write_csv(path, header, ([name, series.key, h.step, *map(float, row)]
                                        for h, row in zip(series.items, values, strict=True)))

    def close_runner(self) -> None:
        self.runner.close()



