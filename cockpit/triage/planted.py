"""Scoring a triage against planted failure labels (for `scripts/eval_triage.py` and tests).

A planted category is *recovered* when a produced category matches it: produced and planted
categories are paired one-to-one, best F1 of their member sets first, and a pair counts when
that F1 is at least `MATCH_F1`. Assignment macro-F1 is the mean over planted categories of
the per-sample F1 of "labelled as the matched category" against "planted as this category",
over every model-error failure (unlabelled ones count as misses; an unmatched planted
category scores 0). A produced category (not "other") that matches nothing is *invented*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit.triage.prompts import OTHER
from cockpit.triage.result import TriageResult

MATCH_F1 = 0.5


@dataclass(slots=True)
class PlantedScore:
    planted: list[str]
    matches: dict[str, tuple[str, float]]  # planted -> (produced, set F1)
    per_category_f1: dict[str, float]
    invented: list[str]
    n_produced: int
    first_pass_precision: float
    first_pass_recall: float
    notes: list[str] = field(default_factory=list)

    @property
    def recovered(self) -> int:
        return len(self.matches)

    @property
    def macro_f1(self) -> float:
        vals = list(self.per_category_f1.values())
        return sum(vals) / len(vals) if vals else 0.0

    @property
    def invented_share(self) -> float:
        return len(self.invented) / self.n_produced if self.n_produced else 0.0


def _f1(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 0.0


def score(result: TriageResult, truth: dict[str, str], planted: list[str],
          not_model_kinds: set[str]) -> PlantedScore:
    """`truth`: sample id -> planted category of every sample; `planted`: the model-error
    categories to find; `not_model_kinds`: planted values that are not model errors."""
    model_errors = {sid for sid, cat in truth.items()
                    if cat not in not_model_kinds and cat != "none"}
    failures = set(result.labels) | set(result.unlabelled) | {
        s for ids in result.not_model_errors.values() for s in ids}
    model_errors &= failures
    gold = {p: {s for s in model_errors if truth[s] == p} for p in planted}
    produced = {c.name: set(c.members) for c in result.categories if c.name != OTHER}
    pairs = sorted(((_f1(gold[p], members), p, name) for p in planted
                    for name, members in produced.items()), reverse=True)
    matches: dict[str, tuple[str, float]] = {}
    used: set[str] = set()
    for f1, p, name in pairs:
        if f1 < MATCH_F1 or p in matches or name in used:
            continue
        matches[p] = (name, f1)
        used.add(name)
    per: dict[str, float] = {}
    for p in planted:
        predicted = produced[matches[p][0]] & model_errors if p in matches else set()
        per[p] = _f1(gold[p], predicted)
    set_aside = {s for ids in result.not_model_errors.values() for s in ids}
    truly_not = {s for s in failures if truth.get(s) in not_model_kinds}
    precision = len(set_aside & truly_not) / len(set_aside) if set_aside else 1.0
    recall = len(set_aside & truly_not) / len(truly_not) if truly_not else 1.0
    return PlantedScore(planted, matches, per, sorted(set(produced) - used), len(produced),
                        precision, recall)
