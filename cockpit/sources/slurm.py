"""Slurm's job table, where a host has one: `squeue` for the jobs that are queued or running,
`sacct` for how the others ended. Facts only (`SlurmJob`); which run a job is, and what its
state means for the run, is decided in cockpit/monitor/scheduler.py.

Commands run through a `runner` (argv, timeout) -> (exit status, stdout, stderr): the SSH
host's connection for a cluster's login node, or a local subprocess when Cockpit itself
runs there. Output is requested in Slurm's stable parsable forms: `squeue -h -o` with a
`|`-separated format and `sacct -n -P -X`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Runner = Callable[[list[str], float], tuple[int, bytes, str]]

SQUEUE_FORMAT = "%i|%T|%Z|%j|%r"  # job id, state, working folder, name, reason
SACCT_FIELDS = "JobIDRaw,State,ExitCode,WorkDir,JobName,End"


@dataclass(frozen=True, slots=True)
class SlurmJob:
    job_id: str
    state: str  # Slurm's own word: RUNNING, PENDING, COMPLETED, FAILED, TIMEOUT, PREEMPTED,
    #             OUT_OF_MEMORY, CANCELLED, NODE_FAIL, ...
    work_dir: str | None = None
    name: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None  # squeue's reason (Priority, Resources, ...) or "by <uid>"
    end: str | None = None


def local_runner(argv: list[str], timeout: float) -> tuple[int, bytes, str]:
    """Run a command on this machine (Cockpit on a cluster's login node)."""
    done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    return done.returncode, done.stdout, done.stderr.decode("utf-8", "replace")


def parse_squeue(text: str) -> dict[str, SlurmJob]:
    jobs = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0]:
            continue
        job_id = parts[0].split("_")[0] if "_[" in parts[0] else parts[0]
        jobs[job_id] = SlurmJob(job_id, parts[1].strip(), _field(parts, 2), _field(parts, 3),
                                reason=_field(parts, 4))
    return jobs


def parse_sacct(text: str) -> dict[str, SlurmJob]:
    jobs = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0] or "." in parts[0]:
            continue  # job steps (123.batch, 123.0) are not the job
        words = parts[1].split(" ", 1)  # "CANCELLED by 1000"
        code, signal = _exit_code(parts[2])
        jobs[parts[0]] = SlurmJob(parts[0], words[0], _field(parts, 3), _field(parts, 4), code,
                                  signal, words[1] if len(words) > 1 else None, _field(parts, 5))
    return jobs


def _field(parts: list[str], i: int) -> str | None:
    value = parts[i].strip() if len(parts) > i else ""
    return value or None


def _exit_code(text: str) -> tuple[int | None, int | None]:
    """sacct's `code:signal`."""
    code, _, signal = text.partition(":")
    try:
        return int(code), (int(signal) or None) if signal else None
    except ValueError:
        return None, None


class SlurmJobs:
    """The job table of one host; `available` is False where Slurm is not installed."""

    def __init__(self, runner: Runner, timeout: float = 20.0) -> None:
        self.runner = runner
        self.timeout = timeout
        self.available: bool | None = None  # None: not asked yet
        self.error: str | None = None

    def _run(self, argv: list[str]) -> str | None:
        try:
            rc, out, err = self.runner(argv, self.timeout)
        except FileNotFoundError:
            self.available = False
            return None
        except OSError as e:  # unreachable, or the command timed out
            self.error = str(e)
            return None
        if rc != 0:
            self.error = f"{argv[0]}: {err.strip().splitlines()[0] if err.strip() else rc}"
            return None
        self.available, self.error = True, None
        return out.decode("utf-8", "replace")

    def queue(self) -> dict[str, SlurmJob]:
        """The user's queued and running jobs."""
        text = self._run(["squeue", "--me", "-h", "-o", SQUEUE_FORMAT])
        return parse_squeue(text) if text is not None else {}

    def accounting(self, job_ids: Iterable[str]) -> dict[str, SlurmJob]:
        """How these jobs ended (or are: sacct knows running jobs too)."""
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        text = self._run(["sacct", "-n", "-P", "-X", "-o", SACCT_FIELDS, "-j", ",".join(ids)])
        return parse_sacct(text) if text is not None else {}
