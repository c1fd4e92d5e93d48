"""Inspect AI logs: `.eval` zips (per-sample and chunked layouts) and `.json` logs.

Zip layout: `header.json` (or `_journal/start.json` while running), then per sample either
`samples/<id>_epoch_<n>.json` (monolith) or a folder `samples/<id>_epoch_<n>/` holding
`sample.json` (the shell), `metadata.json` and chunked sequences (chunked layout). Newer
Inspect versions compress entries with zstd, which Python < 3.14 reads only through the
`zstandard` package.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from cockpit.evals.errors import EvalLoadError
from cockpit.evals.model import EvalRun, ReportedMetric, SampleTableBuilder
from cockpit.evals.scoring import grade, message_text, scalar_metadata, to_text

ZSTD_METHOD = 93
_MONOLITH = re.compile(r"^samples/(.+)_epoch_(\d+)\.json$")
_CHUNKED_SHELL = re.compile(r"^samples/(.+)_epoch_(\d+)/sample\.json$")


def iso_to_unix(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    if info.compress_type != ZSTD_METHOD:
        return zf.read(info)
    try:
        return zf.read(info)  # Python >= 3.14, or zipfile patched by zipfile-zstd
    except NotImplementedError:
        pass
    try:
        import zstandard
    except ImportError:
        raise EvalLoadError(
            f"{path} is an Inspect log compressed with zstd; install the `zstandard` package "
            "to read it (pip install zstandard)"
        ) from None
    fp = zf.fp
    assert fp is not None
    fp.seek(info.header_offset)
    header = fp.read(30)
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    fp.seek(info.header_offset + 30 + name_len + extra_len)
    raw = fp.read(info.compress_size)
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw), read_across_frames=True)
    return bytes(reader.read())


def _data_errors() -> tuple[type[Exception], ...]:
    """What reading a damaged entry raises: deflate and zstd data errors, "compression method
    99" (RuntimeError's NotImplementedError), a bad length (ValueError)."""
    errors: tuple[type[Exception], ...] = (ValueError, RuntimeError, zlib.error)
    try:
        import zstandard
    except ImportError:
        return errors
    return (*errors, zstandard.ZstdError)


def _json(data: bytes, what: str, path: Path) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise EvalLoadError(f"{path}: {what} is not valid JSON ({err})") from None


def load_inspect_zip(path: Path) -> EvalRun:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError) as err:
        # NotImplementedError: "zip file version 9.9"; ValueError: a damaged directory field
        raise EvalLoadError(f"{path} is not a readable Inspect .eval zip ({err})") from None
    with zf:
        infos = {i.filename: i for i in zf.infolist()}
        head_name = "header.json" if "header.json" in infos else "_journal/start.json"
        if head_name not in infos:
            raise EvalLoadError(f"{path} has neither header.json nor _journal/start.json; "
                                "it is not an Inspect log")
        try:
            header = _json(_read_member(zf, infos[head_name], path), head_name, path)
            samples: list[dict[str, Any]] = []
            for name, info in infos.items():
                if _MONOLITH.match(name):
                    samples.append(_json(_read_member(zf, info, path), name, path))
                elif _CHUNKED_SHELL.match(name):
                    samples.append(_chunked_sample(zf, infos, name, path))
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise EvalLoadError(f"{path} is a damaged zip ({err})") from None
        except _data_errors() as err:
            raise EvalLoadError(f"{path} has a damaged entry ({err})") from None
    if not isinstance(header, dict):
        raise EvalLoadError(f"{path}: {head_name} is not a JSON object")
    return _build(path, header, samples, "inspect-eval")


def _chunked_sample(zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], shell: str,
                    path: Path) -> dict[str, Any]:
    sample = _json(_read_member(zf, infos[shell], path), shell, path)
    if not isinstance(sample, dict):
        raise EvalLoadError(f"{path}: {shell} is not a JSON object")
    prefix = shell[: -len("sample.json")]
    meta = infos.get(prefix + "metadata.json")
    if meta is not None and "metadata" not in sample:
        sample["metadata"] = _json(_read_member(zf, meta, path), meta.filename, path)
    attachment_chunks = sorted(
        (n for n in infos if n.startswith(prefix + "attachments/") and n.endswith(".json")),
        key=lambda n: int(re.sub(r"\D", "", n.rsplit("/", 1)[1]) or 0),
    )
    if attachment_chunks and _has_attachment_ref(sample):
        seq: list[Any] = []
        for name in attachment_chunks:
            part = _json(_read_member(zf, infos[name], path), name, path)
            if isinstance(part, list):
                seq.extend(part)
        sample["attachments"] = {str(i): v for i, v in enumerate(seq)}
    return sample


def _has_attachment_ref(sample: dict[str, Any]) -> bool:
    return any(isinstance(sample.get(k), str) and sample[k].startswith("attachment://")
               for k in ("input", "target"))


def load_inspect_json(path: Path, doc: dict[str, Any]) -> EvalRun:
    samples = doc.get("samples") or []
    if not isinstance(samples, list):
        raise EvalLoadError(f"{path}: `samples` is not a list")
    return _build(path, doc, [s for s in samples if isinstance(s, dict)], "inspect-json")


def _resolve(value: Any, attachments: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("attachment://"):
        return attachments.get(value[len("attachment://"):], value)
    return value


def _primary_scorer(header: dict[str, Any]) -> tuple[str | None, str | None]:
    results = header.get("results") or {}
    headline = results.get("headline") if isinstance(results, dict) else None
    if isinstance(headline, dict) and headline.get("scorer"):
        return str(headline["scorer"]), headline.get("metric")
    scores = results.get("scores") if isinstance(results, dict) else None
    if isinstance(scores, list) and scores and isinstance(scores[0], dict):
        return scores[0].get("name") or scores[0].get("scorer"), None
    scorers = (header.get("eval") or {}).get("scorers")
    if isinstance(scorers, list) and scorers and isinstance(scorers[0], dict):
        return scorers[0].get("name"), None
    return None, None


_MEAN_METRICS = ("accuracy", "mean")  # the metrics Inspect's `stderr` belongs to


def header_metrics(header: dict[str, Any]) -> dict[str, ReportedMetric]:
    """Every metric of every scorer in the header's results: the primary scorer's under their
    own names (`accuracy`), the others as `<scorer>/<metric>`; `stderr` joins accuracy/mean."""
    results = header.get("results") if isinstance(header.get("results"), dict) else {}
    assert isinstance(results, dict)
    primary, _ = _primary_scorer(header)
    out: dict[str, ReportedMetric] = {}
    for entry in results.get("scores") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
            continue
        scorer = str(entry.get("name") or entry.get("scorer") or "score")
        n = entry.get("scored_samples", results.get("completed_samples"))
        n = int(n) if isinstance(n, int) else None
        values: dict[str, float] = {
            str(k): float(m["value"]) for k, m in entry["metrics"].items()
            if isinstance(m, dict) and isinstance(m.get("value"), int | float)}
        stderr = values.pop("stderr", None)
        for metric, value in values.items():
            name = metric if scorer == primary else f"{scorer}/{metric}"
            out[name] = ReportedMetric(value, stderr if metric in _MEAN_METRICS else None, n)
    return out


def _score_value(score: Any) -> Any:
    value = score.get("value") if isinstance(score, dict) else score
    if isinstance(value, dict):  # a scorer returning several named values: take the first
        for v in value.values():
            if isinstance(v, bool | int | float | str):
                return v
        return None
    return value


def _output_text(sample: dict[str, Any], attachments: dict[str, Any]) -> str:
    output = sample.get("output")
    if isinstance(output, dict):
        completion = output.get("completion")
        if isinstance(completion, str) and completion:
            return str(_resolve(completion, attachments))
        choices = output.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message") or {}
            return message_text(_resolve(message.get("content"), attachments))
        return ""
    return to_text(_resolve(output, attachments))


def _stop_reason(sample: dict[str, Any]) -> str | None:
    output = sample.get("output")
    choices = output.get("choices") if isinstance(output, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("stop_reason")
        return str(reason) if reason else None
    return None


def _build(path: Path, header: dict[str, Any], samples: list[dict[str, Any]], fmt: str) -> EvalRun:
    spec = header.get("eval") if isinstance(header.get("eval"), dict) else {}
    assert isinstance(spec, dict)
    task = spec.get("task") or path.stem
    model = spec.get("model")
    scorer, _ = _primary_scorer(header)
    samples.sort(key=lambda s: (int(s.get("epoch") or 1), str(s.get("id"))))
    epochs = max((int(s.get("epoch") or 1) for s in samples), default=1)
    builder = SampleTableBuilder()
    for s in samples:
        attachments = s.get("attachments") if isinstance(s.get("attachments"), dict) else {}
        assert isinstance(attachments, dict)
        scores = s.get("scores") if isinstance(s.get("scores"), dict) else {}
        assert isinstance(scores, dict)
        name = scorer if scorer in scores else next(iter(scores), None)
        score, correct = grade(_score_value(scores[name])) if name is not None else (None, None)
        meta_src = s.get("metadata") if isinstance(s.get("metadata"), dict) else {}
        assert isinstance(meta_src, dict)
        meta = scalar_metadata(meta_src)
        for other, value in scores.items():
            if other != name:
                meta[f"score:{other}"] = grade(_score_value(value))[0]
        stop = _stop_reason(s)
        if stop is not None:  # "max_tokens" tells triage an answer was cut, not wrong
            meta["output:stop_reason"] = stop
        if name is not None and isinstance(scores[name], dict):
            answer = scores[name].get("answer")
            if isinstance(answer, str) and len(answer) <= 200:
                meta["output:answer"] = answer
        if s.get("error"):
            meta["output:error"] = to_text((s["error"] or {}).get("message") if isinstance(s["error"], dict)
                                    else s["error"])[:200]
        sid = str(s.get("id"))
        epoch = int(s.get("epoch") or 1)
        if epochs > 1:
            meta["item"] = sid
            meta["epoch"] = epoch
            sid = f"{sid}#{epoch}"
        builder.add(
            sid,
            to_text(_resolve(s.get("input"), attachments)),
            to_text(_resolve(s.get("target"), attachments)),
            _output_text(s, attachments),
            score, correct, meta,
        )
    run = EvalRun(
        name=f"{task}:{model}" if model else str(task),
        path=str(path), model=model, created_at=iso_to_unix(spec.get("created")),
        format=fmt, table=builder.build(), task=str(task),
        default_cluster="item" if epochs > 1 else None,
    )
    if not samples:
        run.reported = header_metrics(header)
        run.results_only = bool(run.reported)
        if run.results_only:
            run.notes.append("header only: the log holds no samples (log_samples=False or "
                             "header-only export); metrics are Inspect's own results")
    status = header.get("status")
    if status and status != "success":
        run.notes.append(f"Inspect reports status {status!r}; results may be partial")
    if epochs > 1:
        run.notes.append(f"{epochs} epochs per item: intervals cluster on `item`")
    return run
