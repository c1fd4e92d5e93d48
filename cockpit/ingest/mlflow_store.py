"""Reader of MLflow's file store: `mlruns/<experiment_id>/<run_id>/`.

A run folder holds `meta.yaml`, one file per metric under `metrics/` (lines
`timestamp_ms value step`, a key with `/` nested in folders), one file per param under
`params/` and per tag under `tags/` (the file's content is the value). Each metric file is
its own source, read incrementally by `MlflowMetricReader`. `meta.yaml` is read with a small
line parser, enough for the flat mapping MLflow writes, so the core does not need PyYAML.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from cockpit.ingest.reader import StreamReader
from cockpit.model.records import ReadResult
from cockpit.sources import LOCAL, ByteSource

MAX_LINE_BYTES = 64 * 1024  # MLflow writes lines of a few dozen bytes
MAX_VALUE_BYTES = 1 << 20  # a param or tag file read for the run's metadata
MAX_META_BYTES = 1 << 20
# mlflow.entities.RunStatus codes as meta.yaml stores them.
RUN_STATUS = {"1": "RUNNING", "2": "SCHEDULED", "3": "FINISHED", "4": "FAILED", "5": "KILLED"}
_META_FIELDS = ("run_id", "experiment_id", "start_time", "end_time", "lifecycle_stage")


# -- meta.yaml ----------------------------------------------------------------------------

_YAML_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
                 "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
                 "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}
_YAML_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")


def _unescape_double_quoted(body: str) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) > 1:
            return chr(int(code[1:], 16))
        return _YAML_ESCAPES.get(code, code)

    return _YAML_ESCAPE.sub(replace, body)


def _scalar(raw: str) -> str:
    """A YAML scalar as PyYAML's safe dumper writes it: plain, 'single' or "double" quoted."""
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1].replace("''", "'")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return _unescape_double_quoted(raw[1:-1])
    return "" if raw in ("null", "~") else raw


def _join_continuation(value: str, line: str, blank_lines: int) -> str:
    """Folds a wrapped scalar's next line (YAML line folding): a space, a newline per blank
    line between them, or nothing after a double-quoted scalar's escaped line break."""
    if value.startswith('"') and (len(value) - len(value.rstrip("\\"))) % 2 == 1:
        return value[:-1] + line
    return value + ("\n" * blank_lines if blank_lines else " ") + line


def parse_meta_yaml(text: str) -> dict[str, str]:
    """The top-level `key: value` pairs of an MLflow meta.yaml; nested blocks are skipped."""
    raw: dict[str, str] = {}
    key: str | None = None
    blank_lines = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            blank_lines += 1
            continue
        if line[0] in " \t-":
            if key is not None and raw[key]:  # a wrapped scalar; a nested block stays out
                raw[key] = _join_continuation(raw[key], stripped, blank_lines)
            blank_lines = 0
            continue
        blank_lines = 0
        if stripped.startswith("#") or stripped in ("---", "..."):
            continue
        name, sep, value = line.partition(":")
        if not sep:
            key = None
            continue
        key = name.strip()
        raw[key] = value.strip()
    return {k: _scalar(v) for k, v in raw.items()}


def _read_meta(path: PurePath, source: ByteSource = LOCAL) -> dict[str, str]:
    data = source.read_head(path, MAX_META_BYTES)
    return parse_meta_yaml(data.decode("utf-8", "replace")) if data else {}


# -- run folders --------------------------------------------------------------------------


def is_mlflow_run_dir(path: PurePath, source: ByteSource = LOCAL) -> bool:
    """A run folder: meta.yaml naming a run id (experiments and logged models have none)."""
    meta = path / "meta.yaml"
    if not source.is_file(meta):
        return False
    fields = _read_meta(meta, source)
    return bool(fields.get("run_id") or fields.get("run_uuid"))


def _files_under(folder: PurePath, source: ByteSource = LOCAL) -> list[tuple[PurePath, str]]:
    """Every file below `folder` with its path relative to it, `/`-separated (the key)."""
    found: list[tuple[PurePath, str]] = []
    for here, dirnames, filenames in source.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            file = here / name
            if source.is_file(file):
                found.append((file, file.relative_to(folder).as_posix()))
    return found


def mlflow_metric_files(run_dir: PurePath, source: ByteSource = LOCAL) -> list[tuple[PurePath, str]]:
    """(file, metric key) for each metric of a run; `metrics/train/loss` is `train/loss`."""
    return _files_under(run_dir / "metrics", source)


def _read_value(path: PurePath, source: ByteSource) -> str | None:
    try:
        fh = source.open(path)
    except OSError:
        return None
    try:
        return fh.read(0, MAX_VALUE_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        fh.close()


def read_mlflow_run_meta(run_dir: PurePath, source: ByteSource = LOCAL) -> dict[str, str]:
    """Params (`param.<key>`), tags (`tag.<key>`), `run_name`, `status` and a few meta fields.

    `status` is RUNNING, SCHEDULED, FINISHED, FAILED or KILLED; other meta fields, where
    meta.yaml has them: run_id, experiment_id, start_time and end_time (unix milliseconds),
    lifecycle_stage (`deleted` for a run in the trash).
    """
    meta = _read_meta(run_dir / "meta.yaml", source)
    out: dict[str, str] = {}
    for folder, prefix in (("params", "param."), ("tags", "tag.")):
        for file, key in _files_under(run_dir / folder, source):
            value = _read_value(file, source)
            if value is not None:
                out[prefix + key] = value
    run_name = out.get("tag.mlflow.runName") or meta.get("run_name")
    if run_name:
        out["run_name"] = run_name
    status = meta.get("status", "")
    if status:
        out["status"] = RUN_STATUS.get(status, status.upper())
    if not meta.get("run_id") and meta.get("run_uuid"):
        meta["run_id"] = meta["run_uuid"]
    out.update({k: meta[k] for k in _META_FIELDS if meta.get(k)})
    return out


# -- metric files -------------------------------------------------------------------------


class MlflowMetricReader(StreamReader):
    """One metric file: `timestamp_ms value step` per line (older files: no step, i.e. 0).

    MLflow 2.x+ may add `dataset_name dataset_digest` (5 fields) and a logged model's metric
    has a run id as fourth field; both extras are ignored. Values are Python floats as `str`
    writes them, so `nan`, `inf` and `-inf` arrive as NaN and +/-Inf.
    """

    format = "mlflow"

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def feed(self, data: bytes) -> ReadResult:
        result = ReadResult()
        lines, overlong = self.take_lines(data, MAX_LINE_BYTES)
        for line in lines:
            self._line(line, result)
        if overlong:
            result.bad(f"{self.key}: a line longer than {MAX_LINE_BYTES} bytes")
        return result

    def finish(self) -> ReadResult:
        """MLflow ends every line with a newline: a last line without one was cut short."""
        result = ReadResult()
        if self.pending.strip():
            result.bad(f"{self.key}: truncated last line {self.pending[:80]!r}")
        self.pending = b""
        return result

    def state(self) -> dict[str, Any]:
        return {"discarding": self._discarding}

    def restore(self, state: dict[str, Any]) -> None:
        self._discarding = bool(state.get("discarding", False))

    def _line(self, line: bytes, result: ReadResult) -> None:
        if len(line) > MAX_LINE_BYTES:
            result.bad(f"{self.key}: a line longer than {MAX_LINE_BYTES} bytes")
            return
        parts = line.split()
        if not parts:
            return
        try:
            if not 2 <= len(parts) <= 5:
                raise ValueError(f"{len(parts)} fields")
            ts = int(parts[0]) / 1000.0
            value = float(parts[1])
            step = int(parts[2]) if len(parts) >= 3 else 0
        except (ValueError, OverflowError):
            result.bad(f"{self.key}: not `timestamp value step`: {line[:80]!r}")
            return
        result.points.add(self.key, step, ts, value)
