"""What the detectors of one run share: its identity, its lr schedule and its open episodes.

Detectors stay small because the run-level facts they need (is the lr warming up, flat or
at zero? is a divergence already reported?) live here instead of being re-derived by each.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from cockpit.health.config import HealthConfig
from cockpit.health.rolling import RollingMedian
from cockpit.model.alert import Alert


def fmt(value: float | None) -> str:
    """A number as an engineer reads it in a log: 4 significant digits."""
    if value is None:
        return "?"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def at_step(step: int | None) -> str:
    return f"step {step}" if step is not None else "an unnumbered log"


class LrSchedule:
    """The run's learning rate as seen so far: peak, warmup state, and whether it is ~0."""

    __slots__ = ("_config", "_streak", "last", "logs", "near_zero", "peak", "warmup_over")

    def __init__(self, config: HealthConfig) -> None:
        self._config = config
        self.logs = 0  # finite lr logs seen
        self.last: float | None = None
        self.peak = 0.0
        self._streak = 0  # consecutive logs without a rise
        self.warmup_over = False
        self.near_zero = False

    @property
    def known(self) -> bool:
        return self.logs > 0

    def update(self, lr: float) -> None:
        if not math.isfinite(lr):
            return
        self.logs += 1
        if self.last is not None and lr > self.last * (1 + 1e-9):
            self._streak = 0
        elif self.last is not None:
            self._streak += 1
        self.peak = max(self.peak, lr)
        if self._streak >= self._config.lr_warmup_flat_logs:
            self.warmup_over = True  # sticky: a later decay is not a new warmup
        self.near_zero = self.peak > 0 and lr < self.peak * self._config.lr_zero_fraction
        self.last = lr


class HostLoad:
    """How busy other processes keep the host's CPU (a share of all cores), as the monitor
    last measured it: a slow run on a contended host is the host's story, not the run's."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: deque[tuple[float, float]] = deque(maxlen=512)  # (ts, share)

    def note(self, ts: float, others_busy: float) -> None:
        self._seen.append((ts, others_busy))

    def recent(self, span_s: float = 120.0) -> float | None:
        """Mean share of cores busy with other processes over the last `span_s` seconds
        (None: never measured, e.g. after the fact)."""
        if not self._seen:
            return None
        newest = self._seen[-1][0]
        values = [share for ts, share in self._seen if ts >= newest - span_s]
        return sum(values) / len(values)


class RunContext:
    """One run's identity and shared state; builds the alerts its detectors emit."""

    def __init__(self, run_id: str, run_name: str, config: HealthConfig,
                 host: HostLoad | None = None) -> None:
        self.run_id = run_id
        self.run_name = run_name
        self.config = config
        self.schedule = LrSchedule(config)
        self.open: dict[str, str] = {}  # detector id -> metric whose episode is open
        self.has_loss_scale = False  # the run logs a loss scale: non-finite grads are skips
        self.metrics: set[str] = set()  # canonical names this run logs
        self.finished = False
        self.finished_at: int | None = None  # last step when the log said it finished
        self.crashed = False
        self.critical: Alert | None = None  # the latest nan/divergence critical (see `critical`)
        self.last_step: int | None = None
        self.last_ts: float | None = None
        self.host = host or HostLoad()
        self.step_seconds = RollingMedian(config.stall_interval_window)  # wall time per step
        self.train_loss = RollingMedian(config.chance_block_logs)  # recent training loss
        self.vocab_size: int | None = None  # from the run's parameters, when it says

    def claim(self, detector: str, metric: str) -> bool:
        """Open an episode for `detector` unless another metric already holds one.

        tokens_per_s and step_time_ms (or two memory metrics) tell one story: one alert.
        """
        holder = self.open.get(detector)
        if holder is not None and holder != metric:
            return False
        self.open[detector] = metric
        return True

    def release(self, detector: str, metric: str) -> None:
        if self.open.get(detector) == metric:
            del self.open[detector]

    def is_open(self, detector: str) -> bool:
        return detector in self.open

    def alert(
        self,
        detector: str,
        severity: str,
        step: int | None,
        ts: float | None,
        metric: str | None,
        message: str,
        evidence: dict[str, Any],
    ) -> Alert:
        alert = Alert(
            run=self.run_name,
            detector=detector,
            severity=severity,
            step=step,
            ts=ts,
            metric=metric,
            message=message,
            evidence=evidence,
            run_id=self.run_id,
        )
        if severity == "critical" and detector in ("nan", "divergence"):
            self.critical = alert
        return alert
