"""Printing query results and alerts: aligned tables, CSV, JSON."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def to_json_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A JSON array of row objects. NaN/±Inf are written as Python's json does (NaN,
    Infinity), the same tokens training logs use, so values round-trip exactly."""
    return json.dumps([{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows],
                      default=str)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return f"{value:.6g}"
    return str(_plain(value))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]],
                out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up per call: a redirected stdout is honoured
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), 60)
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out.write(line.rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write("  ".join(c[:w].ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def print_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]],
              out: TextIO | None = None) -> None:
    out = out or sys.stdout
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(v) for v in row])


def print_rows(fmt: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
               out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        out.write(to_json_rows(columns, rows) + "\n")
    elif fmt == "csv":
        print_csv(columns, rows, out)
    else:
        print_table(columns, rows, out)


def format_alert(alert: dict[str, Any]) -> str:
    step = f" step {alert['step']}" if alert.get("step") is not None else ""
    return f"{alert['severity'].upper():8s} {alert['run']} [{alert['detector']}]{step}: {alert['message']}"


def format_lifecycle(change: dict[str, Any]) -> str:
    """`RUN      exp1: running -> hung: writer PID 12 alive and silent for 40 s ...`"""
    previous = change.get("previous")
    state = change["lifecycle"] if previous else f"{change['lifecycle']} (discovered)"
    moved = f"{previous} -> {state}" if previous else state
    reason = f": {change['reason']}" if change.get("reason") else ""
    return f"{'RUN':8s} {change['run']}: {moved}{reason}"
