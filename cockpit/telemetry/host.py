"""HostSampler: the host side of a training job (psutil), to tell a starved GPU from a hung one.

Per call: CPU per core, RAM, disk and network IO rates, and per-process CPU/RSS/IO for the
training processes it is given plus their descendants (data-loader workers). psutil's
`cpu_percent` is per core (100 = one core busy) and measured since the previous call, so the
sampler keeps its Process objects between calls.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import psutil


@dataclass(slots=True)
class ProcessStat:
    pid: int
    ppid: int | None
    name: str | None
    role: str  # "training" (a GPU process of a run) or "worker" (one of its descendants)
    training_pid: int  # the training process this one belongs to
    run_id: str | None
    cpu_percent: float | None  # 100 = one core
    rss: int | None
    read_bps: float | None
    write_bps: float | None
    threads: int | None


@dataclass(slots=True)
class HostSnapshot:
    ts: float
    host: str
    cpu_per_core: list[float]
    ram_used: int
    ram_total: int
    disk_read_bps: float | None
    disk_write_bps: float | None
    net_sent_bps: float | None
    net_recv_bps: float | None
    processes: list[ProcessStat] = field(default_factory=list)

    def family(self, training_pid: int) -> list[ProcessStat]:
        return [p for p in self.processes if p.training_pid == training_pid]

    def busiest_cpu(self, training_pid: int) -> float | None:
        """The highest per-process CPU (100 = one core) in a training process's family."""
        values = [p.cpu_percent for p in self.family(training_pid) if p.cpu_percent is not None]
        return max(values) if values else None


class HostSampler:
    def __init__(
        self,
        host: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host or socket.gethostname()
        self.clock = clock
        self.wall_clock = wall_clock
        self._procs: dict[int, psutil.Process] = {}
        self._proc_io: dict[int, tuple[float, int, int]] = {}
        self._last: tuple[float, int, int, int, int] | None = None
        psutil.cpu_percent(percpu=True)  # prime: the first reading covers "since now"

    def sample(self, training: Mapping[int, str | None] | None = None) -> HostSnapshot:
        """One snapshot; `training` maps the training PIDs to watch to their run ids."""
        now = self.clock()
        vm = psutil.virtual_memory()
        disk = _safe_counters(psutil.disk_io_counters)
        net = _safe_counters(psutil.net_io_counters)
        reads = getattr(disk, "read_bytes", 0)
        writes = getattr(disk, "write_bytes", 0)
        sent = getattr(net, "bytes_sent", 0)
        recv = getattr(net, "bytes_recv", 0)
        rates: list[float | None] = [None, None, None, None]
        if self._last is not None and now > self._last[0]:
            dt = now - self._last[0]
            current = (reads, writes, sent, recv)
            rates = [max(0.0, (c - p) / dt) for c, p in zip(current, self._last[1:], strict=True)]
        self._last = (now, reads, writes, sent, recv)
        snapshot = HostSnapshot(
            ts=self.wall_clock(),
            host=self.host,
            cpu_per_core=list(psutil.cpu_percent(percpu=True)),
            ram_used=int(vm.total - vm.available),
            ram_total=int(vm.total),
            disk_read_bps=rates[0] if disk is not None else None,
            disk_write_bps=rates[1] if disk is not None else None,
            net_sent_bps=rates[2] if net is not None else None,
            net_recv_bps=rates[3] if net is not None else None,
        )
        seen: set[int] = set()
        for pid, run_id in (training or {}).items():
            proc = self._process(pid)
            if proc is None:
                continue
            family = [(proc, "training")]
            with contextlib.suppress(psutil.Error, OSError):
                family += [(child, "worker") for child in proc.children(recursive=True)]
            for member, role in family:
                if member.pid in seen:
                    continue
                seen.add(member.pid)
                stat = self._stat(self._process(member.pid) or member, role, pid, run_id, now)
                if stat is not None:
                    snapshot.processes.append(stat)
        for pid in list(self._procs):
            if pid not in seen:
                del self._procs[pid]
                self._proc_io.pop(pid, None)
        return snapshot

    def _process(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is not None and proc.is_running():
            return proc
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # prime: the next call measures from here
        except (psutil.Error, OSError):
            self._procs.pop(pid, None)
            return None
        self._procs[pid] = proc
        return proc

    def _stat(
        self, proc: psutil.Process, role: str, training_pid: int, run_id: str | None, now: float
    ) -> ProcessStat | None:
        try:
            with proc.oneshot():
                cpu = proc.cpu_percent(None)
                rss = proc.memory_info().rss
                name = proc.name()
                ppid = proc.ppid()
                threads = proc.num_threads()
        except (psutil.Error, OSError):
            return None
        read_bps = write_bps = None
        try:
            io = proc.io_counters()
        except (psutil.Error, OSError, AttributeError):
            io = None
        if io is not None:
            previous = self._proc_io.get(proc.pid)
            if previous is not None and now > previous[0]:
                dt = now - previous[0]
                read_bps = max(0.0, (io.read_bytes - previous[1]) / dt)
                write_bps = max(0.0, (io.write_bytes - previous[2]) / dt)
            self._proc_io[proc.pid] = (now, io.read_bytes, io.write_bytes)
        return ProcessStat(
            pid=proc.pid, ppid=ppid, name=name, role=role, training_pid=training_pid,
            run_id=run_id, cpu_percent=cpu, rss=rss, read_bps=read_bps, write_bps=write_bps,
            threads=threads,
        )


def _safe_counters(getter: Callable[[], object]) -> object | None:
    try:
        return getter()
    except (OSError, RuntimeError):
        return None
