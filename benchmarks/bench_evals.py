"""Eval viewer speed: open a 100k-sample eval and filter it (issue 6 targets).

Targets: load a 100k-sample generic JSONL eval with metadata in <= 3 s; filter it on a
metadata field plus a full-text substring in <= 200 ms. The reference is what the load
would cost with nothing but the standard library: `json.loads` on every line (no columns).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cockpit.evals.loaders import load_eval
from cockpit.evals.summary import summarize

LANGS = ["en", "es", "de", "fr", "ja"]
TOPICS = ["math", "history", "science", "code", "law", "medicine", "sports", "music"]
WORDS = ["the", "of", "model", "answer", "question", "paris", "berlin", "tokyo", "river", "protein", "theorem", "court", "function", "compile", "league", "melody", "dosage", "ruling", "integral", "capital", "ocean"]


def write_eval(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            q = " ".join(rng.choices(WORDS, k=rng.randint(12, 40)))
            target = rng.choice(WORDS)
            correct = rng.random() < 0.7
            row = {
                "id": f"s{i:06d}", "question": f"Q{i}: {q}?", "answer": target,
                "prediction": target if correct else rng.choice(WORDS),
                "correct": correct, "confidence": round(rng.random(), 4),
                "metadata": {"language": rng.choice(LANGS), "topic": rng.choice(TOPICS),
                             "difficulty": rng.choice(["easy", "medium", "hard"]),
                             "source": f"set{rng.randint(1, 20)}"},
            }
            fh.write(json.dumps(row) + "\n")


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 20_000 if quick else 100_000
    repeat = 1 if quick else 3
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big_eval.jsonl"
        write_eval(path, n)
        size_mb = path.stat().st_size / 1e6

        def stdlib_load() -> list[Any]:
            with path.open(encoding="utf-8") as fh:
                return [json.loads(line) for line in fh]

        ref, _ = _best(stdlib_load, repeat)
        ours, run_ = _best(lambda: load_eval(path), repeat)
        rows.append({"name": f"open {n:,}-sample eval (JSONL, {size_mb:.0f} MB)",
                     "ours": ours, "reference": ref, "ratio": ours / ref, "target": 3.0,
                     "note": "reference: stdlib json.loads per line, no columns"})

        table = run_.table
        where = {"language": "es"}
        cold_t0 = time.perf_counter()
        mask = table.mask(where=where, text="paris")
        cold = time.perf_counter() - cold_t0
        warm, _ = _best(lambda: table.mask(where=where, text="paris"), max(repeat, 5))
        records = stdlib_load()

        def stdlib_filter() -> list[Any]:
            return [r for r in records if r["metadata"].get("language") == "es"
                    and "paris" in (r["question"] + r["answer"] + r["prediction"]).lower()]

        ref_filter, ref_hits = _best(stdlib_filter, max(repeat, 3))
        hits = int(mask.sum())
        rows.append({"name": "filter language=es + text 'paris' (first, builds caches)",
                     "ours": cold, "reference": ref_filter, "ratio": cold / ref_filter,
                     "target": 0.2, "note": f"{hits:,} hits (stdlib {len(ref_hits):,})"})
        rows.append({"name": "filter language=es + text 'paris' (again)",
                     "ours": warm, "reference": ref_filter, "ratio": warm / ref_filter,
                     "target": 0.2, "note": "reference: list comprehension over dicts"})
        other, _ = _best(lambda: table.mask(where={"topic": "law"}, text="theorem"),
                         max(repeat, 5))
        rows.append({"name": "filter topic=law + text 'theorem'", "ours": other,
                     "reference": None, "ratio": None, "target": 0.2, "note": ""})
        summary_t, _ = _best(lambda: summarize(run_, by=["language", "topic"]), 1)
        rows.append({"name": "summary (accuracy, 13 slices, calibration)", "ours": summary_t,
                     "reference": None, "ratio": None, "target": None, "note": ""})
    return rows


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main() -> None:
    quick = "--quick" in sys.argv
    rows = run(quick=quick)
    head = f"{'benchmark':58s} {'ours s':>8s} {'ref s':>8s} {'ratio':>6s} {'target':>7s}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        ok = "" if r["target"] is None else ("  ok" if r["ours"] <= r["target"] else "  SLOW")
        print(f"{r['name']:58s} {_fmt(r['ours']):>8s} {_fmt(r['reference']):>8s} "
              f"{_fmt(r['ratio']):>6s} {_fmt(r['target']):>7s}{ok}  {r['note']}")


if __name__ == "__main__":
    main()
