"""`crash`: the log ends in an error; name the kind of failure and where to look.

Readers turn tracebacks and fatal lines into RunEvent(kind="error"); this module only
classifies the line so the alert can say "out of memory" rather than "an exception".
"""

from __future__ import annotations

import re

from cockpit.health.context import RunContext, at_step
from cockpit.model.alert import Alert
from cockpit.model.records import RunEvent

DETECTOR = "crash"

# (kind, pattern, what to look at next); the first match wins.
_KINDS: list[tuple[str, re.Pattern[str], str]] = [
    ("out of memory",
     re.compile(r"out ?of ?memory|OutOfMemoryError|CUDA_ERROR_OUT_OF_MEMORY|\bOOM\b", re.I),
     "memory growth before the crash (a leak climbs every step), batch or sequence length, "
     "activation checkpointing, PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"),
    ("NCCL / distributed failure",
     re.compile(r"NCCL|Watchdog caught collective operation timeout|ProcessGroup|"
                r"torch\.distributed", re.I),
     "the first rank that failed (its own log), network and NCCL_DEBUG=INFO output, a rank "
     "that hung in the data loader"),
    ("CUDA error",
     re.compile(r"CUDA error|illegal memory access|device-side assert|cuDNN error|"
                r"CUBLAS_STATUS|Xid", re.I),
     "rerun with CUDA_LAUNCH_BLOCKING=1 to find the kernel; index out of range in an "
     "embedding or loss; driver messages (dmesg, Xid)"),
    ("killed",
     re.compile(r"\bKilled\b|SIGKILL|signal 9|SIGTERM|exit code -9|oom-kill", re.I),
     "host memory (the kernel OOM killer: dmesg), the scheduler's time or preemption limits"),
    ("disk full",
     re.compile(r"No space left on device|Disk quota exceeded", re.I),
     "free space where checkpoints and logs are written"),
    ("non-finite loss", re.compile(r"\bnan\b|\binf\b|non-finite", re.I),
     "the first NaN step and what preceded it (lr, grad norm, precision)"),
]


def classify_error(line: str) -> tuple[str, str]:
    """(kind, what to look at next) for an error line."""
    for kind, pattern, hint in _KINDS:
        if pattern.search(line):
            return kind, hint
    return "exception", "the traceback's last frames in the log"


class CrashDetector:
    """One alert per crash; new points after it (a resumed run) re-arm it."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._crash_step: int | None = None
        self._open = False

    def on_points(self, last_step: int | None) -> None:
        if self._open and last_step is not None and (
            self._crash_step is None or last_step > self._crash_step
        ):
            self._open = False
            self.ctx.crashed = False

    def on_event(self, event: RunEvent) -> list[Alert]:
        if event.kind != "error" or self._open:
            return []
        ctx = self.ctx
        self._open = True
        ctx.crashed = True
        step = event.step if event.step is not None else ctx.last_step
        ts = event.ts if event.ts is not None else ctx.last_ts
        self._crash_step = step
        line = " ".join(event.message.split())
        kind, hint = classify_error(line)
        shown = line if len(line) <= 300 else line[:297] + "..."
        where = f" after {at_step(ctx.last_step)}" if ctx.last_step is not None else ""
        return [ctx.alert(
            DETECTOR, "critical", step, ts, None,
            f"run crashed: {kind}{where}: {shown}. Rule: an error line at the end of the log "
            f"marks the run failed. Next: {hint}.",
            {"kind": kind, "error": event.message[:2000], "last_step": ctx.last_step,
             "rule": "error event read from the log"},
        )]
