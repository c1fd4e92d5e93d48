"""The lifecycle decision: its rules on process facts, who counts as a run's writer (real
processes), imports that end in a final state, and hang evidence from the writer's GPU."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cockpit.model.process import ProcessInfo
from cockpit.monitor.lifecycle import Evidence, Marker, ProcessRecord, decide
from cockpit.monitor.writers import RunFolder, match_writers
from cockpit.sources.processes import LocalProcesses

NOW = 1_800_000_000.0


def proc(state: str = "sleeping", pid: int = 7, cpu: float | None = 0.0, **kw: object) -> ProcessInfo:
    return ProcessInfo(pid, "local", state, NOW, create_time=NOW - 600, cpu_percent=cpu, **kw)  # type: ignore[arg-type]


def ev(**kw: object) -> Evidence:
    base: dict[str, object] = {"now": NOW, "live": True, "last_point_at": NOW - 5,
                               "threshold_s": 60.0, "seen_fresh": True}
    base.update(kw)
    return Evidence(**base)  # type: ignore[arg-type]


# ---- the decision's rules ----------------------------------------------------------------

def test_an_alive_writer_is_running_then_hung_with_what_the_process_shows() -> None:
    assert decide(ev(writers=[proc()], writer_seen=True)).state == "running"
    hung = decide(ev(writers=[proc(cpu=0.0)], writer_seen=True, last_point_at=NOW - 600))
    assert (hung.state, hung.stall) == ("hung", "hung")
    assert "sleeping at 0% CPU" in hung.seen and "10 min" in hung.reason
    spinning = decide(ev(writers=[proc("alive", cpu=99.0)], last_point_at=NOW - 600))
    assert "spinning a CPU core (99%)" in spinning.seen
    blocked = decide(ev(writers=[proc("blocked")], last_point_at=NOW - 600))
    assert "uninterruptible wait" in blocked.seen
    gpu = {"gpus": ["h/0"], "util_gpu_mean": 0.0, "mem_used": 61_300_000_000}
    idle = decide(ev(writers=[proc()], last_point_at=NOW - 600, gpu=gpu))
    assert "its GPU is idle with 61.3 GB held" in idle.seen and idle.evidence["gpu"] == gpu


def test_how_the_writer_ended_decides_finished_or_failed() -> None:
    gone = [proc("gone")]
    assert decide(ev(writers=gone, writer_seen=True)).state == "finished"  # status not visible
    killed = decide(ev(writers=[proc("zombie", signal=9)], writer_seen=True))
    assert (killed.state, killed.reason) == ("failed", "writer PID 7 killed by SIGKILL")
    assert killed.exit_error == killed.reason  # the crash alert's text
    assert decide(ev(writers=[proc("zombie", exit_code=2)])).reason == "writer PID 7 exit code 2"
    clean = decide(ev(writers=[proc("zombie", exit_code=0)]))
    assert (clean.state, clean.exit_error) == ("finished", None)
    # A clean exit inside an open NaN episode is a failed run.
    nan = decide(ev(writers=gone, writer_seen=True, critical="a critical nan alert at step 40"))
    assert nan.state == "failed" and nan.reason.endswith("after a critical nan alert at step 40")


def test_markers_records_and_declared_states() -> None:
    error = Marker("RuntimeError: CUDA error", 10, NOW - 3)
    assert decide(ev(error=error, writers=[proc()])).state == "failed"  # still alive: failed
    done = Marker("reached the final step 100", 100, NOW - 3)
    assert decide(ev(finished=done, last_point_at=NOW - 9999)).state == "finished"
    record = ProcessRecord(pid=5, exit_code=-9)
    assert decide(ev(record=record, live=False)).reason == "process exit code -9"
    assert decide(ev(declared=("failed", "MLflow status KILLED"))).state == "failed"


def test_silence_without_a_writer_is_stalled_live_and_unknown_after_the_fact() -> None:
    assert decide(ev(last_point_at=NOW - 5)).state == "running"
    stalled = decide(ev(last_point_at=NOW - 600))
    assert (stalled.state, stalled.stall) == ("stalled", "unknown")
    history = decide(ev(last_point_at=NOW - 600, seen_fresh=False))  # found old by a live watch
    assert (history.state, history.stall) == ("unknown", None)
    old = decide(ev(last_point_at=NOW - 3 * 365 * 86400, live=False))
    assert (old.state, old.stall, old.ended_at) == ("unknown", "unknown", NOW - 3 * 365 * 86400)
    seen_hung = ProcessRecord(pid=5, observed_at=NOW - 5, alive_at_observation=True)
    hung = decide(ev(live=False, last_point_at=NOW - 900, record=seen_hung))
    assert (hung.state, hung.observed_at) == ("hung", NOW - 5)


# ---- which process writes a run (real processes) -----------------------------------------

TRAINER = """
import os, sys, time
log = open(sys.argv[1], "a")
log.write("x\\n"); log.flush()
if os.fork() == 0:  # a data-loader worker: it inherits the open log
    time.sleep(60); os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""


def test_the_writer_is_the_trainer_not_its_workers_readers_or_a_shell(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    log = run / "train.log"
    trainer = subprocess.Popen([sys.executable, "-c", TRAINER, str(log)], stdout=subprocess.PIPE,
                               text=True)
    others: list[subprocess.Popen[bytes]] = []
    try:
        assert trainer.stdout is not None and trainer.stdout.readline().strip() == "ready"
        tail = shutil.which("tail")
        if tail:
            others.append(subprocess.Popen([tail, "-f", str(log)], stdout=subprocess.DEVNULL))
        worker = subprocess.Popen(["sleep", "60"], cwd=run)  # works in the folder: counts
        others.append(worker)
        others.append(subprocess.Popen(["bash", "-c", "read x"], cwd=run,  # a shell sitting there
                                       stdin=subprocess.PIPE))
        # No wait needed: working folders and command lines are set at spawn, and the forked
        # worker inherited the log before the trainer said "ready".
        table = LocalProcesses().table([tmp_path / "runs"])
        writers = match_writers(table, [RunFolder("a", str(run)),
                                        RunFolder("root", str(tmp_path / "runs"))])
        found = {p.pid: p for p in writers["a"]}
        assert set(found) == {trainer.pid, worker.pid}
        assert str(log) in found[trainer.pid].writing
        assert "root" not in writers  # the deepest folder wins
    finally:
        for p in [trainer, *others]:
            p.kill()
            p.wait()


# ---- imports end in a final state ----------------------------------------------------------

def test_imports_end_in_a_final_state_never_running(tmp_path: Path) -> None:
    import os

    from cockpit.monitor.engine import import_paths
    from cockpit.store.db import connect
    from tests.conftest import H100, PUBLIC

    root = tmp_path / "runs"
    copied = root / "copied"
    copied.mkdir(parents=True)
    lines = (PUBLIC / "muon-2024-10-10" / "eb5659d0-fb6a-49e5-a311-f1f89412f726.txt"
             ).read_text().splitlines()
    # Written just now (a copy without -p resets mtimes), cut before its last step: no
    # timestamps inside, no end marker, no writer.
    (copied / "train.txt").write_text("\n".join(lines[:-300]) + "\n")
    shutil.copytree(H100 / "memory_leak_oom", root / "oom")
    shutil.copytree(H100 / "healthy_bf16", root / "healthy")
    old = root / "old_text"
    old.mkdir()
    (old / "train.log").write_text("".join(f"iter {i}: loss {3 - i / 100:.3f}\n" for i in range(50)))
    os.utime(old / "train.log", (1.5e9, 1.5e9))  # written in 2017; no timestamps inside
    db = tmp_path / "h.duckdb"
    import_paths([root], db)
    con = connect(db, read_only=True)
    try:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT name, status, status_reason, ended_at FROM runs").fetchall()}
    finally:
        con.close()
    assert {name: r[0] for name, r in rows.items()} == {
        "copied": "unknown", "oom": "failed", "healthy": "finished", "old_text": "unknown"}
    assert rows["old_text"][2] == 1.5e9  # its mtime bounds its last line
    assert rows["healthy"][1] == "process exit code 0"
    assert "OutOfMemoryError" in rows["oom"][1]
    assert all(r[2] is not None for r in rows.values())


# ---- hang evidence from the writer's GPU (the real sampler over a simulated NVML) ------------

HANGER = """
import json, sys, time
f = open(sys.argv[1], "a")
for step in range(20):
    f.write(json.dumps({"step": step, "loss": 2.0 - step / 100}) + "\\n"); f.flush()
    time.sleep(0.05)
print("hanging", flush=True)
time.sleep(120)
"""


def test_a_hung_writer_holding_an_idle_gpu_says_so(tmp_path: Path) -> None:
    import dataclasses
    import time

    from cockpit.health.config import HealthConfig
    from cockpit.health.monitor import HealthMonitor
    from cockpit.monitor.engine import IngestEngine
    from cockpit.store.writer import StoreWriter
    from cockpit.telemetry.attribution import RunRef
    from cockpit.telemetry.fake_nvml import FakeGpu, FakeNvml
    from cockpit.telemetry.nvml_gateway import NvmlGateway
    from cockpit.telemetry.pipeline import TelemetryPipeline
    from cockpit.telemetry.sampler import SamplerConfig
    from cockpit.telemetry.sources import LocalNvmlSource

    run = tmp_path / "runs" / "hung"
    run.mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", HANGER, str(run / "metrics.jsonl")],
                             stdout=subprocess.PIPE, text=True)
    try:
        fake = FakeNvml([FakeGpu(util_gpu=0, mem_used=40 * 10**9, procs=[(child.pid, 40 * 10**9)])])
        module = fake.module()
        source = LocalNvmlSource(NvmlGateway(loader=lambda: module),
                                 dataclasses.replace(SamplerConfig(), interval_s=0.2,
                                                     process_interval_s=0.2))
        source.open()
        health = HealthMonitor(dataclasses.replace(HealthConfig(), stall_after_s=1.5))
        changes: list = []
        with StoreWriter(tmp_path / "h.duckdb") as writer:
            engine = IngestEngine(writer, [tmp_path / "runs"], health=health, poll_interval=0.05,
                                  rescan_interval=0.1, stall_check_interval=0.2,
                                  processes=LocalProcesses(), on_lifecycle=changes.extend)
            pipeline = TelemetryPipeline(source, writer=writer)

            def attribute() -> None:  # as watch does: the runs found so far, by their folders
                runs = [RunRef(r.row.run_id, r.row.name, Path(r.row.path))
                        for r in list(engine.runs.values())]
                if len(runs) != len(pipeline.monitor.run_names):
                    pipeline.set_runs(runs)

            pipeline.before_batch = attribute
            engine.attach_gpu(pipeline, 3.0)
            alerts: list = []
            engine.on_alerts = alerts.extend
            pipeline.start()
            engine.start()
            deadline = time.monotonic() + 30
            while not any(c.state == "hung" for c in changes):
                assert time.monotonic() < deadline, changes
                time.sleep(0.05)
            engine.stop()
            pipeline.stop()
        hung = next(c for c in changes if c.state == "hung")
        assert "its GPU is idle with 40.0 GB held" in hung.reason
        stall = next(a for a in alerts if a.detector == "stall")
        assert stall.evidence["gpu"]["mem_used"] == 40 * 10**9
        assert stall.evidence["gpus_held"] == 1 and stall.evidence["price_per_gpu_hour"] == 3.0
        assert stall.evidence["gpu_hours_since_onset"] >= 0
    finally:
        child.kill()
        child.wait()


def test_watch_prints_a_change_as_one_line_and_json_tells_it_from_an_alert() -> None:
    import json

    from cockpit.cli.output import format_lifecycle
    from cockpit.model.lifecycle import LifecycleChange

    first = LifecycleChange("id", "exp1", "running", None, "written by PID 12", NOW, "gpu1")
    hung = LifecycleChange("id", "exp1", "hung", "running", "writer PID 12 alive and silent",
                           NOW + 300, "gpu1", {"processes": [{"pid": 12}]})
    assert format_lifecycle(first.to_json()) == "RUN      exp1: running (discovered): written by PID 12"
    assert format_lifecycle(hung.to_json()) == (
        "RUN      exp1: running -> hung: writer PID 12 alive and silent")
    data = json.loads(json.dumps(hung.to_json()))
    assert data["lifecycle"] == "hung" and "detector" not in data and data["host"] == "gpu1"
