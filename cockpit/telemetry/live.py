"""Wiring telemetry into `watch` and `import`: a recording, local NVML or a Prometheus.

`start_replay_for_watch` is what `cockpit watch --replay-gpu DIR` starts; `replay_into_store`
is what `import`/`watch` can call for a run folder that holds its own recording (SPEC §5).
The recorded training PID (process.json) is pinned to the run whose folder holds the recording,
or to the only run watched; other recorded processes stay "other users of the GPU".
`start_live_for_watch` samples local NVML or polls a Prometheus (`--gpu-source`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cockpit.model.alert import Alert
from cockpit.telemetry.attribution import RunRef, pins_from_process_json
from cockpit.telemetry.gpu_detectors import GpuHealthMonitor
from cockpit.telemetry.pipeline import TelemetryPipeline
from cockpit.telemetry.recording import find_recording
from cockpit.telemetry.replay import ReplaySource
from cockpit.telemetry.sources import TelemetryUnavailable
from cockpit.telemetry.store_sink import GpuRowWriter

RUN_WAIT_S = 3.0


def _run_refs(engine: Any) -> list[RunRef]:
    """This machine's runs (a remote run's processes are on its own host: remote_live.py)."""
    refs = []
    for run in list(getattr(engine, "runs", {}).values()):
        row = run.row
        refs.append(RunRef(row.run_id, row.name, Path(row.path), getattr(row, "host", None)))
    return refs


def owner_run(recording: Path, runs: list[RunRef]) -> RunRef | None:
    """The run a recording belongs to: the deepest run folder holding it, else the only run."""
    try:
        where = recording.resolve()
    except OSError:
        where = recording.absolute()
    holders = []
    for run in runs:
        try:
            folder = Path(run.path).resolve()
        except OSError:
            continue
        if where == folder or folder in where.parents:
            holders.append((len(str(folder)), run))
    if holders:
        return max(holders, key=lambda item: item[0])[1]
    return runs[0] if len(runs) == 1 else None


def _pin(pipeline: TelemetryPipeline, recording: Path, runs: list[RunRef]) -> None:
    pipeline.set_runs(runs)
    owner = owner_run(recording, runs)
    if owner is not None:
        for pid, run_id in pins_from_process_json(recording, owner.run_id).items():
            pipeline.attributor.pin(pid, run_id)


def start_replay_for_watch(
    replay_dir: Path,
    writer: Any,
    on_alerts: Callable[[list[Alert]], None] | None,
    engine: Any,
    as_fast_as_possible: bool = False,
    on_pipeline: Callable[[TelemetryPipeline], None] | None = None,
) -> threading.Thread:
    """Replay `replay_dir` on a thread into the store and the GPU detectors.

    Real time with timestamps moved to now for a live `watch`; as fast as possible with the
    recorded timestamps for `watch --once`. Raises TelemetryUnavailable if there is no recording.
    """
    folder = find_recording(Path(replay_dir))
    if folder is None:
        raise TelemetryUnavailable(f"no GPU recording at {replay_dir}: expected gpu_trace.jsonl")
    source = ReplaySource(
        folder, speed=0 if as_fast_as_possible else 1.0, rebase_ts=not as_fast_as_possible
    )
    pipeline = TelemetryPipeline(source, writer=writer, on_alerts=on_alerts)
    seen = [-1]

    def refresh_runs() -> None:
        runs = _run_refs(engine)
        if len(runs) != seen[0]:
            seen[0] = len(runs)
            _pin(pipeline, folder, runs)

    pipeline.before_batch = refresh_runs
    if on_pipeline is not None:
        on_pipeline(pipeline)

    def run() -> None:
        waited = threading.Event()
        for _ in range(int(RUN_WAIT_S / 0.05)):  # let discovery find the runs first
            if _run_refs(engine):
                break
            waited.wait(0.05)
        pipeline.run()

    thread = threading.Thread(target=run, name="cockpit-gpu-replay", daemon=True)
    thread.start()
    return thread


def replay_into_store(
    recording: Path,
    writer: GpuRowWriter,
    run: RunRef,
    on_alerts: Callable[[list[Alert]], None] | None = None,
    host: str = "replay",
    store_alerts: bool = True,
) -> list[Alert]:
    """Store a run's own recording (samples, processes, GPU alerts) as fast as possible."""
    folder = find_recording(Path(recording))
    if folder is None:
        return []
    monitor = GpuHealthMonitor({run.run_id: run.name})
    pipeline = TelemetryPipeline(
        ReplaySource(folder, speed=0, host=host), writer=writer, monitor=monitor,
        on_alerts=on_alerts, store_alerts=store_alerts,
    )
    pipeline.set_runs([run])
    pins = pins_from_process_json(folder, run.run_id) or pins_from_process_json(
        Path(run.path), run.run_id
    )
    for pid, run_id in pins.items():
        pipeline.attributor.pin(pid, run_id)
    alerts: list[Alert] = []
    for batch in pipeline.source.batches():
        if not pins:
            for row in batch.processes:
                row["run_id"] = run.run_id
        alerts.extend(pipeline.handle(batch))
    if pipeline.batcher is not None:
        pipeline.batcher.flush()
    return alerts


def note_activity(pipeline: TelemetryPipeline, engine: Any) -> None:
    """Tell the GPU detectors when each run first and last logged (live), so a starved run is
    judged from its first step and a silent one is left to the lifecycle's hang decision."""
    lifecycle = getattr(engine, "lifecycle", None)
    for run in list(getattr(engine, "runs", {}).values()):
        first = getattr(run, "last_point_wall", None)
        if first is not None:
            pipeline.monitor.note_run_activity(run.row.run_id, first)
        life = lifecycle.runs.get(run.row.run_id) if lifecycle is not None else None
        if life is not None and life.seen_fresh and life.last_arrival is not None:
            pipeline.monitor.note_run_logged(run.row.run_id, life.last_arrival)


def start_live_for_watch(
    writer: Any,
    on_alerts: Callable[[list[Alert]], None] | None,
    engine: Any,
    prometheus: str | None = None,
    on_pipeline: Callable[[TelemetryPipeline], None] | None = None,
) -> tuple[TelemetryPipeline | None, str]:
    """Sample this machine's GPUs (and the training processes' CPU), or poll the Prometheus at
    `prometheus` (the cluster's dcgm-exporter metrics), for a live `watch`.

    Returns (pipeline, status); pipeline is None when NVML is not available (no GPU, no
    driver), which is a normal state: status then says why in one line. A Prometheus that
    does not answer is an outage the pipeline reports, not a reason to stop.
    """
    from cockpit.telemetry.host import HostSampler

    source: Any
    host_sampler = None
    if prometheus is not None:
        from cockpit.telemetry.prometheus import PrometheusSource

        source = PrometheusSource.from_env(prometheus, fail_first=False)
    else:
        from cockpit.telemetry.sources import LocalNvmlSource

        source = LocalNvmlSource()
        try:
            source.open()
        except TelemetryUnavailable as err:
            return None, str(err)
        host_sampler = HostSampler()
    pipeline = TelemetryPipeline(source, writer=writer, on_alerts=on_alerts,
                                 host_sampler=host_sampler)
    seen = [-1]

    def refresh_runs() -> None:
        runs = _run_refs(engine)
        if len(runs) != seen[0]:
            seen[0] = len(runs)
            pipeline.set_runs(runs)
        note_activity(pipeline, engine)

    pipeline.before_batch = refresh_runs
    if on_pipeline is not None:
        on_pipeline(pipeline)
    pipeline.start()
    status = source.status if prometheus is None else f"polling {source.name}"
    return pipeline, status
