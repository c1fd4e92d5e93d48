"""LiveSeriesCache: what one poll of the database publishes, and how new rows arrive."""

from __future__ import annotations

import math
import threading

import numpy as np

from cockpit.ui.live_cache import LiveSeriesCache
from tests.ui.conftest import History


def test_snapshot_has_runs_with_last_loss_alerts_and_gpu(filled: History) -> None:
    cache = LiveSeriesCache(filled.cursor, filled.path)
    snap = cache.poll(filled.cursor())
    runs = {r.name: r for r in snap.runs}
    assert set(runs) == {"healthy", "nan_run", "diverging"}
    assert runs["healthy"].last_loss == np.float64(8.0 * math.exp(-499 / 150) + 2.0)
    assert math.isnan(runs["nan_run"].last_loss)
    assert runs["diverging"].last_loss == 40.0  # `train/loss` is the loss too
    assert runs["nan_run"].alert_count == 1 and runs["nan_run"].worst_severity == "critical"
    assert runs["diverging"].gpus == "0"
    assert [a.detector for a in snap.alerts] == ["nan", "divergence", "plateau"]
    assert snap.alerts[0].evidence == {"first_bad_step": 300}
    assert {(g.gpu, len(g.ts)) for g in snap.gpus} == {(0, 50), (1, 50)}
    assert {(p.pid, p.run_name) for p in snap.processes} == {(4242, "diverging"), (4343, "")}
    assert snap.db_bytes > 0


def test_subscribed_runs_get_series_by_canonical_key_and_appends(filled: History) -> None:
    cache = LiveSeriesCache(filled.cursor, filled.path)
    cache.subscribe({"a", "c"})
    snap = cache.poll(filled.cursor())
    assert snap.keys == ["loss", "lr"]
    assert cache.series("c", "loss") is not None and cache.series("b", "loss") is None
    assert len(cache.series("a", "loss")) == 500
    version = cache.series("a", "loss").version
    filled.metrics("a", "loss", np.arange(500, 520), np.full(20, 1.5))
    cache.poll(filled.cursor())
    buf = cache.series("a", "loss")
    assert len(buf) == 520 and buf.version > version
    assert buf.values.view[-1] == 1.5
    cache.subscribe({"c"})
    cache.poll(filled.cursor())
    assert cache.series("a", "loss") is None


def test_a_source_taking_over_a_series_reloads_the_run(history: History) -> None:
    history.run("r", "run")
    history.metrics("r", "loss", np.arange(10), np.ones(10), source="train.log")
    cache = LiveSeriesCache(history.cursor, history.path)
    cache.subscribe({"r"})
    cache.poll(history.cursor())
    assert len(cache.series("r", "loss")) == 10
    # The engine found a richer file: it deletes the poorer copy and records the new owner.
    history.con.execute("DELETE FROM metrics WHERE source = 'train.log'")
    history.con.execute("INSERT INTO series (run_id, canonical, key, source, format, role) "
                        "VALUES ('r', 'loss', 'loss', 'metrics.jsonl', 'jsonl', 'loss')")
    history.metrics("r", "loss", np.arange(30), np.full(30, 2.0), source="metrics.jsonl")
    cache.poll(history.cursor())
    buf = cache.series("r", "loss")
    assert len(buf) == 30 and set(buf.values.view) == {2.0}


def test_the_poller_thread_publishes_and_stops(filled: History) -> None:
    cache = LiveSeriesCache(filled.cursor, filled.path, interval=0.01)
    seen = threading.Event()
    cache.start()
    try:
        for _ in range(500):
            if cache.snapshot.seq >= 2:
                seen.set()
                break
            seen.wait(0.01)
        assert seen.is_set()
    finally:
        cache.stop()
    assert not any(t.name == "cockpit-ui-poller" for t in threading.enumerate())


def test_a_database_error_is_reported_not_raised(history: History) -> None:
    def broken():
        raise __import__("duckdb").IOException("disk gone")

    cache = LiveSeriesCache(broken, history.path, interval=0.01)
    cache.start()
    try:
        done = threading.Event()
        for _ in range(500):
            if cache.snapshot.error:
                done.set()
                break
            done.wait(0.01)
        assert "disk gone" in (cache.snapshot.error or "")
    finally:
        cache.stop()


def test_the_watched_loss_and_a_summary_of_the_same_name_are_charted_apart(history: History) -> None:
    """HF's per-step `loss` (role loss) and its end-of-training `train_loss` (no role) share
    the canonical name `loss`: the chart of `loss` holds the watched one only."""
    history.run("r", "hf")
    history.metrics("r", "loss", np.arange(40), np.linspace(2, 1, 40), source="trainer_state.json")
    history.metrics("r", "train_loss", np.array([40]), np.array([1.4]), source="trainer_state.json")
    for key, role in (("loss", "'loss'"), ("train_loss", "NULL")):
        history.con.execute(f"INSERT INTO series (run_id, canonical, key, source, format, role) "
                            f"VALUES ('r', 'loss', '{key}', 'trainer_state.json', 'hf_state', {role})")
    cache = LiveSeriesCache(history.cursor, history.path)
    cache.subscribe({"r"})
    cache.poll(history.cursor())
    assert len(cache.series("r", "loss")) == 40
    assert len(cache.series("r", "train_loss")) == 1
