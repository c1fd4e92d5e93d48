"""promptfoo JSON exports (`promptfoo eval -o out.json`).

The export holds `{"evalId", "results": {"version", "timestamp", "prompts", "results": [...]},
"config"}`; each result row is one (test case, prompt, provider) with `vars`, `response.output`,
`success`, `score` and `gradingResult`. A file comparing several providers becomes one eval
per provider, so two providers can be diffed item by item (items keyed by test and prompt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cockpit.evals.errors import EvalLoadError
from cockpit.evals.loaders.inspect_log import iso_to_unix
from cockpit.evals.model import EvalRun, SampleTableBuilder
from cockpit.evals.scoring import grade, scalar_metadata, to_text

_TARGET_VARS = ("expected", "target", "answer", "label", "reference", "ideal")


def is_promptfoo_doc(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    inner = doc.get("results")
    if isinstance(inner, dict) and isinstance(inner.get("results"), list):
        return "evalId" in doc or "version" in inner or "prompts" in inner or "stats" in inner
    return False


def _provider(row: dict[str, Any]) -> str:
    provider = row.get("provider")
    if isinstance(provider, dict):
        return str(provider.get("label") or provider.get("id") or "provider")
    return str(provider or "provider")


def load_promptfoo(path: Path, doc: dict[str, Any]) -> list[EvalRun]:
    inner = doc["results"]
    rows = [r for r in inner.get("results", []) if isinstance(r, dict)]
    if not rows:
        raise EvalLoadError(f"{path} is a promptfoo export with no results")
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    assert isinstance(config, dict)
    title = str(config.get("description") or path.stem)
    created = iso_to_unix(inner.get("timestamp")) or _ms(doc.get("createdAt"))
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_provider.setdefault(_provider(row), []).append(row)
    runs = []
    ordered = sorted(by_provider.items(),
                     key=lambda kv: min(_index(r, "promptIdx") for r in kv[1]))
    for provider, group in ordered:
        builder = SampleTableBuilder()
        # promptIdx counts (prompt, provider) pairs: several per provider = several prompts.
        multi_prompt = len({_index(r, "promptIdx") for r in group}) > 1
        for row in sorted(group, key=lambda r: (_index(r, "testIdx"), _index(r, "promptIdx"))):
            _add_row(builder, row, multi_prompt)
        runs.append(EvalRun(
            name=f"{title}:{provider}", path=str(path), model=provider, created_at=created,
            format="promptfoo", table=builder.build(), task=title,
        ))
    return runs


def _index(row: dict[str, Any], name: str) -> int:
    """A row's test or prompt index; 0 when absent or not a whole number (a damaged file)."""
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0
    try:
        return int(float(value)) if abs(float(value)) < 2**53 else 0
    except ValueError:
        return 0


def _ms(value: Any) -> float | None:
    return float(value) / 1000.0 if isinstance(value, int | float) else None


def _add_row(builder: SampleTableBuilder, row: dict[str, Any], multi_prompt: bool) -> None:
    test = row.get("testIdx", 0)
    sample_id = f"{test}.p{row.get('promptIdx', 0)}" if multi_prompt else str(test)
    vars_ = row.get("vars") if isinstance(row.get("vars"), dict) else {}
    assert isinstance(vars_, dict)
    prompt = row.get("prompt")
    text = prompt.get("raw") if isinstance(prompt, dict) else prompt
    response = row.get("response") if isinstance(row.get("response"), dict) else {}
    assert isinstance(response, dict)
    output = response.get("output")
    if output is None and row.get("error"):
        output = ""
    grading = row.get("gradingResult") if isinstance(row.get("gradingResult"), dict) else {}
    assert isinstance(grading, dict)
    score_value = row.get("score", grading.get("score"))
    score, _ = grade(score_value)
    passed = row.get("success", grading.get("pass"))
    correct = bool(passed) if isinstance(passed, bool) else None
    if score is None and correct is not None:
        score = 1.0 if correct else 0.0
    meta = scalar_metadata(vars_)
    prompt_label = prompt.get("label") if isinstance(prompt, dict) else None
    if multi_prompt and prompt_label:
        meta["prompt"] = str(prompt_label)[:200]
    if grading.get("reason") and not correct:
        meta["output:reason"] = str(grading["reason"])[:200]
    for name, value in (row.get("namedScores") or {}).items():
        meta[f"score:{name}"] = value
    if row.get("error"):
        meta["output:error"] = str(row["error"])[:200]
    if isinstance(row.get("latencyMs"), int | float):
        meta["output:latency_ms"] = row["latencyMs"]
    builder.add(sample_id, to_text(text), to_text(_target(row, vars_)), to_text(output),
                score, correct, meta)


def _target(row: dict[str, Any], vars_: dict[str, Any]) -> Any:
    for key in _TARGET_VARS:
        if key in vars_:
            return vars_[key]
    case = row.get("testCase") if isinstance(row.get("testCase"), dict) else {}
    assert isinstance(case, dict)
    for check in case.get("assert") or []:
        if isinstance(check, dict) and isinstance(check.get("value"), str | int | float):
            return check["value"]
    return None
