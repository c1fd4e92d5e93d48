"""What a run cost in GPU time, and how much of it a failure burned.

GPU-hours come from attributed telemetry: every `gpu_processes` row of the run marks its GPU
as held until the next row of that GPU (gaps longer than a few sampling intervals are not
counted). The wasted part is the held time that falls after the run's first critical alert,
inside a silence its `stall` alert reported (hung, stalled, or a past gap), or while a
`low_gpu_util` episode starved the GPU (from its window's start until the GPU's utilization
recovered). Every warning or critical alert states the GPU time burned since its onset and,
with a price per GPU-hour, the money (`annotate`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
import numpy as np

from cockpit.model.alert import Alert

MIN_TICK_CAP_S = 2.0  # a gap longer than max(3 x the median interval, this) is not held time
RECOVER_UTIL_PCT = 40.0  # low_gpu_util's recovery level (GpuThresholds.low_util_recover_pct)
ONSET_STEP_KEYS = ("excursion_start_step", "since_step", "start_step", "onset_step")
PRICE_ENV = "COCKPIT_GPU_PRICE"


def gpu_price(given: float | None = None) -> float | None:
    """The price per GPU-hour: `--gpu-price`, else $COCKPIT_GPU_PRICE, else None."""
    if given is not None:
        return given
    try:
        value = float(os.environ.get(PRICE_ENV, ""))
    except ValueError:
        return None
    return value if value >= 0 and math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class HeldTime:
    """One GPU's held intervals for a run: (start ts, seconds) per telemetry tick."""

    ts: np.ndarray
    dt: np.ndarray

    def seconds_between(self, start: float, end: float) -> float:
        lo = np.maximum(self.ts, start)
        hi = np.minimum(self.ts + self.dt, end)
        return float(np.clip(hi - lo, 0, None).sum())


def held_time(cur: duckdb.DuckDBPyConnection, run_id: str) -> list[HeldTime]:
    rows = cur.execute(
        "SELECT DISTINCT host, gpu, ts FROM gpu_processes WHERE run_id = ? AND ts IS NOT NULL "
        "ORDER BY host, gpu, ts", [run_id]).fetchall()
    by_gpu: dict[tuple[str, int], list[float]] = {}
    for host, gpu, ts in rows:
        by_gpu.setdefault((host, gpu), []).append(float(ts))
    out = []
    for times in by_gpu.values():
        ts = np.asarray(times)
        gaps = np.diff(ts)
        typical = float(np.median(gaps)) if len(gaps) else 1.0
        cap = max(3 * typical, MIN_TICK_CAP_S)
        dt = np.append(np.minimum(gaps, cap), typical)
        dt[dt > cap] = 0.0
        out.append(HeldTime(ts, dt))
    return out


def wasted_intervals(cur: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[float, float]]:
    """The spans of a run whose GPU time counts as wasted (see the module docstring)."""
    spans: list[tuple[float, float]] = []
    first = cur.execute("SELECT min(ts) FROM alerts WHERE run_id = ? AND severity = 'critical'",
                        [run_id]).fetchone()
    if first and first[0] is not None:
        spans.append((float(first[0]), math.inf))
    states = cur.execute("SELECT ts, state FROM run_states WHERE run_id = ? ORDER BY ts",
                         [run_id]).fetchall()
    for ts, detector, evidence in cur.execute(
            "SELECT ts, detector, evidence FROM alerts WHERE run_id = ? AND severity <> 'info' "
            "AND detector IN ('stall', 'low_gpu_util') AND ts IS NOT NULL", [run_id]).fetchall():
        data = _evidence(evidence)
        if detector == "stall":
            start = _number(data.get("onset_ts")) or _number(data.get("last_ts")) or float(ts)
            end = _number(data.get("resumed_ts")) or _left(states, float(ts), ("hung", "stalled"))
            spans.append((start, end))
        else:
            start = float(ts) - (_number(data.get("window_s")) or 0.0)
            spans.append((start, _recovered(cur, data, float(ts))))
    return spans


def run_gpu_cost(cur: duckdb.DuckDBPyConnection, run_id: str) -> tuple[float, float] | None:
    """(GPU-hours, wasted GPU-hours) of a run; None when no telemetry is attributed to it."""
    held = held_time(cur, run_id)
    if not held:
        return None
    spans = _union(wasted_intervals(cur, run_id))
    total = sum(float(h.dt.sum()) for h in held)
    wasted = sum(h.seconds_between(a, b) for h in held for a, b in spans)
    return total / 3600.0, wasted / 3600.0


def store_gpu_cost(con: duckdb.DuckDBPyConnection, run_ids: Iterable[str]) -> None:
    """Write runs.gpu_hours and wasted_gpu_hours (run on the writer thread: `writer.call`)."""
    for run_id in run_ids:
        cost = run_gpu_cost(con, run_id)
        if cost is not None:
            con.execute("UPDATE runs SET gpu_hours = ?, wasted_gpu_hours = ? WHERE run_id = ?",
                        [round(cost[0], 6), round(cost[1], 6), run_id])


# ---- alert evidence ----------------------------------------------------------------------

def onset_of(alert: Alert, cur: duckdb.DuckDBPyConnection | None = None) -> float | None:
    """When the problem an alert reports began: its evidence's onset time, the start of its
    window, the time of its onset step (needs the store), else the alert's own time."""
    ev = alert.evidence
    onset = _number(ev.get("onset_ts"))
    if onset is not None:
        return onset
    if alert.detector == "low_gpu_util" and alert.ts is not None:
        return alert.ts - (_number(ev.get("window_s")) or 0.0)
    step = next((ev[k] for k in ONSET_STEP_KEYS if isinstance(ev.get(k), int)), None)
    if step is not None and cur is not None and alert.run_id:
        row = cur.execute("SELECT min(ts) FROM metrics WHERE run_id = ? AND step >= ?",
                          [alert.run_id, step]).fetchone()
        if row and row[0] is not None:
            return float(row[0])
    return alert.ts


def annotate(alert: Alert, gpu_hours: float | None, onset: float | None,
             price: float | None, gpus: int | None = None) -> None:
    """Put the GPU time burned since the onset (and its cost) into a warning's evidence."""
    ev = alert.evidence
    ev["gpu_hours_since_onset"] = None if gpu_hours is None else round(gpu_hours, 4)
    if onset is not None:
        ev.setdefault("onset_ts", onset)
    if gpus is not None:
        ev["gpus_held"] = gpus
    if price is not None and gpu_hours is not None:
        ev["price_per_gpu_hour"] = price
        ev["cost_since_onset"] = round(gpu_hours * price, 2)


class LiveCost:
    """Annotates alerts as they fire: GPUs the run holds now x the time since the onset."""

    def __init__(self, gpus_held: Callable[[str], int] | None, price: float | None,
                 cursor: Callable[[], duckdb.DuckDBPyConnection] | None = None) -> None:
        self.gpus_held = gpus_held
        self.price = price
        self.cursor = cursor

    def __call__(self, alerts: list[Alert]) -> None:
        loud = [a for a in alerts if a.severity != "info" and a.run_id]
        if not loud:
            return
        cur = self.cursor() if self.cursor is not None else None
        try:
            for alert in loud:
                onset = onset_of(alert, cur)
                if self.gpus_held is None or alert.run_id is None:
                    annotate(alert, None, onset, self.price)
                    continue
                gpus = self.gpus_held(alert.run_id)
                spent = max(0.0, (alert.ts or onset or 0.0) - (onset or alert.ts or 0.0))
                annotate(alert, gpus * spent / 3600.0, onset, self.price, gpus)
        finally:
            if cur is not None:
                cur.close()


def annotate_posthoc(cur: duckdb.DuckDBPyConnection, alerts: list[Alert],
                     price: float | None) -> None:
    """After the fact: the GPU time the run held from each alert's onset to its end."""
    held: dict[str, list[HeldTime]] = {}
    for alert in alerts:
        if alert.severity == "info" or not alert.run_id:
            continue
        if alert.run_id not in held:
            held[alert.run_id] = held_time(cur, alert.run_id)
        onset = onset_of(alert, cur)
        gpus = held[alert.run_id]
        if not gpus:
            annotate(alert, None, onset, price)
            continue
        start = onset if onset is not None else -math.inf
        seconds = sum(h.seconds_between(start, math.inf) for h in gpus)
        annotate(alert, seconds / 3600.0, onset, price, len(gpus))


# ---- small helpers -------------------------------------------------------------------------

def _evidence(text: str | None) -> dict[str, object]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _left(states: list[tuple[float, str]], after: float, kinds: tuple[str, ...]) -> float:
    """When the run left a hung/stalled state entered at or before `after` (inf: never)."""
    for ts, state in states:
        if ts > after and state not in kinds:
            return float(ts)
    return math.inf


def _recovered(cur: duckdb.DuckDBPyConnection, data: dict[str, object], after: float) -> float:
    host, gpu = data.get("host"), data.get("gpu")
    if host is None or gpu is None:
        return math.inf
    row = cur.execute("SELECT min(ts) FROM gpu_samples WHERE host = ? AND gpu = ? AND ts > ? "
                      "AND util_gpu >= ?", [host, gpu, after, RECOVER_UTIL_PCT]).fetchone()
    return float(row[0]) if row and row[0] is not None else math.inf


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
