"""A run's lifecycle as the monitor decides it, and the change it announces.

One place (cockpit/monitor) decides a run's state from points, process and GPU evidence;
`watch`, the app and notifications only read these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# SPEC §3: `hung` = the writing process is alive and silent; `stalled` = silent with no
# writer visible (a remote or foreign job).
RUN_STATES = ("running", "hung", "finished", "failed", "stalled", "unknown")


@dataclass(slots=True)
class LifecycleChange:
    """A run entered `state` (discovered runs enter their first state from None)."""

    run_id: str
    run: str  # display name
    state: str
    previous: str | None
    reason: str | None
    ts: float
    host: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in RUN_STATES:
            raise ValueError(f"unknown run state {self.state!r}")

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "lifecycle": self.state, "previous": self.previous,
                "reason": self.reason, "ts": self.ts, "host": self.host,
                "evidence": self.evidence}
