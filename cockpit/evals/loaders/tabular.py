"""Generic eval tables (JSONL, JSON arrays, CSV, Parquet) read through a column mapping.

The mapping names which column plays which role (id, input, target, output, score, correct,
confidence); obvious names are found without being told, and `--map input=question` (or the
UI) overrides. Every column not mapped becomes metadata, so any field can slice the eval.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from cockpit.evals.errors import EvalLoadError
from cockpit.evals.model import EvalRun, SampleTable
from cockpit.evals.scoring import grade, normalize_answer, to_text

ROLES = ("id", "input", "target", "output", "score", "correct", "confidence")

# Candidate column names per role, most specific first (compared case-insensitively).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": ("sample_id", "id", "item_id", "example_id", "question_id", "uid", "idx", "doc_id",
           "task_id"),
    "input": ("input", "prompt", "question", "query", "instruction", "problem", "context"),
    "target": ("target", "expected", "expected_output", "label", "gold", "answer", "reference",
               "ground_truth", "ideal", "references"),
    "output": ("output", "prediction", "predicted", "response", "completion", "generation",
               "model_output", "model_answer", "pred", "sampled"),
    "score": ("score", "accuracy", "acc", "exact_match", "em", "reward", "grade"),
    "correct": ("correct", "is_correct", "passed", "pass", "success", "match"),
    "confidence": ("confidence", "prob", "probability", "p_correct", "p_true"),
}


def parse_mapping(text: str | None) -> dict[str, str]:
    """`input=question,target=gold` -> {"input": "question", "target": "gold"}."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        role, sep, column = part.partition("=")
        role = role.strip().lower()
        if not sep or not column.strip():
            raise EvalLoadError(f"column mapping entry {part.strip()!r} is not ROLE=COLUMN")
        if role not in ROLES:
            raise EvalLoadError(
                f"unknown role {role!r} in the column mapping; roles: {', '.join(ROLES)}")
        mapping[role] = column.strip()
    return mapping


def detect_mapping(columns: Iterable[str], override: dict[str, str] | None = None) -> dict[str, str]:
    """Role -> column for the columns whose names are obvious; `override` wins."""
    names = list(columns)
    lower = {c.lower(): c for c in reversed(names)}
    mapping: dict[str, str] = {}
    used = set((override or {}).values())
    for role in ROLES:
        if override and role in override:
            continue
        for candidate in CANDIDATES[role]:
            column = lower.get(candidate)
            if column is not None and column not in used:
                mapping[role] = column
                used.add(column)
                break
    mapping.update(override or {})
    return mapping


def _check(path: Path, mapping: dict[str, str], columns: set[str],
           override: dict[str, str]) -> None:
    for role, column in override.items():
        if column not in columns:
            raise EvalLoadError(f"{path} has no column {column!r} (mapped to {role}); columns: "
                                f"{', '.join(sorted(columns)[:20])}")
    if not ({"input", "output", "target"} & set(mapping)):
        raise EvalLoadError(
            f"{path}: no input, target or output column recognised among "
            f"{', '.join(sorted(columns)[:20])}; pass a mapping such as --map input=COL,output=COL"
        )


def records_to_run(path: Path, records: list[dict[str, Any]], fmt: str,
                   mapping: dict[str, str] | None = None, notes: list[str] | None = None) -> EvalRun:
    """Build a run from row dicts through a (partly detected) mapping, column by column
    (a per-row loop costs seconds at 100k samples)."""
    override = dict(mapping or {})
    columns = list(dict.fromkeys(itertools.chain.from_iterable(records)))
    roles = detect_mapping(columns, override)
    _check(path, roles, set(columns), override)
    n = len(records)
    in_col, tg_col, out_col = roles.get("input"), roles.get("target"), roles.get("output")
    sc_col, ok_col, cf_col = roles.get("score"), roles.get("correct"), roles.get("confidence")
    inputs, targets, outputs = (_text_column(records, c) for c in (in_col, tg_col, out_col))
    scores, correct = _grade_column([r.get(sc_col) for r in records]) if sc_col else (
        np.full(n, np.nan), np.full(n, np.nan))
    derive = sc_col is None and ok_col is None and tg_col is not None and out_col is not None
    if ok_col:
        _, correct = _grade_column([r.get(ok_col) for r in records])
        fill = np.isnan(scores) & ~np.isnan(correct)
        scores[fill] = correct[fill]
    elif derive:
        correct = np.array([normalize_answer(o) == normalize_answer(t)
                            for o, t in zip(outputs, targets, strict=True)], dtype=np.float64)
        scores = correct.copy()
    confidences = _confidence_column([r.get(cf_col) for r in records]) if cf_col else (
        np.full(n, np.nan))
    mapped = set(roles.values())
    extras = [c for c in columns if c not in mapped]
    table = SampleTable(_id_column(records, roles.get("id")), inputs, targets, outputs, scores,
                        correct, confidences, _metadata_column(records, extras))
    run = EvalRun(name=path.stem, path=str(path), model=None, created_at=_mtime(path),
                  format=fmt, table=table, task=path.stem, notes=list(notes or []))
    run.notes.append("columns: " + ", ".join(f"{r}={c}" for r, c in roles.items()))
    if derive:
        run.notes.append("no score column: correctness is the normalized exact match of "
                         f"{out_col!r} against {tg_col!r}")
    return run


def _text_column(records: list[dict[str, Any]], col: str | None) -> list[str]:
    if col is None:
        return [""] * len(records)
    return [v if type(v) is str else to_text(v) for v in [r.get(col) for r in records]]


def _id_column(records: list[dict[str, Any]], col: str | None) -> list[str]:
    raw = [r.get(col) for r in records] if col else [None] * len(records)
    ids = [v if type(v) is str and v else (str(i) if v is None or v == "" else str(v))
           for i, v in enumerate(raw)]
    if len(set(ids)) != len(ids):  # repeated ids: the later ones get their row number
        seen: set[str] = set()
        for i, sid in enumerate(ids):
            if sid in seen:
                ids[i] = f"{sid}#{i}"
            seen.add(ids[i])
    return ids


def _grade_column(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(scores, correct) arrays, NaN where absent; numbers and booleans take a vector path."""
    kinds = set(map(type, values))
    if kinds and kinds <= {bool, int, float, type(None)}:
        # An integer beyond a double (a damaged file) is no score: NaN, like a missing one.
        scores = np.array([np.nan if v is None or (type(v) is int and abs(v) > 2**1023) else v
                           for v in values], dtype=np.float64)
        scores[~np.isfinite(scores)] = np.nan
        correct = np.where((scores == 0.0) | (scores == 1.0), scores, np.nan)
        return scores, correct
    memo: dict[Any, tuple[float | None, bool | None]] = {}
    out_s = np.full(len(values), np.nan)
    out_c = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        try:
            got = memo.get(v)
            if got is None:
                got = memo[v] = grade(v)
        except TypeError:  # unhashable (a list or dict): grade it directly
            got = grade(v)
        if got[0] is not None:
            out_s[i] = got[0]
        if got[1] is not None:
            out_c[i] = 1.0 if got[1] else 0.0
    return out_s, out_c


def _confidence_column(values: list[Any]) -> np.ndarray:
    try:
        conf = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        conf = np.array([_float(v) if v is not None else None for v in values], dtype=np.float64)
    bad = ~np.isfinite(conf) | (conf < 0.0) | (conf > 1.0)
    conf[bad] = np.nan
    return conf


def _metadata_column(records: list[dict[str, Any]], extras: list[str]) -> list[dict[str, Any]]:
    """Unmapped columns per row; a nested `metadata` object is merged in (its keys win)."""
    if not extras:
        return [{} for _ in records]
    if extras == ["metadata"]:
        return [m if type(m) is dict else ({} if m is None else {"metadata": m})
                for m in [r.get("metadata") for r in records]]
    others = [k for k in extras if k != "metadata"]
    out = [{k: r[k] for k in others if k in r} for r in records]
    if "metadata" in extras:
        for meta, rec in zip(out, records, strict=True):
            nested = rec.get("metadata")
            if type(nested) is dict:
                meta.update(nested)
            elif nested is not None:
                meta["metadata"] = nested
    return out


def _float(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def read_jsonl_records(path: Path, data: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    lines = data.splitlines()
    try:  # the common case: every line one object, in one pass at C speed
        fast = [orjson.loads(line) for line in lines]
        if all(type(r) is dict for r in fast):
            if not fast:
                raise EvalLoadError(f"{path} holds no JSON object lines")
            return fast, []
    except orjson.JSONDecodeError:
        pass
    records: list[dict[str, Any]] = []
    bad = 0
    loads = orjson.loads
    for line in lines:
        try:
            rec = loads(line)
        except orjson.JSONDecodeError:
            if not line.strip():
                continue
            try:  # bare NaN / Infinity tokens, as Python's json writes them
                rec = json.loads(line.decode("utf-8", errors="replace"))
            except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
                bad += 1
                continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    notes = [f"{bad} unreadable line(s) skipped"] if bad else []
    if not records:
        raise EvalLoadError(f"{path} holds no JSON object lines")
    return records, notes


def load_jsonl(path: Path, mapping: dict[str, str] | None = None) -> EvalRun:
    records, notes = read_jsonl_records(path, _read(path))
    return records_to_run(path, records, "jsonl", mapping, notes)


def load_json_records(path: Path, doc: Any, mapping: dict[str, str] | None = None) -> EvalRun:
    rows = doc
    if isinstance(doc, dict):
        rows = next((doc[k] for k in ("samples", "data", "rows", "records", "examples")
                     if isinstance(doc.get(k), list)), None)
    if not isinstance(rows, list) or not rows:
        raise EvalLoadError(f"{path} is JSON but not a list of records nor a known eval log")
    records = [r for r in rows if isinstance(r, dict)]
    if not records:
        raise EvalLoadError(f"{path} holds a JSON list without record objects")
    return records_to_run(path, records, "json", mapping)


def load_csv(path: Path, mapping: dict[str, str] | None = None) -> EvalRun:
    data = _read(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    delimiter = "\t" if path.suffix.lower() == ".tsv" else max(counts, key=counts.__getitem__)
    try:
        records = [dict(r) for r in csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as err:
        raise EvalLoadError(f"{path} is not readable CSV ({err})") from None
    records = [{k: v for k, v in r.items() if k is not None} for r in records]
    if not records:
        raise EvalLoadError(f"{path} has a header but no rows")
    return records_to_run(path, records, "csv", mapping)


def load_parquet(path: Path, mapping: dict[str, str] | None = None) -> EvalRun:
    import duckdb

    con = duckdb.connect()
    try:
        cur = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        names = [d[0] for d in cur.description or []]
        records = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    except duckdb.Error as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise EvalLoadError(f"{path} is not readable Parquet ({first})") from None
    finally:
        con.close()
    if not records:
        raise EvalLoadError(f"{path} has no rows")
    return records_to_run(path, records, "parquet", mapping)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise EvalLoadError(f"cannot read {path}: {err.strerror or err}") from None
