"""An SSH host's processes, read from its /proc over the host's one connection.

A `ProcessSource` (cockpit/sources/processes.py) like the local psutil one: the same facts
(`ProcessInfo`: state, CPU since the previous look, working folder, command line, files
open for writing, an unreaped process's exit status), so the monitor decides lifecycle and
attribution for remote runs exactly as for local ones. One request per look, whatever the
number of processes. Also says which Slurm job a process belongs to (`slurm_jobs`), from its
environment (SLURM_JOB_ID) or its cgroup.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

from cockpit.model.process import ProcessInfo, ProcessTable
from cockpit.sources.ssh.host import SshHost

# /proc/PID/stat state letters -> ProcessInfo states
_STATES = {"R": "alive", "S": "sleeping", "I": "sleeping", "D": "blocked", "Z": "zombie",
           "X": "zombie", "T": "stopped", "t": "stopped", "W": "sleeping", "P": "sleeping"}


class RemoteProcesses:
    def __init__(self, host: SshHost) -> None:
        self.host = host
        self.name = host.name
        self._cpu: dict[int, tuple[float, float, float]] = {}  # pid -> (start, cpu_s, when)
        self._host_cpu: tuple[int, int] | None = None  # (busy ticks, all ticks)
        self.slurm_jobs: dict[int, str] = {}  # pid -> Slurm job id, from the latest detail look

    def table(self, under: Sequence[PurePath] = ()) -> ProcessTable:
        args: dict[str, Any] = {"under": [str(p) for p in under]} if under else {"detail": True}
        return self._look(args)

    def snapshot(self, pids: Iterable[int], descendants: bool = False) -> ProcessTable:
        return self._look({"pids": sorted(set(pids)), "descendants": descendants})

    def details(self, pids: Iterable[int]) -> ProcessTable:
        """Working folder, command line and open files of these pids (attribution)."""
        return self._look({"pids": sorted(set(pids)), "detail": True})

    def _look(self, args: dict[str, Any]) -> ProcessTable:
        msg, _ = self.host.request("procs", **args)
        now = float(msg["now"])
        out: dict[int, ProcessInfo] = {}
        for key, row in msg["procs"].items():
            pid = int(key)
            out[pid] = ProcessInfo(pid, self.name, "gone", now) if row is None else \
                self._info(pid, row, now)
        cores = int(msg["cpus"]) if msg.get("cpus") else None
        return ProcessTable(self.name, now, out, cores, self._busy(msg.get("cpu"), cores))

    def _info(self, pid: int, row: dict[str, Any], now: float) -> ProcessInfo:
        state = _STATES.get(str(row["state"]), "sleeping")
        start, cpu_s = float(row["start"]), float(row["cpu_s"])
        before = self._cpu.get(pid)
        cpu = None
        if before is not None and abs(before[0] - start) < 1.0 and now > before[2]:
            cpu = 100.0 * (cpu_s - before[1]) / (now - before[2])
        self._cpu[pid] = (start, cpu_s, now)
        exit_code = signal = None
        if state == "zombie":
            status = int(row.get("wait_status") or 0)
            if status & 0x7F:
                signal = status & 0x7F
            else:
                exit_code = (status >> 8) & 0xFF
        files = row.get("files") or []
        if row.get("slurm_job"):
            self.slurm_jobs[pid] = str(row["slurm_job"])
        return ProcessInfo(
            pid=pid, host=self.name, state=state, observed_at=now, create_time=start,
            ppid=int(row["ppid"]), name=str(row["name"]), cmdline=tuple(row.get("cmdline") or ()),
            cwd=row.get("cwd"), writing=tuple(path for path, writes in files if writes),
            cpu_percent=cpu, exit_code=exit_code, signal=signal)

    def _busy(self, ticks: list[int] | None, cores: int | None) -> float | None:
        if not ticks or not cores:
            return None
        busy, total = int(ticks[0]), int(ticks[1])
        before, self._host_cpu = self._host_cpu, (busy, total)
        if before is None or total <= before[1]:
            return None
        return (busy - before[0]) / (total - before[1]) * cores

    def forget(self, older_than_s: float = 60.0) -> None:
        """Drop CPU baselines of processes not looked at for a while."""
        cutoff = time.time() - older_than_s
        self._cpu = {pid: v for pid, v in self._cpu.items() if v[2] >= cutoff}
