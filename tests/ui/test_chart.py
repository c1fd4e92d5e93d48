"""MetricChart: what is drawn for the selected runs (vertices, edge markers, alerts, crosshair)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cockpit.ui.chart import MetricChart
from cockpit.ui.live_cache import LiveSeriesCache
from tests.ui.conftest import History


@pytest.fixture
def caches():
    """Caches made by a test, stopped after it (they hold the database's cursor factory)."""
    made: list[LiveSeriesCache] = []
    yield made
    for cache in made:
        cache.stop()


@pytest.fixture
def chart_for(qtbot, filled: History, caches):
    def make(run_ids: set[str], key: str = "loss") -> tuple[MetricChart, LiveSeriesCache]:
        cache = LiveSeriesCache(filled.cursor, filled.path)
        caches.append(cache)
        cache.subscribe(run_ids)
        snap = cache.poll(filled.cursor())
        chart = MetricChart(key, cache)
        qtbot.addWidget(chart)
        chart.resize(800, 400)
        chart.show()
        qtbot.waitExposed(chart)
        chart.set_runs(
            [
                (r, r, c)
                for r, c in zip(sorted(run_ids), ("#ff0000", "#00ff00", "#0000ff"), strict=False)
            ]
        )
        chart.set_alerts(snap.alerts)
        chart.refresh(force=True)
        return chart, cache

    return make


def test_curves_hold_every_run_and_nan_points_become_top_edge_markers(chart_for) -> None:
    chart, _ = chart_for({"a", "b"})
    xa, ya = chart.curves["a"].raw.getData()
    assert len(xa) == 500 and ya[-1] == pytest.approx(8.0 * np.exp(-499 / 150) + 2.0)
    xb, yb = chart.curves["b"].raw.getData()
    assert np.isnan(yb[300:]).all()  # gaps in the line, not zeros
    spots = chart.edge_markers.data
    xs = spots["x"]
    assert 30 <= len(spots) <= 120  # thinned to a readable row on an 800 px chart
    assert xs.min() == 300 and xs.max() >= 490 and set(xs) <= set(range(300, 500))
    _, (y0, y1) = chart.view.viewRange()
    assert (spots["y"] > y0 + 0.9 * (y1 - y0)).all()  # pinned to the top edge


def test_alert_markers_sit_on_the_curve_at_the_alert_step(chart_for) -> None:
    chart, _ = chart_for({"c"})
    spots = chart.alert_markers.data
    assert len(spots) == 1
    assert spots["x"][0] == 410
    _, values = chart.curves["c"].raw.getData()
    assert spots["y"][0] == pytest.approx(values[410])
    assert "divergence" in chart._alert_tip(0, 0, spots["data"][0])


def test_crosshair_lists_every_run_value_at_the_cursor(chart_for) -> None:
    chart, _ = chart_for({"a", "b"})
    rows = dict((name, raw) for name, raw, _ in chart.show_crosshair(350.4))
    assert rows["a"] == pytest.approx(8.0 * np.exp(-350 / 150) + 2.0)
    assert np.isnan(rows["b"])
    assert chart.readout.isVisible() and "NaN" in chart.readout.toPlainText()


def test_log_y_and_wall_time_axis_and_smoothing(chart_for) -> None:
    chart, cache = chart_for({"a"})
    chart.set_log_y(True)
    chart.refresh()
    assert chart.plot.getPlotItem().ctrl.logYCheck.isChecked()
    chart.set_x_mode("time")
    chart.refresh()
    x, _ = chart.curves["a"].raw.getData()
    assert x[0] == pytest.approx(1.7e9)
    cache.set_smoothing(0.9)
    chart.set_smoothing(0.9)
    cache.poll(cache._cursor_factory())  # applies the weight to the held series
    chart.refresh()
    _, smooth = chart.curves["a"].smooth.getData()
    assert chart.curves["a"].smooth.isVisible() and len(smooth) == 500
    assert chart.curves["a"].raw.opts["pen"].color().alpha() < 255  # the raw curve stays, faint


def test_a_million_points_draw_as_a_few_thousand_and_full_resolution_on_zoom(
    qtbot, history: History, caches
) -> None:
    n = 1_000_000
    y = np.random.default_rng(0).normal(3.0, 0.01, n)
    y[777_777] = 30.0
    history.run("big", "big")
    history.metrics("big", "loss", np.arange(n), y)
    cache = LiveSeriesCache(history.cursor, history.path)
    caches.append(cache)
    cache.subscribe({"big"})
    cache.poll(history.cursor())
    chart = MetricChart("loss", cache)
    qtbot.addWidget(chart)
    chart.resize(1000, 400)
    chart.show()
    chart.set_runs([("big", "big", "#ffffff")])
    chart.refresh(force=True)
    x, yy = chart.curves["big"].raw.getData()
    assert len(x) <= 5000 and yy.max() == 30.0  # the spike is not averaged away
    chart.view.setXRange(777_700, 777_900, padding=0)
    chart.refresh()
    x, yy = chart.curves["big"].raw.getData()
    assert 777_777 in x and len(x) < 400 and yy.max() == 30.0


def test_export_png_svg_and_full_resolution_csv(chart_for, tmp_path: Path) -> None:
    chart, _ = chart_for({"a", "b"})
    for name in ("chart.png", "chart.svg"):
        chart.export_image(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000
    n = chart.export_csv(tmp_path / "chart.csv")
    lines = (tmp_path / "chart.csv").read_text().splitlines()
    assert n == 1000 and len(lines) == 1001 and lines[0] == "run,key,step,ts,value"
    assert any(line.endswith(",nan") for line in lines)


def test_focus_centres_the_view_on_a_step_and_follow_undoes_it(chart_for) -> None:
    chart, _ = chart_for({"c"})
    chart.focus(410)
    (x0, x1), _ = chart.view.viewRange()
    assert x0 < 410 < x1 and x1 - x0 < 200
    assert chart.focus_line.isVisible()
    chart.follow()
    chart.refresh()
    (x0, x1), _ = chart.view.viewRange()
    assert x0 <= 0 and x1 >= 499
