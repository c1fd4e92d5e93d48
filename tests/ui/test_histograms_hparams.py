"""Histograms over steps (percentile bands, density) from the `histograms` table, and the
hyper-parameter view (table, sort, filter, parallel coordinates, scatter), with export."""

from __future__ import annotations

import csv
import gc
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication

from cockpit.ui import theme
from cockpit.ui.histograms import density_grid, from_row, percentiles
from cockpit.ui.histograms_panel import HistogramsPanel
from cockpit.ui.hparams_panel import HParamsPanel
from tests.ui.conftest import History


def _weights_over_training(steps: int = 12) -> list[np.ndarray]:
    """A real layer's weights as SGD moves them (torch; numpy if torch is absent)."""
    try:
        import torch
    except ImportError:
        rng = np.random.default_rng(0)
        return [rng.normal(0, 0.1 + 0.02 * s, 4096) for s in range(steps)]
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 64)
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    x = torch.randn(256, 64)
    out = []
    for _ in range(steps):
        loss = (layer(x) ** 2).mean() - 0.1 * layer.weight.abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(layer.weight.detach().numpy().ravel().copy())
    return out


def _store_histograms(history: History, run_id: str, samples: list[np.ndarray]) -> None:
    """As TensorBoard's HistogramProto stores them: right bucket edges, counts, min, max."""
    for step, w in enumerate(samples):
        counts, edges = np.histogram(w, bins=30)
        history.con.execute(
            "INSERT INTO histograms VALUES (?, 'layer/weight', ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "'events.out.tfevents.1')",
            [run_id, step * 10, 1.7e9 + step, float(w.min()), float(w.max()), float(len(w)),
             float(w.sum()), float((w**2).sum()), edges[1:].tolist(),
             counts.astype(float).tolist()])


def test_percentiles_from_buckets_match_the_raw_samples() -> None:
    for w in _weights_over_training(4):
        counts, edges = np.histogram(w, bins=30)
        h = from_row(0, float(w.min()), float(w.max()), edges[1:].tolist(), counts.tolist())
        got = percentiles(h)
        want = np.percentile(w, [0, 6.68, 15.87, 30.85, 50, 69.15, 84.13, 93.32, 100])
        width = edges[1] - edges[0]
        assert np.all(np.abs(got - want) <= width)  # within one bucket
        assert got[0] == pytest.approx(w.min()) and got[-1] == pytest.approx(w.max())
        assert np.all(np.diff(got) >= 0)


def test_empty_buckets_and_missing_rows_are_handled() -> None:
    h = from_row(3, 0.0, 10.0, [1.0, 2.0, 9.0, 10.0], [5.0, 0.0, 0.0, 5.0])
    got = percentiles(h, (0.0, 50.0, 100.0))
    assert got[0] == 0.0 and got[-1] == 10.0 and 1.0 <= got[1] <= 9.0
    empty = from_row(4, float("nan"), float("nan"), None, None)
    assert np.isnan(percentiles(empty)).all()


@pytest.fixture
def panels(qtbot, history: History):
    theme.apply(theme.DARK)
    made: list = []
    yield history, made
    for panel in made:
        panel.close_runner()
        panel.close()
        panel.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def test_histograms_panel_draws_bands_and_density_and_exports(panels, qtbot,
                                                             tmp_path: Path) -> None:
    history, made = panels
    history.run("a", "mlp-sgd")
    samples = _weights_over_training()
    _store_histograms(history, "a", samples)
    panel = HistogramsPanel(history.cursor)
    made.append(panel)
    panel.set_run_names({"a": "mlp-sgd"})
    panel.resize(900, 400)
    panel.show()
    with qtbot.waitSignal(panel.loadedSeries, timeout=10_000):
        assert panel.refresh()
    series = panel.series
    assert series is not None and len(series.items) == len(samples)
    assert [h.step for h in series.items] == [10 * i for i in range(len(samples))]
    fills = [i for i in panel.plot.getPlotItem().items if type(i).__name__ == "FillBetweenItem"]
    assert len(fills) == 4  # four nested bands around the median
    QApplication.processEvents()
    _, (y0, y1) = panel.plot.getPlotItem().getViewBox().viewRange()
    assert y0 <= min(w.min() for w in samples) and y1 >= max(w.max() for w in samples)
    grid, lo, hi = density_grid(series)
    assert grid.shape == (len(samples), 120) and np.allclose(grid.max(axis=1), 1.0)
    assert lo == pytest.approx(min(w.min() for w in samples))
    panel.mode.setCurrentIndex(1)
    images = [i for i in panel.plot.getPlotItem().items if type(i).__name__ == "ImageItem"]
    assert len(images) == 1
    n = panel.export(tmp_path / "h.csv")
    rows = list(csv.reader((tmp_path / "h.csv").open()))
    assert n == len(samples) and rows[0][:4] == ["run", "key", "step", "p0"]
    assert float(rows[1][7]) == pytest.approx(np.median(samples[0]), abs=0.05)
    for name in ("h.png", "h.svg"):
        panel.export(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000


def _sweep(history: History) -> None:
    steps = np.arange(200)
    configs = [("r1", "adam-lr3e-4", "0.0003", "adam", 0.8), ("r2", "adam-lr1e-3", "0.001",
                                                             "adam", 0.6),
               ("r3", "sgd-lr1e-1", "0.1", "sgd", 1.4), ("r4", "sgd-lr3e-2", "0.03", "sgd", 1.9)]
    for run_id, name, lr, opt, final in configs:
        history.run(run_id, name, "finished")
        history.metrics(run_id, "loss", steps, final + 3.0 * np.exp(-steps / 30))
        for key, value in (("lr", lr), ("optimizer", opt), ("batch_size", "64")):
            history.con.execute("INSERT INTO run_params VALUES (?, ?, ?, 'config.json')",
                                [run_id, key, value])


def test_hparams_table_sorts_filters_and_plots(panels, qtbot, tmp_path: Path) -> None:
    history, made = panels
    _sweep(history)
    panel = HParamsPanel(history.cursor)
    made.append(panel)
    panel.resize(1200, 420)
    panel.show()
    with qtbot.waitSignal(panel.loadedTable, timeout=10_000):
        assert panel.refresh()
    table = panel.table
    assert table is not None and table.params[:2] == ["lr", "optimizer"]  # differing first
    history.run("r5", "diverged-no-params", "failed")
    table.run_ids.append("r5")
    table.final["r5"] = 4e12  # one outlier: the metric axis goes log, not squashed
    pos, ticks = table.axis("final")
    assert "(log)" in ticks[1][1] and 0.0 < sorted(pos)[2] < 0.9
    pos, ticks = table.axis("final", ["r1", "r2", "r3", "r4"])  # the plotted runs only
    assert "(log)" not in ticks[1][1] and float(ticks[-1][1]) == pytest.approx(1.9, abs=0.01)
    assert set(table.swept(table.run_ids)) == {"r1", "r2", "r3", "r4"}
    table.run_ids.pop()
    del table.final["r5"]
    header = [panel.model.horizontalHeaderItem(c).text() for c in range(panel.model.columnCount())]
    assert header == ["Run", "final loss", "best loss", "lr", "optimizer", "batch_size"]
    # Sorted by final loss: the best run first.
    assert [panel.proxy.index(r, 0).data() for r in range(4)] == [
        "adam-lr1e-3", "adam-lr3e-4", "sgd-lr1e-1", "sgd-lr3e-2"]
    panel.view.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # lr, as numbers
    assert [panel.proxy.index(r, 3).data() for r in range(4)] == ["0.1", "0.03", "0.001",
                                                                  "0.0003"]
    plot = panel.draw_parallel()
    curves = plot.getPlotItem().listDataItems()
    assert len(curves) == 4
    xs, ys = curves[0].getData()
    assert list(xs) == [0, 1, 2, 3] and np.nanmin(ys) >= 0 and np.nanmax(ys) <= 1
    panel.filter.setText("adam")
    assert panel.shown_runs() == ["r2", "r1"] or set(panel.shown_runs()) == {"r1", "r2"}
    assert len(panel.parallel_host.plot.getPlotItem().listDataItems()) == 2
    panel.tabs.setCurrentIndex(1)
    panel.scatter_param.setCurrentText("lr")
    scatter = panel.draw_scatter()
    assert scatter is not None
    spots = next(i for i in scatter.getPlotItem().items if type(i).__name__ == "ScatterPlotItem")
    assert sorted(spots.data["x"]) == [0.0003, 0.001]  # two adam runs: within a decade, linear
    n = panel.export(tmp_path / "hp.csv")
    rows = list(csv.reader((tmp_path / "hp.csv").open()))
    assert n == 2 and rows[0] == ["run", "final_loss", "best_loss", "lr", "optimizer",
                                  "batch_size"]
    assert {r[0] for r in rows[1:]} == {"adam-lr3e-4", "adam-lr1e-3"}
    panel.export(tmp_path / "hp.png")
    assert (tmp_path / "hp.png").stat().st_size > 1000


def test_tensorboard_histograms_and_hparams_written_by_torch_show_up(panels, qtbot,
                                                                     tmp_path: Path) -> None:
    """From SummaryWriter's own files through the importer (issue 16's reader) to the panels."""
    pytest.importorskip("torch.utils.tensorboard")
    from cockpit.monitor.engine import import_paths
    from cockpit.store.db import connect
    from tests.test_tfevents_histograms import write_run

    _, made = panels
    write_run(tmp_path / "runs" / "exp")
    db = tmp_path / "tb.duckdb"
    import_paths([tmp_path / "runs"], db)
    con = connect(db)
    try:
        histograms = HistogramsPanel(con.cursor)
        hparams = HParamsPanel(con.cursor)
        made.extend([histograms, hparams])
        with qtbot.waitSignal(histograms.loadedSeries, timeout=10_000):
            assert histograms.refresh()
        keys = [histograms.key.itemText(i) for i in range(histograms.key.count())]
        assert {"weights/linear", "grads/linear", "tf2/normal"} <= set(keys)
        series = histograms.series
        assert series is not None and [h.step for h in series.items] == list(range(6))
        assert all(h.total == 32 for h in series.items) or series.key == "tf2/normal"
        with qtbot.waitSignal(hparams.loadedTable, timeout=10_000):
            assert hparams.refresh()
        table = hparams.table
        assert table is not None
        # add_hparams' values, as the reader names them, are the run's columns
        assert [table.value(table.run_ids[0], f"hparam.{k}")
                for k in ("lr", "batch_size", "optimizer")] == ["0.01", "32", "adamw"]
        assert {"hparam.lr", "hparam.batch_size", "hparam.optimizer"} <= set(table.params)
    finally:
        for panel in made:
            panel.close_runner()
        con.close()
