"""What a process source reports about a process: facts only, the same for every host.

A local psutil table, a remote host's /proc read over SSH and a scheduler's job table all
answer with these values; which process writes which run, and what that means for the
run's lifecycle, is decided above them (cockpit/monitor).
"""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass, field

# alive: running or runnable (R); sleeping: waiting interruptibly (S, a Python process
# between writes, or one stuck on a lock); blocked: uninterruptible wait (D, I/O or NFS);
# zombie: exited, not yet reaped (its exit status is still readable); stopped: SIGSTOP or a
# debugger (T); gone: no such process (any more).
PROCESS_STATES = ("alive", "sleeping", "blocked", "zombie", "stopped", "gone")


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process as seen at `observed_at` (unix seconds) on `host`."""

    pid: int
    host: str
    state: str
    observed_at: float
    create_time: float | None = None  # unix seconds: with pid, the process's identity
    ppid: int | None = None
    name: str | None = None
    cmdline: tuple[str, ...] = ()
    cwd: str | None = None
    writing: tuple[str, ...] = ()  # absolute paths of regular files open for writing
    cpu_percent: float | None = None  # since the source's previous look; 100 = one core
    exit_code: int | None = None  # where visible: a zombie, a job table, a process record
    signal: int | None = None  # the signal that ended it, where visible

    def __post_init__(self) -> None:
        if self.state not in PROCESS_STATES:
            raise ValueError(f"unknown process state {self.state!r}")

    @property
    def exists(self) -> bool:
        """Still executing (any state but zombie and gone)."""
        return self.state not in ("zombie", "gone")

    def same_process(self, other: ProcessInfo) -> bool:
        """The same process, not a reused pid (create times within clock rounding)."""
        if self.pid != other.pid or self.host != other.host:
            return False
        if self.create_time is None or other.create_time is None:
            return True
        return abs(self.create_time - other.create_time) < 1.0

    def how_it_ended(self) -> str | None:
        """"killed by SIGKILL", "exit code 1", "exit code 0", or None when not visible."""
        if self.signal:
            return f"killed by {signal_name(self.signal)}"
        if self.exit_code is not None:
            return f"exit code {self.exit_code}"
        return None


@dataclass(frozen=True, slots=True)
class ProcessTable:
    """A look at a host's processes: every visible one (`table`) or a few (`snapshot`).

    `cpu_busy` counts busy cores host-wide since the source's previous look (None where the
    source cannot say), so contention by other processes can be told apart from a slow run.
    """

    host: str
    taken_at: float
    processes: dict[int, ProcessInfo] = field(default_factory=dict)
    cpu_count: int | None = None
    cpu_busy: float | None = None


def signal_name(number: int) -> str:
    try:
        return _signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
