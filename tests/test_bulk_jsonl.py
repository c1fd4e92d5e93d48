"""The bulk path (DuckDB's parallel JSON reader for big finished logs) must store exactly what
the streaming reader stores, and step aside for anything that is not uniform."""

import json
import math

import pytest

from cockpit.ingest import bulk_jsonl
from cockpit.monitor.engine import import_paths
from cockpit.store.db import connect


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    monkeypatch.setattr(bulk_jsonl, "MIN_BYTES", 1)


def table(db):
    con = connect(db, read_only=True)
    try:
        return con.execute("SELECT key, step, ts, value, source FROM metrics ORDER BY key, step").fetchall()
    finally:
        con.close()


def write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x[:3] == y[:3] and x[4] == y[4]
        assert (math.isnan(x[3]) and math.isnan(y[3])) or x[3] == y[3]


def streamed(tmp_path, run_dir, monkeypatch):
    monkeypatch.setattr(bulk_jsonl, "MIN_BYTES", 10**12)
    db = tmp_path / "streamed.duckdb"
    import_paths([run_dir], db)
    monkeypatch.setattr(bulk_jsonl, "MIN_BYTES", 1)
    return table(db)


def test_uniform_file_goes_bulk_and_matches_streaming(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "r"
    write(run / "metrics.jsonl", [{"step": i, "time": 1.7e9 + i, "loss": 1 / (i + 1),
                                   "lr": float("nan") if i == 3 else 1e-3} for i in range(500)])
    assert bulk_jsonl.plan(run / "metrics.jsonl") is not None
    calls = []
    original = bulk_jsonl.load
    monkeypatch.setattr(bulk_jsonl, "load", lambda *a, **k: calls.append(1) or original(*a, **k))
    db = tmp_path / "bulk.duckdb"
    import_paths([run], db)
    assert calls == [1]
    got = table(db)
    same(got, streamed(tmp_path, run, monkeypatch))
    assert sum(1 for r in got if r[0] == "lr" and math.isnan(r[3])) == 1
    write(run / "metrics.jsonl", [{"step": 500, "time": 1.7e9 + 500, "loss": 0.1, "lr": 1e-3}])
    import_paths([run], db)  # continues after the bulk-loaded bytes
    assert len(table(db)) == len(got) + 2


@pytest.mark.parametrize("records", [
    # a key swapped for another: same number of keys per line, but not uniform
    [{"step": i, "loss": 1.0, ("a" if i % 2 else "b"): 2.0} for i in range(200)],
    # a value missing (null) on one line
    [{"step": i, "loss": None if i == 7 else 1.0} for i in range(200)],
    # a string value
    [{"step": i, "loss": 1.0, "tag": "x"} for i in range(200)],
    # nested objects
    [{"step": i, "train": {"loss": 1.0}} for i in range(200)],
])
def test_anything_not_uniform_falls_back_to_streaming_with_the_same_result(tmp_path, monkeypatch, records):
    run = tmp_path / "runs" / "r"
    write(run / "metrics.jsonl", records)
    db = tmp_path / "bulk.duckdb"
    import_paths([run], db)
    same(table(db), streamed(tmp_path, run, monkeypatch))


def test_half_written_last_line_is_not_bulk_loaded(tmp_path):
    run = tmp_path / "runs" / "r"
    write(run / "metrics.jsonl", [{"step": i, "loss": 1.0} for i in range(100)])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 100, "lo')
    assert bulk_jsonl.plan(run / "metrics.jsonl") is None
