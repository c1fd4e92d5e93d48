"""Soak: the live view driven through 300k+ Qt calls.

Guards the PySide6 pin: 6.12.0 on Python 3.11 aborts with "deallocating None" after ~200k
void Qt calls. Here a chart follows a growing run (append, refresh, setData) while the
window's status labels and widgets take cheap void calls, counted one by one.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QLabel

from cockpit.ui.chart import MetricChart
from cockpit.ui.live_cache import LiveSeriesCache
from tests.ui.conftest import History

QT_CALLS = 300_000


@pytest.mark.slow
def test_live_view_survives_300k_qt_calls(qtbot, history: History) -> None:
    history.run("r", "run")
    history.metrics("r", "loss", np.arange(1000), np.linspace(5, 2, 1000))
    cache = LiveSeriesCache(history.cursor, history.path)
    cache.subscribe({"r"})
    cache.poll(history.cursor())
    chart = MetricChart("loss", cache)
    label = QLabel()
    qtbot.addWidget(chart)
    qtbot.addWidget(label)
    chart.resize(600, 300)
    chart.show()
    chart.set_runs([("r", "run", "#4cc9f0")])
    buffer = cache.series("r", "loss")
    assert buffer is not None
    calls = frames = 0
    step = 1000
    rng = np.random.default_rng(0)
    while calls < QT_CALLS:
        for _ in range(50):  # a status bar's worth of void calls per frame
            label.setText("ingest 1,234 pts/s")
            label.update()
            calls += 2
        steps = np.arange(step, step + 20)
        values = 2 + rng.normal(0, 0.01, 20)
        if frames % 97 == 0:
            values[3] = np.nan  # non-finite points keep taking the marker path
        buffer.append(steps, steps.astype(float), values)
        step += 20
        chart.refresh()
        frames += 1
        if frames % 10 == 0:
            QCoreApplication.processEvents()
            calls += 1
    x, y = chart.curves["r"].raw.getData()
    assert calls >= QT_CALLS and frames > 2000
    per_px = (step - 1) / chart.view.width()
    assert 0 <= step - 1 - x[-1] <= per_px  # the newest point's pixel column is drawn
    assert len(x) <= 2 * int(chart.view.width()) + 4
    assert len(chart.edge_markers.data) > 0
    cache.stop()
