"""What a triage produced, in one shape for the CLI (`to_json`, SPEC §4b) and the UI."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cockpit.evals.stats.intervals import Estimate
from cockpit.triage.quantify import Overrepresented

NOT_MODEL_ERROR = "not_model_error"  # triage_labels.category prefix of first-pass labels


@dataclass(slots=True)
class TriageCategory:
    name: str
    definition: str
    members: list[str]  # sample ids
    share: Estimate  # count / labelled failures, Wilson interval
    examples: list[str]  # up to 5 representative sample ids
    overrepresented: list[Overrepresented] = field(default_factory=list)
    heuristic: bool = False
    method: str = "llm"
    merged_from: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.members)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "definition": self.definition, "count": self.count,
            "share": {"value": _num(self.share.value), "ci": [_num(self.share.low),
                                                              _num(self.share.high)],
                      "method": self.share.method, "n": self.share.n},
            "examples": self.examples,
            "overrepresented": [o.to_json() for o in self.overrepresented],
            "heuristic": self.heuristic, "method": self.method,
            "merged_from": self.merged_from, "evidence": _clean(self.evidence),
            "members": self.members,
        }


@dataclass(slots=True)
class TriageResult:
    eval_name: str
    eval_id: str
    path: str
    mode: str  # "llm" or "offline"
    n_samples: int
    n_failures: int
    not_model_errors: dict[str, list[str]]  # kind -> sample ids
    first_pass_evidence: dict[str, str]  # sample id -> why it is not a model error
    categories: list[TriageCategory]  # "other" last when present
    labels: dict[str, tuple[str, str]]  # sample id -> (category, rationale), model errors
    unlabelled: list[str]
    summary: str = ""
    tokens: dict[str, int] | None = None
    cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)
    endpoint: dict[str, str] | None = None
    price: dict[str, Any] | None = None
    calls: dict[str, int] | None = None
    redactions: dict[str, int] = field(default_factory=dict)
    language_detector: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)
    merged: dict[str, str] = field(default_factory=dict)

    @property
    def n_model_errors(self) -> int:
        return self.n_failures - sum(len(v) for v in self.not_model_errors.values())

    @property
    def n_labelled(self) -> int:
        return len(self.labels)

    def to_json(self) -> dict[str, Any]:
        return {
            "eval": self.eval_name, "eval_id": self.eval_id, "path": self.path,
            "mode": self.mode, "heuristic": self.mode == "offline",
            "n_samples": self.n_samples, "n_failures": self.n_failures,
            "not_model_errors": {k: len(v) for k, v in self.not_model_errors.items()},
            "not_model_error_examples": {k: v[:5] for k, v in self.not_model_errors.items()},
            "n_model_errors": self.n_model_errors, "labelled": self.n_labelled,
            "categories": [c.to_json() for c in self.categories],
            "unlabelled": len(self.unlabelled), "unlabelled_ids": self.unlabelled,
            "summary": self.summary, "tokens": self.tokens,
            "cost_usd": _num(self.cost_usd) if self.cost_usd is not None else None,
            "calls": self.calls, "endpoint": self.endpoint, "price": self.price,
            "redactions": self.redactions, "language_detector": self.language_detector,
            "dropped_categories": self.dropped, "merged_categories": self.merged,
            "notes": self.notes,
        }

    def label_rows(self) -> list[dict[str, Any]]:
        """Rows for `triage_labels`: model errors with their category, and first-pass kinds
        as `not_model_error:<kind>`; unlabelled failures get no row."""
        rows = [{"eval_id": self.eval_id, "sample_id": sid, "category": cat,
                 "rationale": why} for sid, (cat, why) in self.labels.items()]
        for kind, ids in self.not_model_errors.items():
            rows += [{"eval_id": self.eval_id, "sample_id": sid,
                      "category": f"{NOT_MODEL_ERROR}:{kind}",
                      "rationale": self.first_pass_evidence.get(sid, "")} for sid in ids]
        return rows


def _num(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
