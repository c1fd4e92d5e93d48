"""What the engine hands the writer: one file's points with the offset to commit beside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cockpit.model.records import Histogram, PointBuffer, RunEvent


@dataclass(slots=True)
class RunRow:
    run_id: str
    name: str
    path: str  # the folder's path here, or its URL on a remote place (ssh://gpu1/runs/a)
    root: str
    host: str | None = None  # where the run lives (`ssh://gpu1`, `s3://bucket`); None: here


@dataclass(slots=True, frozen=True)
class SeriesRow:
    """One row of the `series` table: a stored raw series, where it comes from, its role."""

    source: str
    key: str
    canonical: str
    format: str
    role: str | None = None
    role_rule: str | None = None


@dataclass(slots=True)
class IngestBatch:
    """What one poll of one file produced, with the offset to store beside it."""

    run: RunRow
    source: str  # file path relative to the run folder, recorded in metrics.source
    source_path: str  # absolute path: the key of the `sources` table
    format: str
    points: PointBuffer
    events: list[RunEvent] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    dev: int = 0
    inode: int = 0
    offset: int = 0
    head_sig: str = ""
    reader_state: dict[str, Any] | None = None
    tail_sig: str = ""
    # What the file held that could not be read so far (this generation of it).
    bad_records: int = 0
    first_bad: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    # A new generation of the file: the points stored from it so far are replaced by these
    # (`replace_source`), or move to the name the old file was rotated to (`relabel_from`:
    # the stored source they move from; `source` is the rotated file's name).
    replace_source: bool = False
    relabel_from: str | None = None
    # `series` rows to write (new series, role changes) and (key, [sources]) to delete first.
    series: list[SeriesRow] = field(default_factory=list)
    deletes: list[tuple[str, list[str]]] = field(default_factory=list)
    histograms: list[Histogram] = field(default_factory=list)
    # When the file last grew (its mtime when read): `updated_at` of a log without timestamps.
    arrived_at: float | None = None
