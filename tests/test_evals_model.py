"""The columnar eval model the UI reads: filtering, subsets, row views, slice keys."""

from __future__ import annotations

import numpy as np

from cockpit.evals.model import MISSING, EvalRun, SampleTableBuilder, slice_key
from cockpit.evals.summary import summarize


def _run(n: int = 300) -> EvalRun:
    rng = np.random.default_rng(2)
    b = SampleTableBuilder()
    for i in range(n):
        lang = ["en", "es", "de"][i % 3]
        meta: dict[str, object] = {"language": lang, "level": i % 4}
        if i % 10 == 0:
            del meta["level"]
        ok = bool(rng.random() < 0.7)
        text = "Paris" if i % 7 == 0 else "Rome"
        b.add(f"s{i}", f"Question {i} about {text}", text, text if ok else "Lyon",
              float(ok), ok, meta, confidence=float(rng.uniform(0.4, 1.0)))
    return EvalRun("toy", "/toy.jsonl", "m", None, "test", b.build())


def test_mask_matches_a_brute_force_filter() -> None:
    run = _run()
    t = run.table
    got = t.mask(where={"language": "es"}, text="paRIS")
    want = [s.metadata["language"] == "es" and "paris" in
            f"{s.sample_id} {s.input} {s.target} {s.output}".lower() for s in run.samples]
    assert got.tolist() == want and got.sum() > 0
    again = t.mask(where={"language": "es"}, text="paRIS")  # from the caches
    assert again.tolist() == want
    assert t.mask(text="S137").sum() == 1  # ids are searchable
    both = t.mask(where={"language": ["es", "de"]}, correct=False)
    assert both.tolist() == [s.metadata["language"] != "en" and s.correct is False
                             for s in run.samples]


def test_numbers_and_missing_values_filter_by_their_slice_key() -> None:
    t = _run().table
    assert t.mask(where={"level": "2"}).sum() == sum(1 for i in range(300)
                                                     if i % 10 and i % 4 == 2)
    assert t.mask(where={"level": MISSING}).sum() == 30
    assert t.values("language") == {"en": 100, "es": 100, "de": 100}
    assert t.fields() == ["language", "level"]


def test_take_keeps_rows_and_caches_aligned() -> None:
    run = _run()
    t = run.table
    t.column("language")
    sub = run.select(t.mask(where={"language": "de"}))
    assert len(sub) == 100 and set(sub.table.column("language")) == {"de"}
    assert sub.samples[0].sample_id == "s2"
    # "question 5" is in s5 and s50..s59; of those, language de (i % 3 == 2): 5, 50, 53, 56, 59
    hits = sub.table.mask(text="question 5")
    assert sub.table.sample_ids[hits].tolist() == ["s5", "s50", "s53", "s56", "s59"]


def test_samples_view_is_a_sequence() -> None:
    run = _run(10)
    assert len(run.samples) == 10
    assert run.samples[-1].sample_id == "s9"
    assert [s.sample_id for s in run.samples[2:4]] == ["s2", "s3"]
    assert run.samples[0].correct in (True, False) and run.samples[0].confidence is not None


def test_slice_key() -> None:
    assert slice_key(None) == MISSING
    assert slice_key(True) == "true"
    assert slice_key(3.0) == "3" and slice_key(3) == "3" and slice_key(0.5) == "0.5"
    assert slice_key(["a", 1]) == '["a",1]'


def test_summary_object_for_the_ui() -> None:
    s = summarize(_run())
    assert s.primary == "accuracy" and s.n == 300 and s.n_scored == 300
    assert {sl.field for sl in s.slices} == {"language", "level"}
    assert s.calibration is not None and s.calibration.n == 300
    doc = s.to_json()
    assert doc["slices"]["level"]["(missing)"]["n"] == 30
    assert doc["slice_test"]["correction"] == "benjamini-hochberg"


def test_warm_builds_the_caches_without_changing_results() -> None:
    cold = _run().table.mask(where={"language": "de"}, text="rome")
    t = _run().table
    t.warm()
    assert bool(t._hay_done.all()) and set(t._cats) == {"language", "level"}
    assert t.mask(where={"language": "de"}, text="rome").tolist() == cold.tolist()
