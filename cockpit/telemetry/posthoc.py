"""GPU alerts of a finished (or still running) run from its recording, for `cockpit check`.

The recording is replayed as fast as possible through the same detectors `watch` uses. The
run's training process is known from process.json's pid when present; without it every process
in the recording is taken as the run's own (a run folder's recording is that run's telemetry,
SPEC §5). A workload named by labels (a cluster recording) is the run's only when the labels
say so (cockpit.telemetry.label_attribution); other pods' alerts are not the run's.

`gpu_alerts_from_history` does the same from a cluster's history (Prometheus) over the run's
logging window.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from cockpit.model.alert import Alert
from cockpit.telemetry.attribution import RunRef, pins_from_process_json
from cockpit.telemetry.gpu_detectors import GpuHealthMonitor, GpuThresholds
from cockpit.telemetry.label_attribution import LabelAttributor
from cockpit.telemetry.recording import find_recording
from cockpit.telemetry.replay import ReplaySource
from cockpit.telemetry.rows import TelemetryBatch


class HistorySource(Protocol):
    kind: str

    def history_batches(self, start: float, end: float) -> Iterable[TelemetryBatch]: ...


def gpu_alerts_for_run(
    run_dir: Path,
    run_name: str,
    run_id: str,
    replay_dir: Path | None = None,
    thresholds: GpuThresholds | None = None,
) -> list[Alert]:
    """Alerts from `replay_dir` (or the run's own recording); [] when there is none."""
    folder = find_recording(Path(replay_dir)) if replay_dir is not None else None
    if folder is None:
        folder = find_recording(Path(run_dir))
    if folder is None:
        return []
    pins = pins_from_process_json(Path(run_dir), run_id)
    if not pins and folder != Path(run_dir):
        pins = pins_from_process_json(folder, run_id)
    source = ReplaySource(folder, speed=0)
    monitor, labels = _monitor(RunRef(run_id, run_name, Path(run_dir)), source.kind, thresholds)
    alerts: list[Alert] = []
    for batch in source.batches():
        for row in batch.processes:
            if row.get("pid") is not None:
                row["run_id"] = pins.get(int(row["pid"])) if pins else run_id
        labels.attribute_batch(batch)
        alerts.extend(monitor.observe(batch))
    return [a for a in alerts if a.run_id == run_id or (a.run_id is None and "job" not in a.evidence)]


def gpu_alerts_from_history(
    source: HistorySource, run: RunRef, start: float, end: float,
    thresholds: GpuThresholds | None = None,
) -> list[Alert]:
    """GPU alerts of `run` from a cluster's history between `start` and `end`: only GPUs whose
    labels (pod, HPC job) or host tie them to the run count."""
    monitor, labels = _monitor(run, source.kind, thresholds)
    alerts: list[Alert] = []
    for batch in source.history_batches(start, end):
        labels.attribute_batch(batch)
        alerts.extend(monitor.observe(batch))
    return [a for a in alerts if a.run_id == run.run_id]


def _monitor(run: RunRef, kind: str, thresholds: GpuThresholds | None,
             ) -> tuple[GpuHealthMonitor, LabelAttributor]:
    monitor = GpuHealthMonitor({run.run_id: run.name}, thresholds)
    monitor.source = kind
    labels = LabelAttributor([run])
    monitor.explain = labels.evidence
    return monitor, labels
