"""The alert model shared by every detector, the store, `watch`, `check` and the app."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "critical")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def _json_safe(value: Any) -> Any:
    """Evidence may hold NaN/Inf; strict JSON cannot, so they become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


@dataclass(slots=True)
class Alert:
    """One episode of one problem (SPEC §4). `run` is the run's display name."""

    run: str
    detector: str
    severity: str
    step: int | None
    ts: float | None
    metric: str | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "detector": self.detector,
            "severity": self.severity,
            "step": self.step,
            "ts": self.ts,
            "metric": self.metric,
            "message": self.message,
            "evidence": _json_safe(self.evidence),
        }
