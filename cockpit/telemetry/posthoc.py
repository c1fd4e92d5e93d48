"""GPU alerts of a finished (or still running) run from a recording, for `cockpit check`.

The recording is replayed as fast as possible through the same detectors `watch` uses. A GPU
alert belongs to the run only on evidence:

- the run's own recording (SPEC §5: a run folder's recording is that run's telemetry): the
  PID its process.json names, or, without one, every recorded process;
- a recording from elsewhere (`--replay-gpu`): the PID the run's own process.json names, or
  a recorded process whose lifetime in the recording matches the run's logging window (the
  recording's own process.json counts only on the same terms); alerts outside that window
  are not the run's. Without any of these, nothing in the recording is attached to the run;
- a workload named by labels (a cluster recording) is the run's only when the labels say so
  (cockpit.telemetry.label_attribution); other pods' alerts are not the run's.

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

WINDOW_SLACK_S = 60.0  # a process starts before the first log and ends after the last
MIN_MATCH = 0.8  # share of the run's window the process covers, and of its life inside it


def gpu_alerts_for_run(
    run_dir: Path,
    run_name: str,
    run_id: str,
    replay_dir: Path | None = None,
    thresholds: GpuThresholds | None = None,
    window: tuple[float, float] | None = None,
) -> list[Alert]:
    """Alerts from `replay_dir` (or the run's own recording) that are the run's; [] when there
    is no recording. `window`: (first, last) unix time the run logged, when known."""
    folder = find_recording(Path(replay_dir)) if replay_dir is not None else None
    if folder is None:
        folder = find_recording(Path(run_dir))
    if folder is None:
        return []
    own = _same(folder, Path(run_dir))
    pins = pins_from_process_json(Path(run_dir), run_id)
    by_lifetime = not own and not pins and window is not None
    if by_lifetime:
        assert window is not None
        pins = {pid: run_id for pid in _matching_pids(folder, window)}
    # The run's own recording is stored under this host at import: alerts name the same one.
    source = ReplaySource(folder, speed=0, host=f"recording:{run_name}" if own else "replay")
    monitor, labels = _monitor(RunRef(run_id, run_name, Path(run_dir)), source.kind, thresholds)
    alerts: list[Alert] = []
    for batch in source.batches():
        for row in batch.processes:
            if row.get("pid") is None:
                continue  # a labelled workload: the labels decide below
            if pins:
                row["run_id"] = pins.get(int(row["pid"]))
            elif own:
                row["run_id"] = run_id
        labels.attribute_batch(batch)
        alerts.extend(monitor.observe(batch))
    alerts = [a for a in alerts if a.run_id == run_id]  # only what evidence ties to the run
    if by_lifetime and window is not None:  # a lifetime match holds within the window only
        start, end = window[0] - WINDOW_SLACK_S, window[1] + WINDOW_SLACK_S
        alerts = [a for a in alerts if "job" in a.evidence or a.ts is None or start <= a.ts <= end]
    return alerts


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


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a.absolute() == b.absolute()


def _matching_pids(folder: Path, window: tuple[float, float]) -> list[int]:
    """The recorded processes whose lifetime in the recording best matches the run's logging
    window (several when they match alike: the ranks of one distributed job)."""
    seen: dict[int, list[float]] = {}
    for batch in ReplaySource(folder, speed=0).batches():
        for row in batch.processes:
            if row.get("pid") is None:
                continue
            span = seen.setdefault(int(row["pid"]), [batch.ts, batch.ts])
            span[0], span[1] = min(span[0], batch.ts), max(span[1], batch.ts)
    scores = {pid: _overlap(span, window) for pid, span in seen.items()}
    best = max(scores.values(), default=0.0)
    if best < MIN_MATCH:
        return []
    return sorted(pid for pid, score in scores.items() if score >= best - 0.05)


def _overlap(span: list[float], window: tuple[float, float]) -> float:
    """How well a process's life matches the run's logging window: the smaller of the share of
    the window it was alive for and the share of its life inside the window (with slack)."""
    covered = min(span[1], window[1]) - max(span[0], window[0])
    cover = max(covered, 0.0) / (window[1] - window[0]) if window[1] > window[0] else float(
        span[0] <= window[0] <= span[1])
    lo, hi = window[0] - WINDOW_SLACK_S, window[1] + WINDOW_SLACK_S
    inside = min(span[1], hi) - max(span[0], lo)
    life = span[1] - span[0]
    contained = max(inside, 0.0) / life if life > 0 else float(lo <= span[0] <= hi)
    return min(cover, contained)
