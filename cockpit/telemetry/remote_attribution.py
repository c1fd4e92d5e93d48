"""Which remote run a process on an SSH host's GPU belongs to, from that host's /proc.

The same rule as on this machine (`best_run`: files open for writing, working folder, paths
on the command line; a data-loader worker or a launcher's child takes its closest matching
ancestor), on facts read over the host's connection: one request for the new pids of a
process tick, one more per ancestor level. Only the host's own runs are candidates, so a
remote /runs/a is never confused with a local folder of the same name.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable, Iterable

from cockpit.model.process import ProcessInfo
from cockpit.sources.ssh.processes import RemoteProcesses
from cockpit.telemetry.attribution import (
    COMMAND_LINE,
    OPEN_FILE,
    WORKING_FOLDER,
    RunRef,
    best_run,
)
from cockpit.telemetry.rows import GpuProcessRow


class RemoteRunAttributor:
    """Maps PIDs on one SSH host to run ids; answers are kept per process for `ttl_s`."""

    def __init__(self, processes: RemoteProcesses, ttl_s: float = 30.0, max_depth: int = 8,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.processes = processes
        self.host_name = processes.host.target.host
        self.ttl_s = ttl_s
        self.max_depth = max_depth
        self.clock = clock
        self._runs: list[tuple[str, str]] = []
        self._pins: dict[int, str] = {}
        self._cache: dict[int, tuple[float, str | None]] = {}  # pid -> (expiry, run)

    def set_runs(self, runs: Iterable[RunRef]) -> None:
        folders = [(posixpath.normpath(str(run.path)), run.run_id) for run in runs]
        self._runs = sorted(folders, key=lambda item: -len(item[0]))
        self._cache.clear()

    def pin(self, pid: int, run_id: str) -> None:
        self._pins[pid] = run_id

    def children_of(self, pid: int) -> list[int]:
        return []  # the remote host's CPU is not sampled by this machine's host sampler

    def attribute_rows(self, rows: Iterable[GpuProcessRow]) -> None:
        rows = [r for r in rows if r.get("run_id") is None and r.get("host") == self.host_name]
        if not rows or not (self._runs or self._pins):
            return
        now = self.clock()
        unknown = {int(r["pid"]) for r in rows} - {
            pid for pid, (expiry, _) in self._cache.items() if expiry > now}
        if unknown:
            try:
                self._resolve(unknown, now)
            except OSError:
                return  # unreachable: attribute at the next process tick
        for row in rows:
            pid = int(row["pid"])
            cached = self._cache.get(pid)
            row["run_id"] = self._pins.get(pid) or (cached[1] if cached else None)

    def _resolve(self, pids: set[int], now: float) -> None:
        """Walk up from each pid until an ancestor matches a run (one request per level)."""
        lineage = {pid: pid for pid in pids}  # current ancestor -> the GPU pid it stands for
        found: dict[int, str | None] = {}
        for _level in range(self.max_depth):
            asked = {a for a in lineage if a > 1}
            if not asked:
                break
            table = self.processes.details(asked)
            nxt: dict[int, int] = {}
            for ancestor, pid in lineage.items():
                info = table.processes.get(ancestor)
                if info is None or not info.exists:
                    continue
                run_id = self._pins.get(ancestor) or self._match(info)
                if run_id is not None:
                    found[pid] = run_id
                elif info.ppid and info.ppid > 1:
                    nxt[info.ppid] = pid
            lineage = nxt
        for pid in pids:
            self._cache[pid] = (now + self.ttl_s, found.get(pid))

    def _match(self, info: ProcessInfo) -> str | None:
        evidence = [(posixpath.normpath(p), OPEN_FILE) for p in info.writing]
        if info.cwd:
            evidence.append((posixpath.normpath(info.cwd), WORKING_FOLDER))
        for arg in info.cmdline:
            for piece in arg.split("="):
                if "/" in piece:
                    evidence.append((posixpath.normpath(posixpath.join(info.cwd or "/", piece)),
                                     COMMAND_LINE))
        return best_run(self._runs, evidence)
