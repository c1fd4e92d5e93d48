"""Write an Inspect AI `.eval` log (per-sample zip layout) deterministically.

Shared by the sample-eval generators: the same samples always give the same bytes.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any


def write_inspect_eval(path: Path, samples: list[dict[str, Any]], *, eval_id: str, run_id: str,
                       task: str, task_id: str, model: str, created: str, completed: str,
                       fixed_time: tuple[int, int, int, int, int, int],
                       reductions: bool = False) -> Path:
    """One epoch, scorer `match`; accuracy and stderr computed from the samples' grades."""
    n_correct = sum(1 for s in samples if s["scores"]["match"]["value"] == "C")
    acc = n_correct / len(samples)
    stderr = math.sqrt(acc * (1 - acc) / (len(samples) - 1))
    header = {
        "version": 2, "status": "success",
        "eval": {"eval_id": eval_id, "run_id": run_id, "created": created, "task": task,
                 "task_version": 0, "task_id": task_id,
                 "dataset": {"name": task, "samples": len(samples)},
                 "model": model, "config": {"epochs": 1}, "packages": {"inspect_ai": "0.3.285"},
                 "scorers": [{"name": "match", "options": {},
                              "metrics": [{"name": "inspect_ai/accuracy", "options": {}},
                                          {"name": "inspect_ai/stderr", "options": {}}]}]},
        "plan": {"name": "plan", "steps": [{"solver": "generate", "params": {}}]},
        "results": {"total_samples": len(samples), "completed_samples": len(samples),
                    "scores": [{"name": "match", "scorer": "match",
                                "scored_samples": len(samples), "unscored_samples": 0,
                                "metrics": {"accuracy": {"name": "accuracy", "value": acc},
                                            "stderr": {"name": "stderr", "value": stderr}}}]},
        "stats": {"started_at": created, "completed_at": completed},
    }

    def put(zf: zipfile.ZipFile, name: str, obj: Any) -> None:
        info = zipfile.ZipInfo(name, date_time=fixed_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, json.dumps(obj, ensure_ascii=False))

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        put(zf, "_journal/start.json", {k: header[k] for k in ("version", "eval", "plan")})
        for s in samples:
            put(zf, f"samples/{s['id']}_epoch_1.json", s)
        put(zf, "summaries.json", [{"id": s["id"], "epoch": 1, "input": s["input"],
                                    "target": s["target"], "metadata": s["metadata"],
                                    "scores": s["scores"]} for s in samples])
        if reductions:
            put(zf, "reductions.json", [{"scorer": "match", "samples": [
                {"value": 1.0 if s["scores"]["match"]["value"] == "C" else 0.0,
                 "sample_id": s["id"]} for s in samples]}])
        put(zf, "header.json", header)
    return path
