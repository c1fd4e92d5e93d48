"""The DuckDB shortcut for big uniform JSONL chunks gives exactly what the orjson path gives,
and declines every chunk it cannot prove uniform (the orjson path then reads it)."""

import random

import numpy as np
import orjson
import pytest

from cockpit.ingest import jsonl_columns
from cockpit.ingest.jsonl import JsonlReader

LINES = 30_000  # ~2.6 MB: above the shortcut's minimum


def uniform_body(lines: int = LINES, time_ms: bool = False) -> bytes:
    rnd = random.Random(1)
    out = []
    for i in range(lines):
        t = 1.7e12 + i * 50 if time_ms else 1.7e9 + i * 0.05
        out.append(f'{{"step": {i}, "time": {t:.3f}, "loss": {3 + rnd.random():.6f}, '
                   f'"lr": {6e-4:.3e}, "tokens_per_s": {rnd.randint(1, 10**6)}}}')
    return "\n".join(out).encode()


def read(data: bytes, shortcut: bool, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(jsonl_columns, "MIN_BYTES", 1 if shortcut else 1 << 62)
    reader = JsonlReader()
    result = reader.feed(data)
    return result.points.rows(), result.bad_records, reader.row


def first_record(body: bytes) -> dict:
    return orjson.loads(body[: body.find(b"\n")])


@pytest.mark.parametrize("time_ms", [False, True])
def test_shortcut_gives_the_orjson_paths_points(monkeypatch, time_ms):
    body = uniform_body(time_ms=time_ms)
    assert jsonl_columns.uniform_columns(body, first_record(body)) is not None
    fast = read(body + b"\n", True, monkeypatch)
    slow = read(body + b"\n", False, monkeypatch)
    assert fast == slow
    assert len(fast[0]) == LINES * 3 and fast[2] == LINES


def test_no_step_key_counts_lines_like_the_orjson_path(monkeypatch):
    body = b"\n".join(b'{"loss": %d.5, "acc": 0.%d}' % (i, i % 10) for i in range(80_000))
    assert jsonl_columns.uniform_columns(body, first_record(body)) is not None
    assert read(body + b"\n", True, monkeypatch) == read(body + b"\n", False, monkeypatch)


ODD_LINES = {
    "string value": b'{"step": 7, "time": 1.0, "loss": "1.5", "lr": 1, "tokens_per_s": 2}',
    "nested object": b'{"step": 7, "time": 1.0, "loss": {"a": 1}, "lr": 1, "tokens_per_s": 2}',
    "boolean": b'{"step": 7, "time": 1.0, "loss": true, "lr": 1, "tokens_per_s": 2}',
    "null": b'{"step": 7, "time": 1.0, "loss": null, "lr": 1, "tokens_per_s": 2}',
    "NaN token": b'{"step": 7, "time": 1.0, "loss": NaN, "lr": 1, "tokens_per_s": 2}',
    "other key instead": b'{"step": 7, "time": 1.0, "acc": 1.5, "lr": 1, "tokens_per_s": 2}',
    "huge number": b'{"step": 7, "time": 1.0, "loss": 1' + b"0" * 400 + b', "lr": 1, "tokens_per_s": 2}',
    "list value": b'{"step": 7, "time": 1.0, "loss": [1, 2], "lr": 1, "tokens_per_s": 2}',
    "not json": b'{"step": 7, "time": 1.0, "loss": 1.5, "lr": 1, "tokens_per_s": 2',
}


@pytest.mark.parametrize("case", sorted(ODD_LINES))
def test_a_single_odd_line_sends_the_chunk_to_the_orjson_path(monkeypatch, case):
    lines = uniform_body().split(b"\n")
    lines[LINES // 2] = ODD_LINES[case]
    body = b"\n".join(lines)
    assert jsonl_columns.uniform_columns(body, first_record(body)) is None
    fast = read(body + b"\n", True, monkeypatch)
    assert fast == read(body + b"\n", False, monkeypatch)
    assert fast[2] >= LINES - 1  # the odd line never stopped the rest


def test_small_chunks_are_left_to_orjson():
    body = uniform_body(100)
    assert len(body) < jsonl_columns.MIN_BYTES
    assert jsonl_columns.uniform_columns(body, first_record(body)) is None


def test_columns_are_float64_in_the_first_records_key_order():
    body = uniform_body()
    cols = jsonl_columns.uniform_columns(body, first_record(body))
    assert cols is not None and list(cols) == ["step", "time", "loss", "lr", "tokens_per_s"]
    assert all(c.dtype == np.float64 and len(c) == LINES for c in cols.values())
    assert cols["step"][-1] == LINES - 1


def test_orjson_path_parses_in_slices_with_the_same_result(monkeypatch):
    """Big chunks are parsed a slice at a time (the GUI thread gets the lock in between)."""
    from cockpit.ingest import jsonl

    lines = uniform_body(2000).split(b"\n")
    lines[700] = b'{"step": 700, "loss": NaN, "note": "x", "train": {"acc": 0.5}}'
    body = b"\n".join(lines) + b"\n"
    whole = read(body, False, monkeypatch)
    monkeypatch.setattr(jsonl, "SLICE", 1000)
    assert read(body, False, monkeypatch) == whole
