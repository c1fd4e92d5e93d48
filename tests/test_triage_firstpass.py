"""The first pass: failures that are not model errors, found without an LLM."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cockpit.evals.loaders import load_eval
from cockpit.evals.model import EvalRun, SampleTableBuilder
from cockpit.triage.firstpass import first_pass, normalize, same_answer

PLANTED = next(
    (Path(__file__).resolve().parent.parent / "sample_runs" / "evals" / "planted_failures").glob(
        "*.eval"
    )
)


def _run(
    rows: Sequence[tuple[str, str, str, bool | None, dict[str, object]]],
    scores: list[float] | None = None,
) -> EvalRun:
    b = SampleTableBuilder()
    for i, (inp, target, output, correct, meta) in enumerate(rows):
        score = scores[i] if scores else (None if correct is None else float(correct))
        b.add(f"id{i}", inp, target, output, score, correct, meta)
    return EvalRun("t", "", None, None, "test", b.build())


def test_each_rule_names_its_kind_and_keeps_model_errors() -> None:
    rows: list[tuple[str, str, str, bool | None, dict[str, object]]] = [
        ("q0", "4", "", False, {"output:error": "TimeoutError: 120 s"}),
        ("q1", "4", "   ", False, {}),
        ("q2", "4", "Let me compute this carefully: first we add the", False, {}),
        ("q3", "4", "ANSWER: 4 and some more", False, {"stop_reason": "max_tokens"}),
        ("q4", "4", "I'm sorry, but I can't help with that request.", False, {}),
        ("q5", "Paris", "The capital is Paris, of course.", False, {}),
        ("q6", "Paris", "ANSWER: paris.", False, {}),
        ("What is 12 + 30?", "52", "ANSWER: 42", False, {}),
        ("Same question?", "Lima", "ANSWER: Quito", False, {}),
        ("Same question?", "Quito", "ANSWER: Quito", True, {}),
        ("q10", "", "ANSWER: 7", False, {}),
        ("q11", "Paris", "ANSWER: Lyon", False, {}),  # a plain model error
        ("q12", "41", "ANSWER: 42", False, {}),  # wrong number: model error
        ("q13", "4", "I'm sorry for the delay. ANSWER: 5", False, {}),  # answers: not a refusal
        ("q14", "ok", "fine", True, {}),
    ]
    fp = first_pass(_run(rows))
    kinds = dict(zip(fp.failures.tolist(), fp.kinds, strict=True))
    assert kinds == {
        0: "error",
        1: "empty_output",
        2: "truncated",
        3: "truncated",
        4: "refusal",
        5: "extraction_failure",
        6: "extraction_failure",
        7: "suspect_target",
        8: "suspect_target",
        10: "suspect_target",
        11: None,
        12: None,
        13: None,
    }
    assert fp.model_errors.tolist() == [11, 12, 13]
    why = dict(zip(fp.failures.tolist(), fp.evidence, strict=True))
    assert "42" in why[7] and "Quito" in why[8] and "max_tokens" in why[3]
    assert fp.counts() == {
        "error": 1,
        "empty_output": 1,
        "truncated": 2,
        "refusal": 1,
        "suspect_target": 3,
        "extraction_failure": 2,
    }


def test_planted_set_non_model_errors_are_all_found_and_nothing_else() -> None:
    run = load_eval(PLANTED)
    fp = first_pass(run)
    got: Counter[tuple[str, str | None]] = Counter()
    for pos, kind in zip(fp.failures.tolist(), fp.kinds, strict=True):
        meta = run.table.metadata[pos]
        got[(meta["planted_category"], kind)] += 1
        assert (kind is not None) == meta["not_model_error"]
    for kind in (
        "empty_output",
        "truncated",
        "refusal",
        "error",
        "extraction_failure",
        "suspect_target",
    ):
        assert got[(kind, kind)] > 0
    assert len(fp.failures) == int((run.table.correct == 0).sum())


def test_without_binary_grades_scores_below_half_are_failures() -> None:
    rows: list[tuple[str, str, str, bool | None, dict[str, object]]] = [
        ("a", "x", "y", None, {}),
        ("b", "x", "x", None, {}),
        ("c", "x", "z", None, {}),
    ]
    fp = first_pass(_run(rows, scores=[0.2, 0.9, math.nan]))
    assert fp.failures.tolist() == [0]
    assert "score < 0.5" in fp.notes[0]
    none = first_pass(_run([("a", "x", "y", None, {})], scores=[math.nan]))
    assert len(none.failures) == 0 and "nothing to triage" in none.notes[0]


def test_prose_after_answer_marker_is_not_an_answer_and_odd_input_is_handled() -> None:
    huge = "word " * 200_000 + "and the"
    rows: list[tuple[str, str, str, bool | None, dict[str, object]]] = [
        (
            "q",
            "635",
            "ANSWER: Let me work through this carefully. First we note that the",
            False,
            {},
        ),
        ("q", "7", huge, False, {"stop_reason": 12}),  # a non-string stop reason
        ("q", "K", "I think the symbol could be K, give or take a little.", False, {}),
    ]
    fp = first_pass(_run(rows))
    assert fp.kinds[0] == "truncated" and fp.kinds[1] == "truncated"
    assert fp.kinds[2] is None  # a one-letter target in prose is not taken as found


def test_answer_normalisation() -> None:
    assert normalize("**Paris.**") == "paris"
    assert same_answer("30.0", "30") and same_answer("$1,200", "1200")
    assert not same_answer("", "") and not same_answer("30", "31")
