"""OpenAI evals (legacy `oaieval`) JSONL event logs.

Line 1 is `{"spec": {...}}` (eval_name, completion_fns, run_id, created_at); then event rows
`{"run_id", "event_id", "sample_id", "type", "data", "created_by", "created_at"}` of types
`sampling` (prompt, sampled), `match` (correct, expected, picked), `metrics` (scores of
model-graded evals) and others, and a `{"final_report": {...}}` line. Events are joined by
`sample_id` into one sample each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cockpit.evals.errors import EvalLoadError
from cockpit.evals.loaders.inspect_log import iso_to_unix
from cockpit.evals.loaders.json_lines import read_json_lines
from cockpit.evals.model import EvalRun, SampleTableBuilder
from cockpit.evals.scoring import grade, scalar_metadata, to_text


def is_spec_line(row: Any) -> bool:
    return isinstance(row, dict) and isinstance(row.get("spec"), dict) and (
        "eval_name" in row["spec"] or "completion_fns" in row["spec"])


def load_openai_evals(path: Path) -> EvalRun:
    rows, bad = read_json_lines(path)
    spec: dict[str, Any] = {}
    report: dict[str, Any] = {}
    samples: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not isinstance(row, dict):
            bad += 1
        elif "spec" in row and isinstance(row["spec"], dict):
            spec = row["spec"]
        elif "final_report" in row:
            report = row["final_report"] if isinstance(row["final_report"], dict) else {}
        elif row.get("sample_id") is not None and isinstance(row.get("data"), dict):
            events = samples.setdefault(str(row["sample_id"]), {})
            events.setdefault(str(row.get("type")), []).append(row["data"])
        else:
            bad += 1
    if not spec and not samples:
        raise EvalLoadError(f"{path} is not an OpenAI evals log (no spec line and no events)")
    builder = SampleTableBuilder()
    for sample_id in sorted(samples, key=_natural_key):
        _add_sample(builder, sample_id, samples[sample_id])
    fns = spec.get("completion_fns")
    model = ",".join(str(f) for f in fns) if isinstance(fns, list) and fns else None
    eval_name = str(spec.get("eval_name") or spec.get("base_eval") or path.stem)
    run = EvalRun(
        name=f"{eval_name}:{model}" if model else eval_name, path=str(path), model=model,
        created_at=iso_to_unix(str(spec.get("created_at", "")).replace(" ", "T")),
        format="openai-evals", table=builder.build(), task=eval_name,
    )
    if bad:
        run.notes.append(f"{bad} unreadable line(s) skipped")
    if report:
        shown = {k: v for k, v in report.items() if isinstance(v, int | float)}
        if shown:
            run.notes.append("final report: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    return run


def _natural_key(sample_id: str) -> tuple[str, int]:
    head, _, tail = sample_id.rpartition(".")
    return (head, int(tail)) if tail.isdigit() else (sample_id, -1)


def _add_sample(builder: SampleTableBuilder, sample_id: str, events: dict[str, list[Any]]) -> None:
    sampling = events.get("sampling", [{}])[0]
    match = events.get("match", [None])[0]
    metrics = events.get("metrics", [None])[0]
    prompt = sampling.get("prompt")
    output = sampling.get("sampled")
    score: float | None = None
    correct: bool | None = None
    target: Any = None
    meta: dict[str, Any] = {}
    if isinstance(match, dict):
        score, correct = grade(match.get("correct"))
        target = match.get("expected")
        if output is None:
            output = match.get("sampled", match.get("picked"))
        if isinstance(match.get("picked"), str):
            meta["output:picked"] = match["picked"][:200]
        meta.update(scalar_metadata(match, skip={"correct", "expected", "picked", "sampled"}))
    if isinstance(metrics, dict):
        meta.update(scalar_metadata(metrics))
        if score is None and "score" in metrics:
            score, correct = grade(metrics.get("score"))
        if "choice" in metrics:
            meta["choice"] = metrics.get("choice")
    if prompt is None:
        prompt = events.get("raw_sample", [{}])[0].get("input") if events.get("raw_sample") else None
    if "error" in events:
        first = events["error"][0]
        meta["output:error"] = str(first.get("message", first) if isinstance(first, dict) else first)[:200]
    builder.add(sample_id, to_text(prompt), to_text(target), to_text(output), score, correct, meta)
