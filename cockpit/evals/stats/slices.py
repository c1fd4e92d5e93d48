"""Per-slice metrics and the slice finder: which metadata values are really worse.

Each slice (field = value) is tested one-sided against its complement (the rest of the
eval): Fisher's exact test for a binary metric, Welch's t-test for a continuous one, or a
cluster-robust t-test of the difference when a cluster field is given. The p-values of all
slices tested together are adjusted with Benjamini-Hochberg, so "significantly worse" keeps
the false discovery rate at `alpha` however many slices were looked at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cockpit.evals.model import MISSING
from cockpit.evals.stats.distributions import hypergeom_cdf, t_cdf
from cockpit.evals.stats.intervals import Estimate, is_binary, mean_estimate

MISSING_LABEL = "(missing)"


@dataclass(slots=True)
class SliceResult:
    field: str
    value: str
    estimate: Estimate
    rest: Estimate | None
    test: str
    p_value: float
    p_adjusted: float = math.nan
    significantly_worse: bool = False

    @property
    def n(self) -> int:
        return self.estimate.n

    @property
    def gap(self) -> float:
        return self.estimate.value - self.rest.value if self.rest else math.nan


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH step-up adjusted p-values (q-values), same order as given; NaN stays NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out


def fisher_worse(k_slice: int, n_slice: int, k_total: int, n_total: int) -> float:
    """One-sided Fisher exact p that the slice has so few successes by chance."""
    return hypergeom_cdf(k_slice, n_total, k_total, n_slice)


def welch_worse(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided Welch t-test p that mean(a) < mean(b)."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    va, vb = float(a.var(ddof=1)) / na, float(b.var(ddof=1)) / nb
    diff = float(a.mean() - b.mean())
    if va + vb == 0:
        return 0.0 if diff < 0 else 1.0
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    return t_cdf(t, df)


def clustered_worse(values: np.ndarray, in_slice: np.ndarray, clusters: np.ndarray) -> float:
    """One-sided p that the slice mean is below the rest, with a cluster-robust (CR1) SE of
    the difference: influence (y - mean_s)/n_s inside, -(y - mean_r)/n_r outside, summed per
    cluster; t with G - 1 df."""
    ns, nr = int(in_slice.sum()), int((~in_slice).sum())
    if ns == 0 or nr == 0:
        return math.nan
    ms, mr = float(values[in_slice].mean()), float(values[~in_slice].mean())
    psi = np.where(in_slice, (values - ms) / ns, -(values - mr) / nr)
    _, codes = np.unique(clusters.astype(str), return_inverse=True)
    groups = int(codes.max()) + 1
    if groups < 2:
        return math.nan
    sums = np.bincount(codes, weights=psi, minlength=groups)
    se = math.sqrt(groups / (groups - 1) * float((sums ** 2).sum()))
    diff = ms - mr
    if se == 0:
        return 0.0 if diff < 0 else 1.0
    return t_cdf(diff / se, groups - 1)


def slice_field(field: str, keys: np.ndarray, values: np.ndarray,
                clusters: np.ndarray | None = None, max_values: int = 200) -> list[SliceResult]:
    """Metric per value of one field with its one-sided test against the complement
    (unadjusted p; `adjust` fills in the rest). Keys and values are aligned, NaN-free."""
    keys = np.asarray(keys).astype(str)
    uniq, codes, counts = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:max_values]
    binary = is_binary(values)
    n_total = len(values)
    k_total = int(values.sum()) if binary else 0
    results = []
    for u in order:
        mask = codes == u
        inside = values[mask]
        sub_clusters = clusters[mask] if clusters is not None else None
        est = mean_estimate(inside, sub_clusters)
        rest_mask = ~mask
        rest = mean_estimate(values[rest_mask], clusters[rest_mask] if clusters is not None
                             else None) if rest_mask.any() else None
        if not rest_mask.any():
            test, p = "none (one value)", math.nan
        elif clusters is not None:
            test, p = "clustered t (one-sided)", clustered_worse(values, mask, clusters)
        elif binary:
            test, p = "fisher exact (one-sided)", fisher_worse(
                int(inside.sum()), len(inside), k_total, n_total)
        else:
            test, p = "welch t (one-sided)", welch_worse(inside, values[rest_mask])
        label = MISSING_LABEL if uniq[u] == MISSING else str(uniq[u])
        results.append(SliceResult(field, label, est, rest, test, p))
    return results


def adjust(results: list[SliceResult], alpha: float = 0.05) -> list[SliceResult]:
    """BH-adjust the p-values of every slice given (all fields together) and flag the worse."""
    adjusted = benjamini_hochberg(np.array([r.p_value for r in results]))
    for r, q in zip(results, adjusted, strict=True):
        r.p_adjusted = float(q)
        r.significantly_worse = bool(q < alpha) and r.gap < 0
    return results


def sliceable_fields(columns: dict[str, np.ndarray], n: int, max_values: int = 30) -> list[str]:
    """Fields worth slicing by default: 2..max_values distinct values, not one per sample."""
    fields = []
    for name, col in columns.items():
        present = col[col != MISSING]
        if len(present) < max(2, n // 10):
            continue
        distinct = len(np.unique(present.astype(str)))
        if 2 <= distinct <= max_values and distinct < max(3, n // 2):
            fields.append(name)
    return fields
