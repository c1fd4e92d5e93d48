"""Offline building blocks: language and code-switch detection, TF-IDF clusters, sampling."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cockpit.triage.cluster import best_kmeans, keywords, representative, tfidf, tokenize
from cockpit.triage.language import LanguageDetector, detector
from cockpit.triage.propose import stratified_sample

ROOT = Path(__file__).resolve().parent.parent


def _planted_items() -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from make_triage_eval import build_items
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return build_items()


def test_code_switch_detector_finds_the_mixed_messages_of_the_planted_set() -> None:
    det = detector()
    items = _planted_items()
    flagged = [det.code_switch(it["input"], ["en", "es"]).switched for it in items]
    mixed = [it["group"] == "code_switched" for it in items]
    tp = sum(f and m for f, m in zip(flagged, mixed, strict=True))
    fp = sum(f and not m for f, m in zip(flagged, mixed, strict=True))
    assert tp / sum(mixed) >= 0.95
    assert fp / (len(items) - sum(mixed)) <= 0.02
    assert det.uses_model and det.name.startswith("py3langid")


def test_language_of_plain_texts() -> None:
    det = detector()
    assert det.language("¿Cuál es la capital de Perú? Necesito saberlo hoy.")[0] == "es"
    assert det.language("Which warehouse supplies the store in Porto?")[0] == "en"
    assert det.language("Was ist die Hauptstadt von Österreich?")[0] == "de"
    assert det.language("42")[0] == "und"
    assert not det.code_switch(
        "The parcel arrived late and the box was damaged.", ["en", "es"]
    ).switched


def test_bundled_word_lists_work_without_py3langid(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_langid(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("py3langid"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_langid)
    det = LanguageDetector()
    assert not det.uses_model and "function-word" in det.name
    assert det.language("el paquete no llegó y quiero que me devuelvan el dinero")[0] == "es"
    mixed = "Hola, quiero saber cuál es el plazo, and what is the return window for my order?"
    assert det.code_switch(mixed, ["en", "es"]).switched
    assert not det.code_switch(
        "What is the return window for my order and the box?", ["en", "es"]
    ).switched


def test_tfidf_kmeans_separates_topics_and_names_them() -> None:
    topics = {
        "speed": "A van covers {n} km in {m} hours; what is its average speed in km/h?",
        "refund": "My refund for order {n} has not arrived after {m} days, where is my money?",
        "warehouse": "Who manages the warehouse that supplies the store where clerk {n} works?",
    }
    texts, truth = [], []
    for name, template in topics.items():
        for i in range(12):
            texts.append(template.format(n=10 + i, m=2 + i % 3))
            truth.append(name)
    assert "# km" in tokenize("180 km in 2 hours")
    tf = tfidf(texts)
    labels, _, k = best_kmeans(tf.matrix, range(2, 6), seed=1)
    assert k == 3
    for c in range(3):
        members = {truth[i] for i in np.flatnonzero(labels == c)}
        assert len(members) == 1  # every cluster is one topic
    speed = np.array([t == "speed" for t in truth])
    words = " ".join(keywords(tf.matrix, speed, tf.vocab))
    assert "speed" in words or "km" in words
    reps = representative(tf.matrix, speed, n=5)
    assert len(reps) == 5 and all(truth[i] == "speed" for i in reps)


def test_stratified_sample_keeps_small_strata_and_the_limit() -> None:
    strata = np.array([0] * 500 + [1] * 40 + [2] * 2)
    rows = stratified_sample(strata, 100, seed=3)
    assert len(rows) == 100 and len(set(rows.tolist())) == 100
    picked = strata[rows]
    assert (picked == 2).sum() == 2 and (picked == 1).sum() >= 3
    assert np.array_equal(rows, stratified_sample(strata, 100, seed=3))
    assert len(stratified_sample(strata[:50], 100, seed=3)) == 50
