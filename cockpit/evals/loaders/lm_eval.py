"""lm-evaluation-harness output: `results_<ts>.json` beside `samples_<task>_<ts>.jsonl`.

A results file alone (no `--log_samples`; 0.4's `results_<ts>.json` or a pre-0.4 `--output_path`
file such as `*-res.json`) still gives every task with the metrics the harness reported and
their stderr: one results-only run per task, marked as such.

`--log_samples` writes one row per document and per filter (a generative task with two
answer-extraction filters repeats each doc_id twice); Cockpit keeps one item per doc_id,
graded by the first filter, and records the other filters' metrics in metadata.
Multiple-choice rows carry one log-likelihood per choice: their softmax gives the
confidence of the chosen (argmax) answer, which calibration needs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import orjson

from cockpit.evals.errors import EvalLoadError
from cockpit.evals.loaders.json_lines import read_json_lines
from cockpit.evals.model import EvalRun, ReportedMetric, SampleTableBuilder
from cockpit.evals.scoring import grade, scalar_metadata, to_text

_RESULTS = re.compile(r"^results_(.+)\.json$")
_SAMPLES = re.compile(r"^samples_(.+)_(\d{4}-\d{2}-\d{2}T[\d\-.]+)\.jsonl$")
_NOT_METRICS = frozenset({"sample_len", "sample_count", "samples", "num_fewshot", "version"})
_BOOKKEEPING = {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter",
                "metrics", "doc_hash", "prompt_hash", "target_hash"}


def is_results_doc(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("results"), dict) and (
        "configs" in doc or "versions" in doc or "n-shot" in doc or "lm_eval_version" in doc)


def is_samples_row(row: Any) -> bool:
    """A per-sample row: a scalar `doc_id` (rows are grouped by it) and the responses."""
    return isinstance(row, dict) and isinstance(row.get("doc_id"), str | int | float) and (
        "filtered_resps" in row or "resps" in row)


def load_lm_eval_results(path: Path, doc: dict[str, Any]) -> list[EvalRun]:
    """Every task of a results file: from its samples file when one lies beside it, else the
    reported metrics alone (a results-only run)."""
    match = _RESULTS.match(path.name)
    stamp = match.group(1) if match else None
    runs: list[EvalRun] = []
    missing: list[str] = []
    for task in doc.get("results", {}):
        samples = _find_samples(path.parent, str(task), stamp)
        if samples is None:
            missing.append(str(task))
            runs.append(_results_only(path, doc, str(task)))
            continue
        runs.append(load_lm_eval_samples(samples, results=doc, task=str(task)))
    if not runs:
        raise EvalLoadError(f"{path} is an lm-eval results file with no task results")
    if missing and len(missing) < len(runs):
        for run in runs:
            run.notes.append(f"tasks without a samples file (results only): {', '.join(missing)}")
    return runs


def reported(doc: dict[str, Any] | None, task: str) -> dict[str, ReportedMetric]:
    """The harness's metrics of one task: `acc` and `acc_norm` with their stderr; 0.4 names
    them `acc,none` (metric, filter): a filter other than `none` is kept as `acc[filter]`."""
    results = (doc or {}).get("results", {}).get(task)
    if not isinstance(results, dict):
        return {}
    n = _n_samples(doc, task)
    if n is None and isinstance(results.get("sample_len"), int):
        n = int(results["sample_len"])
    values: dict[str, float] = {}
    errors: dict[str, float | None] = {}
    for raw, value in results.items():
        metric, _, filt = str(raw).partition(",")
        name = metric if filt in ("", "none") else f"{metric}[{filt}]"
        if metric.endswith("_stderr"):
            base = metric[: -len("_stderr")]
            key = base if filt in ("", "none") else f"{base}[{filt}]"
            errors[key] = float(value) if isinstance(value, int | float) else None
        elif (isinstance(value, int | float) and not isinstance(value, bool)
              and metric not in _NOT_METRICS):
            values[name] = float(value)
    return {name: ReportedMetric(v, errors.get(name), n) for name, v in values.items()
            if math.isfinite(v)}


def _n_samples(doc: dict[str, Any] | None, task: str) -> int | None:
    counts = (doc or {}).get("n-samples", {}).get(task)
    if isinstance(counts, dict):
        for key in ("effective", "original"):
            if isinstance(counts.get(key), int):
                return int(counts[key])
    return None


def _results_only(path: Path, doc: dict[str, Any], task: str) -> EvalRun:
    model = _model_name(doc)
    run = EvalRun(name=f"{task}:{model}" if model else task, path=str(path), model=model,
                  created_at=_created(doc), format="lm-eval-results",
                  table=SampleTableBuilder().build(), task=task,
                  reported=reported(doc, task), results_only=True)
    run.notes.append("results only: no samples file beside it (rerun lm_eval with "
                     "--log_samples to get per-sample data)")
    return run


def _find_samples(folder: Path, task: str, stamp: str | None) -> Path | None:
    if stamp:
        exact = folder / f"samples_{task}_{stamp}.jsonl"
        if exact.exists():
            return exact
    candidates = sorted(folder.glob(f"samples_{task}_*.jsonl"))
    candidates = [c for c in candidates if (m := _SAMPLES.match(c.name)) and m.group(1) == task]
    return candidates[-1] if candidates else None


def _results_beside(path: Path, stamp: str | None) -> dict[str, Any] | None:
    candidates = [path.parent / f"results_{stamp}.json"] if stamp else []
    candidates += sorted(path.parent.glob("results_*.json"), reverse=True)
    for candidate in candidates:
        if candidate.exists():
            try:
                doc = orjson.loads(candidate.read_bytes())
            except (orjson.JSONDecodeError, OSError):
                continue
            if is_results_doc(doc):
                return doc
    return None


def load_lm_eval_samples(path: Path, results: dict[str, Any] | None = None,
                         task: str | None = None) -> EvalRun:
    match = _SAMPLES.match(path.name)
    if task is None:
        task = match.group(1) if match else path.stem.removeprefix("samples_")
    if results is None:
        results = _results_beside(path, match.group(2) if match else None)
    rows, bad = _read_rows(path)
    if not rows:
        raise EvalLoadError(f"{path} holds no lm-eval sample rows (doc_id, resps)")
    model = _model_name(results)
    builder = SampleTableBuilder()
    by_doc: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        by_doc.setdefault(row["doc_id"], []).append(row)
    filters = list(dict.fromkeys(str(r.get("filter", "none")) for r in rows))
    for doc_id, group in by_doc.items():
        _add_doc(builder, doc_id, group, filters)
    run = EvalRun(
        name=f"{task}:{model}" if model else task, path=str(path), model=model,
        created_at=_created(results), format="lm-eval", table=builder.build(), task=task,
        reported=reported(results, task),
    )
    if len(filters) > 1:
        run.notes.append(f"{len(filters)} filters per document ({', '.join(filters)}); graded by "
                         f"{filters[0]!r}, the others kept in metadata")
    if bad:
        run.notes.append(f"{bad} unreadable line(s) skipped")
    return run


def _read_rows(path: Path) -> tuple[list[dict[str, Any]], int]:
    values, bad = read_json_lines(path)
    rows = [row for row in values if is_samples_row(row)]
    return rows, bad + len(values) - len(rows)


def _model_name(results: dict[str, Any] | None) -> str | None:
    if not results:
        return None
    config = results.get("config") if isinstance(results.get("config"), dict) else {}
    assert isinstance(config, dict)
    args = config.get("model_args")
    if isinstance(args, str):
        found = re.search(r"(?:pretrained|model|engine)=([^,]+)", args)
        if found:
            return found.group(1)
    elif isinstance(args, dict):
        for key in ("pretrained", "model", "engine"):
            if isinstance(args.get(key), str):
                return str(args[key])
    name = results.get("model_name") or config.get("model")
    return str(name) if name else None


def _created(results: dict[str, Any] | None) -> float | None:
    date = (results or {}).get("date")
    return float(date) if isinstance(date, int | float) else None


def _loglik(value: Any) -> float | None:
    """One choice's log-likelihood from `[ll, is_greedy]` (numbers or, as written, strings)."""
    while isinstance(value, list) and value:
        if len(value) == 2 and not isinstance(value[0], list):
            value = value[0]
            break
        value = value[0]
    try:
        ll = float(value)
    except (TypeError, ValueError):
        return None
    return ll if math.isfinite(ll) else None


def softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def _add_doc(builder: SampleTableBuilder, doc_id: Any, group: list[dict[str, Any]],
             filters: list[str]) -> None:
    group.sort(key=lambda r: filters.index(str(r.get("filter", "none"))))
    row = group[0]
    doc = row.get("doc") if isinstance(row.get("doc"), dict) else {}
    assert isinstance(doc, dict)
    metrics = [m for m in row.get("metrics") or [] if isinstance(m, str)]
    primary = metrics[0] if metrics else None
    score, correct = grade(row.get(primary)) if primary else (None, None)
    meta = scalar_metadata(doc)
    meta["doc_id"] = doc_id
    for other in metrics[1:]:
        meta[f"score:{other}"] = row.get(other)
    for extra in group[1:]:
        tag = str(extra.get("filter", ""))
        for m in extra.get("metrics") or []:
            meta[f"score:{m}[{tag}]"] = extra.get(m)
    args = row.get("arguments")
    arg_list = list(args.values()) if isinstance(args, dict) else list(args or [])
    context = ""
    continuations: list[str] = []
    for arg in arg_list:
        parts = list(arg.values()) if isinstance(arg, dict) else list(arg or [])
        if parts and not context:
            context = to_text(parts[0])
        if len(parts) > 1 and isinstance(parts[1], str):
            continuations.append(parts[1])
    target = row.get("target")
    resps = row.get("filtered_resps") or []
    logliks = [_loglik(r) for r in resps] if len(continuations) > 1 else []
    confidence = None
    choice_conf = None
    if logliks and len(logliks) == len(continuations) and all(v is not None for v in logliks):
        probs = softmax([v for v in logliks if v is not None])
        chosen = max(range(len(probs)), key=probs.__getitem__)
        confidence = probs[chosen]
        choice_conf = probs
        output = continuations[chosen].strip()
        meta["output:choice"] = chosen
        target_text = _choice_target(target, continuations)
    else:
        raw = row.get("resps")
        output = to_text(_first(raw)) if raw else to_text(_first(resps))
        answer = _first(resps)
        if isinstance(answer, str) and answer != output:
            meta["output:answer"] = answer[:200]
        target_text = to_text(target)
    builder.add(str(doc_id), context, target_text, output, score, correct, meta,
                confidence, choice_conf)


def _first(value: Any) -> Any:
    while isinstance(value, list) and value:
        value = value[0]
    return value


def _choice_target(target: Any, continuations: list[str]) -> str:
    """Gold choice text when the target is an index (lm-eval writes "2" or 2)."""
    try:
        index = int(target)
    except (TypeError, ValueError):
        return to_text(target)
    if 0 <= index < len(continuations):
        return continuations[index].strip()
    return to_text(target)
