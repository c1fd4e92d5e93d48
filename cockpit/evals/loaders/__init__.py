"""Opening any eval file Cockpit knows: the format is found from the name and the content.

`load_evals(path)` returns every eval a path holds (an lm-eval results file or a promptfoo
export can hold several; a folder holds many); `load_eval(path)` expects exactly one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import orjson

from cockpit.evals.errors import EvalLoadError
from cockpit.evals.formats import FORMATS as _FORMATS
from cockpit.evals.loaders.inspect_log import load_inspect_json, load_inspect_zip
from cockpit.evals.loaders.lm_eval import (
    is_results_doc,
    is_samples_row,
    load_lm_eval_results,
    load_lm_eval_samples,
)
from cockpit.evals.loaders.openai_evals import is_spec_line, load_openai_evals
from cockpit.evals.loaders.promptfoo import is_promptfoo_doc, load_promptfoo
from cockpit.evals.loaders.tabular import (
    load_csv,
    load_json_records,
    load_jsonl,
    load_parquet,
    parse_mapping,
)
from cockpit.evals.model import EvalRun

__all__ = ["FORMATS", "detect_format", "load_eval", "load_evals", "parse_mapping", "pick_eval"]

FORMATS = _FORMATS

_MAX_FIRST_LINE = 64 * 1024 * 1024


def _first_json_line(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            for _ in range(50):
                line = fh.readline(_MAX_FIRST_LINE)
                if not line:
                    return None
                if line.strip():
                    try:
                        return orjson.loads(line)
                    except orjson.JSONDecodeError:
                        return None
    except OSError as err:
        raise EvalLoadError(f"cannot read {path}: {err.strerror or err}") from None
    return None


def _load_json_doc(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise EvalLoadError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        if b"\n{" in data[:65536] and data.lstrip()[:1] == b"{":
            return _JsonLines()
        raise EvalLoadError(f"{path} is not valid JSON ({err})") from None


class _JsonLines:
    """Marker: a .json file that is really JSON lines."""


def _is_inspect_json(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("eval"), dict) and (
        "samples" in doc or "results" in doc or "plan" in doc)


def detect_format(path: Path) -> str:
    """The format name of one file, from its suffix and first bytes."""
    suffix = path.suffix.lower()
    if suffix == ".eval" or (suffix == ".zip" and zipfile.is_zipfile(path)):
        return "inspect-eval"
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        first = _first_json_line(path)
        if is_spec_line(first) or (isinstance(first, dict) and "run_id" in first
                                   and "type" in first and "sample_id" in first):
            return "openai-evals"
        if is_samples_row(first):
            return "lm-eval"
        return "jsonl"
    if suffix == ".json":
        doc = _load_json_doc(path)
        return _json_kind(doc)
    raise EvalLoadError(
        f"{path}: unknown eval file type {suffix or '(no suffix)'}; expected .eval, .json, "
        ".jsonl, .csv, .tsv or .parquet"
    )


def _json_kind(doc: Any) -> str:
    if isinstance(doc, _JsonLines):
        return "jsonl"
    if _is_inspect_json(doc):
        return "inspect-json"
    if is_results_doc(doc):
        return "lm-eval-results"
    if is_promptfoo_doc(doc):
        return "promptfoo"
    return "json"


# What a loader raises on a file whose content has an unexpected shape (a field of the wrong
# type, a number too long to read): said as one sentence naming the file, never a traceback.
_DATA_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
                RecursionError, LookupError, zipfile.BadZipFile)


def load_evals(path: str | Path, mapping: dict[str, str] | None = None,
               fmt: str | None = None) -> list[EvalRun]:
    """Every eval in `path` (a file or a folder), in a stable order."""
    path = Path(path)
    if not path.exists():
        raise EvalLoadError(f"{path} does not exist")
    if path.is_dir():
        return _load_folder(path, mapping)
    try:
        return _load_file(path, mapping, fmt)
    except EvalLoadError:
        raise
    except _DATA_ERRORS as err:
        text = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise EvalLoadError(f"{path} could not be read: its content has an unexpected shape "
                            f"({type(err).__name__}{': ' + text if text else ''})") from None


def _load_file(path: Path, mapping: dict[str, str] | None, fmt: str | None) -> list[EvalRun]:
    if fmt is not None and fmt not in FORMATS:
        raise EvalLoadError(f"unknown eval format {fmt!r}; known: {', '.join(FORMATS)}")
    doc: Any = None
    if fmt is None and path.suffix.lower() == ".json":
        doc = _load_json_doc(path)  # parsed once: detection and loading share it
        kind = _json_kind(doc)
    else:
        kind = fmt or detect_format(path)
    if kind == "inspect-eval":
        return [load_inspect_zip(path)]
    if kind == "parquet":
        return [load_parquet(path, mapping)]
    if kind == "csv":
        return [load_csv(path, mapping)]
    if kind == "openai-evals":
        return [load_openai_evals(path)]
    if kind == "lm-eval":
        return [load_lm_eval_samples(path)]
    if kind == "jsonl":
        return [load_jsonl(path, mapping)]
    if doc is None:
        doc = _load_json_doc(path)
    if isinstance(doc, _JsonLines):
        return [load_jsonl(path, mapping)]
    if kind == "inspect-json":
        return [load_inspect_json(path, doc)]
    if kind == "lm-eval-results":
        return load_lm_eval_results(path, doc)
    if kind == "promptfoo":
        return load_promptfoo(path, doc)
    return [load_json_records(path, doc, mapping)]


def load_eval(path: str | Path, mapping: dict[str, str] | None = None,
              fmt: str | None = None, name: str | None = None) -> EvalRun:
    """The one eval in `path`, or the one called `name` when it holds several."""
    return pick_eval(load_evals(path, mapping, fmt), path, name)


def pick_eval(runs: list[EvalRun], path: str | Path, name: str | None) -> EvalRun:
    """The eval named `name` (its full name, its model or provider, or its task) among `runs`;
    without a name, the only one. A miss names the choices in one sentence."""
    names = ", ".join(repr(r.name) for r in runs[:8]) + (" ..." if len(runs) > 8 else "")
    if name is None:
        if len(runs) != 1:
            raise EvalLoadError(f"{path} holds {len(runs)} evals ({names}); pick one with "
                                "--eval NAME")
        return runs[0]
    for matches in (lambda r: r.name == name, lambda r: r.model == name,
                    lambda r: r.name.rsplit(":", 1)[-1] == name, lambda r: r.task == name):
        found = [r for r in runs if matches(r)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise EvalLoadError(f"{len(found)} evals in {path} match {name!r}; give the full "
                                f"name ({', '.join(repr(r.name) for r in found[:8])})")
    raise EvalLoadError(f"{path} holds no eval named {name!r}; it holds {names}")


def _load_folder(folder: Path, mapping: dict[str, str] | None) -> list[EvalRun]:
    """Eval files under a folder: lm-eval results files stand for their samples files."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    results = [p for p in files if p.name.startswith("results_") and p.suffix == ".json"]
    covered = {p.parent for p in results}
    runs: list[EvalRun] = []
    for path in files:
        suffix = path.suffix.lower()
        if suffix not in (".eval", ".json", ".jsonl", ".csv", ".tsv", ".parquet"):
            continue
        if path.name.startswith("samples_") and path.parent in covered:
            continue
        try:
            runs.extend(load_evals(path, mapping))
        except EvalLoadError:
            if suffix in (".eval",) or path.name.startswith(("results_", "samples_")):
                raise
            continue  # a folder may hold unrelated JSON/CSV files
    if not runs:
        raise EvalLoadError(f"{folder} holds no eval file Cockpit can read")
    return runs
