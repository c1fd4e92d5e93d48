"""The words sent: one alert, one follow-up, or a digest of many, as a title and a plain-text
body that reads the same in Slack, an e-mail and a phone notification.

A message says the run, the host, the detector, the step, the evidence in one line, the GPU
time burned since onset (and its cost) when the alert carries it, and how to open it.
"""

from __future__ import annotations

import math
import shlex
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cockpit.model.alert import Alert, severity_rank
from cockpit.model.lifecycle import LifecycleChange

# Evidence keys the lifecycle work puts on warning and critical alerts (SPEC §4, "coming").
GPU_HOURS_KEY = "gpu_hours_since_onset"
COST_KEY = "cost_since_onset"  # set by cockpit.monitor.gpu_cost with a price
_NOT_EVIDENCE = {GPU_HOURS_KEY, COST_KEY, "price_per_gpu_hour", "host", "rule"}
EVIDENCE_CHARS = 200
DIGEST_LINES = 20
TONES = ("info", "success", "warning", "failure")  # Apprise's NotifyType values


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    tone: str  # one of TONES: how the service colours it

    def __post_init__(self) -> None:
        if self.tone not in TONES:
            raise ValueError(f"unknown tone {self.tone!r}")


@dataclass(slots=True)
class Item:
    """One thing a destination owes the user: an alert or a follow-up."""

    severity: str  # an alert's; follow-ups are "info" (quiet hours hold them)
    run: str
    headline: str  # its line in a digest
    message: Message  # what is sent when it goes out alone
    is_alert: bool = True
    detector: str = ""
    gpu_hours: float | None = None
    cost_usd: float | None = None
    arrived: float = 0.0  # monotonic, set by the destination
    release_at: float = 0.0  # wall clock; later than now while quiet hours hold it
    created_wall: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _tone(severity: str) -> str:
    return {"critical": "failure", "warning": "warning"}.get(severity, "info")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        shown = ", ".join(_fmt(v) for v in value[:4])
        return f"[{shown}{', …' if len(value) > 4 else ''}]"
    return str(value)


def _is_time(key: str, value: Any) -> bool:
    """`onset_ts`, `last_ts`, `resumed_ts`: unix times, shown as a clock time."""
    return (key == "ts" or key.endswith("_ts")) and isinstance(value, int | float) \
        and not isinstance(value, bool) and 1e9 < value < 1e10


def evidence_line(evidence: dict[str, Any], limit: int = EVIDENCE_CHARS) -> str:
    """The evidence as `key=value, …` on one line, cut at `limit` characters."""
    parts = [f"{k}={_clock(v) if _is_time(k, v) else _fmt(v)}" for k, v in evidence.items()
             if k not in _NOT_EVIDENCE and v is not None]
    return shorten(" ".join(", ".join(parts).split()), limit)


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def burn_line(gpu_hours: float | None, cost_usd: float | None, prefix: str) -> str | None:
    if gpu_hours is None:
        return None
    cost = f" (${cost_usd:,.2f})" if cost_usd is not None else ""
    return f"{prefix}: {gpu_hours:,.2f} GPU-hours{cost}"


def open_app_command(db: str | None) -> str:
    """How a message tells its reader to open the app (`--db` when not the default)."""
    return "cockpit app" + (f" --db {shlex.quote(db)}" if db else "")


def open_run(open_app: str, run: str) -> str:
    return f"{open_app} --run {shlex.quote(run)}"


def first_sentence(text: str, limit: int = 140) -> str:
    head = text.split(". ", 1)[0].rstrip(".")
    return shorten(head, limit)


def alert_item(alert: Alert, host: str | None, open_app: str) -> Item:
    ev = alert.evidence or {}
    gpu_hours, cost = _number(ev.get(GPU_HOURS_KEY)), _number(ev.get(COST_KEY))
    step = "-" if alert.step is None else str(alert.step)
    facts = [f"run: {alert.run}", f"host: {host or 'unknown'}", f"detector: {alert.detector}",
             f"step: {step}"]
    if alert.metric:
        facts.append(f"metric: {alert.metric}")
    lines = [alert.message, " · ".join(facts)]
    evidence = evidence_line(ev)
    if evidence:
        lines.append(f"evidence: {evidence}")
    burn = burn_line(gpu_hours, cost, "GPU time burned since onset")
    if burn:
        lines.append(burn)
    lines.append(f"open: {open_run(open_app, alert.run)}")
    title = f"Cockpit · {alert.severity.upper()} {alert.detector} in {alert.run}"
    headline = (f"{alert.severity.upper()} {alert.detector} · {alert.run} · step {step} · "
                f"{first_sentence(alert.message)}")
    return Item(alert.severity, alert.run, headline,
                Message(title, "\n".join(lines), _tone(alert.severity)),
                detector=alert.detector, gpu_hours=gpu_hours, cost_usd=cost)


def follow_up_item(change: LifecycleChange, kind: str, detectors: list[str],
                   host: str | None, open_app: str) -> Item:
    """`kind`: recovered, finished or failed."""
    where = f"run {change.run} on host {host or 'unknown'}"
    if kind == "recovered":
        text = f"{where} is logging again (it was {change.previous})."
    elif kind == "failed":
        text = f"{where} failed" + (f": {change.reason}" if change.reason else ".")
    else:
        text = f"{where} finished" + (f": {change.reason}." if change.reason else ".")
    lines = [text]
    if detectors:
        lines.append("alerts before this: " + ", ".join(dict.fromkeys(detectors)))
    lines.append(f"open: {open_run(open_app, change.run)}")
    tone = {"recovered": "success", "finished": "success", "failed": "failure"}[kind]
    title = f"Cockpit · {kind.upper()}: {change.run}"
    headline = f"{kind.upper()} · {change.run}" + (f" · {change.reason}" if change.reason else "")
    return Item("info", change.run, shorten(headline, 200), Message(title, "\n".join(lines), tone),
                is_alert=False)


def digest(items: list[Item], open_app: str, lines: int = DIGEST_LINES) -> Message:
    """Many items as one message: the counts first, then the worst ones, one line each."""
    alerts = [i for i in items if i.is_alert]
    others = len(items) - len(alerts)
    runs = len({i.run for i in items})
    by_severity = Counter(i.severity for i in alerts)
    parts = []
    if alerts:
        parts.append(f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}")
    if others:
        parts.append(f"{others} follow-up{'s' if others != 1 else ''}")
    sev = ", ".join(f"{by_severity[s]} {s}" for s in ("critical", "warning", "info")
                    if by_severity[s])
    title = f"Cockpit · {' and '.join(parts)} on {runs} run{'s' if runs != 1 else ''}"
    if sev:
        title += f" ({sev})"
    body: list[str] = []
    detectors = Counter(i.detector for i in alerts)
    if detectors:
        body.append("by detector: " + ", ".join(f"{d} ×{n}" for d, n in detectors.most_common()))
    hours = [i.gpu_hours for i in alerts if i.gpu_hours is not None]
    costs = [i.cost_usd for i in alerts if i.cost_usd is not None]
    burn = burn_line(sum(hours) if hours else None, sum(costs) if costs else None,
                     "GPU time burned since onset, all runs")
    if burn:
        body.append(burn)
    ordered = sorted(items, key=lambda i: (-severity_rank(i.severity) if i.is_alert else 1,
                                           i.arrived))
    body.append("")
    body.extend(i.headline for i in ordered[:lines])
    if len(ordered) > lines:
        body.append(f"… and {len(ordered) - lines} more")
    body.append("")
    body.append(f"open: {open_app}" if runs > 1 else f"open: {open_run(open_app, items[0].run)}")
    worst = max((i.message.tone for i in items), key=TONES.index)
    return Message(title, "\n".join(body), worst)


def sample_alert() -> Alert:
    """What `cockpit notify --test` sends: an alert shaped like a real one."""
    return Alert(
        run="example/run-7", detector="nan", severity="critical", step=1200, ts=None,
        metric="loss",
        message=("loss is nan at step 1200 (so is grad_norm). Rule: any non-finite value of "
                 "loss. Next: the batch at that step, the learning rate, mixed-precision "
                 "overflow. (A test message from `cockpit notify --test`.)"),
        evidence={"value": "nan", "last_finite": 2.314, "last_finite_step": 1199,
                  GPU_HOURS_KEY: 0.75},
    )
