"""Failure categories without an LLM: tested text heuristics first, then text clusters.

1. Candidate heuristics are slices of the eval: derived fields (code-switched input, long
   input, several numbers, answer in another language, input language) and the eval's own
   metadata. Each is tested for a higher failure rate than the rest of the eval (one-sided
   Fisher, Benjamini-Hochberg within each round). The most significant one becomes a
   category, its failures leave the pool, and the rest are tested again (greedy cover), so
   two correlated slices do not both claim the same failures.
2. Failures no heuristic explains are clustered (TF-IDF, spherical k-means, k by
   silhouette) and named by their most distinctive terms.
Everything here is marked heuristic in the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cockpit.evals.model import MISSING, EvalRun
from cockpit.evals.stats.distributions import hypergeom_cdf
from cockpit.evals.stats.slices import benjamini_hochberg
from cockpit.triage.cluster import best_kmeans, keywords
from cockpit.triage.features import FINDINGS, PREFIX, DerivedFeatures

MIN_LIFT = 1.5


@dataclass(slots=True)
class HeuristicCategory:
    name: str
    definition: str
    members: np.ndarray  # positions into the run (model-error failures)
    method: str
    evidence: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class _Candidate:
    field: str
    value: str
    in_slice: np.ndarray  # mask over the population


def _candidates(run: EvalRun, population: np.ndarray, features: DerivedFeatures,
                metadata_fields: list[str]) -> list[_Candidate]:
    """Every finding value of the derived fields and every value of the metadata fields."""
    out: list[_Candidate] = []
    where = {int(p): i for i, p in enumerate(features.positions.tolist())}
    rows = np.array([where[int(p)] for p in population.tolist()], dtype=np.int64)
    for name, col in features.columns.items():
        values = col[rows].astype(str)
        wanted = FINDINGS.get(name)
        for value in np.unique(values).tolist():
            if value in ("und", "n/a") or (wanted is not None and value not in wanted):
                continue
            out.append(_Candidate(name, value, values == value))
    for name in metadata_fields:
        col = run.table.column(name)[population].astype(str)
        uniq = np.unique(col[col != MISSING])
        if not 2 <= len(uniq) <= 30:
            continue
        for value in uniq.tolist():
            out.append(_Candidate(name, value, col == value))
    return out


def heuristic_categories(run: EvalRun, model_errors: np.ndarray, population: np.ndarray,
                         features: DerivedFeatures, metadata_fields: list[str],
                         min_count: int, alpha: float = 0.05) -> list[HeuristicCategory]:
    """Greedy cover of the model-error failures by slices that fail more than the rest.

    `population`: positions of the samples compared (model-error failures plus correct
    samples, possibly a sample of them: Fisher's test stays valid under outcome sampling).
    """
    failed = np.isin(population, model_errors)
    candidates = _candidates(run, population, features, metadata_fields)
    active = np.ones(len(population), dtype=bool)  # not yet claimed by a chosen category
    chosen: list[HeuristicCategory] = []
    used: set[tuple[str, str]] = set()
    while True:
        tests = []
        n_pop = int(active.sum())
        f_pop = int((failed & active).sum())
        for cand in candidates:
            if (cand.field, cand.value) in used:
                continue
            inside = cand.in_slice & active
            n_s = int(inside.sum())
            k = int((inside & failed).sum())
            if k < min_count or n_s == n_pop:
                continue
            rest_rate = (f_pop - k) / (n_pop - n_s)
            rate = k / n_s
            p = hypergeom_cdf(n_s - k, n_pop, n_pop - f_pop, n_s)
            tests.append((cand, k, n_s, rate, rest_rate, p))
        if not tests:
            break
        adjusted = benjamini_hochberg(np.array([t[-1] for t in tests]))
        ok = [(q, t) for q, t in zip(adjusted.tolist(), tests, strict=True)
              if q < alpha and t[3] >= MIN_LIFT * max(t[4], 1e-12)]
        if not ok:
            break
        q, (cand, k, n_s, rate, rest_rate, p) = min(ok, key=lambda qt: (qt[0], -qt[1][1]))
        members_mask = cand.in_slice & active & failed
        members = population[members_mask]
        active &= ~(cand.in_slice & failed)
        used.add((cand.field, cand.value))
        chosen.append(_category(cand, members, features, k, n_s, rate, rest_rate, q))
    return chosen


def _category(cand: _Candidate, members: np.ndarray, features: DerivedFeatures, k: int,
              n_s: int, rate: float, rest_rate: float, q: float) -> HeuristicCategory:
    derived = cand.field.startswith(PREFIX)
    what = features.describe(cand.field, cand.value) if derived else (
        f"metadata {cand.field} = {cand.value}")
    short = cand.field.removeprefix(PREFIX)
    name = {"code_switched": "code_switched_input", "input_length": f"{cand.value}_input",
            "numbers": "several_numbers_in_input", "answer_language": "answer_in_other_language",
            "language": f"input_language_{cand.value}"}.get(short, f"{short}={cand.value}") \
        if derived else f"{cand.field}={cand.value}"
    definition = (f"Failures where {what}: {k} of {n_s} such samples fail "
                  f"({100 * rate:.0f} % vs {100 * rest_rate:.0f} % elsewhere).")
    method = "code-switch detector" if short == "code_switched" and derived else (
        "derived text feature" if derived else "metadata slice")
    return HeuristicCategory(name, definition, members, method, {
        "field": cand.field, "value": cand.value, "failure_rate": rate,
        "failure_rate_elsewhere": rest_rate, "p_adjusted": q,
        "language_detector": features.detector if derived else None})


def text_clusters(x: np.ndarray, positions: np.ndarray, vocab: list[str], min_count: int,
                  seed: int, max_k: int = 6) -> list[HeuristicCategory]:
    """Clusters of the failures left over (rows of `x` aligned with `positions`); clusters
    smaller than `min_count` are not returned (their failures become "other")."""
    n = len(positions)
    if n < 2 * min_count or x.shape[1] == 0:
        return []
    top = max(2, min(max_k, n // max(min_count, 1)))
    labels, _, _ = best_kmeans(x, range(2, top + 1), seed)
    out = []
    for c in np.unique(labels).tolist():
        members = labels == c
        if int(members.sum()) < min_count:
            continue
        terms = keywords(x, members, vocab)
        if not terms:
            continue
        name = "cluster: " + ", ".join(terms[:3])
        out.append(HeuristicCategory(
            name, f"Failures whose text is about {', '.join(terms)} (TF-IDF k-means cluster "
                  f"{c + 1} of {len(np.unique(labels))}).",
            positions[members], "tf-idf k-means", {"keywords": terms}))
    return out
