"""The labelled lifecycle corpus (tests/fixtures/lifecycle-corpus, real CPU runs made by
scripts/make_lifecycle_corpus.py): every fault caught, no warning on a healthy run, and every
run's final state as its launcher saw it end, through the path `cockpit check` takes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

CORPUS = Path(__file__).parent / "fixtures" / "lifecycle-corpus"
TRUTH = json.loads((CORPUS / "ground_truth.json").read_text())["runs"]


def test_the_corpus_is_real_runs_of_every_logger_and_kind() -> None:
    names = {run["name"] for run in TRUTH}
    assert len(names) >= 30 and names == {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert set(Counter(run["logger"] for run in TRUTH)) == {"jsonl", "tb", "text", "csv", "hf"}
    healthy = [r for r in TRUTH if not r["labels"]]
    kinds = {r["fault"] for r in healthy} | {"cpu" for r in healthy if r["loaded_cpu"]}
    assert {"none", "early_stop", "resume", "cpu"} <= kinds
    faults = {lab["detector"] for r in TRUTH for lab in r["labels"]}
    assert {"nan", "divergence", "lr_zero", "stuck_at_chance", "overfitting", "input_stall",
            "throughput_drop", "crash", "stall", "no_learning"} <= faults
    for run in TRUTH:  # every run's launcher recorded how it ended
        record = json.loads((CORPUS / run["name"] / "process.json").read_text())
        assert record["pid"] > 0 and record["process_start"] > 1.7e9
    size = sum(f.stat().st_size for f in CORPUS.rglob("*") if f.is_file())
    assert size < 5e6, f"the corpus grew to {size / 1e6:.1f} MB"


@pytest.mark.slow
def test_every_fault_caught_no_healthy_warning_and_final_states(evaluation: ModuleType) -> None:
    labels, finals = evaluation.corpus_labels(CORPUS / "ground_truth.json")
    outcomes = evaluation.real_runs([CORPUS], labels, "lifecycle", default_healthy=False,
                                    finals=finals)
    assert len(outcomes) == len(TRUTH)
    scores = evaluation.score(outcomes)
    assert {d: s.missed for d, s in scores.items() if s.missed} == {}
    assert {d: s.false_names for d, s in scores.items() if s.false_names} == {}
    loud = [o.name for o in outcomes if o.healthy and any(a.severity != "info" for a in o.alerts)]
    assert loud == []
    assert evaluation.wrong_states(outcomes) == []
    hung = next(o for o in outcomes if o.name == "f_hung_jsonl")
    assert hung.state == "hung" and [a.evidence["classification"] for a in hung.alerts
                                     if a.detector == "stall"] == ["hung"]
