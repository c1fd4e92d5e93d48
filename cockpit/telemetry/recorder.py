"""RecordingWriter: writes any source's batches in the recording format (`cockpit gpu --record`).

The destination is a folder (created if missing) that receives gpu_trace.jsonl and
gpu_procs.jsonl; a path ending in gpu_trace.jsonl means its folder. An existing non-empty
recording is never overwritten or appended to. Lines are flushed as they are written so a
recording cut short by Ctrl-C or a crash is still readable. A recording of anything but local
NVML says its source in gpu_source.json, so a replay labels its alerts with the real origin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from cockpit.telemetry.recording import (
    PROCS_FILE,
    SOURCE_FILE,
    TRACE_FILE,
    procs_line,
    trace_from_sample,
)
from cockpit.telemetry.rows import TelemetryBatch


class RecordingError(Exception):
    """The destination cannot hold a new recording: one sentence naming it."""


def recording_folder(dest: Path) -> Path:
    if dest.name == TRACE_FILE:
        return dest.parent
    if dest.exists() and not dest.is_dir():
        raise RecordingError(
            f"{dest} is a file; --record takes a folder (or a path ending in {TRACE_FILE})"
        )
    return dest


class RecordingWriter:
    def __init__(self, dest: Path | str, source: str = "nvml", origin: str | None = None) -> None:
        self.folder = recording_folder(Path(dest))
        self.source = source
        self.origin = origin
        self._trace: IO[str] | None = None
        self._procs: IO[str] | None = None
        self.samples_written = 0
        self.process_lists_written = 0

    def check(self) -> None:
        """Raise RecordingError if the destination already holds a recording."""
        for name in (TRACE_FILE, PROCS_FILE):
            path = self.folder / name
            if path.exists() and path.stat().st_size > 0:
                raise RecordingError(f"{path} already holds a recording; choose a new folder")

    def open(self) -> None:
        self.check()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._trace = (self.folder / TRACE_FILE).open("w", encoding="utf-8", buffering=1)
            self._procs = (self.folder / PROCS_FILE).open("w", encoding="utf-8", buffering=1)
            if self.source != "nvml":
                about = {"source": self.source, "origin": self.origin}
                (self.folder / SOURCE_FILE).write_text(json.dumps(about) + "\n", encoding="utf-8")
        except OSError as err:
            self.close()
            raise RecordingError(f"cannot write a recording in {self.folder}: {err.strerror}") from None

    def write(self, batch: TelemetryBatch) -> None:
        if self._trace is None or self._procs is None:
            self.open()
        assert self._trace is not None and self._procs is not None
        for sample in batch.samples:
            self._trace.write(json.dumps(trace_from_sample(sample)) + "\n")
            self.samples_written += 1
        for (host, gpu), tick in batch.process_ticks.items():
            rows = [r for r in batch.processes if r["host"] == host and r["gpu"] == gpu]
            self._procs.write(json.dumps(procs_line(batch.ts, host, gpu, rows, tick)) + "\n")
            self.process_lists_written += 1

    def close(self) -> None:
        for handle in (self._trace, self._procs):
            if handle is not None:
                handle.close()
        self._trace = self._procs = None
