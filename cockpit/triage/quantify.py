"""Counts, shares with Wilson intervals, and the metadata slices over-represented in each
failure category (Fisher's exact test against the other failures, Benjamini-Hochberg across
every category and slice tested together)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cockpit.evals.model import MISSING
from cockpit.evals.stats.distributions import hypergeom_cdf
from cockpit.evals.stats.intervals import Estimate, wilson
from cockpit.evals.stats.slices import benjamini_hochberg

ALPHA = 0.05
MAX_VALUES = 30  # a field with more distinct values among failures is an id, not a slice


@dataclass(frozen=True, slots=True)
class Overrepresented:
    field: str
    value: str
    count: int  # failures of the category with this value
    n_category: int
    n_value: int  # failures (all categories) with this value
    n_failures: int
    p_value: float
    p_adjusted: float

    @property
    def share_in_category(self) -> float:
        return self.count / self.n_category if self.n_category else math.nan

    @property
    def share_elsewhere(self) -> float:
        rest = self.n_failures - self.n_category
        return (self.n_value - self.count) / rest if rest else math.nan

    def to_json(self) -> dict[str, object]:
        return {"field": self.field, "value": self.value, "p_adjusted": self.p_adjusted,
                "p_value": self.p_value, "count": self.count, "n_category": self.n_category,
                "share_in_category": self.share_in_category,
                "share_elsewhere": _finite(self.share_elsewhere)}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def enriched_p(k: int, n_category: int, k_total: int, n_total: int) -> float:
    """One-sided Fisher p that a category of `n_category` failures holds `k` or more of the
    `k_total` failures with a value, out of `n_total` failures (hypergeometric upper tail)."""
    # P(X >= k) = P(category members *without* the value <= n_category - k).
    return hypergeom_cdf(n_category - k, n_total, n_total - k_total, n_category)


def share(count: int, n: int) -> Estimate:
    return wilson(count, n)


def overrepresented(labels: np.ndarray, columns: dict[str, np.ndarray],
                    alpha: float = ALPHA) -> dict[str, list[Overrepresented]]:
    """For each category in `labels` (aligned with every column), the field values it holds
    significantly more often than the other failures (BH-adjusted p < alpha)."""
    labels = np.asarray(labels).astype(str)
    n_total = len(labels)
    tests: list[tuple[str, str, str, int, int, int, float]] = []
    cats = [c for c in dict.fromkeys(labels.tolist())]
    for field, col in columns.items():
        col = np.asarray(col).astype(str)
        present = col != MISSING
        values, counts = np.unique(col[present], return_counts=True)
        constant = len(values) < 2 and bool(present.all())
        if not len(values) or constant or len(values) > MAX_VALUES:
            continue
        for value, k_total in zip(values.tolist(), counts.tolist(), strict=True):
            has = col == value
            for cat in cats:
                inside = labels == cat
                n_cat = int(inside.sum())
                k = int((has & inside).sum())
                if k < 2 or n_cat == n_total:
                    continue
                p = enriched_p(k, n_cat, int(k_total), n_total)
                tests.append((cat, field, value, k, n_cat, int(k_total), p))
    out: dict[str, list[Overrepresented]] = {c: [] for c in cats}
    if not tests:
        return out
    adjusted = benjamini_hochberg(np.array([t[-1] for t in tests]))
    for (cat, field, value, k, n_cat, k_total, p), q in zip(tests, adjusted, strict=True):
        rest = n_total - n_cat
        more = k / n_cat > ((k_total - k) / rest if rest else 0.0)
        if q < alpha and more:
            out[cat].append(Overrepresented(field, value, k, n_cat, k_total, n_total, p, float(q)))
    for found in out.values():
        found.sort(key=lambda o: (o.p_adjusted, -o.count))
    return out
