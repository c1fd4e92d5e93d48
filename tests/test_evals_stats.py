"""Eval statistics against hand-computed cases (the arithmetic is in each test's comment)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cockpit.evals.model import EvalRun, SampleTableBuilder
from cockpit.evals.stats.calibration import calibration
from cockpit.evals.stats.distributions import (
    binom_cdf,
    hypergeom_cdf,
    normal_ppf,
    t_cdf,
    t_ppf,
)
from cockpit.evals.stats.intervals import (
    bootstrap_interval,
    clustered_mean,
    mean_estimate,
    t_interval,
    wilson,
)
from cockpit.evals.stats.paired import (
    bootstrap_binary_diff,
    mcnemar_exact,
    minimum_detectable_effect,
    paired_diff,
)
from cockpit.evals.stats.slices import (
    adjust,
    benjamini_hochberg,
    fisher_worse,
    slice_field,
    welch_worse,
)


# ---- distributions -------------------------------------------------------------------
@pytest.mark.parametrize(("p", "expected"), [
    (0.975, 1.959963985), (0.95, 1.644853627), (0.5, 0.0), (0.001, -3.090232306),
    (1e-10, -6.361340902),
])
def test_normal_quantile_matches_tables(p: float, expected: float) -> None:
    assert normal_ppf(p) == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize(("p", "df", "expected"), [
    # Student t table values (two-sided 95% / 99%, one-sided 90%).
    (0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 3, 3.1824), (0.975, 10, 2.2281),
    (0.975, 30, 2.0423), (0.995, 5, 4.0321), (0.9, 4, 1.5332), (0.975, 120, 1.9799),
    (0.025, 7, -2.3646),
])
def test_t_quantile_matches_tables_to_1e4(p: float, df: int, expected: float) -> None:
    assert t_ppf(p, df) == pytest.approx(expected, abs=1e-4)
    assert t_cdf(t_ppf(p, df), df) == pytest.approx(p, abs=1e-10)


def test_binomial_cdf_exact() -> None:
    # P(X <= 1), X ~ Bin(10, 1/2) = (1 + 10) / 2^10
    assert binom_cdf(1, 10, 0.5) == pytest.approx(11 / 1024, rel=1e-12)


def test_hypergeometric_cdf_exact() -> None:
    # N=20 items, 10 correct, slice of 10 holding <= 1 correct:
    # [C(10,0)C(10,10) + C(10,1)C(10,9)] / C(20,10) = 101 / 184756
    assert hypergeom_cdf(1, 20, 10, 10) == pytest.approx(101 / 184756, rel=1e-9)


# ---- intervals -------------------------------------------------------------------------
def test_wilson_zero_of_twenty() -> None:
    # p = 0: the upper bound is z^2 / (n + z^2) = 3.841459 / 23.841459 = 0.161125
    est = wilson(0, 20)
    assert est.value == 0.0
    assert est.low == 0.0
    assert est.high == pytest.approx(0.161125, abs=1e-5)


def test_wilson_seven_of_ten() -> None:
    # center = (0.7 + z^2/20) / (1 + z^2/10) = 0.644502;
    # half = z / 1.384146 * sqrt(0.021 + z^2/400) = 0.247716  ->  [0.3968, 0.8922]
    est = wilson(7, 10)
    assert est.low == pytest.approx(0.3968, abs=1e-4)
    assert est.high == pytest.approx(0.8922, abs=1e-4)
    assert est.method == "wilson"


def test_t_interval_by_hand() -> None:
    # x = 1..5: mean 3, sd = sqrt(2.5) = 1.581139, se = 0.707107, t(0.975, 4) = 2.776445
    est = t_interval(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert est.value == 3.0
    assert est.low == pytest.approx(3 - 2.776445 * 0.707107, abs=1e-5)
    assert est.high == pytest.approx(3 + 2.776445 * 0.707107, abs=1e-5)


def test_clustered_standard_error_by_hand() -> None:
    # y = [1, 2, 3, 5, 4, 9] in clusters a a b b c c: mean 4, residuals -3 -2 -1 1 0 5,
    # cluster sums -5, 0, 5 -> sum of squares 50; G = 3:
    # Var = G/(G-1) * 50 / n^2 = 1.5 * 50 / 36 = 2.083333, SE = 1.443376
    # CI = 4 +- t(0.975, 2) * SE = 4 +- 4.302653 * 1.443376 = [-2.210348, 10.210348]
    y = np.array([1.0, 2.0, 3.0, 5.0, 4.0, 9.0])
    est = clustered_mean(y, np.array(list("aabbcc")))
    assert est.se == pytest.approx(1.443376, abs=1e-6)
    assert est.low == pytest.approx(-2.210348, abs=1e-5)
    assert est.high == pytest.approx(10.210348, abs=1e-5)
    assert "3 clusters" in est.method
    # Independent samples would claim a much narrower interval (SE 1.15).
    iid_se = t_interval(y).se
    assert iid_se is not None and est.se is not None and iid_se < est.se


def test_clustered_with_singleton_clusters_is_the_iid_robust_se() -> None:
    # One sample per cluster: Var = n/(n-1) * sum(e^2) / n^2 = s^2 / n, the usual SE.
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    est = clustered_mean(y, np.arange(8))
    assert est.se == pytest.approx(y.std(ddof=1) / math.sqrt(8), rel=1e-12)


def test_bootstrap_is_seeded_and_covers_the_mean() -> None:
    x = np.random.default_rng(0).normal(2.0, 1.0, size=400)
    a, b = bootstrap_interval(x), bootstrap_interval(x)
    assert (a.low, a.high) == (b.low, b.high)
    assert a.low < x.mean() < a.high
    t = t_interval(x)
    assert a.low == pytest.approx(t.low, abs=0.03) and a.high == pytest.approx(t.high, abs=0.03)


def test_mean_estimate_picks_wilson_for_binary_and_t_for_scores() -> None:
    assert mean_estimate(np.array([1.0, 0.0, 1.0])).method == "wilson"
    assert mean_estimate(np.array([0.2, 0.5, 1.0])).method == "t"


# ---- multiple testing and slices -------------------------------------------------------
def test_benjamini_hochberg_by_hand() -> None:
    # sorted 0.01 0.03 0.04 0.5 -> p*m/rank = 0.04 0.06 0.0533 0.5 -> running min from the top
    # 0.04 0.0533 0.0533 0.5, returned in the input order.
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))
    assert q == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_fisher_one_sided_slice_test() -> None:
    # slice: 1 of 10 correct; eval: 10 of 20 correct -> P(X <= 1) = 101 / 184756
    assert fisher_worse(1, 10, 10, 20) == pytest.approx(101 / 184756, rel=1e-9)
    assert fisher_worse(5, 10, 10, 20) > 0.5


def test_welch_one_sided() -> None:
    a = np.array([1.0, 1.2, 0.8, 1.1, 0.9])
    b = np.array([2.0, 2.1, 1.9, 2.2, 1.8])
    assert welch_worse(a, b) < 1e-4
    assert welch_worse(b, a) > 0.999


def test_slice_finder_flags_the_weak_slice_only() -> None:
    rng = np.random.default_rng(3)
    lang = np.array(["en"] * 400 + ["es"] * 200 + ["de"] * 200)
    p = np.where(lang == "es", 0.45, 0.8)
    y = (rng.random(800) < p).astype(float)
    results = adjust(slice_field("language", lang, y))
    worse = {r.value for r in results if r.significantly_worse}
    assert worse == {"es"}
    es = next(r for r in results if r.value == "es")
    assert es.gap < -0.2 and es.p_adjusted < 1e-6 and es.test.startswith("fisher")


def test_no_false_alarm_on_a_null_eval() -> None:
    rng = np.random.default_rng(11)
    keys = rng.choice(list("abcdefghij"), size=2000)
    y = (rng.random(2000) < 0.7).astype(float)
    assert not any(r.significantly_worse for r in adjust(slice_field("f", keys, y)))


def test_clustered_slice_test_is_more_cautious() -> None:
    # Ten items per language answered 5 times each, every epoch of an item alike: es gets
    # 4 of 10 items right, en 8 of 10. iid, that is 20/50 vs 40/50 (overwhelming); the
    # evidence is really 4/10 vs 8/10, which the clustered test sees.
    items = np.repeat(np.arange(20), 5)
    lang = np.where(items < 10, "es", "en")
    item_right = np.array([1] * 4 + [0] * 6 + [1] * 8 + [0] * 2, dtype=float)
    y = item_right[items]
    iid = {r.value: r for r in slice_field("language", lang, y)}
    clu = {r.value: r for r in slice_field("language", lang, y, clusters=items)}
    assert iid["es"].p_value < 1e-4
    assert clu["es"].p_value > 100 * iid["es"].p_value
    assert clu["es"].test.startswith("clustered")
    assert clu["es"].estimate.high - clu["es"].estimate.low > (
        iid["es"].estimate.high - iid["es"].estimate.low)


# ---- calibration ------------------------------------------------------------------------
def test_ece_and_brier_of_a_small_known_set() -> None:
    # Sorted by confidence: (0.6, 1) (0.8, 1) | (0.9, 1) (0.9, 0), two equal-mass bins.
    # bin 1: accuracy 1.0, mean confidence 0.7 -> |0.3| * 2/4 = 0.15
    # bin 2: accuracy 0.5, mean confidence 0.9 -> |0.4| * 2/4 = 0.20      ECE = 0.35
    # Brier = (0.01 + 0.81 + 0.04 + 0.16) / 4 = 0.255
    cal = calibration(np.array([0.9, 0.9, 0.8, 0.6]), np.array([1.0, 0.0, 1.0, 1.0]),
                      n_bins=2, min_per_bin=1)
    assert cal is not None
    assert cal.ece == pytest.approx(0.35)
    assert cal.brier == pytest.approx(0.255)
    assert [b.n for b in cal.bins] == [2, 2]
    assert cal.warnings and "300" in cal.warnings[0]


def test_calibrated_model_has_small_ece_and_no_warning_at_scale() -> None:
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.3, 1.0, 5000)
    y = (rng.random(5000) < conf).astype(float)
    cal = calibration(conf, y)
    assert cal is not None and cal.ece < 0.03 and not cal.warnings
    over = calibration(np.minimum(conf + 0.2, 1.0), y)
    assert over is not None and over.ece > 0.12


def test_calibration_ignores_samples_without_confidence() -> None:
    assert calibration(np.array([np.nan, np.nan]), np.array([1.0, 0.0])) is None


# ---- paired comparison -----------------------------------------------------------------
def test_mcnemar_exact_by_hand() -> None:
    # 1 regressed, 9 fixed: 2 * P(X <= 1 | Bin(10, 1/2)) = 2 * 11/1024 = 0.021484375
    assert mcnemar_exact(1, 9) == pytest.approx(0.021484375, rel=1e-12)
    assert mcnemar_exact(9, 1) == pytest.approx(0.021484375, rel=1e-12)
    # 0 vs 5: 2 / 32
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)
    assert mcnemar_exact(4, 4) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


def test_minimum_detectable_effect_by_hand() -> None:
    # (z_0.975 + z_0.8) * sd / sqrt(n) = (1.959964 + 0.841621) * 0.5 / 10 = 0.140079
    assert minimum_detectable_effect(0.5, 100) == pytest.approx(0.140079, abs=1e-6)


def test_binary_paired_bootstrap_matches_resampling_pairs() -> None:
    # The multinomial shortcut must agree with resampling the pairs themselves.
    n, reg, fix = 500, 40, 70
    d = np.array([-1.0] * reg + [1.0] * fix + [0.0] * (n - reg - fix))
    rng = np.random.default_rng(9)
    direct = d[rng.integers(0, n, size=(4000, n))].mean(axis=1)
    low, high = bootstrap_binary_diff(n, reg, fix)
    assert low == pytest.approx(np.quantile(direct, 0.025), abs=0.006)
    assert high == pytest.approx(np.quantile(direct, 0.975), abs=0.006)
    assert (low, high) == bootstrap_binary_diff(n, reg, fix)


def _run(name: str, ids: list[str], correct: list[bool | None]) -> EvalRun:
    b = SampleTableBuilder()
    for sid, ok in zip(ids, correct, strict=True):
        b.add(sid, "q", "t", "o", None if ok is None else float(ok), ok, {})
    return EvalRun(name, f"/{name}", None, None, "test", b.build())


def test_paired_diff_buckets_and_direction() -> None:
    a = _run("a", ["1", "2", "3", "4", "5", "6"], [True, True, False, False, True, None])
    b = _run("b", ["2", "1", "3", "4", "5", "7"], [False, True, True, False, True, True])
    d = paired_diff(a, b)
    assert d.n_shared == 5
    assert d.regressed == ["2"] and d.fixed == ["3"] and d.both_wrong == ["4"]
    assert d.both_right == 2
    assert d.difference.value == pytest.approx(0.0)
    assert d.a_value == pytest.approx(0.6) and d.b_value == pytest.approx(0.6)
    assert d.p_value == 1.0
    assert d.n_only_a == 0 and d.n_only_b == 1  # "6" is ungraded in A, "7" only in B


def test_paired_diff_on_continuous_scores_uses_the_sign_test() -> None:
    ids = [str(i) for i in range(40)]
    ba, bb = SampleTableBuilder(), SampleTableBuilder()
    for i, sid in enumerate(ids):
        base = 0.3 + 0.01 * i
        ba.add(sid, "q", "t", "o", base, None, {})
        bb.add(sid, "q", "t", "o", base + (0.05 if i % 4 else -0.02), None, {})
    a = EvalRun("a", "/a", None, None, "test", ba.build())
    b = EvalRun("b", "/b", None, None, "test", bb.build())
    d = paired_diff(a, b)
    # 30 increases, 10 decreases: exact two-sided sign test = 2 * P(X <= 10 | Bin(40, 1/2))
    assert d.metric == "mean_score" and d.test.startswith("sign test")
    assert len(d.fixed) == 30 and len(d.regressed) == 10
    assert d.p_value == pytest.approx(2 * binom_cdf(10, 40, 0.5), rel=1e-12)
    # mean difference (30 * 0.05 - 10 * 0.02) / 40 = 0.0325
    assert d.difference.value == pytest.approx(0.0325)
    assert d.difference.low < 0.0325 < d.difference.high


def test_summary_of_continuous_scores_uses_t_and_welch() -> None:
    from cockpit.evals.summary import summarize

    rng = np.random.default_rng(4)
    b = SampleTableBuilder()
    for i in range(300):
        group = "hard" if i % 3 == 0 else "easy"
        score = float(np.clip(rng.normal(0.4 if group == "hard" else 0.7, 0.1), 0, 1))
        b.add(str(i), "q", "t", "o", score, None, {"difficulty": group})
    s = summarize(EvalRun("r", "/r", None, None, "test", b.build()))
    assert list(s.metrics) == ["mean_score"] and s.metrics["mean_score"].method == "t"
    hard = next(x for x in s.slices if x.value == "hard")
    assert hard.test.startswith("welch") and hard.significantly_worse
    assert s.calibration is None
