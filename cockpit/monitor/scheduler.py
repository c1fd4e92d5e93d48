"""A scheduler's word on a run: the Slurm job a run belongs to, and its state as ground truth.

A run belongs to a job when a process writing the run's files carries the job's id (its
SLURM_JOB_ID, or its cgroup, read from /proc), when the run folder holds the job's output
file (`slurm-<id>.out`, sbatch's default) or when it is the job's working folder. The job's
state then decides the run's: RUNNING is running; COMPLETED finished; FAILED, TIMEOUT,
PREEMPTED, OUT_OF_MEMORY, CANCELLED and NODE_FAIL failed, with the reason Slurm gives; a
queued job says nothing yet. A watcher thread per host asks `squeue` and `sacct` every
`interval_s` (never on the engine thread) and hands the states to the engine.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import PurePath
from typing import Any

from cockpit.sources import LOCAL, ByteSource
from cockpit.sources.slurm import SlurmJob, SlurmJobs

log = logging.getLogger(__name__)

SLURM_OUTPUT = re.compile(r"slurm-(\d+)(?:_\d+)?\.(?:out|err)$")

_ENDED = {
    "COMPLETED": ("finished", "completed"),
    "FAILED": ("failed", "failed"),
    "TIMEOUT": ("failed", "hit its time limit"),
    "PREEMPTED": ("failed", "was preempted"),
    "OUT_OF_MEMORY": ("failed", "was killed for running out of memory"),
    "CANCELLED": ("failed", "was cancelled"),
    "NODE_FAIL": ("failed", "lost its node"),
    "BOOT_FAIL": ("failed", "could not boot its node"),
    "DEADLINE": ("failed", "missed its deadline"),
}
_RUNNING = frozenset({"RUNNING", "COMPLETING", "STAGE_OUT"})


def job_run_state(job: SlurmJob) -> tuple[str, str] | None:
    """(run status, reason) a job's state means for its run; None while it is queued."""
    if job.state in _RUNNING:
        return "running", f"Slurm job {job.job_id} is running"
    ended = _ENDED.get(job.state)
    if ended is None:
        return None
    status, what = ended
    how = ""
    if job.signal:
        how = f" (signal {job.signal})"
    elif job.exit_code is not None and job.state in ("FAILED", "COMPLETED"):
        how = f" (exit code {job.exit_code})"
    if job.state == "CANCELLED" and job.reason:
        how = f" {job.reason}"
    return status, f"Slurm job {job.job_id} {what}{how} [{job.state}]"


def _names_in(source: ByteSource, folder: PurePath) -> list[str]:
    files_in = getattr(source, "files_in", None)
    if files_in is not None:
        return list(files_in(folder))
    if source is LOCAL:
        try:
            return os.listdir(folder)
        except OSError:
            return []
    return []


class SchedulerWatcher:
    """Maps one host's runs to Slurm jobs and tells the engine their states."""

    def __init__(self, engine: Any, source: ByteSource, jobs: SlurmJobs,
                 processes: Any = None, interval_s: float = 10.0) -> None:
        self.engine = engine
        self.source = source
        self.jobs = jobs
        self.processes = processes  # RemoteProcesses (or local) for SLURM_JOB_ID of writers
        self.interval_s = interval_s
        self.job_of: dict[str, str] = {}  # run_id -> job id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scan(self) -> dict[str, tuple[str, str]]:
        """One look: {run_id: (status, reason)} for the runs whose job says something."""
        runs = [r for r in list(self.engine.runs.values()) if r.spec.source is self.source]
        if not runs:
            return {}
        queue = self.jobs.queue()
        if self.jobs.available is False:
            return {}
        folders = {str(r.spec.path): r.row.run_id for r in runs}
        found: dict[str, str] = {}
        for job in queue.values():
            if job.work_dir in folders:
                found[folders[job.work_dir]] = job.job_id
        for run in runs:
            ids = [int(m.group(1)) for n in _names_in(self.source, run.spec.path)
                   if (m := SLURM_OUTPUT.match(n))]
            if ids:
                found[run.row.run_id] = str(max(ids))  # the latest job that wrote here
        found.update(self._from_processes(folders))
        self.job_of.update(found)
        known = {job_id: queue[job_id] for job_id in self.job_of.values() if job_id in queue}
        known.update(self.jobs.accounting(j for j in self.job_of.values() if j not in known))
        states = {}
        for run_id, job_id in self.job_of.items():
            seen = known.get(job_id)
            state = job_run_state(seen) if seen is not None else None
            if state is not None:
                states[run_id] = state
        return states

    def _from_processes(self, folders: dict[str, str]) -> dict[str, str]:
        """Runs whose writing process carries a Slurm job id (environment or cgroup)."""
        if self.processes is None:
            return {}
        from cockpit.telemetry.attribution import OPEN_FILE, WORKING_FOLDER, best_run

        try:
            table = self.processes.table([PurePath(f) for f in folders])
        except OSError:
            return {}
        runs = sorted(folders.items(), key=lambda item: -len(item[0]))
        out = {}
        for pid, info in table.processes.items():
            job = self.processes.slurm_jobs.get(pid)
            if job is None:
                continue
            evidence = [(p, OPEN_FILE) for p in info.writing]
            if info.cwd:
                evidence.append((info.cwd, WORKING_FOLDER))
            run_id = best_run(runs, evidence)
            if run_id is not None:
                out[run_id] = job
        return out

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name=f"cockpit-slurm-{self.source.name}")
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                states = self.scan()
            except Exception:  # a scheduler hiccup must not stop the watch
                log.exception("Slurm scan failed")
                states = {}
            if self.jobs.available is False:
                return  # no Slurm on this host
            if states:
                self.engine.set_scheduler_states(states)
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def watch_ssh_schedulers(engine: Any, interval_s: float = 10.0) -> list[SchedulerWatcher]:
    """A watcher for each SSH host watched (it stops by itself where there is no Slurm)."""
    from cockpit.sources.ssh.processes import RemoteProcesses
    from cockpit.telemetry.remote_live import ssh_sources

    watchers = []
    for files in ssh_sources(engine):
        host = files.host
        watcher = SchedulerWatcher(engine, files, SlurmJobs(host.run), RemoteProcesses(host),
                                   interval_s)
        watcher.start()
        watchers.append(watcher)
    return watchers
