"""Where processes are seen: one seam for this machine (psutil), a remote host's /proc over
SSH and a scheduler's job table.

A process source reports facts (`ProcessInfo`): which processes exist, their state, CPU,
working folder, command line and the files they hold open for writing. It never decides
which run a process writes or what a silence means: cockpit/monitor does, the same way for
every source.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePath
from typing import Protocol, TypeVar

import psutil

from cockpit.model.process import ProcessInfo, ProcessTable

_STATES = {
    psutil.STATUS_RUNNING: "alive",
    psutil.STATUS_SLEEPING: "sleeping",
    psutil.STATUS_IDLE: "sleeping",
    psutil.STATUS_WAKING: "alive",
    psutil.STATUS_DISK_SLEEP: "blocked",
    psutil.STATUS_ZOMBIE: "zombie",
    psutil.STATUS_DEAD: "zombie",
    psutil.STATUS_STOPPED: "stopped",
    psutil.STATUS_TRACING_STOP: "stopped",
    psutil.STATUS_PARKED: "sleeping",
}
_WRITE_MODES = ("w", "a", "r+", "w+", "a+")
T = TypeVar("T")
FORGET_S = 60.0  # a pid not asked for this long loses its CPU baseline


class ProcessSource(Protocol):
    """The processes of one host (or one scheduler), as facts.

    `table` is the wide look used to find which process writes a run (every visible process,
    or only those related to `under`: files open for writing, working folder or command line
    inside one of those folders; a source may return more). `snapshot` is the cheap look
    taken every few seconds at processes already known: each pid asked for is in the answer,
    as `gone` when it no longer exists. CPU use is measured since the source's previous look
    at the same pid. Paths are the host's own, absolute.
    """

    @property
    def name(self) -> str:
        """The host, as runs name it ("local", "ssh://gpu1", "slurm://cluster")."""
        ...

    def table(self, under: Sequence[PurePath] = ()) -> ProcessTable: ...

    def snapshot(self, pids: Iterable[int], descendants: bool = False) -> ProcessTable:
        """The given pids (and, with `descendants`, every process below them: data-loader
        workers, whose CPU is the run's own load, not contention)."""
        ...


class LocalProcesses:
    """This machine's processes through psutil (in our own PID namespace)."""

    name = "local"

    def __init__(self) -> None:
        self.hostname = socket.gethostname()
        self._procs: dict[int, psutil.Process] = {}  # kept so cpu_percent measures a delta
        self._asked: dict[int, float] = {}  # pid -> when a snapshot last asked for it
        self._own = os.getpid()
        psutil.cpu_percent()  # prime: the first host reading covers "since now"

    def table(self, under: Sequence[PurePath] = ()) -> ProcessTable:
        roots = [str(p).rstrip(os.sep) for p in under]
        now = time.time()
        out: dict[int, ProcessInfo] = {}
        for proc in psutil.process_iter(["pid", "ppid", "name", "create_time", "status"]):
            if proc.pid == self._own:
                continue
            info = self._full(proc, now, roots)
            if info is not None:
                out[proc.pid] = info
        return self._with_host_cpu(out, now)

    def snapshot(self, pids: Iterable[int], descendants: bool = False) -> ProcessTable:
        now = time.time()
        out: dict[int, ProcessInfo] = {}
        wanted = set(pids)
        if descendants and wanted:
            wanted |= _descendants(wanted)
        for pid in wanted:
            out[pid] = self._brief(pid, now)
            self._asked[pid] = now
        for pid, asked in list(self._asked.items()):
            if now - asked > FORGET_S or out.get(pid, _ALIVE).state == "gone":
                self._procs.pop(pid, None)  # kept a while: descendants are asked for rarely
                del self._asked[pid]
        return self._with_host_cpu(out, now)

    # ---- one process ---------------------------------------------------------------------

    def _full(self, proc: psutil.Process, now: float, roots: list[str]) -> ProcessInfo | None:
        attrs = proc.info
        state = _STATES.get(attrs.get("status") or "", "sleeping")
        if state == "zombie":
            return None  # nothing open, nothing to match; `snapshot` reports its exit
        cwd = _safe(proc.cwd)
        cmdline = tuple(_safe(proc.cmdline) or ())
        writing = tuple(_written_files(proc))
        if roots and not (
            any(_under_any(path, roots) for path in writing)
            or (cwd and _under_any(cwd, roots))
            or any(_under_any(path, roots) for path in cmdline_paths(cmdline, cwd))
        ):
            return None
        return ProcessInfo(
            pid=proc.pid, host=self.name, state=state, observed_at=now,
            create_time=attrs.get("create_time"), ppid=attrs.get("ppid"),
            name=attrs.get("name"), cmdline=cmdline, cwd=cwd, writing=writing,
        )

    def _brief(self, pid: int, now: float) -> ProcessInfo:
        proc = self._procs.get(pid)
        try:
            if proc is None:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # prime: the next look measures from here
                self._procs[pid] = proc
                cpu = None
            else:
                cpu = proc.cpu_percent(None) if proc.is_running() else None
            with proc.oneshot():
                state = _STATES.get(proc.status(), "sleeping")
                created, ppid, name = proc.create_time(), proc.ppid(), proc.name()
        except psutil.ZombieProcess:
            state, created, ppid, name, cpu = "zombie", None, None, None, None
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            self._procs.pop(pid, None)
            return ProcessInfo(pid, self.name, "gone", now)
        exit_code = signal = None
        if state == "zombie":
            exit_code, signal = _zombie_status(pid)
        return ProcessInfo(pid=pid, host=self.name, state=state, observed_at=now,
                           create_time=created, ppid=ppid, name=name, cpu_percent=cpu,
                           exit_code=exit_code, signal=signal)

    def _with_host_cpu(self, processes: dict[int, ProcessInfo], now: float) -> ProcessTable:
        cores = psutil.cpu_count() or 1
        busy = psutil.cpu_percent() / 100.0 * cores
        return ProcessTable(self.name, now, processes, cores, busy)


def _safe(getter: Callable[[], T]) -> T | None:
    try:
        return getter()
    except (psutil.Error, OSError):
        return None


def cmdline_paths(cmdline: Sequence[str], cwd: str | None) -> list[str]:
    """The paths a command line names (`--out=runs/a` too), made absolute against `cwd`."""
    out = []
    for arg in cmdline:
        for piece in arg.split("="):
            if os.sep in piece:
                out.append(os.path.normpath(os.path.join(cwd or os.sep, piece)))
    return out


_ALIVE = ProcessInfo(0, "", "alive", 0.0)


def _descendants(roots: set[int]) -> set[int]:
    """Every process below `roots`, from one pass over the process list."""
    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        ppid = proc.info.get("ppid")
        if ppid:
            children.setdefault(ppid, []).append(proc.pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found and child not in roots:
                found.add(child)
                todo.append(child)
    return found


def _written_files(proc: psutil.Process) -> list[str]:
    files = _safe(proc.open_files) or []
    return [f.path for f in files if getattr(f, "mode", "r") in _WRITE_MODES]


def _under_any(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r + os.sep) for r in roots)


def _zombie_status(pid: int) -> tuple[int | None, int | None]:
    """(exit code, signal) of an unreaped process: Linux keeps its wait status in field 52 of
    /proc/PID/stat until the parent reaps it. (None, None) elsewhere or once reaped."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        status = int(fields[49])  # field 52; fields[0] is field 3 (state)
        if status & 0x7F:
            return None, status & 0x7F
        return (status >> 8) & 0xFF, None
    return None, None
