"""Fixtures for the desktop app tests: offscreen Qt, a history database filled by hand,
a settings file per test, and a LiveSeriesCache polled synchronously (no thread)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import duckdb  # noqa: E402

from cockpit.store.db import connect  # noqa: E402
from cockpit.ui.series import SeriesBuffer  # noqa: E402

# The offscreen platform warns that it cannot propagate size hints or raise windows: a
# limitation of the test platform, not of Cockpit. Every other Qt warning fails a test.
OFFSCREEN_NOISE = "This plugin does not support"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


class History:
    """A DuckDB history filled row by row, as the engine would (runs, metrics, alerts, GPU)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con = connect(path)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()

    def run(
        self,
        run_id: str,
        name: str,
        status: str = "running",
        root: str = "/runs",
        updated_at: float | None = None,
    ) -> None:
        self.con.execute(
            "INSERT INTO runs (run_id, name, path, root, status, started_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, name, f"{root}/{name}", root, status, 1.7e9, updated_at or 1.7e9 + 100],
        )

    def metrics(
        self,
        run_id: str,
        key: str,
        steps: np.ndarray,
        values: np.ndarray,
        source: str = "metrics.jsonl",
        t0: float = 1.7e9,
    ) -> None:
        frame = {
            "run_id": np.full(len(steps), run_id, dtype=object),
            "key": np.full(len(steps), key, dtype=object),
            "step": np.asarray(steps, dtype=np.int64),
            "ts": t0 + np.asarray(steps, dtype=np.float64),
            "value": np.asarray(values, dtype=np.float64),
            "source": np.full(len(steps), source, dtype=object),
        }
        self.con.register("frame", frame)
        # As the writer does: a registered numpy NaN arrives as NULL; the history keeps NaN.
        self.con.execute(
            "INSERT INTO metrics SELECT run_id, key, step, ts, "
            "coalesce(value, 'NaN'::DOUBLE), source FROM frame"
        )
        self.con.unregister("frame")

    def alert(
        self,
        run_id: str,
        detector: str,
        severity: str,
        step: int | None,
        metric: str | None,
        message: str,
        evidence: dict | None = None,
        ts: float | None = None,
    ) -> None:
        if ts is None and step is not None:
            ts = 1.7e9 + step
        self.con.execute(
            "INSERT INTO alerts (run_id, detector, severity, step, ts, metric, message, evidence, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                detector,
                severity,
                step,
                ts,
                metric,
                message,
                json.dumps(evidence or {}),
                1.7e9,
            ],
        )

    def gpu(self, gpu: int, n: int = 50, util: float = 60.0, t0: float = 1.7e9) -> None:
        i = np.arange(n, dtype=np.float64)
        frame = {
            "ts": t0 + i * 0.1,
            "gpu": np.full(n, gpu),
            "util": np.full(n, util),
            "mem": 7e9 + i * 1e8,
        }
        self.con.register("gpu_frame", frame)
        self.con.execute(
            "INSERT INTO gpu_samples (ts, host, gpu, util_gpu, util_mem, mem_used, mem_total, "
            "power_w, temp_c, sm_clock_mhz, sm_active, tensor_active) "
            "SELECT ts, 'h', gpu, util, 10, mem, 80e9, 300, 60, 1980, 45, 11 FROM gpu_frame"
        )
        self.con.unregister("gpu_frame")

    def process(self, gpu: int, pid: int, run_id: str | None, ts: float = 1.7e9 + 5) -> None:
        self.con.execute(
            "INSERT INTO gpu_processes (ts, host, gpu, pid, used_mem, sm_util, run_id, name) "
            "VALUES (?, 'h', ?, ?, 6e9, 55, ?, 'python')",
            [ts, gpu, pid, run_id],
        )

    def close(self) -> None:
        self.con.close()


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "history.duckdb")
    yield h
    h.close()


@pytest.fixture
def filled(history: History) -> History:
    """Three runs: a healthy one, one whose loss goes NaN, one that diverges (with alerts)."""
    return fill(history)


def fill(history: History) -> History:
    steps = np.arange(0, 500)
    history.con.execute("BEGIN TRANSACTION")  # one commit: each one costs ~15 ms on disk
    history.run("a", "healthy", "finished")
    history.run("b", "nan_run", "failed")
    history.run("c", "diverging", "running", updated_at=1.7e9 + 200)
    history.metrics("a", "loss", steps, 8.0 * np.exp(-steps / 150) + 2.0)
    history.metrics("a", "lr", steps, np.full(len(steps), 6e-4))
    nan_loss = 8.0 * np.exp(-steps / 150) + 2.0
    nan_loss[300:] = np.nan
    history.metrics("b", "loss", steps, nan_loss)
    div = 8.0 * np.exp(-steps / 150) + 2.0
    div[400:] = np.linspace(3, 40, 100)
    history.metrics("c", "train/loss", steps, div, source="events.out.tfevents.1")
    history.alert(
        "b", "nan", "critical", 300, "loss", "loss became NaN at step 300", {"first_bad_step": 300}
    )
    history.alert("c", "divergence", "warning", 410, "train/loss", "loss diverged", {"ratio": 4.2})
    history.alert("a", "plateau", "info", 450, "loss", "loss plateaued")
    history.gpu(0)
    history.gpu(1, util=15.0)
    history.process(0, 4242, "c")
    history.process(1, 4343, None)
    history.con.execute("COMMIT")
    return history


class SeriesSource:
    """The one thing a chart asks of LiveSeriesCache: `series(run_id, key)`, from buffers the
    test fills directly."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, str], SeriesBuffer] = {}

    def series(self, run_id: str, key: str) -> SeriesBuffer | None:
        return self.buffers.get((run_id, key))

    def add(self, run_id: str, y: np.ndarray, key: str = "loss") -> SeriesBuffer:
        buf = SeriesBuffer()
        steps = np.arange(len(y), dtype=np.float64)
        buf.append(steps, 1.7e9 + steps, y)
        self.buffers[(run_id, key)] = buf
        return buf


@pytest.fixture
def lone_chart(qtbot):  # noqa: ANN201
    """A MetricChart of its own (dark theme) on a SeriesSource, shown at width x height,
    destroyed after the test."""
    import gc

    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from cockpit.ui import theme
    from cockpit.ui.chart import MetricChart

    made: list[MetricChart] = []

    def make(width: int, height: int) -> MetricChart:
        theme.apply(theme.DARK)
        chart = MetricChart("loss", SeriesSource())  # type: ignore[arg-type]
        chart.resize(width, height)
        chart.show()
        qtbot.waitExposed(chart)
        made.append(chart)
        return chart

    yield make
    for chart in made:
        chart.close()
        chart.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
