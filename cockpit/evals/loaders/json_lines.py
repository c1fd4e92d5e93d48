"""Reading a JSON-lines eval log: the parsed lines, and how many could not be parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from cockpit.evals.errors import EvalLoadError


def read_json_lines(path: Path) -> tuple[list[Any], int]:
    """(values of the non-blank lines that parse, count of lines that do not)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise EvalLoadError(f"cannot read {path}: {err.strerror or err}") from None
    values: list[Any] = []
    bad = 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            values.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            bad += 1
    return values, bad
