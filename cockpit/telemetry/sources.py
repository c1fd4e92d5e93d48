"""The one interface every telemetry source offers, and the local-NVML source.

A source yields `TelemetryBatch`es until it runs out (a replay) or `stop` is set (live ones).
`cockpit gpu`, the pipeline feeding the store and detectors, and `check` only see this.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Protocol

from cockpit.telemetry.nvml_gateway import NvmlGateway
from cockpit.telemetry.rows import TelemetryBatch
from cockpit.telemetry.sampler import Sampler, SamplerConfig


class TelemetryUnavailable(Exception):
    """A source cannot start (no GPU, unreachable server, missing recording): one sentence."""


class TelemetrySource(Protocol):
    # Where the telemetry comes from ("nvml", "prometheus"); alerts' evidence says so.
    kind: str

    @property
    def status(self) -> str:
        """One line saying what the source is reading, or why it reads nothing."""
        ...

    def batches(self, stop: threading.Event | None = None) -> Iterator[TelemetryBatch]:
        """Samples and process rows in time order until exhausted or `stop` is set."""
        ...

    def close(self) -> None: ...


class LocalNvmlSource:
    """This machine's GPUs through NVML: a Sampler whose batches are handed over a queue."""

    kind = "nvml"

    def __init__(
        self,
        gateway: NvmlGateway | None = None,
        config: SamplerConfig | None = None,
        host: str | None = None,
    ) -> None:
        self.gateway = gateway or NvmlGateway()
        self.config = config or SamplerConfig()
        self.host = host
        self._queue: queue.Queue[TelemetryBatch] = queue.Queue(maxsize=1000)
        self.sampler: Sampler | None = None

    @property
    def status(self) -> str:
        return self.sampler.status if self.sampler else self.gateway.status

    def open(self) -> None:
        """Start NVML; raises TelemetryUnavailable with the gateway's one-line reason."""
        if not self.gateway.open():
            raise TelemetryUnavailable(self.gateway.status)
        if self.sampler is None:
            self.sampler = Sampler(self.gateway, self._put, host=self.host, config=self.config)

    def _put(self, batch: TelemetryBatch) -> None:
        try:
            self._queue.put_nowait(batch)
        except queue.Full:  # nobody reads: drop the oldest rather than grow without bound
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            self._queue.put_nowait(batch)

    def set_focus(self, on: bool) -> None:
        if self.sampler:
            self.sampler.set_focus(on)

    def batches(self, stop: threading.Event | None = None) -> Iterator[TelemetryBatch]:
        self.open()
        assert self.sampler is not None
        stop = stop or threading.Event()
        self.sampler.start()
        try:
            while not stop.is_set():
                try:
                    yield self._queue.get(timeout=1.0)  # `stop` is seen within a second
                except queue.Empty:
                    continue
        finally:
            self.sampler.stop()

    def close(self) -> None:
        if self.sampler:
            self.sampler.stop()
        self.gateway.close()
