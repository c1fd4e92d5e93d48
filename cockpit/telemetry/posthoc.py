"""GPU alerts of a finished (or still running) run from its recording, for `cockpit check`.

The recording is replayed as fast as possible through the same detectors `watch` uses. The
run's training process is known from process.json's pid when present; without it every process
in the recording is taken as the run's own (a run folder's recording is that run's telemetry,
SPEC §5).
"""

from __future__ import annotations

from pathlib import Path

from cockpit.model.alert import Alert
from cockpit.telemetry.attribution import pins_from_process_json
from cockpit.telemetry.gpu_detectors import GpuHealthMonitor, GpuThresholds
from cockpit.telemetry.recording import find_recording
from cockpit.telemetry.replay import ReplaySource


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
    monitor = GpuHealthMonitor({run_id: run_name}, thresholds)
    source = ReplaySource(folder, speed=0)
    alerts: list[Alert] = []
    for batch in source.batches():
        for row in batch.processes:
            pid = int(row["pid"])
            row["run_id"] = pins.get(pid) if pins else run_id
        alerts.extend(monitor.observe(batch))
    return alerts
