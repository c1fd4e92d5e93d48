"""Which reader handles a file, and how rich each format is.

When one run folder holds the same series in several formats, the richest format wins
(full precision and every step beats a text log printed every 10 steps): `PRIORITY`.
"""

from __future__ import annotations

import importlib
import re
from pathlib import PurePath
from typing import Any

from cockpit.ingest.reader import StreamReader
from cockpit.sources import LOCAL, ByteSource

# format -> (module, reader class, priority: higher wins)
FORMATS: dict[str, tuple[str, str, int]] = {
    "jsonl": ("cockpit.ingest.jsonl", "JsonlReader", 50),
    "wandb": ("cockpit.ingest.wandb_log", "WandbReader", 45),
    "tfevents": ("cockpit.ingest.tfevents", "TfeventsReader", 40),
    "mlflow": ("cockpit.ingest.mlflow_store", "MlflowMetricReader", 40),
    "csv": ("cockpit.ingest.csvlog", "CsvLogReader", 30),
    "hf_state": ("cockpit.ingest.hf_state", "HfTrainerStateReader", 30),
    "text": ("cockpit.ingest.textlog", "TextLogReader", 10),
}

# Files that look like logs but are not metric logs: Cockpit's own telemetry recording
# (SPEC §5) and the recorder's process sidecar.
TELEMETRY_FILES = frozenset({"gpu_trace.jsonl", "gpu_procs.jsonl"})
_ROTATED = re.compile(r"\.(\d+|gz|bz2|xz|zst|old|bak)$")
TEXT_SUFFIXES = (".log", ".txt", ".out", ".err")
CSV_SUFFIXES = (".csv", ".tsv")
# Files that are never metric logs: not even their head is read.
_NO_LOG_SUFFIX = re.compile(
    r"\.(pt|pth|bin|safetensors|ckpt|npy|npz|pkl|pickle|h5|hdf5|keras|onnx|gguf|msgpack|arrow"
    r"|parquet|png|jpe?g|gif|svg|pdf|zip|tar|gz|tgz|json|yaml|yml|toml|md|py|sh|ipynb|html"
    r"|wandb|eval|model|vocab|spm|tiktoken|lock|pid|sock)$")
# A run folder's stdout/stderr captures: read for crash markers even without metric lines
# (`python train.py > run/train.log 2>&1` beside a JSONL log). Not .txt: vocabularies and
# notes live there.
CRASH_LOG_SUFFIXES = (".log", ".out", ".err")
_EVAL_SAMPLES = re.compile(r"samples_.*\.jsonl$")
SNIFF_BYTES = 256 * 1024


def priority(fmt: str) -> int:
    return FORMATS[fmt][2]


def make_reader(fmt: str, **kwargs: Any) -> StreamReader:
    module, cls, _ = FORMATS[fmt]
    reader: StreamReader = getattr(importlib.import_module(module), cls)(**kwargs)
    return reader


def not_a_metric_log(name: str) -> bool:
    """Files named like logs that are something else by design: Cockpit's telemetry
    recording, lm-eval's per-sample logs, rotated copies."""
    return (name in TELEMETRY_FILES or bool(_EVAL_SAMPLES.match(name.lower()))
            or bool(_ROTATED.search(name)) and not name.startswith("events.out"))


def detect_format(path: PurePath, source: ByteSource = LOCAL) -> str | None:
    """The format of a metric log, or None (not a log, or too early to tell: ask again later)."""
    name = path.name
    if name in TELEMETRY_FILES or _ROTATED.search(name) and not name.startswith("events.out"):
        return None
    if name.startswith("events.out.tfevents."):
        return "tfevents"
    if name == "trainer_state.json":
        return "hf_state"
    if name.startswith("run-") and name.endswith(".wandb"):
        return "wandb"
    lower = name.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        if _EVAL_SAMPLES.match(lower):
            return None  # lm-eval's per-sample log: an eval, not a training run
        from cockpit.ingest.jsonl import looks_like_jsonl_metrics

        return "jsonl" if looks_like_jsonl_metrics(source.read_head(path, 64 * 1024)) else None
    from cockpit.ingest.csvlog import looks_like_metrics_csv

    if lower.endswith(CSV_SUFFIXES):
        return "csv" if looks_like_metrics_csv(source.read_head(path, 64 * 1024)) else None
    if lower.endswith(TEXT_SUFFIXES):
        # Keras' CSVLogger writes `training.log` by default: CSV content, a text suffix.
        head = source.read_head(path, SNIFF_BYTES)
        if looks_like_metrics_csv(head):
            return "csv"
        return "text" if _text_has_metrics(head) else None
    if _NO_LOG_SUFFIX.search(lower):
        return None
    # Any other name: a CSV metric log is recognised by its content (a header naming `step`
    # or `epoch`), whatever the extension; only a small head is read.
    return "csv" if looks_like_metrics_csv(source.read_head(path, 4096)) else None


def is_crash_log(path: PurePath) -> bool:
    """A text log worth reading for a crash even when it holds no metric lines."""
    name = path.name.lower()
    return name.endswith(CRASH_LOG_SUFFIXES) and not _ROTATED.search(name)


def _text_has_metrics(head: bytes) -> bool:
    if not head:
        return False
    reader = make_reader("text")
    result = reader.feed(head)
    # A stray "Killed" or "step 2: ..." line in some text file does not make a run.
    return len(result.points) >= 3
