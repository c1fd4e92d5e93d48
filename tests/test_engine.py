import json
import shutil
import time
from pathlib import Path

from cockpit.monitor.engine import IngestEngine, import_paths
from cockpit.store.db import connect
from cockpit.store.writer import StoreWriter
from tests.conftest import H100


def q(db: Path, sql: str, params: list | None = None):
    con = connect(db, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def wait_for(predicate, timeout: float = 15.0) -> None:
    """Wait on a condition (the engine thread works asynchronously), never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_h100_import_one_set_of_points_per_series_and_idempotent(h100_copy, db):
    ids = import_paths([h100_copy], db)
    assert len(ids) == 5
    loss = q(db, "SELECT count(*), min(source), max(source) FROM metrics JOIN runs USING (run_id) "
                 "WHERE name = 'healthy_bf16' AND key = 'loss'")
    assert loss == [(857, "metrics.jsonl", "metrics.jsonl")]
    # train.log and the tfevents file hold the same series: none of their points is stored twice
    dupes = q(db, "SELECT run_id, key, step, count(*) FROM metrics GROUP BY ALL HAVING count(*) > 1")
    assert dupes == []
    nan_steps = q(db, "SELECT min(step), max(step), count(*) FROM metrics JOIN runs USING (run_id) "
                      "WHERE name = 'fp16_adam_eps_nan' AND key = 'loss' AND isnan(value)")
    assert nan_steps == [(1, 609, 609)]
    series = q(db, "SELECT canonical, format FROM series JOIN runs USING (run_id) "
                   "WHERE name = 'healthy_bf16' ORDER BY 1")
    assert ("loss", "jsonl") in series and all(fmt == "jsonl" for _, fmt in series)
    before = q(db, "SELECT count(*) FROM metrics")
    import_paths([h100_copy], db)
    assert q(db, "SELECT count(*) FROM metrics") == before
    statuses = dict(q(db, "SELECT name, status FROM runs"))
    assert statuses["memory_leak_oom"] == "failed" and statuses["healthy_bf16"] == "finished"
    events = q(db, "SELECT kind, message FROM run_events JOIN runs USING (run_id) WHERE name = 'memory_leak_oom'")
    assert len(events) == 1 and events[0][0] == "error" and "OutOfMemoryError" in events[0][1]


def test_text_log_series_move_to_a_richer_source_that_appears_later(tmp_path, db):
    run = tmp_path / "runs" / "exp"
    run.mkdir(parents=True)
    shutil.copy(H100 / "healthy_bf16" / "train.log", run / "train.log")
    import_paths([tmp_path / "runs"], db)
    assert q(db, "SELECT DISTINCT source FROM metrics WHERE key = 'loss'") == [("train.log",)]
    shutil.copy(H100 / "healthy_bf16" / "metrics.jsonl", run / "metrics.jsonl")
    import_paths([tmp_path / "runs"], db)
    assert q(db, "SELECT source, count(*) FROM metrics WHERE key = 'loss' GROUP BY 1") == [("metrics.jsonl", 857)]


def test_live_watch_picks_up_new_runs_and_appended_lines(tmp_path, db):
    root = tmp_path / "runs"
    root.mkdir()
    with StoreWriter(db) as writer:
        engine = IngestEngine(writer, [root], poll_interval=0.02, rescan_interval=0.05)
        engine.start()
        cur = writer.cursor()
        try:
            run = root / "late-run"
            run.mkdir()
            log = run / "metrics.jsonl"
            with open(log, "a") as f:
                for step in range(5):
                    f.write(json.dumps({"step": step, "loss": 1.0 / (step + 1)}) + "\n")
                    f.flush()
                    wait_for(lambda s=step: cur.execute("SELECT max(step) FROM metrics").fetchone()[0] == s)
                f.write('{"step": 5, "loss"')  # half a line is never stored
                f.flush()
                time.sleep(0.2)
                assert cur.execute("SELECT count(*) FROM metrics").fetchone()[0] == 5
            assert cur.execute("SELECT name FROM runs").fetchall() == [("late-run",)]
        finally:
            engine.stop()


def test_deleted_run_folder_keeps_its_history(tmp_path, db):
    root = tmp_path / "runs"
    shutil.copytree(H100 / "lr_stuck_at_zero", root / "lr")
    import_paths([root], db)
    shutil.rmtree(root / "lr")
    import_paths([root], db)
    assert q(db, "SELECT count(*) FROM metrics WHERE key = 'loss'") == [(791,)]


def test_mlflow_run_folder_is_one_run_with_params_and_status(tmp_path, db):
    run = tmp_path / "mlruns" / "0" / "abc123"
    (run / "metrics" / "train").mkdir(parents=True)
    (run / "params").mkdir()
    (run / "tags").mkdir()
    (run / "meta.yaml").write_text("run_id: abc123\nexperiment_id: '0'\nstatus: 3\nrun_name: demo\n")
    (run / "metrics" / "train" / "loss").write_text("1700000000000 2.5 0\n1700000001000 NaN 1\n")
    (run / "params" / "lr").write_text("0.001")
    (run / "tags" / "mlflow.runName").write_text("demo")
    import_paths([tmp_path / "mlruns"], db)
    assert q(db, "SELECT name, status FROM runs") == [("0/abc123", "finished")]
    assert q(db, "SELECT key, step, isnan(value) FROM metrics ORDER BY step") == [
        ("train/loss", 0, False), ("train/loss", 1, True)]
    params = dict(q(db, "SELECT key, value FROM run_params"))
    assert params["param.lr"] == "0.001" and params["run_name"] == "demo"


def test_a_run_folders_gpu_recording_is_stored_once_and_attributed(tmp_path, db):
    root = tmp_path / "runs"
    shutil.copytree(H100 / "starved_dataloader", root / "starved")
    import_paths([root], db)
    import_paths([root], db)  # idempotent
    lines = len((H100 / "starved_dataloader" / "gpu_trace.jsonl").read_text().splitlines())
    assert q(db, "SELECT count(*), min(host) FROM gpu_samples") == [(lines, "recording:starved")]
    pids = q(db, "SELECT DISTINCT pid, run_id = (SELECT run_id FROM runs) FROM gpu_processes")
    assert pids == [(481, True)]
    assert q(db, "SELECT count(*) FROM alerts") == [(0,)]  # import stores data; `check` judges it


def test_live_stall_marks_the_run_stalled_until_points_return(tmp_path, db):
    import dataclasses

    from cockpit.health.config import HealthConfig
    from cockpit.health.monitor import HealthMonitor

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    log = run / "metrics.jsonl"
    now = time.time()
    log.write_text("".join(json.dumps({"step": i, "time": now - 10 + i, "loss": 2.0 - i / 100}) + "\n"
                           for i in range(10)))
    seen, changes = [], []
    monitor = HealthMonitor(dataclasses.replace(HealthConfig(), stall_after_s=2.0))
    with StoreWriter(db) as writer:
        engine = IngestEngine(writer, [tmp_path / "runs"], health=monitor, on_alerts=seen.extend,
                              on_lifecycle=changes.extend)
        engine.poll_once()
        with open(log, "a") as f:  # it grows while watched: a live run
            f.write(json.dumps({"step": 10, "time": now, "loss": 1.9}) + "\n")
        engine.poll_once()
        assert engine.check_lifecycle(now=now).alerts == []  # logging recently: fine
        alerts = engine.check_lifecycle(now=now + 60).alerts
        assert [a.detector for a in alerts] == ["stall"] and seen == alerts
        assert alerts[0].evidence["classification"] == "unknown"  # no process writes it
        assert [c.state for c in changes] == ["running", "stalled"]
        writer.flush()
        cur = writer.cursor()
        assert cur.execute("SELECT status FROM runs").fetchone() == ("stalled",)
        with open(log, "a") as f:
            f.write(json.dumps({"step": 11, "time": now + 61, "loss": 1.8}) + "\n")
        engine.poll_once()
        writer.flush()
        assert cur.execute("SELECT status FROM runs").fetchone() == ("running",)
        assert cur.execute("SELECT count(*) FROM alerts WHERE detector = 'stall'").fetchone() == (1,)
        states = cur.execute("SELECT previous, state FROM run_states ORDER BY rowid").fetchall()
        assert states == [(None, "running"), ("running", "stalled"), ("stalled", "running")]
