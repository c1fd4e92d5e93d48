"""The JSONL file every Cockpit training hook writes: one object per line, flushed at once.

`step` and `time` come first, then the metrics; Python's `json` writes NaN and ±Inf as the
bare tokens Cockpit's reader keeps. Opened in append mode so a resumed run continues its file,
and a half line a killed writer left is ended first so the new lines parse.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

METRICS_FILENAME = "metrics.jsonl"


def metrics_path(path: str | os.PathLike[str]) -> Path:
    """A folder means `<folder>/metrics.jsonl`; a path ending in `.jsonl` is the file itself."""
    target = Path(path)
    return target if target.suffix == ".jsonl" else target / METRICS_FILENAME


class MetricsFile:
    """Appends metric lines to one JSONL file; `enabled=False` writes nothing (other ranks)."""

    def __init__(self, path: str | os.PathLike[str], enabled: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = metrics_path(path)
        self._clock = clock
        self._file = self._open() if enabled else None

    def _open(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = False
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open("rb") as existing:
                existing.seek(-1, os.SEEK_END)
                needs_newline = existing.read(1) != b"\n"
        handle = self.path.open("a", encoding="utf-8")
        if needs_newline:  # a killed writer left half a line: end it so ours parse
            handle.write("\n")
            handle.flush()
        return handle

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append one line (`step` and `time` first) and flush it so a tail sees it now."""
        line = {"step": record["step"], "time": self._clock()}
        line.update((k, v) for k, v in record.items() if k != "step")
        if self._file is not None:
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()
        return line

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
