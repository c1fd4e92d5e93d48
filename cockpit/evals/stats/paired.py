"""Paired comparison of two eval runs on the items they share.

Pairing removes the item-difficulty variance that two independent intervals would carry, so
a real 1-point change can be significant on 1,000 items. The difference is B - A; "regressed"
items were right in A and wrong in B, "fixed" the reverse. McNemar's exact test uses only the
discordant pairs; the bootstrap resamples items (pairs) with a fixed seed; the minimum
detectable effect is the paired difference this many items would detect at 80% power with a
two-sided alpha of 0.05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cockpit.evals.model import EvalRun
from cockpit.evals.stats.distributions import binom_two_sided_half, normal_ppf, t_sf
from cockpit.evals.stats.intervals import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, Estimate

ALPHA = 0.05
POWER = 0.80


@dataclass(slots=True)
class PairedDiff:
    a: str
    b: str
    metric: str
    n_shared: int
    n_only_a: int
    n_only_b: int
    a_value: float
    b_value: float
    difference: Estimate
    test: str
    p_value: float
    mde: float
    regressed: list[str]
    fixed: list[str]
    both_wrong: list[str]
    both_right: int
    notes: list[str] = field(default_factory=list)

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def minimum_detectable_effect(sd_diff: float, n: int, alpha: float = ALPHA,
                              power: float = POWER) -> float:
    """(z_{1-alpha/2} + z_{power}) * sd(d) / sqrt(n) for a paired mean difference."""
    if n <= 0 or not math.isfinite(sd_diff):
        return math.nan
    return (normal_ppf(1 - alpha / 2) + normal_ppf(power)) * sd_diff / math.sqrt(n)


def mcnemar_exact(regressed: int, fixed: int) -> float:
    """Exact two-sided McNemar p: the discordant pairs as Binomial(b + c, 1/2)."""
    return binom_two_sided_half(min(regressed, fixed), regressed + fixed)


def bootstrap_binary_diff(n: int, n_regressed: int, n_fixed: int, level: float = 0.95,
                          resamples: int = BOOTSTRAP_RESAMPLES,
                          seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Paired bootstrap of acc_B - acc_A. Resampling n pairs only moves the counts of fixed
    and regressed pairs, so a multinomial draw of the three cells is the same bootstrap."""
    rng = np.random.default_rng(seed)
    probs = [n_fixed / n, n_regressed / n, 1 - (n_fixed + n_regressed) / n]
    probs[2] = max(0.0, probs[2])
    draws = rng.multinomial(n, probs, size=resamples)
    diffs = (draws[:, 0] - draws[:, 1]) / n
    alpha = (1 - level) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_mean_diff(d: np.ndarray, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                        seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = len(d)
    means = np.empty(resamples)
    chunk = max(1, 4_000_000 // max(n, 1))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = d[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def _metric_arrays(run: EvalRun) -> tuple[str, np.ndarray]:
    t = run.table
    if np.any(~np.isnan(t.correct)):
        return "accuracy", t.correct
    return "mean_score", t.scores


def paired_diff(a: EvalRun, b: EvalRun) -> PairedDiff:
    """Compare B against A on the samples whose ids both runs graded."""
    metric_a, va = _metric_arrays(a)
    metric_b, vb = _metric_arrays(b)
    metric = metric_a if metric_a == metric_b else "mean_score"
    if metric == "mean_score":
        va, vb = a.table.scores, b.table.scores
    pos_a = {sid: i for i, sid in enumerate(a.table.sample_ids) if not math.isnan(va[i])}
    pos_b = {sid: i for i, sid in enumerate(b.table.sample_ids) if not math.isnan(vb[i])}
    shared = [sid for sid in pos_a if sid in pos_b]
    ia = np.array([pos_a[s] for s in shared], dtype=np.int64)
    ib = np.array([pos_b[s] for s in shared], dtype=np.int64)
    xa, xb = va[ia], vb[ib]
    n = len(shared)
    ids = np.array(shared, dtype=object)
    notes: list[str] = []
    if n == 0:
        nan = math.nan
        return PairedDiff(a.name, b.name, metric, 0, len(pos_a), len(pos_b), nan, nan,
                          Estimate(nan, nan, nan, "none", 0), "none", nan, nan, [], [], [], 0,
                          ["the two runs share no graded sample ids"])
    d = xb - xa
    regressed_mask = d < 0
    fixed_mask = d > 0
    low_mask = (xa < 1) & (xb < 1) if metric == "accuracy" else np.zeros(n, dtype=bool)
    n_reg, n_fix = int(regressed_mask.sum()), int(fixed_mask.sum())
    diff = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    if metric == "accuracy":
        low, high = bootstrap_binary_diff(n, n_reg, n_fix)
        test = "mcnemar exact"
        p = mcnemar_exact(n_reg, n_fix)
    else:
        low, high = bootstrap_mean_diff(d)
        test = "sign test (exact, on increases vs decreases)"
        p = mcnemar_exact(n_reg, n_fix)
        if n > 1 and sd > 0:
            notes.append(f"paired t-test p = {2 * t_sf(abs(diff) / (sd / math.sqrt(n)), n - 1):.4g}")
    method = f"paired bootstrap ({BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED})"
    se = sd / math.sqrt(n) if n > 1 else None
    estimate = Estimate(diff, low, high, method, n, se)
    mde = minimum_detectable_effect(sd, n)
    if n_reg + n_fix == 0:
        notes.append("no discordant pairs: the runs agree on every shared item")
    only_a, only_b = len(pos_a) - n, len(pos_b) - n
    if only_a or only_b:
        notes.append(f"{only_a} item(s) only in A and {only_b} only in B are left out")
    return PairedDiff(
        a=a.name, b=b.name, metric=metric, n_shared=n, n_only_a=only_a, n_only_b=only_b,
        a_value=float(xa.mean()), b_value=float(xb.mean()), difference=estimate, test=test,
        p_value=p, mde=mde, regressed=[str(s) for s in ids[regressed_mask]],
        fixed=[str(s) for s in ids[fixed_mask]], both_wrong=[str(s) for s in ids[low_mask]],
        both_right=int(((xa == 1) & (xb == 1)).sum()) if metric == "accuracy" else 0,
        notes=notes,
    )
