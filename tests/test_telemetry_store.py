"""GPU rows into DuckDB: batching through the store writer, rollups, the replay pipeline."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from cockpit.store.db import connect
from cockpit.store.schema import MIGRATIONS
from cockpit.store.writer import StoreWriter
from cockpit.telemetry.attribution import RunRef
from cockpit.telemetry.live import owner_run, replay_into_store, start_replay_for_watch
from cockpit.telemetry.pipeline import TelemetryPipeline
from cockpit.telemetry.replay import ReplaySource
from cockpit.telemetry.rollup import rollup_gpu_samples
from cockpit.telemetry.rows import TelemetryBatch, new_process_row, new_sample
from cockpit.telemetry.store_sink import GpuStoreBatcher

RUNS = Path(__file__).parent / "fixtures" / "h100-runs"


class FakeWriter:
    def __init__(self) -> None:
        self.samples: list[list[dict[str, Any]]] = []
        self.processes: list[list[dict[str, Any]]] = []
        self.alerts: list[Any] = []

    def put_gpu_samples(self, rows: list[dict[str, Any]]) -> None:
        self.samples.append(rows)

    def put_gpu_processes(self, rows: list[dict[str, Any]]) -> None:
        self.processes.append(rows)

    def put_alerts(self, alerts: list[Any]) -> None:
        self.alerts.extend(alerts)


def _batch(ts: float, n: int = 1) -> TelemetryBatch:
    batch = TelemetryBatch(ts=ts)
    for gpu in range(n):
        batch.samples.append(new_sample(ts, "h", gpu))
    return batch


def test_batcher_groups_rows_by_count_and_age() -> None:
    now = [0.0]
    writer = FakeWriter()
    batcher = GpuStoreBatcher(writer, max_rows=10, max_delay_s=2.0, clock=lambda: now[0])
    for i in range(9):
        batcher.add(_batch(float(i)))
    assert writer.samples == []
    batcher.add(_batch(9.0))
    assert [len(rows) for rows in writer.samples] == [10]
    batcher.add(_batch(10.0))
    now[0] = 2.5
    batcher.add(TelemetryBatch(ts=11.0))  # an empty tick still lets old rows out
    assert [len(rows) for rows in writer.samples] == [10, 1]
    proc = TelemetryBatch(ts=12.0, processes=[new_process_row(12.0, "h", 0, 7, 1, None)])
    batcher.add(proc)
    batcher.flush()
    assert [len(rows) for rows in writer.processes] == [1]
    batcher.flush()
    assert batcher.batches_written == 3


def test_replayed_rows_land_in_duckdb_with_spec_columns(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    with StoreWriter(db) as writer:
        run = RunRef("r-starved", "starved_dataloader", RUNS / "starved_dataloader")
        alerts = replay_into_store(RUNS / "starved_dataloader", writer, run)
        writer.flush()
    assert [a.detector for a in alerts] == ["low_gpu_util"]
    con = connect(db, read_only=True)
    try:
        got = con.execute(
            "SELECT count(*), max(power_w), max(sm_active) FROM gpu_samples").fetchone()
        assert got is not None
        n, power, sm = got
        assert n == 531 and 100 < power < 700 and 10 < sm < 100
        procs = con.execute(
            "SELECT DISTINCT pid, run_id FROM gpu_processes").fetchall()
        assert procs == [(481, "r-starved")]
        stored = con.execute("SELECT detector, run_id, message FROM alerts").fetchall()
        assert stored[0][0] == "low_gpu_util" and stored[0][1] == "r-starved"
        assert "481" in stored[0][2]
    finally:
        con.close()


def test_rollup_keeps_recent_rows_and_min_mean_max_of_old_ones(tmp_path: Path) -> None:
    assert any("gpu_sample_rollups" in stmt for step in MIGRATIONS for stmt in step)
    con = connect(tmp_path / "h.duckdb")
    con.execute("INSERT INTO gpu_samples (ts, host, gpu, util_gpu, mem_used, clock_event_reasons,"
                " resolution) SELECT t, 'h', 0, t % 10, 1000 + t, CASE WHEN t % 4 = 0 THEN "
                "'gpu_idle' ELSE '' END, 'full' FROM range(300) r(t)")
    con.execute("INSERT INTO gpu_processes (ts, host, gpu, pid, used_mem, sm_util) VALUES "
                "(10, 'h', 0, 5, 100, 10), (20, 'h', 0, 5, 300, 30), (290, 'h', 0, 5, 300, 30)")
    replaced = rollup_gpu_samples(con, older_than_s=100, bucket_s=60, now=300, transaction=True)
    assert replaced == 180  # rows before the aligned cutoff 180
    old = con.execute("SELECT ts, util_gpu, mem_used, clock_event_reasons, resolution "
                      "FROM gpu_samples WHERE ts < 180 ORDER BY ts").fetchall()
    assert old == [(0.0, 4.5, 1030, "gpu_idle", "mean_60s"), (60.0, 4.5, 1090, "gpu_idle", "mean_60s"),
                   (120.0, 4.5, 1150, "gpu_idle", "mean_60s")]
    assert con.execute("SELECT count(*) FROM gpu_samples WHERE ts >= 180").fetchone() == (120,)
    minmax = con.execute("SELECT ts, n, util_gpu_min, util_gpu_max, mem_used_min, mem_used_max "
                         "FROM gpu_sample_rollups ORDER BY ts").fetchall()
    assert minmax[0] == (0.0, 60, 0.0, 9.0, 1000, 1059)
    procs = con.execute("SELECT ts, used_mem, sm_util, resolution FROM gpu_processes "
                        "ORDER BY ts").fetchall()
    assert procs == [(0.0, 300, 20.0, "mean_60s"), (290.0, 300, 30.0, None)]
    # Running it again changes nothing: rolled-up rows are never rolled up twice.
    assert rollup_gpu_samples(con, 100, 60, now=300, transaction=True) == 0
    assert con.execute("SELECT count(*) FROM gpu_samples").fetchone() == (123,)
    with pytest.raises(ValueError):
        rollup_gpu_samples(con, 100, 0)
    con.close()


def test_rollup_on_the_writer_thread(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        writer.put_gpu_samples([dict(new_sample(float(t), "h", 0), util_gpu=50.0)
                                for t in range(120)])
        done = threading.Event()
        counts: list[int] = []

        def job(con: Any) -> None:
            counts.append(rollup_gpu_samples(con, 0, 60, now=120))
            done.set()

        writer.call(job)
        writer.flush()
        assert done.is_set() and counts == [120]
        cur = writer.cursor()
        assert cur.execute("SELECT count(*), min(resolution) FROM gpu_samples").fetchone() == (
            2, "mean_60s")


def test_pipeline_thread_attributes_detects_and_stores() -> None:
    writer = FakeWriter()
    alerts: list[Any] = []
    pipeline = TelemetryPipeline(ReplaySource(RUNS / "starved_dataloader", speed=0),
                                 writer=writer, on_alerts=alerts.extend)
    pipeline.set_runs([RunRef("r1", "starved", RUNS / "starved_dataloader")])
    pipeline.attributor.pin(481, "r1")
    pipeline.start()
    assert pipeline.finished.wait(20)
    pipeline.stop()
    assert [a.detector for a in alerts] == ["low_gpu_util"] and alerts[0].run == "starved"
    assert writer.alerts == alerts
    assert sum(len(rows) for rows in writer.samples) == 531
    assert {r["run_id"] for rows in writer.processes for r in rows} == {"r1"}
    assert pipeline.latest_samples[("replay", 0)]["ts"] > 0
    assert pipeline.error is None


class _Row:
    def __init__(self, run_id: str, name: str, path: Path) -> None:
        self.run_id, self.name, self.path = run_id, name, str(path)


class _Run:
    def __init__(self, run_id: str, name: str, path: Path) -> None:
        self.row = _Row(run_id, name, path)


class _Engine:
    def __init__(self, runs: dict[str, _Run]) -> None:
        self.runs = runs


def test_watch_replay_pins_the_recorded_pid_to_the_run_holding_the_recording() -> None:
    engine = _Engine({
        "a": _Run("a", "healthy_bf16", RUNS / "healthy_bf16"),
        "b": _Run("b", "starved_dataloader", RUNS / "starved_dataloader"),
    })
    writer = FakeWriter()
    printed: list[Any] = []
    thread = start_replay_for_watch(RUNS / "starved_dataloader", writer, printed.extend, engine,
                                    as_fast_as_possible=True)
    thread.join(20)
    assert not thread.is_alive()
    assert [(a.detector, a.run, a.run_id) for a in printed] == [
        ("low_gpu_util", "starved_dataloader", "b")]
    assert printed[0].ts < 1795349005  # recorded time kept with --once


def test_owner_run_rules(tmp_path: Path) -> None:
    outer = RunRef("o", "outer", tmp_path)
    inner = RunRef("i", "inner", tmp_path / "x")
    (tmp_path / "x" / "gpu").mkdir(parents=True)
    assert owner_run(tmp_path / "x" / "gpu", [outer, inner]) == inner
    elsewhere = RunRef("e", "elsewhere", tmp_path / "y")
    assert owner_run(RUNS, [elsewhere]) == elsewhere  # the only run
    assert owner_run(RUNS, [elsewhere, inner]) is None
