"""TelemetryPipeline: one telemetry source wired to attribution, detectors, the store and alerts.

What `watch` and the app start: a thread that pulls batches from a source (local NVML, a
replay, Prometheus), fills each process row's run_id (from its PID, or from the workload an
exporter's labels name), samples the host side of the training processes it found, runs the
GPU detectors, queues rows for the store in batches and hands alerts to a callback. A source
outage becomes a `telemetry_outage` alert when it starts and when it ends. The latest sample
per GPU, the fleet view and the host snapshot stay readable for the UI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from cockpit.model.alert import Alert
from cockpit.telemetry.attribution import Attributor, RunAttributor, RunRef
from cockpit.telemetry.fleet import FleetView
from cockpit.telemetry.gpu_detectors import GpuHealthMonitor
from cockpit.telemetry.host import HostSampler, HostSnapshot
from cockpit.telemetry.label_attribution import LabelAttributor
from cockpit.telemetry.rows import GpuProcessRow, GpuSample, SourceOutage, TelemetryBatch
from cockpit.telemetry.sources import TelemetrySource, TelemetryUnavailable
from cockpit.telemetry.store_sink import GpuRowWriter, GpuStoreBatcher


class TelemetryPipeline:
    def __init__(
        self,
        source: TelemetrySource,
        *,
        writer: GpuRowWriter | None = None,
        monitor: GpuHealthMonitor | None = None,
        attributor: Attributor | None = None,
        host_sampler: HostSampler | None = None,
        host_interval_s: float = 2.0,
        on_alerts: Callable[[list[Alert]], None] | None = None,
        on_batch: Callable[[TelemetryBatch], None] | None = None,
        store_alerts: bool = True,
        before_batch: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.writer = writer
        self.batcher = GpuStoreBatcher(writer) if writer is not None else None
        self.monitor = monitor or GpuHealthMonitor()
        self.monitor.source = getattr(source, "kind", self.monitor.source)
        self.attributor: Attributor = attributor or RunAttributor()
        self.labels = LabelAttributor()
        self.monitor.explain = self.labels.evidence
        self.fleet = FleetView()
        self.outage: SourceOutage | None = None  # the source's outage in progress
        self.host_sampler = host_sampler
        self.host_interval_s = host_interval_s
        self.on_alerts = on_alerts
        self.on_batch = on_batch
        self.store_alerts = store_alerts
        self.before_batch = before_batch  # e.g. refresh the runs to attribute to
        # Adds to alerts before they are stored and handed on (the GPU time they cost).
        self.annotate: Callable[[list[Alert]], None] | None = None
        self.latest_samples: dict[tuple[str, int], GpuSample] = {}
        self.latest_processes: dict[tuple[str, int], list[GpuProcessRow]] = {}
        self.latest_host: HostSnapshot | None = None
        self.error: str | None = None
        self.alerts_raised = 0
        self._last_host = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()

    def set_runs(self, runs: Iterable[RunRef]) -> None:
        """The runs to attribute GPU processes to (call again when runs appear)."""
        runs = list(runs)
        self.attributor.set_runs(runs)
        self.labels.set_runs(runs)
        names = {run.run_id: run.name for run in runs}
        self.monitor.run_names.update(names)
        self.fleet.set_run_names(names)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="cockpit-telemetry", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.source.close()

    def run(self) -> None:
        """Consume the source until it ends or `stop()`; never raises for a source problem."""
        try:
            for batch in self.source.batches(self._stop):
                self.handle(batch)
        except TelemetryUnavailable as err:
            self.error = str(err)
        finally:
            if self.batcher is not None:
                self.batcher.flush()
            self.finished.set()

    def handle(self, batch: TelemetryBatch) -> list[Alert]:
        """Attribute, sample the host, detect, store; returns the alerts this batch raised."""
        if self.before_batch is not None:
            self.before_batch()
        self.attributor.attribute_rows(batch.processes)
        self.labels.attribute_batch(batch)
        for sample in batch.samples:
            self.latest_samples[(sample["host"], sample["gpu"])] = sample
        for key in batch.process_ticks:
            self.latest_processes[key] = [
                r for r in batch.processes if (r["host"], r["gpu"]) == key
            ]
        self._sample_host()
        self.fleet.observe(batch)
        alerts = self.monitor.observe(batch) + [self._outage_alert(o) for o in batch.outages]
        if self.batcher is not None:
            self.batcher.add(batch)
        if alerts:
            if self.annotate is not None:
                self.annotate(alerts)
            self.alerts_raised += len(alerts)
            put_alerts = getattr(self.writer, "put_alerts", None)
            if self.store_alerts and put_alerts is not None:
                put_alerts(alerts)
            if self.on_alerts is not None:
                self.on_alerts(alerts)
        if self.on_batch is not None:
            self.on_batch(batch)
        return alerts

    def run_gpu_view(self, run_id: str, pids: list[int]) -> dict[str, Any] | None:
        """What the GPUs of a run (its attributed processes, or `pids`) show right now: for
        the lifecycle's hang evidence ("GPU idle with memory held"). None: no GPU of its."""
        wanted = set(pids)
        held: dict[tuple[str, int], int] = {}
        for key, rows in self.latest_processes.items():
            for row in rows:
                pid = row.get("pid")  # None for a workload named by labels (a pod, a job)
                if row.get("run_id") == run_id or (pid is not None and int(pid) in wanted):
                    held[key] = held.get(key, 0) + int(row.get("used_mem") or 0)
        if not held:
            return None
        utils = [self.latest_samples[k].get("util_gpu") for k in held if k in self.latest_samples]
        known = [u for u in utils if u is not None]
        return {"gpus": [f"{host}/{gpu}" for host, gpu in sorted(held)],
                "util_gpu_mean": sum(known) / len(known) if known else None,
                "mem_used": sum(held.values())}

    def gpus_held(self, run_id: str) -> int:
        """How many GPUs the run's attributed processes hold in the latest process lists."""
        return sum(1 for rows in self.latest_processes.values()
                   if any(row.get("run_id") == run_id for row in rows))

    def training_pids(self) -> dict[int, str | None]:
        """PIDs attributed to runs in the latest process lists."""
        out: dict[int, str | None] = {}
        for rows in self.latest_processes.values():
            for row in rows:
                if row.get("run_id") and row.get("pid") is not None:
                    out[int(row["pid"])] = row["run_id"]
        return out

    def _outage_alert(self, outage: SourceOutage) -> Alert:
        """One alert when a source stops answering and one when it answers again."""
        self.outage = outage if outage.until is None else None
        evidence = {"source": getattr(self.source, "kind", "telemetry"), "reason": outage.reason,
                    "since": outage.since, "until": outage.until, "gap_from": outage.gap_from,
                    "gap_to": outage.gap_to}
        if outage.until is None:
            message = (f"{outage.message()}: no GPU telemetry and no GPU detector runs until it "
                       "answers (rule: a query failed); retrying. Look at the server, the network "
                       "path and the credentials.")
            return Alert(outage.source, "telemetry_outage", "warning", None, outage.since, None,
                         message, evidence)
        message = (f"{outage.message()}. Detectors restarted their windows after the gap rather "
                   "than reading it as idle GPUs.")
        return Alert(outage.source, "telemetry_outage", "info", None, outage.until, None, message,
                     evidence)

    def _sample_host(self) -> None:
        if self.host_sampler is None:
            return
        now = time.monotonic()
        if now - self._last_host < self.host_interval_s:
            return
        self._last_host = now
        snapshot = self.host_sampler.sample(self.training_pids())
        self.latest_host = snapshot
        self.monitor.observe_host(snapshot)

    def status(self) -> dict[str, Any]:
        return {"source": self.source.status, "error": self.error, "alerts": self.alerts_raised,
                "outage": self.outage.message() if self.outage else None}
