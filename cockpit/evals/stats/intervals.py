"""Confidence intervals for a mean: Wilson (binary), t, percentile bootstrap, clustered.

Every function returns an `Estimate` so the CLI and UI print one shape: value, interval,
the method that produced it and the standard error where one exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cockpit.evals.stats.distributions import normal_ppf, t_ppf

BOOTSTRAP_SEED = 20240531
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    low: float
    high: float
    method: str
    n: int
    se: float | None = None

    @property
    def ci(self) -> list[float]:
        return [self.low, self.high]

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"value": _clean(self.value), "ci": [_clean(self.low),
                                  _clean(self.high)], "method": self.method, "n": self.n}
        if self.se is not None:
            out["se"] = _clean(self.se)
        return out


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def nan_estimate(method: str, n: int = 0) -> Estimate:
    return Estimate(math.nan, math.nan, math.nan, method, n)


def wilson(successes: int, n: int, level: float = 0.95) -> Estimate:
    """Wilson score interval: good coverage at small n and near 0 or 1, unlike Wald."""
    if n <= 0:
        return nan_estimate("wilson", 0)
    z = normal_ppf(0.5 + level / 2)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    se = math.sqrt(p * (1 - p) / n)
    return Estimate(p, low, high, "wilson", n, se)


def t_interval(values: np.ndarray, level: float = 0.95) -> Estimate:
    """Mean with a Student t interval (independent samples)."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return nan_estimate("t", 0)
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, "t", 1)
    se = float(x.std(ddof=1)) / math.sqrt(n)
    q = t_ppf(0.5 + level / 2, n - 1)
    return Estimate(mean, mean - q * se, mean + q * se, "t", n, se)


def bootstrap_interval(values: np.ndarray, level: float = 0.95,
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Estimate:
    """Mean with a percentile bootstrap interval (fixed seed: the same file, the same CI)."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return nan_estimate("bootstrap", 0)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 4_000_000 // max(n, 1))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    se = float(means.std(ddof=1)) if resamples > 1 else None
    return Estimate(float(x.mean()), float(low), float(high),
                    f"bootstrap ({resamples} resamples, seed {seed})", n, se)


def clustered_mean(values: np.ndarray, clusters: np.ndarray, level: float = 0.95,
                   bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean with a cluster-robust (CR1) standard error and a t interval on G - 1 df.

    Samples sharing a cluster (epochs of one item, questions about one passage) are not
    independent; the variance is built from per-cluster sums of residuals:
    Var = G / (G - 1) * sum_g (sum_{i in g} (y_i - mean))^2 / n^2.
    """
    y = np.asarray(values, dtype=np.float64)
    n = len(y)
    if n == 0:
        return nan_estimate("clustered", 0)
    _, codes = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    groups = int(codes.max()) + 1
    mean = float(y.mean())
    method = f"clustered ({groups} clusters, t with {groups - 1} df)"
    if groups < 2:
        return Estimate(mean, math.nan, math.nan, method, n)
    sums = np.bincount(codes, weights=y - mean, minlength=groups)
    var = groups / (groups - 1) * float((sums ** 2).sum()) / (n * n)
    se = math.sqrt(var)
    q = t_ppf(0.5 + level / 2, groups - 1)
    low, high = mean - q * se, mean + q * se
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return Estimate(mean, low, high, method, n, se)


def is_binary(values: np.ndarray) -> bool:
    x = np.asarray(values, dtype=np.float64)
    return bool(len(x)) and bool(np.all((x == 0.0) | (x == 1.0)))


def mean_estimate(values: np.ndarray, clusters: np.ndarray | None = None, level: float = 0.95,
                  method: str = "auto") -> Estimate:
    """The interval Cockpit shows for a mean: clustered if clusters are given, else Wilson for
    0/1 values, else t (or bootstrap when asked)."""
    x = np.asarray(values, dtype=np.float64)
    binary = is_binary(x)
    if clusters is not None:
        return clustered_mean(x, clusters, level, (0.0, 1.0) if binary else None)
    if method == "bootstrap":
        return bootstrap_interval(x, level)
    if binary:
        return wilson(int(x.sum()), len(x), level)
    return t_interval(x, level)
