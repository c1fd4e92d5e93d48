"""The numbers `cockpit eval summary` and the eval tab show for one run, in one object.

Metrics: `accuracy` (share correct among samples with a binary grade, Wilson interval) and
`mean_score` (when scores are not all 0/1, t interval), both clustered when a cluster field
is given or the run has repeated epochs. Slices: every value of the fields asked for (or of
every categorical metadata field), tested against the rest and BH-adjusted together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cockpit.evals.model import MISSING, EvalRun
from cockpit.evals.stats.calibration import Calibration, calibration
from cockpit.evals.stats.intervals import Estimate, is_binary, mean_estimate
from cockpit.evals.stats.slices import SliceResult, adjust, slice_field, sliceable_fields

ALPHA = 0.05
# Metadata that records an outcome (another metric, the model's pick), not a property of the
# item: never sliced by default, since "wrong where the model chose wrong" finds nothing.
OUTCOME_PREFIXES = ("score:", "output:")


@dataclass(slots=True)
class EvalSummary:
    run: EvalRun
    n: int
    n_scored: int
    metrics: dict[str, Estimate]
    primary: str | None
    slices: list[SliceResult]
    calibration: Calibration | None
    cluster: str | None
    n_clusters: int | None
    notes: list[str] = field(default_factory=list)

    @property
    def worse_slices(self) -> list[SliceResult]:
        worse = [s for s in self.slices if s.significantly_worse]
        return sorted(worse, key=lambda s: s.gap)

    def to_json(self) -> dict[str, Any]:
        slices: dict[str, dict[str, Any]] = {}
        for s in self.slices:
            slices.setdefault(s.field, {})[s.value] = _slice_json(s, self.primary or "")
        return {
            "eval": self.run.name, "path": self.run.path, "format": self.run.format,
            "model": self.run.model, "task": self.run.task, "created_at": self.run.created_at,
            "eval_id": self.run.eval_id, "n": self.n, "n_scored": self.n_scored,
            "primary_metric": self.primary,
            "metrics": {k: v.to_json() for k, v in self.metrics.items()},
            "cluster": ({"field": self.cluster, "n_clusters": self.n_clusters}
                        if self.cluster else None),
            "slices": slices,
            "worse_slices": [
                {"field": s.field, "value": s.value, "n": s.n, "value_metric": _num(s.estimate.value),
                 "rest": _num(s.rest.value) if s.rest else None, "gap": _num(s.gap),
                 "p_adjusted": _num(s.p_adjusted)} for s in self.worse_slices],
            "slice_test": {"alpha": ALPHA, "correction": "benjamini-hochberg",
                           "n_tests": sum(1 for s in self.slices if not math.isnan(s.p_value))},
            "calibration": self.calibration.to_json() if self.calibration else None,
            "results_only": self.run.results_only,
            "notes": self.notes,
        }


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _slice_json(s: SliceResult, metric: str) -> dict[str, Any]:
    return {
        "n": s.n,
        "metrics": {metric: {"value": _num(s.estimate.value),
                             "ci": [_num(s.estimate.low), _num(s.estimate.high)],
                             "method": s.estimate.method}},
        "rest": _num(s.rest.value) if s.rest else None,
        "gap": _num(s.gap), "test": s.test, "p_value": _num(s.p_value),
        "p_adjusted": _num(s.p_adjusted), "significantly_worse": s.significantly_worse,
    }


SCORE_PREFIX = "score:"
Z95 = 1.959963984540054


def sample_metrics(run: EvalRun, clusters: np.ndarray | None, interval: str,
                   known: set[str]) -> dict[str, Estimate]:
    """Every other per-sample metric a loader kept as `score:<name>` metadata (lm-eval's
    acc_norm beside acc, Inspect's other scorers, promptfoo's named scores)."""
    t = run.table
    out: dict[str, Estimate] = {}
    for name in t.fields():
        if not name.startswith(SCORE_PREFIX) or name[len(SCORE_PREFIX):] in known:
            continue
        raw = [m.get(name) for m in t.metadata]
        values = np.array([float(v) if isinstance(v, int | float) else np.nan for v in raw])
        ok = ~np.isnan(values)
        if ok.any():
            out[name[len(SCORE_PREFIX):]] = mean_estimate(
                values[ok], clusters[ok] if clusters is not None else None, method=interval)
    return out


def reported_metrics(run: EvalRun, known: set[str]) -> dict[str, Estimate]:
    """The tool's own numbers for metrics the samples did not give (all of them when the file
    holds no samples): value ± 1.96 stderr, or a point value when no stderr was reported."""
    out: dict[str, Estimate] = {}
    for name, m in run.reported.items():
        if name in known:
            continue
        n = m.n if m.n is not None else len(run.table)
        if m.stderr is not None and math.isfinite(m.stderr):
            low, high = m.value - Z95 * m.stderr, m.value + Z95 * m.stderr
            if 0.0 <= m.value <= 1.0:  # a share (accuracy, exact match): stay inside [0, 1]
                low, high = max(low, 0.0), min(high, 1.0)
            out[name] = Estimate(m.value, low, high, "reported ± 1.96 stderr", n, m.stderr)
        else:
            out[name] = Estimate(m.value, math.nan, math.nan, "reported", n)
    return out


def primary_values(run: EvalRun) -> tuple[str | None, np.ndarray]:
    """The metric slices are judged by: accuracy where grades are binary, else mean score."""
    t = run.table
    if np.any(~np.isnan(t.correct)):
        return "accuracy", t.correct
    if np.any(~np.isnan(t.scores)):
        return "mean_score", t.scores
    return None, t.scores


def summarize(run: EvalRun, by: list[str] | None = None, cluster: str | None = None,
              interval: str = "auto") -> EvalSummary:
    """Metrics with intervals, per-slice metrics with BH-adjusted tests, calibration."""
    t = run.table
    notes = list(run.notes)
    cluster = cluster or run.default_cluster
    clusters_all: np.ndarray | None = None
    n_clusters: int | None = None
    if cluster:
        if cluster not in t.fields():
            raise KeyError(cluster)
        clusters_all = t.column(cluster)
        n_clusters = len(np.unique(clusters_all.astype(str)))
    metrics: dict[str, Estimate] = {}
    graded = ~np.isnan(t.correct)
    scored = ~np.isnan(t.scores) | graded
    if graded.any():
        metrics["accuracy"] = mean_estimate(
            t.correct[graded], clusters_all[graded] if clusters_all is not None else None,
            method=interval)
    has_scores = ~np.isnan(t.scores)
    if has_scores.any() and not is_binary(t.scores[has_scores]):
        metrics["mean_score"] = mean_estimate(
            t.scores[has_scores], clusters_all[has_scores] if clusters_all is not None else None,
            method=interval)
    metrics.update(sample_metrics(run, clusters_all, interval, set(metrics)))
    metrics.update(reported_metrics(run, set(metrics)))
    primary, values = primary_values(run)
    slices: list[SliceResult] = []
    if primary is not None:
        ok = ~np.isnan(values)
        fields = by if by else sliceable_fields(
            {f: t.column(f) for f in t.fields()
             if f != cluster and not f.startswith(OUTCOME_PREFIXES)},
            len(t))
        for name in fields:
            if name not in t.fields():
                raise KeyError(name)
            keys = t.column(name)[ok]
            if by is None and len(np.unique(keys[keys != MISSING].astype(str))) < 2:
                continue
            slices.extend(slice_field(name, keys, values[ok],
                                      clusters_all[ok] if clusters_all is not None else None))
        adjust(slices, ALPHA)
    cal = calibration(t.confidences, t.correct) if np.any(~np.isnan(t.confidences)) else None
    if cal is not None:
        notes.extend(cal.warnings)
    if not scored.any() and not run.results_only:
        notes.append("no sample carries a score or a grade")
    return EvalSummary(run=run, n=len(t), n_scored=int(scored.sum()), metrics=metrics,
                       primary=primary, slices=slices, calibration=cal, cluster=cluster,
                       n_clusters=n_clusters, notes=notes)
