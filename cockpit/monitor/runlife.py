"""Following every run's lifecycle: the evidence the engine gathers, the processes that
write each run, and the changes and alerts the one decision (lifecycle.decide) calls for.

The engine feeds it what each batch brought (points, their newest time, crash and
completion markers); `check` looks at the writers (a cheap snapshot of known PIDs every
call, a wider search for runs without a visible writer at most every `search_every_s`) and
re-decides every run. What changed comes back as `LifecycleChange`s with the alerts the
new states call for (`stall` when hung or stalled, `crash` for a writer killed by a signal
with no error line); the engine stores and announces both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Protocol

from cockpit.health.stall import Silence
from cockpit.model.alert import Alert
from cockpit.model.lifecycle import LifecycleChange
from cockpit.model.process import ProcessInfo, ProcessTable
from cockpit.model.records import RunEvent
from cockpit.monitor.lifecycle import Decision, Evidence, Marker, ProcessRecord, decide
from cockpit.monitor.writers import RunFolder, match_writers
from cockpit.sources.processes import ProcessSource

DEFAULT_THRESHOLD_S = 300.0  # without a health monitor: the stall detector's floor
CONTENTION_EVERY_S = 10.0  # how often the writers' families are summed for host contention


class LifecycleHealth(Protocol):
    """What the lifecycle needs from the health monitor (cockpit.health.monitor)."""

    def silence(self, run_id: str, now: float, last_seen: float | None = None) -> Silence | None: ...

    def report_silence(self, run_id: str, run_name: str, now: float, kind: str, severity: str,
                       seen: str, evidence: dict[str, Any], last_seen: float | None = None
                       ) -> list[Alert]: ...

    def critical(self, run_id: str) -> Alert | None: ...

    def observe_event(self, run_id: str, run_name: str, event: RunEvent) -> list[Alert]: ...

    def note_host_load(self, ts: float, others_busy: float) -> None: ...


# (run_id, writer PIDs) -> what their GPUs show: {"gpus": [...], "util_gpu_mean": %, "mem_used": B}
GpuView = Callable[[str, list[int]], dict[str, Any] | None]


@dataclass(slots=True)
class RunLife:
    """One run's lifecycle evidence as it accumulates."""

    run_id: str
    name: str
    folder: str
    host: str | None = None
    state: str | None = None
    reason: str | None = None
    ended_at: float | None = None
    batches: int = 0
    last_step: int | None = None
    last_ts: float | None = None  # newest timestamp a point carried
    last_arrival: float | None = None  # when a file last grew with points (its mtime then)
    seen_fresh: bool = False  # points arrived while this watcher was looking
    error: Marker | None = None
    finished: Marker | None = None
    declared: tuple[str, str] | None = None
    writers: dict[int, ProcessInfo] = field(default_factory=dict)
    writer_seen: bool = False
    searched_at: float = float("-inf")
    record: ProcessRecord | None = None
    record_read: bool = False
    processes: ProcessSource | None = None  # where its writers are seen (its host's)
    held: str | None = None  # why its place cannot be read now: decided `unknown`, not judged
    held_announced: str | None = None  # `held` when its state was last announced
    scheduled: tuple[str, str] | None = None  # its job's state from a scheduler (Slurm)

    def last_point_at(self, live: bool) -> float | None:
        """Live, once the watcher saw it grow: when its files last grew (the log's own clock may
        be skewed). Otherwise the newest timestamp logged, else the newest file's mtime (which
        bounds the last line of a log that carries no time)."""
        if live and self.seen_fresh:
            return self.last_arrival
        return self.last_ts if self.last_ts is not None else self.last_arrival

    def alive_writers(self) -> list[ProcessInfo]:
        return [w for w in self.writers.values() if w.exists]


@dataclass(slots=True)
class Update:
    changes: list[LifecycleChange] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    ended: dict[str, float | None] = field(default_factory=dict)  # run_id -> ended_at

    def extend(self, other: Update) -> None:
        self.changes += other.changes
        self.alerts += other.alerts
        self.ended.update(other.ended)


class LifecycleTracker:
    """Lifecycle evidence of many runs; one caller thread (the engine's)."""

    def __init__(self, health: LifecycleHealth | None = None,
                 processes: ProcessSource | None = None,
                 default_threshold_s: float = DEFAULT_THRESHOLD_S,
                 search_every_s: float = 10.0) -> None:
        self.health = health
        self.processes = processes
        self.default_threshold_s = default_threshold_s
        self.search_every_s = search_every_s
        self.gpu_view: GpuView | None = None
        self.runs: dict[str, RunLife] = {}
        self._contention_at = float("-inf")
        self._pending: set[str] = set()  # runs that just logged with no writer known yet
        self.searches = 0  # wide process searches made (the benchmark reads it)

    # ---- evidence from the engine ----------------------------------------------------------

    def track(self, run_id: str, name: str, folder: PurePath | str, host: str | None = None,
              processes: ProcessSource | None = None, local: bool = True) -> RunLife:
        """Follow a run whose writers `processes` shows (a local run: this tracker's own;
        a remote one: its host's; a bucket's: none)."""
        life = self.runs.get(run_id)
        if life is None:
            source = self.processes if local else processes
            life = self.runs[run_id] = RunLife(run_id, name, str(folder), host, processes=source)
        return life

    def hold(self, run_id: str, reason: str | None) -> None:
        """Its place cannot be read (a host down, a folder vanished): `unknown` with the reason
        until released (None), then decided afresh from its evidence."""
        self.runs[run_id].held = reason

    def schedule(self, run_id: str, state: str, reason: str) -> None:
        """A scheduler's word on the run's job: running, or how it ended."""
        self.runs[run_id].scheduled = (state, reason)

    def on_batch(self, run_id: str, npoints: int, max_step: int | None, max_ts: float | None,
                 arrival: float | None, events: list[RunEvent], grew: bool = False) -> None:
        """What one batch of one file brought. `grew`: live, the file grew while watched (not
        the first read of a file that was already there)."""
        life = self.runs[run_id]
        life.batches += 1
        if npoints:
            life.seen_fresh = life.seen_fresh or grew
            for name in ("error", "finished"):
                marker: Marker | None = getattr(life, name)
                if (marker is not None and arrival is not None and arrival > marker.seen_at
                        and (max_step is None or marker.step is None or max_step > marker.step)):
                    setattr(life, name, None)  # logged on after it: handled, or resumed
            if arrival is not None:
                life.last_arrival = max(life.last_arrival or arrival, arrival)
            if max_ts is not None:
                life.last_ts = max(life.last_ts or max_ts, max_ts)
            if max_step is not None:
                life.last_step = max(life.last_step if life.last_step is not None else max_step,
                                     max_step)
            if grew and life.writer_seen and not life.alive_writers():
                life.writers.clear()  # a new process writes it now: find it
                life.writer_seen = False
                life.searched_at = float("-inf")
            if grew and not life.alive_writers():
                self._pending.add(run_id)  # look for its writer while it is surely alive
        for event in events:
            step = event.step if event.step is not None else life.last_step
            seen_at = arrival if arrival is not None else (life.last_arrival or 0.0)
            marker = Marker(event.message, step, event.ts if event.ts is not None else arrival,
                            seen_at)
            if event.kind == "error":
                life.error = marker
            elif event.kind == "finished" and life.error is None:
                life.finished = marker

    def declare(self, run_id: str, state: str | None, why: str) -> None:
        """A run record's own word on its state (MLflow's meta.yaml); RUNNING says nothing."""
        self.runs[run_id].declared = None if state in (None, "running", "unknown") else (state, why)

    # ---- decisions -----------------------------------------------------------------------

    def review(self, run_id: str, now: float, live: bool) -> Update:
        """Re-decide one run with what is known now (no process look)."""
        life = self.runs[run_id]
        return self._apply(life, self._decide(life, now, live), now, live)

    def search_pending(self, now: float | None = None) -> Update:
        """Live, after a poll: one wide look for the writers of runs that just logged with no
        writer known (a short run may be gone by the next timed check), then re-decide them."""
        now = time.time() if now is None else now
        pending = [self.runs[r] for r in self._pending
                   if now - self.runs[r].searched_at >= self.search_every_s]
        self._pending.clear()
        out = Update()
        if not pending or self.processes is None:
            return out
        self._search(pending, now)
        for life in pending:
            out.extend(self._apply(life, self._decide(life, now, True), now, True))
        return out

    def check(self, now: float | None = None) -> Update:
        """Live: look at the writers, then re-decide every run."""
        now = time.time() if now is None else now
        self._look(now)
        out = Update()
        for life in list(self.runs.values()):
            if life.batches:
                out.extend(self._apply(life, self._decide(life, now, True), now, True))
        return out

    def settle(self, now: float | None = None) -> Update:
        """After an import: one look for writers, then a final decision for every run."""
        now = time.time() if now is None else now
        if self.runs:
            self._search(list(self.runs.values()), now)
            self._snapshot(now)
        out = Update()
        for life in self.runs.values():
            if life.batches:
                out.extend(self._apply(life, self._decide(life, now, False), now, False))
        return out

    def _decide(self, life: RunLife, now: float, live: bool) -> Decision:
        if life.held is not None:
            return Decision("unknown", life.held)
        if not life.record_read and life.processes is self.processes:  # a local folder
            life.record = ProcessRecord.read(Path(life.folder))
            life.record_read = True
        last = life.last_point_at(live)
        threshold = self.default_threshold_s
        critical = None
        if self.health is not None:
            silence = self.health.silence(life.run_id, now, last)
            if silence is not None:
                threshold = silence.threshold_s
            alert = self.health.critical(life.run_id)
            if alert is not None:
                critical = (f"a critical {alert.detector} alert at step {alert.step}"
                            if alert.step is not None else f"a critical {alert.detector} alert")
        writers = list(life.writers.values())
        alive = [w.pid for w in writers if w.exists]
        gpu = self.gpu_view(life.run_id, alive) if self.gpu_view is not None and alive else None
        return decide(Evidence(
            now=now, live=live, last_point_at=last, threshold_s=threshold,
            seen_fresh=life.seen_fresh, error=life.error, finished=life.finished,
            declared=life.declared, scheduled=life.scheduled, writers=writers,
            writer_seen=life.writer_seen,
            record=life.record, critical=critical, gpu=gpu))

    def _apply(self, life: RunLife, decision: Decision, now: float, live: bool) -> Update:
        out = Update()
        if self.health is not None:
            out.alerts += self._alerts(life, decision, now, live)
        if decision.state == life.state and life.held == life.held_announced:
            life.reason = decision.reason  # the same state in new words: no announcement
            return out
        life.held_announced = life.held
        evidence = dict(decision.evidence)
        change = LifecycleChange(life.run_id, life.name, decision.state, life.state,
                                 decision.reason, now, life.host, evidence)
        life.state, life.reason = decision.state, decision.reason
        terminal = decision.state in ("finished", "failed", "unknown")
        life.ended_at = decision.ended_at if terminal else None
        out.ended[life.run_id] = life.ended_at
        out.changes.append(change)
        return out

    def _alerts(self, life: RunLife, decision: Decision, now: float, live: bool) -> list[Alert]:
        assert self.health is not None
        if decision.exit_error is not None:
            return self.health.observe_event(life.run_id, life.name,
                                             RunEvent("error", decision.exit_error, life.last_step,
                                                      decision.ended_at))
        if decision.stall is None:
            return []
        severity = "warning" if decision.state in ("hung", "stalled") else "info"
        evidence = dict(decision.evidence)
        at = decision.observed_at if decision.observed_at is not None else now
        return self.health.report_silence(life.run_id, life.name, at, decision.stall, severity,
                                          decision.seen, evidence, life.last_point_at(live))

    # ---- looking at processes ----------------------------------------------------------------

    def _look(self, now: float) -> None:
        wanted = [life for life in self.runs.values() if self._needs_search(life, now)]
        if wanted:
            self._search(wanted, now)
        self._snapshot(now)

    def _needs_search(self, life: RunLife, now: float) -> bool:
        """A run with fresh points and no live writer known is searched every search_every_s."""
        if (life.processes is None or life.held is not None or life.alive_writers()
                or not life.batches or now - life.searched_at < self.search_every_s):
            return False
        if life.error is not None or life.finished is not None or life.declared is not None:
            return False
        last = life.last_point_at(True)
        return last is not None and now - last < self._threshold(life, now)

    def _threshold(self, life: RunLife, now: float) -> float:
        if self.health is not None:
            silence = self.health.silence(life.run_id, now)
            if silence is not None:
                return silence.threshold_s
        return self.default_threshold_s

    def _search(self, lives: list[RunLife], now: float) -> None:
        """One wide look per process source (this machine, each SSH host) for the writers."""
        by_source: dict[int, tuple[ProcessSource, list[RunLife]]] = {}
        for life in lives:
            if life.processes is not None and life.held is None:
                by_source.setdefault(id(life.processes), (life.processes, []))[1].append(life)
        for source, group in by_source.values():
            self.searches += 1
            folders = [RunFolder(life.run_id, life.folder) for life in group]
            try:
                table = source.table([PurePath(f.folder) for f in folders])
            except OSError:  # a host that went down meanwhile: its runs are held, not judged
                continue
            found = match_writers(table, folders)
            for life in group:
                life.searched_at = now
                for proc in found.get(life.run_id, ()):
                    life.writers[proc.pid] = proc
                    life.writer_seen = True

    def _snapshot(self, now: float) -> None:
        """Refresh the known writers that still run (a zombie's exit status is kept)."""
        by_source: dict[int, tuple[ProcessSource, list[RunLife]]] = {}
        for life in self.runs.values():
            if life.processes is not None and life.held is None and life.alive_writers():
                by_source.setdefault(id(life.processes), (life.processes, []))[1].append(life)
        for source, group in by_source.values():
            watched = {w.pid for life in group for w in life.alive_writers()}
            local = source is self.processes
            family = (local and self.health is not None
                      and now - self._contention_at >= CONTENTION_EVERY_S)
            try:
                table = source.snapshot(sorted(watched), descendants=family)
            except OSError:
                continue
            for life in group:
                for pid, known in list(life.writers.items()):
                    fresh = table.processes.get(pid)
                    if not known.exists or fresh is None:
                        continue
                    if fresh.exists and not fresh.same_process(known):
                        fresh = ProcessInfo(pid, known.host, "gone", fresh.observed_at)  # reused
                    life.writers[pid] = _merged(known, fresh)
            if family:
                self._contention_at = now
                self._note_contention(table, watched)

    def _note_contention(self, table: ProcessTable, writers: set[int]) -> None:
        """Busy cores of processes outside every run's own process family, as a share."""
        assert self.health is not None
        if table.cpu_busy is None or not table.cpu_count:
            return
        own = sum((p.cpu_percent or 0.0) for p in table.processes.values()) / 100.0
        others = max(0.0, table.cpu_busy - own) / table.cpu_count
        self.health.note_host_load(table.taken_at, others)


def _merged(known: ProcessInfo, fresh: ProcessInfo) -> ProcessInfo:
    """The fresh look, keeping what only the wide search knows (command line, files)."""
    if fresh.state == "gone" and known.state == "zombie":
        return known  # reaped since: its exit status stays what the zombie showed
    return ProcessInfo(
        pid=fresh.pid, host=fresh.host, state=fresh.state, observed_at=fresh.observed_at,
        create_time=fresh.create_time or known.create_time, ppid=fresh.ppid or known.ppid,
        name=fresh.name or known.name, cmdline=fresh.cmdline or known.cmdline,
        cwd=fresh.cwd or known.cwd, writing=fresh.writing or known.writing,
        cpu_percent=fresh.cpu_percent, exit_code=fresh.exit_code, signal=fresh.signal)
