"""ReplaySource: a recording (SPEC §5) played back as if it were live, at N x real time.

The two files are merged by timestamp. GPM metrics and PCIe rates arrive once a second in
gpu_procs.jsonl; each 100 ms trace sample carries the latest of them for its GPU (for at most
`carry_s`), the way the live sampler attaches its 1 Hz tier to every tick. speed 0 = as fast as
possible (what `check` uses).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cockpit.telemetry.recording import (
    PROCS_FILE,
    TRACE_FILE,
    BadLine,
    find_recording,
    iter_json_lines,
    procs_from_line,
    recorded_source,
    sample_from_trace,
)
from cockpit.telemetry.rows import TelemetryBatch
from cockpit.telemetry.sources import TelemetryUnavailable


class ReplaySource:
    """Plays `gpu_trace.jsonl` + `gpu_procs.jsonl` from a folder (or a trace file's folder)."""

    def __init__(
        self,
        path: Path | str,
        speed: float = 1.0,
        host: str = "replay",
        rebase_ts: bool = False,
        carry_s: float = 2.5,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        given = Path(path)
        folder = find_recording(given)
        if folder is None:
            raise TelemetryUnavailable(
                f"no GPU recording at {given}: expected a folder holding {TRACE_FILE}"
            )
        self.folder = folder
        # Alerts from a replay name where the telemetry was recorded (nvml, prometheus).
        self.kind = str(recorded_source(folder)["source"])
        self.speed = speed
        self.host = host
        self.rebase_ts = rebase_ts
        self.carry_s = carry_s
        self.clock = clock
        self.wall_clock = wall_clock
        self.samples_read = 0
        self.process_lists_read = 0
        self.bad_lines = 0
        self.first_bad: BadLine | None = None

    @property
    def status(self) -> str:
        pace = "as fast as possible" if self.speed == 0 else f"at {self.speed:g}x"
        line = (
            f"replaying {self.folder} {pace}: {self.samples_read} samples, "
            f"{self.process_lists_read} process lists"
        )
        if self.first_bad is not None:
            bad = self.first_bad
            line += (
                f"; {self.bad_lines} bad line(s) skipped (first: {bad.file} line {bad.line_no}, "
                f"{bad.reason})"
            )
        return line

    def _lines(self, name: str, kind: int) -> Iterator[tuple[float, int, int, dict[str, Any]]]:
        path = self.folder / name
        if not path.is_file():
            return
        for line_no, obj in iter_json_lines(path):
            if isinstance(obj, BadLine):
                self.bad_lines += 1
                if self.first_bad is None:
                    self.first_bad = obj
                continue
            yield float(obj["ts"]), kind, line_no, obj

    def batches(self, stop: threading.Event | None = None) -> Iterator[TelemetryBatch]:
        # kind 0 (procs) sorts before kind 1 (trace) at equal ts.
        merged = heapq.merge(self._lines(PROCS_FILE, 0), self._lines(TRACE_FILE, 1))
        carried: dict[tuple[str, int], tuple[float, dict[str, float | None]]] = {}
        first_ts: float | None = None
        start = self.clock()
        shift = 0.0
        for ts, kind, _, obj in merged:
            if first_ts is None:
                first_ts = ts
                shift = self.wall_clock() - ts if self.rebase_ts else 0.0
            if self.speed > 0:
                delay = start + (ts - first_ts) / self.speed - self.clock()
                if delay > 0 and stop is not None:
                    if stop.wait(delay):
                        return
                elif delay > 0:
                    time.sleep(delay)
            if stop is not None and stop.is_set():
                return
            batch = TelemetryBatch(ts=ts + shift)
            if kind == 0:
                line = procs_from_line(obj, self.host)
                key = (line.host, line.gpu)
                carried[key] = (line.ts, line.tick)
                for row in line.rows:
                    row["ts"] += shift
                batch.processes = line.rows
                batch.process_ticks[key] = dict(line.tick)
                self.process_lists_read += 1
            else:
                sample = sample_from_trace(obj, self.host)
                held = carried.get((sample["host"], sample["gpu"]))
                if held is not None and 0 <= sample["ts"] - held[0] <= self.carry_s:
                    sample.update(held[1])
                sample["ts"] += shift
                batch.samples.append(sample)
                self.samples_read += 1
            yield batch

    def close(self) -> None:
        """Nothing to release: files are opened and closed while iterating."""
