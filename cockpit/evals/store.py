"""Rows of the `evals` and `eval_samples` tables (SPEC §3) for a loaded run, and back.

Writing goes through the store's single writer (`StoreWriter.put_eval`), which replaces the
rows of an eval id, so loading the same file twice stores it once.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import duckdb
import orjson

from cockpit.evals.model import EvalRun, ReportedMetric, SampleTableBuilder


class EvalSink(Protocol):
    def put_eval(self, eval_row: dict[str, Any], samples: list[dict[str, Any]]) -> None: ...


def eval_row(run: EvalRun) -> dict[str, Any]:
    return {"eval_id": run.eval_id, "name": run.name, "path": run.path, "model": run.model,
            "created_at": run.created_at, "format": run.format, "task": run.task,
            "n_samples": len(run), "results_only": run.results_only,
            "reported": orjson.dumps({k: {"value": m.value, "stderr": m.stderr, "n": m.n}
                                      for k, m in run.reported.items()}).decode()}


def sample_rows(run: EvalRun) -> list[dict[str, Any]]:
    t = run.table
    eid = run.eval_id

    def num(x: float) -> float | None:
        return None if math.isnan(x) else float(x)

    rows = []
    for i in range(len(t)):
        c = t.correct[i]
        rows.append({
            "eval_id": eid, "sample_id": t.sample_ids[i], "input": t.inputs[i],
            "target": t.targets[i], "output": t.outputs[i], "score": num(t.scores[i]),
            "correct": None if math.isnan(c) else bool(c == 1.0),
            "metadata": orjson.dumps(t.metadata[i], default=str).decode(),
            "confidence": num(t.confidences[i]),
        })
    return rows


def store_eval(sink: EvalSink, run: EvalRun) -> str:
    """Queue the run on the writer; returns its eval id (call `flush()` to wait)."""
    sink.put_eval(eval_row(run), sample_rows(run))
    return run.eval_id


def load_stored_eval(con: duckdb.DuckDBPyConnection, eval_id: str) -> EvalRun | None:
    """A stored eval back as a run (no per-choice confidences: the table does not keep them)."""
    head = con.execute("SELECT name, path, model, created_at, format, task, reported, "
                       "results_only FROM evals WHERE eval_id = ?", [eval_id]).fetchone()
    if head is None:
        return None
    builder = SampleTableBuilder()
    cur = con.execute("SELECT sample_id, input, target, output, score, correct, metadata, "
                      "confidence FROM eval_samples WHERE eval_id = ? ORDER BY rowid", [eval_id])
    for sid, inp, tgt, out, score, correct, meta, conf in cur.fetchall():
        builder.add(str(sid), inp or "", tgt or "", out or "", score, correct,
                    orjson.loads(meta) if meta else {}, conf)
    table = builder.build()
    reported = {k: ReportedMetric(v["value"], v.get("stderr"), v.get("n"))
                for k, v in (orjson.loads(head[6]) if head[6] else {}).items()}
    return EvalRun(name=head[0], path=head[1], model=head[2], created_at=head[3],
                   format=head[4] or "stored", table=table, task=head[5], reported=reported,
                   results_only=bool(head[7]))
