"""HealthMonitor: routes each run's points to its detectors by the role each series plays.

The live engine calls `observe` with every batch on its way to the store; the lifecycle
decision (cockpit/monitor) reads `silence` and `critical` and asks for the `stall` alert it
classified; `cockpit check` replays stored runs through the same calls. Detectors are
created lazily per run and per metric, so a run costs only what it logs.

Which raw key plays which role (train loss, lr, ...) is decided by cockpit.model.roles: the
engine and `check` pass the run's roles in (`set_roles`, overrides included); a caller that
passes none gets the same rules applied to the keys seen so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from cockpit.health.chance import StuckAtChanceDetector
from cockpit.health.config import HealthConfig
from cockpit.health.context import HostLoad, RunContext
from cockpit.health.crash import CrashDetector
from cockpit.health.excursion import GradExplosionDetector, LossExcursionDetector
from cockpit.health.input_stall import InputStallDetector
from cockpit.health.lr_zero import LrZeroDetector
from cockpit.health.memory import MemoryPressureDetector
from cockpit.health.nan import NanDetector
from cockpit.health.overfit import OverfittingDetector, TrainLevel
from cockpit.health.progress import NoLearningDetector, PlateauDetector
from cockpit.health.stall import Silence, StallDetector
from cockpit.health.throughput import ThroughputDropDetector
from cockpit.model.alert import Alert
from cockpit.model.keys import canonical_key
from cockpit.model.records import RunEvent
from cockpit.model.roles import (
    ROLES,
    assign_roles,
    is_memory_metric,
    role_of,
    roles_by_key,
    watch_name,
)

__all__ = ["HealthMonitor", "is_memory_metric", "is_nan_watched", "series_detectors"]


class SeriesDetector(Protocol):
    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]: ...


VOCAB_KEYS = frozenset({"vocab_size", "n_vocab", "vocab", "padded_vocab_size", "ntokens",
                        "num_tokens"})
_LOSS_SCALE = frozenset({"loss_scale", "scale", "grad_scale", "scaler_scale", "loss_scaler"})


def is_nan_watched(name: str) -> bool:
    """Series whose non-finite value means the model broke (not a timing like step_avg)."""
    return (name in ("loss", "val_loss", "grad_norm", "lr") or "loss" in name
            or name.endswith("_norm") or "perplexity" in name or name.endswith("ppl"))


def series_detectors(ctx: RunContext, name: str) -> list[SeriesDetector]:
    """The detectors a canonical metric name feeds (empty: the metric is only stored)."""
    if name == "loss":
        return [LossExcursionDetector(ctx, name), NoLearningDetector(ctx, name),
                StuckAtChanceDetector(ctx, name), PlateauDetector(ctx, name), TrainLevel(ctx)]
    if name == "val_loss":
        return [LossExcursionDetector(ctx, name), OverfittingDetector(ctx, name)]
    if name == "grad_norm":
        return [GradExplosionDetector(ctx, name)]
    if name == "lr":
        return [LrZeroDetector(ctx, name)]
    if name in ("tokens_per_s", "samples_per_s"):
        return [ThroughputDropDetector(ctx, name, higher_is_better=True)]
    if name == "step_time_ms":
        return [ThroughputDropDetector(ctx, name, higher_is_better=False, unless="tokens_per_s"),
                InputStallDetector(ctx, name)]
    if is_memory_metric(name):
        return [MemoryPressureDetector(ctx, name)]
    return []


class _Series:
    __slots__ = ("detectors", "last_step", "name", "watched")

    def __init__(self, name: str, detectors: list[SeriesDetector], watched: bool) -> None:
        self.name = name
        self.detectors = detectors
        self.watched = watched
        self.last_step: int | None = None


class _Run:
    def __init__(self, run_id: str, run_name: str, config: HealthConfig,
                 host: HostLoad | None = None) -> None:
        self.ctx = RunContext(run_id, run_name, config, host)
        self.nan = NanDetector(self.ctx)
        self.crash = CrashDetector(self.ctx)
        self.stall = StallDetector(self.ctx)
        self.series: dict[str, _Series] = {}  # watch name -> series
        self.by_key: dict[str, _Series] = {}  # raw key -> its series
        self.roles: dict[str, str] = {}  # raw key -> role it plays
        self.roles_given = False  # the caller decides the roles (else: the rules on seen keys)
        self.role_keys: set[str] = set()  # keys seen that may play a role


class HealthMonitor:
    """Training-health detectors for many runs at once (not thread-safe: one caller)."""

    def __init__(self, config: HealthConfig | None = None,
                 canonical: Callable[[str], str] = canonical_key) -> None:
        self.config = config or HealthConfig()
        self._canonical = canonical
        self._runs: dict[str, _Run] = {}
        self._names: dict[str, str] = {}  # raw key -> canonical name
        self.host = HostLoad()  # every run watched here shares this machine's CPU

    def _run(self, run_id: str, run_name: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _Run(run_id, run_name, self.config, self.host)
        else:
            run.ctx.run_name = run_name
        return run

    def set_roles(self, run_id: str, roles: Mapping[str, str]) -> None:
        """The run's roles (raw key -> role), as the engine or a stored run decided them."""
        run = self._run(run_id, self._runs[run_id].ctx.run_name if run_id in self._runs else run_id)
        run.roles_given = True
        self._apply_roles(run, dict(roles))

    def _apply_roles(self, run: _Run, roles: dict[str, str]) -> None:
        changed = {k for k in roles.keys() | run.roles.keys() if roles.get(k) != run.roles.get(k)}
        run.roles = roles
        for key in changed:  # rebuilt with their new role's detectors on their next point
            old = run.by_key.pop(key, None)
            if old is not None and all(s is not old for s in run.by_key.values()):
                run.series.pop(old.name, None)

    def _watch_name(self, run: _Run, key: str) -> str:
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = self._canonical(key)
        return watch_name(key, run.roles.get(key), name)

    def _series(self, run: _Run, key: str) -> _Series:
        """Keys with one watch name share a series: a second copy of a point is a duplicate,
        not a second opinion."""
        if not run.roles_given and key not in run.role_keys and role_of(key) is not None:
            run.role_keys.add(key)
            self._apply_roles(run, roles_by_key(assign_roles(run.role_keys)))
        name = self._watch_name(run, key)
        series = run.series.get(name)
        if series is None:
            run.ctx.metrics.add(name)
            if name in _LOSS_SCALE or "loss_scale" in name:
                run.ctx.has_loss_scale = True
            detectors = series_detectors(run.ctx, name) if name == run.roles.get(key) or (
                name not in ROLES) else []
            series = _Series(name, detectors, is_nan_watched(name))
            run.series[name] = series
        return series

    def observe(self, run_id: str, run_name: str, keys: Sequence[str],
                steps: Sequence[int | None], ts: Sequence[float | None],
                values: Sequence[float]) -> list[Alert]:
        """A batch of one run's points, in logging order. Returns the alerts they raise.

        A point whose step is not after the last one seen for its metric is a duplicate
        (the same series read from a second file) or a replay after a resume: skipped.
        This loop runs for every ingested point, so it is written for speed.
        """
        run = self._run(run_id, run_name)
        ctx = run.ctx
        by_key = run.by_key
        nan = run.nan
        stall = run.stall
        out: list[Alert] = []
        last_step = ctx.last_step
        prev_step: int | None = -1
        prev_t: float | None = None
        isfinite = math.isfinite
        for key, step, t, value in zip(keys, steps, ts, values, strict=True):
            series = by_key.get(key)
            if series is None:
                series = by_key[key] = self._series(run, key)
            if step is not None:
                if series.last_step is not None and step <= series.last_step:
                    continue
                series.last_step = step
                if last_step is None or step > last_step:
                    last_step = step
            if t is not None and (step != prev_step or t != prev_t):
                prev_step, prev_t = step, t
                ctx.last_step = last_step
                found = stall.on_point(step, t)
                if found:
                    out.extend(found)
            if series.watched:
                found = nan.update(series.name, step, t, value)
                if found:
                    out.extend(found)
            detectors = series.detectors
            if detectors and isfinite(value):
                for detector in detectors:
                    found = detector.update(step, t, value)
                    if found:
                        out.extend(found)
        if last_step is not None:
            ctx.last_step = last_step
        if stall.last_ts is not None:
            ctx.last_ts = stall.last_ts
        if keys:
            if ctx.finished and ctx.finished_at is not None and (last_step or 0) > ctx.finished_at:
                ctx.finished = False  # new steps after "finished": the run was resumed
            run.crash.on_points(ctx.last_step)
        return out

    def observe_event(self, run_id: str, run_name: str, event: RunEvent) -> list[Alert]:
        """A run-level event from a log: an error is a crash, "finished" ends stall checks."""
        run = self._run(run_id, run_name)
        if event.kind == "finished":
            run.ctx.finished = True
            run.ctx.finished_at = run.ctx.last_step
            return []
        return run.crash.on_event(event)

    def silence(self, run_id: str, now: float, last_seen: float | None = None) -> Silence | None:
        """How long the run has been silent and what its stall threshold is (None: nothing
        timed seen yet). The lifecycle decision reads it; see StallDetector."""
        run = self._runs.get(run_id)
        return None if run is None else run.stall.silence(now, last_seen)

    def report_silence(self, run_id: str, run_name: str, now: float, kind: str, severity: str,
                       seen: str, evidence: dict[str, Any], last_seen: float | None = None
                       ) -> list[Alert]:
        """The `stall` alert of the current silence, as the lifecycle decision classified it
        (one per silence; new points end it)."""
        run = self._run(run_id, run_name)
        return run.stall.alert(now, kind, severity, seen, evidence, last_seen)

    def note_params(self, run_id: str, run_name: str, params: dict[str, Any]) -> None:
        """Run facts a reader found (MLflow params, configs): the vocabulary size gives
        stuck_at_chance its ln(V) level."""
        for key, value in params.items():
            name = str(key).lower().rsplit(".", 1)[-1]
            if name in VOCAB_KEYS:
                try:
                    size = int(float(value))
                except (TypeError, ValueError):
                    continue
                if size > 1:
                    self._run(run_id, run_name).ctx.vocab_size = size

    def note_host_load(self, ts: float, others_busy: float) -> None:
        """The share of the host's cores other processes kept busy (the lifecycle tracker
        measures it beside the writers): a throughput drop under contention is info."""
        self.host.note(ts, others_busy)

    def critical(self, run_id: str) -> Alert | None:
        """The critical training-health alert (nan, divergence) whose episode is still open:
        a run that ends in it failed, whatever its exit status said."""
        run = self._runs.get(run_id)
        if run is None:
            return None
        alert = run.ctx.critical
        return alert if alert is not None and run.ctx.is_open(alert.detector) else None

    def finish(self, run_id: str) -> list[Alert]:
        """No more data will come for this run (post-hoc check done): release its state."""
        self._runs.pop(run_id, None)
        return []

    def runs(self) -> list[str]:
        return list(self._runs)
