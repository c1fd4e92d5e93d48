"""Slurm's job state as ground truth for remote runs: fake `squeue`/`sacct` scripts
(tests/fake_slurm.py, Slurm's own parsable output) on the real sshd's PATH, and a real process
on the "remote" whose environment carries SLURM_JOB_ID, as srun/sbatch set it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.monitor.engine import IngestEngine
from cockpit.monitor.scheduler import job_run_state, watch_ssh_schedulers
from cockpit.sources.slurm import SlurmJobs, parse_sacct, parse_squeue
from cockpit.store.writer import StoreWriter
from tests.sshd_server import SshServer, sshd_unavailable, wait_for

pytestmark = [pytest.mark.skipif(sshd_unavailable() is not None, reason=str(sshd_unavailable())),
              pytest.mark.usefixtures("ssh_config")]

FAKE = Path(__file__).with_name("fake_slurm.py")


def install_fake_slurm(sshd: SshServer, table: dict) -> None:
    for name in ("squeue", "sacct"):
        shutil.copy(FAKE, sshd.fake_bin / name)
        (sshd.fake_bin / name).chmod(0o755)
    (sshd.fake_bin / "slurm.json").write_text(json.dumps(table))


def remove_fake_slurm(sshd: SshServer) -> None:
    for name in ("squeue", "sacct", "slurm.json"):
        (sshd.fake_bin / name).unlink(missing_ok=True)


def test_slurm_output_is_parsed_as_slurm_prints_it() -> None:
    queue = parse_squeue("4242|RUNNING|/home/u/runs/a|train|None\n77|PENDING|/home/u|eval|Priority\n")
    assert queue["4242"].state == "RUNNING" and queue["4242"].work_dir == "/home/u/runs/a"
    assert queue["77"].reason == "Priority"
    acct = parse_sacct("4242|TIMEOUT|0:0|/home/u/runs/a|train|2026-12-04T10:00:00\n"
                       "4242.batch|CANCELLED|0:15|/home/u/runs/a|batch|2026-12-04T10:00:00\n"
                       "9|CANCELLED by 1000|0:0|/x|y|Unknown\n"
                       "10|FAILED|1:0|/x|y|2026-12-04T10:00:00\n")
    assert set(acct) == {"4242", "9", "10"}  # steps are not jobs
    assert job_run_state(acct["4242"]) == ("failed", "Slurm job 4242 hit its time limit [TIMEOUT]")
    assert job_run_state(acct["9"]) == ("failed", "Slurm job 9 was cancelled by 1000 [CANCELLED]")
    assert job_run_state(acct["10"]) == ("failed", "Slurm job 10 failed (exit code 1) [FAILED]")
    assert job_run_state(queue["77"]) is None  # queued: nothing to say yet


def statuses(writer: StoreWriter) -> dict[str, tuple[str, str | None]]:
    cur = writer.cursor()
    try:
        return {n: (s, r) for n, s, r in cur.execute(
            "SELECT name, status, status_reason FROM runs").fetchall()}
    finally:
        cur.close()


@pytest.mark.slow
def test_job_state_decides_the_run_state(sshd: SshServer, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for name in ("timed_out", "oom", "by_workdir", "preempted"):
        (root / name).mkdir(parents=True)
        (root / name / "metrics.jsonl").write_text('{"step": 0, "loss": 2.0}\n')
    (root / "timed_out" / "slurm-4242.out").write_text("iter 0: loss 2.0000, time 40.00ms\n")
    (root / "preempted" / "slurm-900_3.out").write_text("starting\n")
    # srun/sbatch put SLURM_JOB_ID in the training process's environment.
    trainer = subprocess.Popen(
        [sys.executable, "-c", "import sys,time; f=open(sys.argv[1],'a'); time.sleep(120)",
         str(root / "oom" / "metrics.jsonl")], env=dict(os.environ, SLURM_JOB_ID="777"))
    remove_fake_slurm(sshd)
    try:
        with StoreWriter(tmp_path / "h.duckdb") as writer:
            engine = IngestEngine(writer, [f"ssh://{sshd.alias}{root}"], poll_interval=0.05,
                                  rescan_interval=0.2)
            engine.poll_once()
            [absent] = watch_ssh_schedulers(engine, interval_s=0.2)
            wait_for(lambda: absent.jobs.available is False, what="no Slurm noticed")
            absent.stop()
            install_fake_slurm(sshd, {"queue": [
                {"id": 4242, "state": "RUNNING", "work_dir": str(tmp_path), "name": "train"},
                {"id": 777, "state": "RUNNING", "work_dir": "/somewhere", "name": "oom"},
                {"id": 555, "state": "RUNNING", "work_dir": str(root / "by_workdir"), "name": "w"},
                {"id": 900, "state": "RUNNING", "work_dir": str(tmp_path), "name": "p"}]})
            engine.start()
            [watcher] = watch_ssh_schedulers(engine, interval_s=0.2)
            try:
                wait_for(lambda: watcher.job_of.get(engine_run(engine, "oom")) == "777",
                         what="the job of the process writing the run")
                wait_for(lambda: {k: v[0] for k, v in statuses(writer).items()} == dict.fromkeys(
                    ("timed_out", "oom", "by_workdir", "preempted"), "running"), what="running")
                install_fake_slurm(sshd, {"queue": [], "acct": [
                    {"id": 4242, "state": "TIMEOUT", "exit": "0:0", "work_dir": str(tmp_path)},
                    {"id": 777, "state": "OUT_OF_MEMORY", "exit": "0:125", "work_dir": "/x"},
                    {"id": 555, "state": "COMPLETED", "exit": "0:0", "work_dir": str(root)},
                    {"id": 900, "state": "PREEMPTED", "exit": "0:0", "work_dir": str(tmp_path)}]})
                wait_for(lambda: statuses(writer)["preempted"][0] == "failed"
                         and statuses(writer)["by_workdir"][0] == "finished", what="job ends")
            finally:
                watcher.stop()
                engine.stop()
            final = statuses(writer)
    finally:
        trainer.kill()
        trainer.wait()
    assert final["timed_out"] == ("failed", "Slurm job 4242 hit its time limit [TIMEOUT]")
    assert final["oom"][0] == "failed" and "[OUT_OF_MEMORY]" in final["oom"][1]
    assert final["by_workdir"] == ("finished", "Slurm job 555 completed (exit code 0) [COMPLETED]")
    assert final["preempted"] == ("failed", "Slurm job 900 was preempted [PREEMPTED]")


def engine_run(engine: IngestEngine, name: str) -> str | None:
    return next((r.row.run_id for r in engine.runs.values() if r.row.name == name), None)


def test_a_host_without_slurm_is_not_an_error(sshd: SshServer) -> None:
    from cockpit.sources.ssh import SshTarget, ssh_host

    remove_fake_slurm(sshd)
    host = ssh_host(SshTarget(sshd.alias, config=os.environ["COCKPIT_SSH_CONFIG"]))
    host.connect()
    jobs = SlurmJobs(lambda argv, timeout: host.run(argv, timeout))
    assert jobs.queue() == {} and jobs.available is False and jobs.error is None
