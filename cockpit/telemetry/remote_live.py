"""GPU telemetry of the SSH hosts a `watch` or the app reads runs from.

One pipeline per host: its `nvidia-smi` (NvidiaSmiSource) over the host's one connection,
its processes attributed to its own runs through its /proc (RemoteRunAttributor), the same
GPU detectors as local GPUs, rows stored with `host` filled in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cockpit.model.alert import Alert
from cockpit.sources.ssh.files import SshFiles
from cockpit.sources.ssh.processes import RemoteProcesses
from cockpit.telemetry.attribution import RunRef
from cockpit.telemetry.nvidia_smi import NvidiaSmiSource
from cockpit.telemetry.pipeline import TelemetryPipeline
from cockpit.telemetry.remote_attribution import RemoteRunAttributor


def ssh_sources(engine: Any) -> list[SshFiles]:
    """The SSH hosts among the engine's watched folders, each once."""
    seen: dict[str, SshFiles] = {}
    for root in list(getattr(engine, "roots", [])):
        if isinstance(root.source, SshFiles):
            seen.setdefault(root.source.name, root.source)
    return list(seen.values())


def start_remote_gpu(files: SshFiles, engine: Any, writer: Any,
                     on_alerts: Callable[[list[Alert]], None] | None,
                     interval_s: float = 1.0, process_interval_s: float = 2.0
                     ) -> TelemetryPipeline:
    """Start streaming one host's GPUs into the store and the detectors."""
    source = NvidiaSmiSource(files.host, interval_s, process_interval_s)
    attributor = RemoteRunAttributor(RemoteProcesses(files.host))
    pipeline = TelemetryPipeline(source, writer=writer, attributor=attributor,
                                 on_alerts=on_alerts)
    seen = [-1]

    def refresh_runs() -> None:
        runs = [run for run in list(getattr(engine, "runs", {}).values())
                if run.spec.source is files]
        if len(runs) != seen[0]:
            seen[0] = len(runs)
            pipeline.set_runs(RunRef(r.row.run_id, r.row.name, r.spec.path) for r in runs)
        for run in runs:
            if run.last_point_wall is not None:
                pipeline.monitor.note_run_activity(run.row.run_id, run.last_point_wall)

    pipeline.before_batch = refresh_runs
    pipeline.start()
    return pipeline
