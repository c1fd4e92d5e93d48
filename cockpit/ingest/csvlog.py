"""Reader of CSV metric logs: PyTorch Lightning's CSVLogger and Keras' CSVLogger.

Lightning writes `metrics.csv` with sparse rows and, when a metric appears for the first
time, rewrites the whole file under a wider header with the old rows unchanged and in order.
The follower then feeds the file again from byte 0, so the reader counts the data rows it
has emitted and skips that many on the next pass while still taking the new header. If the
first data row differs from the one seen before, the file holds another log (Keras
overwrites its file at each `fit`) and every row is read as new.
"""

from __future__ import annotations

import csv
import hashlib
import math
from datetime import datetime
from typing import Any

from cockpit.ingest.reader import StreamReader
from cockpit.model.records import ReadResult

# A longer line is not a metric row (a binary file, a runaway writer): counted bad, skipped.
MAX_LINE_BYTES = 1 << 20
STEP_COLUMNS = ("step", "epoch")  # the first one present gives the step; else the row index
TIME_COLUMNS = ("time", "timestamp", "created_at")
DELIMITERS = (",", "\t", ";")
_MS_EPOCH = 1e11  # a timestamp above this is in milliseconds (1e11 s is the year 5138)


def _delimiter_of(header: str) -> str:
    counts = [(header.count(d), d) for d in DELIMITERS]
    best = max(counts)
    return best[1] if best[0] else ","


def _split(text: str, delimiter: str) -> list[str] | None:
    """Cells of one line; None when its quoting is broken."""
    if '"' not in text:
        return text.split(delimiter)
    try:
        return next(csv.reader((text,), delimiter=delimiter, strict=True), [])
    except csv.Error:
        return None


def _number(cell: str) -> float | None:
    """A float from a cell, keeping NaN and +/-Inf; None for empty or non-numeric cells."""
    cell = cell.strip()
    if not cell:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def _step(cell: str) -> int | None:
    value = _number(cell)
    if value is None or not math.isfinite(value):
        return None
    return int(value)


def _timestamp(cell: str) -> float | None:
    """Unix seconds from a number (seconds or milliseconds) or an ISO 8601 string."""
    value = _number(cell)
    if value is not None:
        if not math.isfinite(value):
            return None
        return value / 1000.0 if abs(value) > _MS_EPOCH else value
    try:
        return datetime.fromisoformat(cell.strip()).timestamp()  # naive: local time
    except (ValueError, OverflowError, OSError):
        return None


def _fingerprint(header: list[str], cells: list[str] | None, text: str) -> str:
    """Identity of a row that survives Lightning's rewrite (new empty columns, new order)."""
    if cells is None or len(cells) < len(header):
        basis = text
    else:
        basis = "\x1f".join(sorted(f"{h}\x1e{c}" for h, c in zip(header, cells, strict=False) if c))
    return hashlib.blake2b(basis.encode(), digest_size=8).hexdigest()


def looks_like_metrics_csv(first_bytes: bytes) -> bool:
    """True when the first line is a CSV header naming `step` or `epoch` and another column."""
    if not first_bytes or b"\x00" in first_bytes:
        return False
    line = first_bytes.split(b"\n", 1)[0]
    if len(line) > MAX_LINE_BYTES:
        return False
    text = line.decode("utf-8", "replace").lstrip("\ufeff").strip()
    cells = _split(text, _delimiter_of(text))
    if not cells:
        return False
    names = [c.strip().lower() for c in cells]
    if any(not n or _number(n) is not None for n in names):
        return False
    others = [n for n in names if n not in STEP_COLUMNS and n not in TIME_COLUMNS]
    return any(n in STEP_COLUMNS for n in names) and bool(others)


class CsvLogReader(StreamReader):
    """Header line, then one row per logging call; empty cells are metrics not logged then."""

    format = "csv"

    def __init__(self) -> None:
        super().__init__()
        self._header: list[str] | None = None
        self._delimiter = ","
        self._rows_seen = 0  # data rows read in this pass over the file
        self._rows_emitted = 0  # data rows already turned into points, over all passes
        self._first_row: str | None = None  # fingerprint of data row 0
        self._check_first_row = False  # after a rewrite: is row 0 still the same row?
        self._step_col: int | None = None
        self._ts_col: int | None = None
        self._metric_cols: list[tuple[int, str]] = []

    # -- StreamReader -------------------------------------------------------------------

    def feed(self, data: bytes) -> ReadResult:
        result = ReadResult()
        lines, overlong = self.take_lines(data, MAX_LINE_BYTES)
        for raw in lines:
            self._line(raw, result)
        if overlong:
            self._over_long_row(result)
        return result

    def finish(self) -> ReadResult:
        """A last row without its newline is complete once the file stops growing."""
        result = ReadResult()
        if self.pending:
            self._line(self.pending, result)
        self.pending = b""
        return result

    def on_rewrite(self) -> None:
        self.pending = b""
        self._header = None
        self._rows_seen = 0
        self._discarding = False
        self._check_first_row = self._rows_emitted > 0

    def state(self) -> dict[str, Any]:
        return {
            "header": self._header,
            "delimiter": self._delimiter,
            "rows_seen": self._rows_seen,
            "rows_emitted": self._rows_emitted,
            "first_row": self._first_row,
            "check_first_row": self._check_first_row,
            "discarding": self._discarding,
        }

    def restore(self, state: dict[str, Any]) -> None:
        header = state.get("header")
        self._delimiter = str(state.get("delimiter") or ",")
        self._set_header(list(header) if header is not None else None)
        self._rows_seen = int(state.get("rows_seen", 0))
        self._rows_emitted = int(state.get("rows_emitted", 0))
        self._first_row = state.get("first_row")
        self._check_first_row = bool(state.get("check_first_row", False))
        self._discarding = bool(state.get("discarding", False))

    # -- lines --------------------------------------------------------------------------

    def _set_header(self, header: list[str] | None) -> None:
        self._header = header
        self._step_col = self._ts_col = None
        self._metric_cols = []
        if header is None:
            return
        lower = [h.lower() for h in header]
        for name in STEP_COLUMNS:
            if name in lower:
                self._step_col = lower.index(name)
                break
        for name in TIME_COLUMNS:
            if name in lower:
                self._ts_col = lower.index(name)
                break
        self._metric_cols = [(i, h) for i, h in enumerate(header)
                             if h and i != self._step_col and i != self._ts_col]

    def _line(self, raw: bytes, result: ReadResult) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            return  # blank lines are not rows (csv.DictReader skips them too)
        if self._header is None:
            self._read_header(raw, result)
            return
        if len(raw) > MAX_LINE_BYTES:
            self._over_long_row(result)
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            if self._take_row(None, text):
                result.bad(f"row {self._rows_seen - 1} is not valid UTF-8: {text[:80]!r}")
            return
        cells = _split(text, self._delimiter)
        if cells is not None and len(cells) > len(self._header) and not any(
            c.strip() for c in cells[len(self._header):]
        ):
            cells = cells[: len(self._header)]  # a trailing delimiter
        if cells is None or len(cells) != len(self._header):
            if self._take_row(cells, text):
                found = "broken quoting" if cells is None else f"{len(cells)} cells"
                result.bad(f"row {self._rows_seen - 1} has {found}, the header has "
                           f"{len(self._header)} columns: {text[:80]!r}")
            return
        if self._take_row(cells, text):
            self._emit(cells, result)

    def _read_header(self, raw: bytes, result: ReadResult) -> None:
        if len(raw) > MAX_LINE_BYTES:
            result.bad(f"header line of {len(raw)} bytes is too long for a CSV log")
            return
        text = raw.decode("utf-8", "replace").lstrip("\ufeff")
        self._delimiter = _delimiter_of(text)
        cells = _split(text, self._delimiter)
        if cells is None:
            result.bad(f"header line has broken quoting: {text[:80]!r}")
            return
        self._set_header([c.strip() for c in cells])

    def _take_row(self, cells: list[str] | None, text: str) -> bool:
        """Count one data row; True when it was not emitted before (its points are due)."""
        assert self._header is not None
        index = self._rows_seen
        self._rows_seen += 1
        if index == 0:
            fingerprint = _fingerprint(self._header, cells, text)
            if self._check_first_row and fingerprint != self._first_row:
                self._rows_emitted = 0  # another log now lives in this file: all of it is new
            self._first_row = fingerprint
            self._check_first_row = False
        if index < self._rows_emitted:
            return False
        self._rows_emitted = index + 1
        return True

    def _over_long_row(self, result: ReadResult) -> None:
        """An over-long line counts as one row (header if none yet) so counts stay aligned."""
        if self._header is None:
            result.bad(f"header line longer than {MAX_LINE_BYTES} bytes")
            return
        if self._take_row(None, f"<line over {MAX_LINE_BYTES} bytes at row {self._rows_seen}>"):
            result.bad(f"row {self._rows_seen - 1} is longer than {MAX_LINE_BYTES} bytes")

    def _emit(self, cells: list[str], result: ReadResult) -> None:
        index = self._rows_seen - 1
        step = _step(cells[self._step_col]) if self._step_col is not None else index
        ts = _timestamp(cells[self._ts_col]) if self._ts_col is not None else None
        add = result.points.add
        for i, key in self._metric_cols:
            value = _number(cells[i])
            if value is not None:
                add(key, step, ts, value)
