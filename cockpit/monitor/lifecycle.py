"""The one decision of a run's state (SPEC §3) from points, process and GPU evidence.

Everything that says `running`, `hung`, `finished`, `failed`, `stalled` or `unknown` about a
run (the live engine, `import`, `check`, the app, notifications) goes through `decide`:

- failed: an error in its logs (traceback, OOM, NCCL/CUDA) with nothing logged after it, a
  writer that was killed by a signal or exited non-zero (where the exit is visible: an
  unreaped process, a process record, a scheduler's job table), or a run that ended while a
  critical training-health episode (NaN, runaway loss) was still open;
- finished: its writer exited cleanly, a completion marker in its logs, a record that says so;
  a run that finished is never a warning;
- hung: its writer (or its scheduler's job) is alive and the run is silent beyond its stall
  threshold, with what the process (blocked, sleeping, spinning a core) and its GPU (idle
  with memory held) show;
- stalled: silent beyond the threshold with no writer visible (a remote or foreign job), for
  a run this watcher saw logging;
- running: logging within the threshold, or a visible writer;
- unknown: the logs simply end, after the fact, with nothing to say how (a final state: an
  old import never stays `running`); also, with the reason, while a remote run's host or
  bucket cannot be read.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.health.stall import duration
from cockpit.model.process import ProcessInfo


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A run folder's `process.json` (the recording format, SPEC §5): the training
    process's pid, start, end and exit code, and whether it was alive when last observed."""

    pid: int | None = None
    start: float | None = None
    end: float | None = None
    exit_code: int | None = None
    observed_at: float | None = None
    alive_at_observation: bool | None = None

    @classmethod
    def read(cls, run_dir: Path) -> ProcessRecord | None:
        try:
            data = json.loads((Path(run_dir) / "process.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict):
            return None

        def number(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) and not isinstance(
                value, bool) else None

        pid, code = data.get("pid"), data.get("exit_code")
        alive = data.get("alive_at_observation")
        return cls(pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
                   number("process_start"), number("process_end"),
                   code if isinstance(code, int) and not isinstance(code, bool) else None,
                   number("observed_at"), alive if isinstance(alive, bool) else None)


_DECLARED = {"RUNNING": "running", "FINISHED": "finished", "FAILED": "failed",
             "KILLED": "failed", "SCHEDULED": "unknown"}


def declared_state(status: str) -> str | None:
    """The run state an MLflow status names (RUNNING says nothing about a crashed run)."""
    return _DECLARED.get(status.upper())


@dataclass(slots=True)
class Marker:
    """Something a log said about the run: an error or a completion, at a step and time."""

    text: str
    step: int | None
    ts: float | None
    seen_at: float = 0.0  # when its file held it (mtime): only points arriving later undo it


@dataclass(slots=True)
class Evidence:
    """What is known about one run when its state is decided."""

    now: float
    live: bool  # a watcher looking now; False: an import or check after the fact
    last_point_at: float | None  # when it last logged (see RunLife.last_point_at)
    threshold_s: float  # the silence that counts as a stall (the stall detector's rule)
    seen_fresh: bool = False  # live: the watcher saw it logging
    error: Marker | None = None  # an error in its logs with nothing logged after it
    finished: Marker | None = None  # a completion marker with nothing logged after it
    declared: tuple[str, str] | None = None  # (state, why) from a run record (MLflow meta)
    scheduled: tuple[str, str] | None = None  # (state, why) from the job's scheduler (Slurm)
    writers: list[ProcessInfo] = field(default_factory=list)  # as last seen, gone ones too
    writer_seen: bool = False  # some process was seen writing the run
    record: ProcessRecord | None = None
    critical: str | None = None  # an open critical training-health episode, in words
    gpu: dict[str, Any] | None = None  # what the writer's GPUs show (see GpuView)


@dataclass(slots=True)
class Decision:
    state: str
    reason: str
    ended_at: float | None = None  # for finished/failed/unknown
    stall: str | None = None  # "hung" / "unknown": the stall alert this state calls for
    observed_at: float | None = None  # when the stall was seen, if not now (a process record)
    seen: str = ""  # what the process and GPU showed, for the stall alert's message
    evidence: dict[str, Any] = field(default_factory=dict)
    exit_error: str | None = None  # failed by an exit status with no error line: crash text


def decide(ev: Evidence) -> Decision:
    """The run's state from its evidence (the rules are in this module's docstring)."""
    ended = _ended(ev)
    if ended is not None:
        return ended
    silent = None if ev.last_point_at is None else max(0.0, ev.now - ev.last_point_at)
    quiet = silent is not None and silent >= ev.threshold_s
    alive = [w for w in ev.writers if w.exists]
    if alive:
        if not quiet:
            return Decision("running", f"written by PID {_pids(alive)}",
                            evidence=_process_evidence(alive))
        return _hung(ev, alive, silent or 0.0)
    if ev.scheduled is not None and ev.scheduled[0] == "running":  # the job is alive
        job = ev.scheduled[1]
        if not quiet:
            return Decision("running", job)
        return Decision("hung", f"{job}, silent for {_ago(silent)}", stall="hung",
                        seen=f"; {job}", evidence={"scheduler": job})
    record = ev.record
    if (not ev.live and record is not None and record.alive_at_observation
            and record.observed_at is not None and ev.last_point_at is not None
            and record.observed_at - ev.last_point_at >= ev.threshold_s):
        return Decision("hung", f"process {record.pid} was alive and silent for "
                        f"{record.observed_at - ev.last_point_at:.0f} s when last observed",
                        stall="hung", observed_at=record.observed_at,
                        evidence={"pid": record.pid, "observed_at": record.observed_at})
    if not ev.live:  # after the fact, no process to show it runs: a final state
        if ev.last_point_at is None:
            return Decision("unknown", "its logs end with no time, writer, exit status or end "
                            "marker to tell how")
        return Decision("unknown", f"last logged {_when(ev.last_point_at)}; no writer, exit "
                        "status or end marker seen", ended_at=ev.last_point_at,
                        stall="unknown" if quiet else None)
    if ev.last_point_at is None:
        return Decision("running", "nothing timed logged yet")
    if not quiet:
        return Decision("running", "logging; no writing process seen")
    if ev.seen_fresh:
        return Decision("stalled", f"silent since {_when(ev.last_point_at)} with no writing "
                        "process visible", stall="unknown")
    return Decision("unknown", f"last logged {_when(ev.last_point_at)}; no writer, exit status "
                    "or end marker seen", ended_at=ev.last_point_at)


def _ended(ev: Evidence) -> Decision | None:
    """finished / failed when something says how the run ended."""
    if ev.error is not None:
        return Decision("failed", ev.error.text, _first(ev.error.ts, ev.last_point_at))
    if ev.scheduled is not None and ev.scheduled[0] in ("finished", "failed"):
        state, why = ev.scheduled  # the scheduler's record of how the job ended
        if state == "finished":
            return _finished(ev, why, None)
        return Decision("failed", why, ev.last_point_at, exit_error=why)
    alive = [w for w in ev.writers if w.exists]
    if not alive:
        ends = [(w, w.how_it_ended()) for w in ev.writers]
        seen = [(w, how) for w, how in ends if how is not None]
        bad = [(w, how) for w, how in seen if w.signal or w.exit_code]
        if bad:
            proc, how = bad[0]
            return _failed_by_exit(ev, f"writer PID {proc.pid} {how}", proc.observed_at)
        if seen:
            proc, how = seen[0]
            return _finished(ev, f"writer PID {proc.pid} ended with {how}", proc.observed_at)
    record = ev.record
    if record is not None and record.exit_code is not None and not alive:
        if record.exit_code != 0:
            return _failed_by_exit(ev, f"process exit code {record.exit_code}", record.end)
        return _finished(ev, "process exit code 0", record.end)
    if ev.declared is not None:
        state, why = ev.declared
        return _finished(ev, why, None) if state == "finished" else Decision(state, why, ev.last_point_at)
    if ev.finished is not None:
        return _finished(ev, ev.finished.text, ev.finished.ts)
    if ev.writers and not alive and ev.writer_seen:
        gone = ev.writers[0]
        return _finished(ev, f"writer PID {gone.pid} exited with no error in the logs (its exit "
                         "status is not visible here)", gone.observed_at)
    return None


def _finished(ev: Evidence, why: str, at: float | None) -> Decision:
    ended_at = _first(ev.last_point_at, at)
    if ev.critical:
        return Decision("failed", f"{why}, after {ev.critical}", ended_at)
    return Decision("finished", why, ended_at)


def _failed_by_exit(ev: Evidence, why: str, at: float | None) -> Decision:
    return Decision("failed", why, _first(ev.last_point_at, at), exit_error=why)


def _hung(ev: Evidence, alive: list[ProcessInfo], silent: float) -> Decision:
    shown = [_process_words(p) for p in alive]
    evidence = _process_evidence(alive)
    gpu = ev.gpu
    if gpu:
        evidence["gpu"] = gpu
        util, held = gpu.get("util_gpu_mean"), gpu.get("mem_used")
        if util is not None and held:
            state = "idle" if util < 5 else f"{util:.0f}% busy"
            shown.append(f"its GPU is {state} with {held / 1e9:.1f} GB held")
    seen = "; " + ", ".join(shown) if shown else ""
    return Decision("hung", f"writer PID {_pids(alive)} alive and silent for {_ago(silent)}"
                    f"{seen.replace(';', ':', 1)}", stall="hung", seen=seen, evidence=evidence)


def _process_words(proc: ProcessInfo) -> str:
    cpu = proc.cpu_percent
    if proc.state == "blocked":
        what = "blocked in an uninterruptible wait (I/O, a network file system)"
    elif proc.state == "stopped":
        what = "stopped (SIGSTOP or a debugger)"
    elif cpu is not None and cpu >= 80:
        what = f"spinning a CPU core ({cpu:.0f}%)"
    elif cpu is not None:
        what = f"sleeping at {cpu:.0f}% CPU (waiting on a lock, I/O or peers)"
    else:
        what = proc.state
    return f"PID {proc.pid} is {what}"


def _process_evidence(procs: list[ProcessInfo]) -> dict[str, Any]:
    return {"processes": [{"pid": p.pid, "host": p.host, "state": p.state,
                           "cpu_percent": p.cpu_percent, "name": p.name} for p in procs]}


def _pids(procs: list[ProcessInfo]) -> str:
    return ", ".join(str(p.pid) for p in procs)


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _when(ts: float | None) -> str:
    """A time as a reason states it: stable while the state lasts (not "3 s ago")."""
    if ts is None:
        return "at an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _ago(seconds: float | None) -> str:
    return "?" if seconds is None else duration(seconds)
