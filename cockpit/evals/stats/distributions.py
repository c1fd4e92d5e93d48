"""The few distribution functions the eval statistics need, without scipy.

Normal quantiles use Acklam's rational approximation refined by one Halley step on erfc
(relative error ~1e-15); Student t uses the regularized incomplete beta function (Lentz's
continued fraction) inverted by bisection and Newton; binomial and hypergeometric tails sum
exact terms in log space, so they stay exact for the sample sizes evals have.
"""

from __future__ import annotations

import math

import numpy as np

_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def normal_sf(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def normal_ppf(p: float) -> float:
    """Inverse of the standard normal CDF."""
    if not 0.0 < p < 1.0:
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        raise ValueError(f"probability {p} outside [0, 1]")
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        x = (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / \
            ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1)
    elif p <= 1 - lo:
        q = p - 0.5
        r = q * q
        x = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q / \
            (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1)
    else:
        q = math.sqrt(-2 * math.log(1 - p))
        x = -(((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / \
            ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1)
    # One Halley step on the exact CDF.
    e = normal_cdf(x) - p
    u = e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x - u / (1 + x * u / 2)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom."""
    if math.isinf(df):
        return normal_sf(t)
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_cdf(t: float, df: float) -> float:
    return 1.0 - t_sf(t, df)


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t (accurate to ~1e-12, checked against tables in the tests)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability {p} outside (0, 1)")
    if df <= 0:
        raise ValueError(f"degrees of freedom {df} must be positive")
    if math.isinf(df) or df > 1e7:
        return normal_ppf(p)
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        a = 4 * p * (1 - p)
        return 2 * (p - 0.5) * math.sqrt(2 / a)
    # Bracket, then bisection with Newton polishing on the density.
    lo, hi = 0.0, max(2.0 * normal_ppf(p), 1.0)
    while t_cdf(hi, df) < p:
        hi *= 2.0
    x = normal_ppf(p)
    x = min(max(x, lo), hi)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(200):
        f = t_cdf(x, df) - p
        if abs(f) < 1e-14:
            break
        if f > 0:
            hi = x
        else:
            lo = x
        dens = math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))
        step = x - f / dens if dens > 0 else (lo + hi) / 2
        x = step if lo < step < hi else (lo + hi) / 2
        if hi - lo < 1e-13:
            break
    return x


_LOG_FACT = np.zeros(1)


def log_factorial(n: np.ndarray | int) -> np.ndarray:
    """log(n!) from a cached cumulative table (exact sums of logs; fast for vectors)."""
    global _LOG_FACT
    top = int(np.max(n))
    if top >= len(_LOG_FACT):
        size = max(top + 1, 2 * len(_LOG_FACT), 1024)
        table = np.zeros(size)
        table[1:] = np.cumsum(np.log(np.arange(1, size, dtype=np.float64)))
        _LOG_FACT = table
    return _LOG_FACT[np.asarray(n, dtype=np.int64)]


def _log_sum_exp(logs: np.ndarray) -> float:
    top = float(logs.max())
    return top + math.log(float(np.exp(logs - top).sum()))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), exact (summed in log space)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    ks = np.arange(0, k + 1, dtype=np.int64)
    logs = (log_factorial(n) - log_factorial(ks) - log_factorial(n - ks)
            + ks * math.log(p) + (n - ks) * math.log1p(-p))
    return min(1.0, math.exp(_log_sum_exp(logs)))


def binom_two_sided_half(k_small: int, n: int) -> float:
    """Exact two-sided p of a Binomial(n, 1/2) count `k_small` (McNemar / sign test)."""
    if n == 0:
        return 1.0
    k = min(k_small, n - k_small)
    return min(1.0, 2.0 * binom_cdf(k, n, 0.5))


def hypergeom_cdf(k: int, total: int, successes: int, draws: int) -> float:
    """P(X <= k), X the successes among `draws` taken without replacement (Fisher's test)."""
    lo = max(0, draws - (total - successes))
    hi = min(draws, successes)
    if k < lo:
        return 0.0
    if k >= hi:
        return 1.0
    ks = np.arange(lo, k + 1, dtype=np.int64)
    lf = log_factorial
    logs = (lf(successes) - lf(ks) - lf(successes - ks)
            + lf(total - successes) - lf(draws - ks) - lf(total - successes - draws + ks)
            - (lf(total) - lf(draws) - lf(total - draws)))
    return min(1.0, math.exp(_log_sum_exp(logs)))
