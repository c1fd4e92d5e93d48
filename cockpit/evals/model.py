"""An eval run held as columns (numpy arrays and lists), so 100k samples filter in milliseconds.

Loaders append rows to a `SampleTableBuilder`; statistics and the UI read columns from the
finished `SampleTable`. `EvalRun.samples` gives the row view (`EvalSample`) on demand.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import orjson

MISSING = ""  # the slice key of a sample that lacks a metadata field


@dataclass(slots=True)
class EvalSample:
    """One graded item as a loader understood it."""

    sample_id: str
    input: str
    target: str
    output: str
    score: float | None
    correct: bool | None
    metadata: dict[str, Any]
    confidence: float | None = None
    choice_confidences: list[float] | None = None


def slice_key(value: Any) -> str:
    """The text a metadata value is grouped and filtered by (stable across formats)."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


class SampleTable:
    """Columns of an eval; NaN stands for "no value" in the float columns."""

    def __init__(
        self,
        sample_ids: list[str],
        inputs: list[str],
        targets: list[str],
        outputs: list[str],
        scores: np.ndarray,
        correct: np.ndarray,
        confidences: np.ndarray,
        metadata: list[dict[str, Any]],
        choice_confidences: list[list[float] | None] | None = None,
    ) -> None:
        n = len(sample_ids)
        for name, col in (("inputs", inputs), ("targets", targets), ("outputs", outputs),
                          ("scores", scores), ("correct", correct),
                          ("confidences", confidences), ("metadata", metadata)):
            if len(col) != n:
                raise ValueError(f"column {name} has {len(col)} rows, expected {n}")
        self.sample_ids = np.array(sample_ids, dtype=object)
        self.inputs = np.array(inputs, dtype=object)
        self.targets = np.array(targets, dtype=object)
        self.outputs = np.array(outputs, dtype=object)
        self.scores = np.asarray(scores, dtype=np.float64)
        self.correct = np.asarray(correct, dtype=np.float64)  # 1.0, 0.0 or NaN
        self.confidences = np.asarray(confidences, dtype=np.float64)
        self.metadata = metadata
        self.choice_confidences = choice_confidences
        self._fields: list[str] | None = None
        self._cats: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._hay: list[str | None] = [None] * n
        self._hay_done = np.zeros(n, dtype=bool)

    def __len__(self) -> int:
        return len(self.sample_ids)

    # ---- metadata as columns -------------------------------------------------------
    def fields(self) -> list[str]:
        """Every metadata key present in at least one sample, in first-seen order."""
        if self._fields is None:
            seen: dict[str, None] = {}
            for meta in self.metadata:
                for key in meta:
                    if key not in seen:
                        seen[key] = None
            self._fields = list(seen)
        return self._fields

    def categories(self, field_name: str) -> tuple[np.ndarray, list[str]]:
        """A metadata field as integer codes into its distinct slice keys (cached): filters
        compare integers, not 100k Python strings."""
        got = self._cats.get(field_name)
        if got is None:
            raw = [m.get(field_name) for m in self.metadata]
            keys: list[str] = raw if set(map(type, raw)) == {str} else [  # type: ignore[assignment]
                v if type(v) is str else slice_key(v) for v in raw]
            cats = list(dict.fromkeys(keys))
            index = {k: i for i, k in enumerate(cats)}
            codes = np.fromiter(map(index.__getitem__, keys), dtype=np.int32, count=len(keys))
            got = (codes, cats)
            self._cats[field_name] = got
        return got

    def column(self, field_name: str) -> np.ndarray:
        """The slice keys (`slice_key`) of one metadata field; MISSING where absent."""
        codes, cats = self.categories(field_name)
        return np.array(cats + [MISSING], dtype=object)[codes] if cats else np.array(
            [MISSING] * len(self), dtype=object)

    def values(self, field_name: str) -> dict[str, int]:
        """Distinct values of a field with their counts, most frequent first."""
        codes, cats = self.categories(field_name)
        counts = np.bincount(codes, minlength=len(cats))
        order = np.argsort(-counts, kind="stable")
        return {cats[i]: int(counts[i]) for i in order if counts[i]}

    # ---- filtering -----------------------------------------------------------------
    def _texts(self, idx: np.ndarray) -> list[str]:
        """Lower-cased id, input, target and output of the rows in `idx`, cached per row so
        a search after a metadata filter only pays for the rows that are left."""
        hay = self._hay
        todo = idx[~self._hay_done[idx]]
        if len(todo):
            made = [f"{a}\x00{b}\x00{c}\x00{d}".lower() for a, b, c, d in zip(
                self.sample_ids[todo].tolist(), self.inputs[todo].tolist(),
                self.targets[todo].tolist(), self.outputs[todo].tolist(), strict=True)]
            for i, text in zip(todo.tolist(), made, strict=True):
                hay[i] = text
            self._hay_done[todo] = True
        return [hay[i] for i in idx.tolist()]

    def text_hits(self, text: str, within: np.ndarray | None = None) -> np.ndarray:
        """Mask of samples (among `within`, a mask) whose id, input, target or output
        contains `text`, ignoring case."""
        needle = text.lower()
        keep = np.ones(len(self), dtype=bool) if within is None else within.copy()
        idx = np.flatnonzero(keep)
        texts = self._texts(idx)
        found = np.fromiter((needle in t for t in texts), dtype=bool, count=len(texts))
        keep[idx[~found]] = False
        return keep

    def warm(self, fields: Sequence[str] | None = None) -> None:
        """Build the filter caches (field codes, search text) ahead of the first filter: the
        UI calls this on a worker thread right after loading."""
        for name in fields if fields is not None else self.fields():
            self.categories(name)
        self._texts(np.arange(len(self)))

    def mask(
        self,
        where: Mapping[str, str | Sequence[str]] | None = None,
        text: str | None = None,
        correct: bool | None = None,
    ) -> np.ndarray:
        """Boolean mask of samples matching every condition given.

        `where` maps a metadata field to one value or a list of accepted values (slice keys,
        see `slice_key`); `text` is a case-insensitive substring of id, input, target or
        output; `correct` keeps only right (True) or wrong (False) samples.
        """
        keep = np.ones(len(self), dtype=bool)
        for name, wanted in (where or {}).items():
            codes, cats = self.categories(name)
            accepted = [wanted] if isinstance(wanted, str) else [str(w) for w in wanted]
            wanted_codes = [i for i, c in enumerate(cats) if c in accepted]
            keep &= np.isin(codes, wanted_codes)
        if correct is not None:
            keep &= self.correct == (1.0 if correct else 0.0)
        if text:
            keep = self.text_hits(text, within=keep)
        return keep

    def take(self, index: np.ndarray) -> SampleTable:
        """A new table of the rows in `index` (integer positions or a boolean mask)."""
        idx = np.flatnonzero(index) if index.dtype == bool else np.asarray(index, dtype=np.int64)
        choice = None
        if self.choice_confidences is not None:
            choice = [self.choice_confidences[i] for i in idx]
        table = SampleTable(
            list(self.sample_ids[idx]), list(self.inputs[idx]), list(self.targets[idx]),
            list(self.outputs[idx]), self.scores[idx], self.correct[idx],
            self.confidences[idx], [self.metadata[i] for i in idx], choice,
        )
        table._cats = {k: (codes[idx], cats) for k, (codes, cats) in self._cats.items()}
        return table

    def row(self, i: int) -> EvalSample:
        score = float(self.scores[i])
        correct = float(self.correct[i])
        conf = float(self.confidences[i])
        choices = self.choice_confidences[i] if self.choice_confidences is not None else None
        return EvalSample(
            sample_id=str(self.sample_ids[i]),
            input=str(self.inputs[i]),
            target=str(self.targets[i]),
            output=str(self.outputs[i]),
            score=None if math.isnan(score) else score,
            correct=None if math.isnan(correct) else correct == 1.0,
            metadata=self.metadata[i],
            confidence=None if math.isnan(conf) else conf,
            choice_confidences=choices,
        )


class SampleView(Sequence[EvalSample]):
    """`EvalRun.samples`: rows built on access, so a 100k-sample run costs nothing extra."""

    def __init__(self, table: SampleTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    @overload
    def __getitem__(self, i: int) -> EvalSample: ...

    @overload
    def __getitem__(self, i: slice) -> list[EvalSample]: ...

    def __getitem__(self, i: int | slice) -> EvalSample | list[EvalSample]:
        if isinstance(i, slice):
            return [self._table.row(j) for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._table.row(i)

    def __iter__(self) -> Iterator[EvalSample]:
        for i in range(len(self)):
            yield self._table.row(i)


@dataclass(frozen=True, slots=True)
class ReportedMetric:
    """A metric as the eval tool reported it (lm-eval's results, Inspect's header), with its
    standard error when the tool gave one: what a file without samples still tells."""

    value: float
    stderr: float | None = None
    n: int | None = None


@dataclass
class EvalRun:
    """One eval of one model on one task, as loaded from a file.

    `reported` holds the tool's own metrics; `results_only` marks a run whose samples are not
    in the file (lm-eval results without `--log_samples`, an Inspect header without samples):
    its numbers are the reported ones, nothing is recomputed.
    """

    name: str
    path: str
    model: str | None
    created_at: float | None
    format: str
    table: SampleTable
    task: str | None = None
    # A field whose samples are not independent (epochs of one item): the default cluster.
    default_cluster: str | None = None
    notes: list[str] = field(default_factory=list)
    reported: dict[str, ReportedMetric] = field(default_factory=dict)
    results_only: bool = False

    @property
    def samples(self) -> SampleView:
        return SampleView(self.table)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def eval_id(self) -> str:
        """Stable id: the same file and task load to the same id (re-import replaces)."""
        where = str(Path(self.path).resolve()) if self.path else ""
        digest = hashlib.sha1(f"{where}\x00{self.name}\x00{self.format}".encode())
        return digest.hexdigest()[:16]

    def select(self, index: np.ndarray) -> EvalRun:
        """The same run restricted to some samples (mask or positions)."""
        return EvalRun(self.name, self.path, self.model, self.created_at, self.format,
                       self.table.take(index), self.task, self.default_cluster, list(self.notes),
                       dict(self.reported), self.results_only)


class SampleTableBuilder:
    """Row-by-row accumulation for loaders; `build()` makes the columns once."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.inputs: list[str] = []
        self.targets: list[str] = []
        self.outputs: list[str] = []
        self.scores: list[float] = []
        self.correct: list[float] = []
        self.confidences: list[float] = []
        self.metadata: list[dict[str, Any]] = []
        self.choices: list[list[float] | None] = []
        self._any_choices = False

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self,
        sample_id: str,
        input: str,
        target: str,
        output: str,
        score: float | None,
        correct: bool | None,
        metadata: dict[str, Any] | None = None,
        confidence: float | None = None,
        choice_confidences: list[float] | None = None,
    ) -> None:
        nan = math.nan
        self.ids.append(sample_id)
        self.inputs.append(input)
        self.targets.append(target)
        self.outputs.append(output)
        self.scores.append(nan if score is None or not math.isfinite(score) else float(score))
        self.correct.append(nan if correct is None else (1.0 if correct else 0.0))
        ok_conf = confidence is not None and math.isfinite(confidence) and 0.0 <= confidence <= 1.0
        self.confidences.append(float(confidence) if ok_conf and confidence is not None else nan)
        self.metadata.append(metadata or {})
        self.choices.append(choice_confidences)
        if choice_confidences is not None:
            self._any_choices = True

    def build(self) -> SampleTable:
        return SampleTable(
            self.ids, self.inputs, self.targets, self.outputs,
            np.array(self.scores, dtype=np.float64), np.array(self.correct, dtype=np.float64),
            np.array(self.confidences, dtype=np.float64), self.metadata,
            self.choices if self._any_choices else None,
        )
