"""What was not read, said per file: unreadable folders and files, files that are not logs,
and the lines, records and values a log held that could not become points.

`import`, `check` and `runs` print these; nothing that was skipped is skipped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class FileProblem:
    """One folder or file and what could not be read in it."""

    path: str
    reason: str
    unreadable: bool = False  # it could not be opened at all (exit 2 when nothing else is wrong)


@dataclass(slots=True)
class Unreadable:
    """Counts of one file's unread content, as the `sources` table keeps them."""

    bad_records: int = 0
    first_bad: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_row(cls, bad: Any, first: Any, skipped: Any) -> Unreadable:
        return cls(int(bad or 0), first, json.loads(skipped) if skipped else {})

    @property
    def total(self) -> int:
        return self.bad_records + sum(self.skipped.values())

    def sentence(self) -> str:
        """`3 unreadable line(s) or record(s), e.g. '{"st'; 2 value(s) skipped: ...`."""
        parts = []
        if self.bad_records:
            example = f", e.g. {self.first_bad!r}" if self.first_bad else ""
            parts.append(f"{self.bad_records} unreadable line(s) or record(s){example}")
        if self.skipped:
            reasons = ", ".join(f"{reason} ({n})" for reason, n in sorted(self.skipped.items()))
            parts.append(f"{sum(self.skipped.values())} value(s) skipped: {reasons}")
        return "; ".join(parts)
