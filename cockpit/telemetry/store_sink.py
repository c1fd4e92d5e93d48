"""Batching GPU rows on their way to the store writer.

A 10 Hz sampler on 8 GPUs makes 80 rows a second; the writer commits far better in groups,
so rows wait here until `max_rows` have gathered or the oldest is `max_delay_s` old.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from cockpit.telemetry.rows import TelemetryBatch


class GpuRowWriter(Protocol):
    """The part of cockpit.store.writer.StoreWriter this module needs."""

    def put_gpu_samples(self, rows: list[dict[str, Any]]) -> None: ...

    def put_gpu_processes(self, rows: list[dict[str, Any]]) -> None: ...


class GpuStoreBatcher:
    """Collects samples and process rows; hands them to the writer in batches. Thread-safe."""

    def __init__(
        self,
        writer: GpuRowWriter,
        max_rows: int = 600,
        max_delay_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer = writer
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.clock = clock
        self._lock = threading.Lock()
        self._samples: list[dict[str, Any]] = []
        self._processes: list[dict[str, Any]] = []
        self._oldest: float | None = None
        self.batches_written = 0

    def add(self, batch: TelemetryBatch) -> None:
        with self._lock:
            if batch.samples or batch.processes:
                if self._oldest is None:
                    self._oldest = self.clock()
                self._samples.extend(batch.samples)
                self._processes.extend(batch.processes)
            due = len(self._samples) + len(self._processes) >= self.max_rows or (
                self._oldest is not None and self.clock() - self._oldest >= self.max_delay_s
            )
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            samples, self._samples = self._samples, []
            processes, self._processes = self._processes, []
            self._oldest = None
        if samples:
            self.writer.put_gpu_samples(samples)
        if processes:
            self.writer.put_gpu_processes(processes)
        if samples or processes:
            self.batches_written += 1
