"""What the desktop app drives: the store writer, the ingest engine with its health monitor,
a GPU telemetry source and a housekeeping thread. Qt-free.

A thin adapter over the core (cockpit.store.writer, cockpit.monitor.engine,
cockpit.health.monitor, cockpit.telemetry.*) so the window only knows `cursor()`,
`add_root()`, `ingest_rate()` and `close()`; the same wiring as `cockpit watch`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from cockpit.model.lifecycle import LifecycleChange

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BackendOptions:
    db_path: Path
    roots: list[Path | str] = field(default_factory=list)  # folders, ssh:// or bucket URLs
    gpu: str = "auto"  # "auto": local NVML when present; "off"; "replay": gpu_replay below;
    # "prometheus": the Prometheus at gpu_url (a cluster's dcgm-exporter metrics)
    gpu_replay: Path | None = None
    gpu_url: str | None = None
    replay_speed: float = 1.0
    replay_loop: bool = True
    replay_pin_run: str | None = None  # demo: the run name the replayed process belongs to
    stall_after: float | None = None
    health: dict[str, Any] = field(default_factory=dict)  # HealthConfig overrides
    poll_interval: float = 0.25
    gpu_interval: float = 1.0
    notify: Any = None  # cockpit.notify.config.NotifyConfig: routes off the desktop
    gpu_price: float | None = None  # per GPU-hour (None: $COCKPIT_GPU_PRICE or unpriced)
    sql_file_access: bool = False  # the app's setting: SQL may read and write files


class Backend:
    """Owns every background thread of the app; the GUI only reads through `cursor()`."""

    def __init__(self, options: BackendOptions) -> None:
        from cockpit.store.db import StoreLocked
        from cockpit.store.live import LiveClient
        from cockpit.store.writer import StoreWriter

        self.options = options
        self.writer: StoreWriter | None = None
        # A history another Cockpit holds (watch, an app) is shown through its live socket,
        # read-only: nothing is ingested or sampled here (`owner` is that process).
        self.owner: int | None = None
        try:
            # The app owns the history and answers live reads of it (cockpit.store.live).
            self.writer = StoreWriter(options.db_path, serve=True,
                                      file_access=options.sql_file_access)
        except StoreLocked as locked:
            probe = LiveClient.open(options.db_path)
            if probe is None:
                raise
            probe.close()
            self.owner = locked.pid or -1
        self.health = _make_health(options)
        self.engine: Any = None
        self.gpu_status = "GPU telemetry off"
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.pipeline: Any = None
        self.remote: list[Any] = []  # per SSH host: its GPU pipeline and Slurm watcher
        self._remote_hosts: set[str] = set()
        self._attributed_runs = -1
        self._pinned_pid: int | None = None
        self._pinned_runs: set[str] = set()  # runs whose recorded PIDs are pinned
        self._price: float | None = None
        # Called on the engine thread with each batch of lifecycle changes (notifications).
        self.lifecycle_listeners: list[Callable[[list[LifecycleChange]], None]] = []
        self.started = False
        self._closed = False
        self.notifier: Any = None

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Start ingest, housekeeping and GPU telemetry (the app calls this once its first
        frame is on screen; a backend closed before that never starts)."""
        if self.started or self._closed:
            return
        self.started = True
        if self.writer is None:
            self.gpu_status = "GPU telemetry: as stored by the Cockpit holding the history"
            return
        from cockpit.monitor.engine import IngestEngine, IngestError
        from cockpit.sources.location import is_remote
        from cockpit.sources.processes import LocalProcesses

        roots = []
        for root in self.options.roots:
            if is_remote(root):
                self.add_root_in_background(str(root))  # connecting must not hold the window
            elif Path(root).exists():
                roots.append(Path(root))
            else:
                self.errors.append(f"{root} does not exist")
        self.set_notify(self.options.notify)
        wiring: dict[str, Any] = {"health": self.health, "stall_check_interval": 1.0,
                                  "recordings": True, "processes": LocalProcesses(),
                                  "on_alerts": self._notify_alerts,
                                  "on_lifecycle": self._on_lifecycle}
        try:
            self.engine = IngestEngine(self.writer, roots,
                                       poll_interval=self.options.poll_interval, **wiring)
        except IngestError as err:
            self.errors.append(str(err))
            self.engine = IngestEngine(self.writer, [], **wiring)
        from cockpit.notify.notifier import chain_on_lifecycle

        chain_on_lifecycle(self.engine, self._notify_lifecycle)
        from cockpit.monitor.gpu_cost import gpu_price

        self._price = gpu_price(self.options.gpu_price)
        self.engine.attach_gpu(None, self._price)
        self.engine.start()
        self._spawn(self._housekeeping, "cockpit-housekeeping")
        self._start_gpu()

    def _on_lifecycle(self, changes: list[LifecycleChange]) -> None:
        for listener in list(self.lifecycle_listeners):
            try:
                listener(changes)
            except Exception:  # a listener's bug must not stop ingest
                log.exception("lifecycle listener failed")

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ---- notifications off the desktop ---------------------------------------------------
    def set_notify(self, config: Any) -> None:
        """Deliver alerts to `config`'s routes from now on (None: to none). Returns at once:
        the previous notifier finishes on a thread of its own."""
        from cockpit.notify.notifier import Notifier

        self.options.notify = config
        old, self.notifier = self.notifier, None
        if config is not None and config.routes:
            self.notifier = Notifier(config, report=self.errors.append).start()
        if old is not None:
            self._spawn(lambda: old.close(timeout=10.0), "cockpit-notify-close")

    def _notify_alerts(self, alerts: list[Any]) -> None:
        notifier = self.notifier
        if notifier is not None:
            notifier.on_alerts(alerts)

    def _notify_lifecycle(self, changes: list[Any]) -> None:
        notifier = self.notifier
        if notifier is not None:
            notifier.on_lifecycle(changes)

    def close(self) -> None:
        self._closed = True
        self._stop.set()
        if self.engine is not None:
            self.engine.stop()
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.notifier is not None:
            self.notifier.close(timeout=5.0)
        for part in self.remote:
            part.stop()
        from cockpit.sources.location import close_sources

        close_sources()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.writer is not None:
            try:
                self.writer.flush(timeout=10)
            except Exception as err:  # closing anyway; the error was shown while running
                log.warning("final flush failed: %s", err)
            self.writer.close()
        # Drop the core objects: a closed DuckDB connection still alive at interpreter exit
        # makes the duckdb extension print a leak report.
        self.engine = None
        self.pipeline = None

    # ---- what the GUI calls ------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        if self.writer is None:
            from cockpit.store.reading import LiveCursor

            return LiveCursor(self.options.db_path)  # type: ignore[return-value]
        return self.writer.cursor()

    def add_root(self, path: Path | str) -> None:
        """Watch another folder, ssh:// folder or bucket prefix (raises the engine's
        IngestError with one sentence). A remote one connects first: call it off the GUI
        thread (`add_root_in_background`)."""
        from cockpit.monitor.engine import IngestError

        if self.engine is None and self.writer is None:
            raise IngestError(f"{self.options.db_path} is held by another Cockpit "
                              f"(PID {self.owner}); add folders to watch there")
        self.engine.add_root(path)
        self._start_remote()

    def add_root_in_background(self, url: str, done: Any = None) -> None:
        """Connect to a remote folder on a thread; `done(url, error or None)` afterwards."""

        def work() -> None:
            error = None
            while self.engine is None and not self._stop.is_set():
                self._stop.wait(0.05)  # start() creates the engine right after this
            try:
                self.add_root(url)
            except Exception as err:  # the engine's IngestError: one sentence
                error = str(err)
                self.errors.append(error)
            if done is not None:
                done(url, error)

        self._spawn(work, "cockpit-add-remote")

    def _start_remote(self) -> None:
        """GPU telemetry and Slurm watching for each SSH host newly watched."""
        from cockpit.monitor.scheduler import SchedulerWatcher
        from cockpit.sources.slurm import SlurmJobs
        from cockpit.sources.ssh.processes import RemoteProcesses
        from cockpit.telemetry.remote_live import ssh_sources, start_remote_gpu

        for files in ssh_sources(self.engine):
            if files.name in self._remote_hosts or self._closed:
                continue
            self._remote_hosts.add(files.name)
            if self.options.gpu != "off":
                self.remote.append(start_remote_gpu(files, self.engine, self.writer, None,
                                                    interval_s=self.options.gpu_interval))
            watcher = SchedulerWatcher(self.engine, files, SlurmJobs(files.host.run),
                                       RemoteProcesses(files.host))
            watcher.start()
            self.remote.append(watcher)

    @property
    def roots(self) -> list[Any]:
        """The watched Locations (str() gives the folder or URL)."""
        return list(self.engine.roots) if self.engine is not None else []

    def gpu_status_text(self) -> str:
        """The GPU source's line now: an outage ("unreachable since 14:02:05") as it happens."""
        pipeline = self.pipeline
        if pipeline is None:
            return self.gpu_status
        if pipeline.outage is not None:
            return f"GPU: {pipeline.outage.message()}"
        if pipeline.error:
            return f"GPU: {pipeline.error}"
        return self.gpu_status

    def fleet(self) -> tuple[list[Any], str | None]:
        """Every GPU's state, holder and wasted GPU-hours (the fleet panel), and the source's
        outage, if any. Thread-safe; no I/O."""
        pipeline = self.pipeline
        if pipeline is None:
            return [], None
        return pipeline.fleet.snapshot(), pipeline.fleet.outage

    def ingest_rate(self) -> float | None:
        stats = getattr(self.engine, "stats", None)
        return float(stats.rate_at(time.monotonic())) if stats is not None else None

    def last_error(self) -> str | None:
        stats = getattr(self.engine, "stats", None)
        if self.writer is None:
            return (f"read-only: {self.options.db_path} is held by PID {self.owner}, "
                    "shown live through its socket")
        if self.writer.error is not None:
            return f"database write failed: {self.writer.error}"
        if stats is not None and stats.last_error:
            return str(stats.last_error)
        return self.errors[-1] if self.errors else None

    def import_evals(self, paths: list[Path]) -> None:
        """Load eval files/folders into the history in the background (the demo's evals)."""

        writer = self.writer
        if writer is None:
            self.errors.append("evals are not stored: another Cockpit holds the history")
            return

        def work() -> None:
            from cockpit.evals.loaders import load_evals
            from cockpit.evals.store import store_eval

            for path in paths:
                try:
                    for run in load_evals(path):
                        store_eval(writer, run)
                except Exception as err:  # one bad eval file must not stop the others
                    self.errors.append(f"cannot load evals from {path}: {err}")

        self._spawn(work, "cockpit-eval-import")

    # ---- background work ---------------------------------------------------------------
    def _housekeeping(self) -> None:
        """Once a second: run attribution for the GPU pipeline. (Stall checks run on the
        engine's own thread, which owns the health monitor.)"""
        while not self._stop.wait(1.0):
            try:
                self._refresh_attribution()
            except Exception:  # never let housekeeping kill the app
                log.exception("housekeeping failed")

    def _refresh_attribution(self) -> None:
        pipeline = self.pipeline
        if pipeline is None or self.engine is None:
            return
        from cockpit.telemetry.attribution import RunRef, pins_from_process_json
        from cockpit.telemetry.live import note_activity

        note_activity(pipeline, self.engine)
        runs = list(self.engine.runs.values())
        if len(runs) != self._attributed_runs:
            self._attributed_runs = len(runs)
            # A remote run keeps its host: process attribution leaves it to its own host,
            # a cluster's labels may still name it.
            pipeline.set_runs(RunRef(r.row.run_id, r.row.name, Path(r.row.path), r.row.host)
                              for r in runs)
        for run in (r for r in runs if r.row.host is None):  # process records are local files
            if run.row.run_id not in self._pinned_runs:  # read each run's process.json once
                pins = pins_from_process_json(Path(run.row.path), run.row.run_id)
                for pid, run_id in pins.items():
                    pipeline.attributor.pin(pid, run_id)
                if pins:
                    self._pinned_runs.add(run.row.run_id)
            if self._pinned_pid is not None and run.row.name == self.options.replay_pin_run:
                pipeline.attributor.pin(self._pinned_pid, run.row.run_id)
        if (pipeline.finished.is_set() and self.options.gpu == "replay"
                and self.options.replay_loop and not self._stop.is_set()):
            self._start_gpu()  # the recording ended: play it again

    def _start_gpu(self) -> None:
        """A TelemetryPipeline (attribution, GPU detectors, store) on the chosen source."""
        mode = self.options.gpu
        if mode == "off":
            return
        from cockpit.telemetry.attribution import pins_from_process_json
        from cockpit.telemetry.host import HostSampler
        from cockpit.telemetry.pipeline import TelemetryPipeline
        from cockpit.telemetry.replay import ReplaySource
        from cockpit.telemetry.sampler import SamplerConfig
        from cockpit.telemetry.sources import LocalNvmlSource, TelemetryUnavailable

        source: Any
        try:
            if mode == "replay" and self.options.gpu_replay is not None:
                pins = pins_from_process_json(self.options.gpu_replay, "")
                self._pinned_pid = next(iter(pins), None)
                source = ReplaySource(self.options.gpu_replay, speed=self.options.replay_speed,
                                      rebase_ts=True)
                self.gpu_status = f"GPU: replaying {self.options.gpu_replay.name}"
            elif mode == "prometheus" and self.options.gpu_url:
                from cockpit.telemetry.prometheus import PrometheusSource

                source = PrometheusSource.from_env(self.options.gpu_url, fail_first=False)
                self.gpu_status = f"GPU: {source.name}"
            else:
                config = dataclasses.replace(SamplerConfig(), interval_s=self.options.gpu_interval)
                source = LocalNvmlSource(config=config)
                source.open()
                self.gpu_status = "GPU: local NVML"
        except TelemetryUnavailable as err:
            self.gpu_status = f"GPU: {err}"
            return
        except Exception as err:  # a broken driver must not take the app down
            self.gpu_status = f"GPU telemetry failed to start: {err}"
            return
        old = self.pipeline
        # Host CPU of the training processes tells a starved input pipeline from a hung job.
        host = HostSampler() if mode not in ("replay", "prometheus") else None
        self.pipeline = TelemetryPipeline(source, writer=self.writer, host_sampler=host,
                                          on_alerts=self._notify_alerts)
        if self.pipeline.batcher is not None:
            self.pipeline.batcher.max_delay_s = 0.5  # sparklines move twice a second
        if old is not None:
            self.pipeline.attributor = old.attributor
        self._attributed_runs = -1
        if self.engine is not None:  # hang evidence and the GPU time warnings cost
            self.engine.attach_gpu(self.pipeline, self._price)
        self.pipeline.start()


def _make_health(options: BackendOptions) -> Any:
    from cockpit.health.config import health_config
    from cockpit.health.monitor import HealthMonitor

    return HealthMonitor(health_config(options.health, options.stall_after))
