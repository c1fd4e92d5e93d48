"""Which run a GPU process belongs to.

A process belongs to a run when it (or, for a data-loader worker or a launcher's child, its
closest ancestor that matches) has one of the run's files open, works in the run's folder, or
names the folder on its command line; the strongest evidence wins, then the deepest folder.
Everyone else on the GPU stays unattributed ("other users"). PIDs are resolved with psutil
in our own PID namespace; a PID that is not visible here (a container) is never guessed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Protocol

import psutil

from cockpit.telemetry.rows import GpuProcessRow


@dataclass(frozen=True, slots=True)
class RunRef:
    run_id: str
    name: str
    path: PurePath  # the run folder on its own host
    host: str | None = None  # where the run executes (a remote run's host), if known


class Attributor(Protocol):
    """Fills `run_id` of GPU process rows: RunAttributor here, RemoteRunAttributor on an SSH host."""

    def set_runs(self, runs: Iterable[RunRef]) -> None: ...

    def pin(self, pid: int, run_id: str) -> None: ...

    def attribute_rows(self, rows: Iterable[GpuProcessRow]) -> None: ...

    def children_of(self, pid: int) -> list[int]: ...


# How strongly a path ties a process to the run folder it lies in.
OPEN_FILE, WORKING_FOLDER, COMMAND_LINE = 3, 2, 1


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def best_run(runs: list[tuple[str, str]], evidence: Iterable[tuple[str, int]]) -> str | None:
    """The run whose folder the strongest evidence lies in, the deepest folder first.
    `runs` is (folder, run_id) sorted deepest first; the same rule for every host."""
    best: tuple[int, int, str] | None = None  # (evidence strength, folder depth, run_id)
    for path, strength in evidence:
        for folder, run_id in runs:
            if _under(path, folder):
                candidate = (strength, len(folder), run_id)
                if best is None or candidate > best:
                    best = candidate
                break
    return best[2] if best else None


def pins_from_process_json(run_dir: Path, run_id: str) -> dict[int, str]:
    """{pid: run_id} from a run folder's process.json (what the H100 recordings carry)."""
    try:
        data = json.loads((run_dir / "process.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    pid = data.get("pid") if isinstance(data, dict) else None
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
        return {pid: run_id}
    return {}


class RunAttributor:
    """Maps PIDs to run ids; results are cached per process for `ttl_s`."""

    def __init__(
        self,
        runs: Iterable[RunRef] = (),
        ttl_s: float = 30.0,
        max_depth: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_depth = max_depth
        self.clock = clock
        self._runs: list[tuple[str, str]] = []  # (resolved folder, run_id), deepest first
        self._pins: dict[int, str] = {}
        self._cache: dict[int, tuple[float, float, str | None]] = {}  # pid -> (created, expiry, run)
        self.set_runs(runs)

    def set_runs(self, runs: Iterable[RunRef]) -> None:
        resolved = []
        for run in runs:
            if run.host is not None:
                continue  # runs elsewhere: their processes are not in this machine's table
            try:
                folder = str(Path(run.path).resolve())
            except OSError:
                folder = os.path.abspath(run.path)
            resolved.append((folder, run.run_id))
        self._runs = sorted(resolved, key=lambda item: -len(item[0]))
        self._cache.clear()

    def pin(self, pid: int, run_id: str) -> None:
        """Attribute `pid` to `run_id` without looking (e.g. from a run's process.json)."""
        self._pins[pid] = run_id

    def attribute_rows(self, rows: Iterable[GpuProcessRow]) -> None:
        """Fill `run_id` of gpu_processes rows in place (rows already attributed are kept)."""
        for row in rows:
            if row.get("run_id") is None and row.get("pid") is not None:
                row["run_id"] = self.attribute(int(row["pid"]))

    def attribute(self, pid: int) -> str | None:
        if pid in self._pins:
            return self._pins[pid]
        if not self._runs:
            return None
        now = self.clock()
        try:
            proc = psutil.Process(pid)
            created = proc.create_time()
        except (psutil.Error, OSError):
            return None
        cached = self._cache.get(pid)
        if cached is not None and cached[0] == created and cached[1] > now:
            return cached[2]
        run_id = self._match_lineage(proc)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[pid] = (created, now + self.ttl_s, run_id)
        return run_id

    def _match_lineage(self, proc: psutil.Process) -> str | None:
        current: psutil.Process | None = proc
        for _ in range(self.max_depth):
            if current is None or current.pid <= 1:
                return None
            if current.pid in self._pins:
                return self._pins[current.pid]
            run_id = self._match_process(current)
            if run_id is not None:
                return run_id
            try:
                current = current.parent()
            except (psutil.Error, OSError):
                return None
        return None

    def _match_process(self, proc: psutil.Process) -> str | None:
        evidence = [(os.path.realpath(path.path), OPEN_FILE) for path in _safe(proc.open_files, [])]
        cwd = _safe(proc.cwd, None)
        if cwd:
            evidence.append((os.path.realpath(cwd), WORKING_FOLDER))
        for arg in _safe(proc.cmdline, []):
            for piece in arg.split("="):
                if os.sep in piece:
                    evidence.append((os.path.realpath(os.path.join(cwd or os.sep, piece)),
                                     COMMAND_LINE))
        return best_run(self._runs, evidence)

    def children_of(self, pid: int) -> list[int]:
        """The process's descendants (its data-loader workers), for the host sampler."""
        try:
            return [child.pid for child in psutil.Process(pid).children(recursive=True)]
        except (psutil.Error, OSError):
            return []


def _safe(getter: Callable[[], Any], default: Any) -> Any:
    try:
        return getter()
    except (psutil.Error, OSError):
        return default
