"""Measure `cockpit triage` on evals with planted failure causes; prints the table of
docs/triage.md.

    python scripts/eval_triage.py [--json]

Rows: offline mode, and LLM mode against the local test server (tests/llm_server.py) whose
scripted model reads the planted labels from the sample ids: a *test double*, so the LLM
rows measure Cockpit's pipeline given a model of known quality (capable: 4 % of labels
wrong, one planted category split into two names, one spurious category; perfect: none of
that; adverse: capable plus invalid JSON, rate limits, a timeout and a server error),
not a real model. Ground-truth fields are excluded from slicing and from the prompts.
Costs use gpt-4o-mini list prices ($0.15 / $0.60 per 1M tokens) on the server's token
counts (chars/4).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import LlmTestServer, PlantedModel  # noqa: E402

from cockpit.evals.loaders import load_eval  # noqa: E402
from cockpit.triage.cache import MemoryCache  # noqa: E402
from cockpit.triage.cost import CostBudget, Price  # noqa: E402
from cockpit.triage.endpoint import Endpoint  # noqa: E402
from cockpit.triage.llm import ChatClient  # noqa: E402
from cockpit.triage.pipeline import Triage, TriageConfig  # noqa: E402
from cockpit.triage.planted import score  # noqa: E402
from cockpit.triage.result import TriageResult  # noqa: E402

SETS = {
    "planted_failures (600 items)": ("sample_runs/evals/planted_failures",
                                     ["spanish_code_switching", "unit_arithmetic", "multi_hop"]),
    "triage (200 items)": ("sample_runs/evals/triage",
                           ["arithmetic_error", "hallucinated_entity", "wrong_language"]),
}
NOT_MODEL = {"empty_output", "truncated", "refusal", "error", "extraction_failure",
             "suspect_target", "label_noise", "grader_false_negative"}
IGNORE = ("planted_category", "not_model_error")
PRICE = Price(0.15, 0.60, "gpt-4o-mini list price")
ADVERSE = ["invalid_json", "ok", "rate_limit", "ok", "timeout", "ok", "server_error",
           "unknown_category"]


def _run_llm(run: Any, truth: dict[str, str], persona: str) -> tuple[TriageResult, float]:
    model = PlantedModel(truth, noise=0.0 if persona == "perfect" else 0.04,
                         spurious=persona != "perfect", split=persona != "perfect")
    script = ADVERSE if persona == "adverse" else []
    with LlmTestServer(model, script=script, timeout_sleep=1.5, retry_after="0.2") as srv:
        client = ChatClient(Endpoint(srv.base_url, "planted-test-model"), CostBudget(5.0, PRICE),
                            MemoryCache(), timeout=1.0, backoff=0.05)
        start = time.perf_counter()
        # The adverse script runs one request at a time so the same requests fail every run.
        config = TriageConfig(exclude_fields=IGNORE, concurrency=1 if persona == "adverse" else 4)
        result = Triage(run, config).run(client)
        return result, time.perf_counter() - start


def measure() -> list[dict[str, Any]]:
    rows = []
    for set_name, (folder, planted) in SETS.items():
        run = load_eval(glob.glob(str(ROOT / folder / "*.eval"))[0])
        truth = {str(s): str(m.get("planted_category", "none"))
                 for s, m in zip(run.table.sample_ids, run.table.metadata, strict=True)}
        modes: list[tuple[str, TriageResult, float]] = []
        start = time.perf_counter()
        modes.append(("offline", Triage(run, TriageConfig(exclude_fields=IGNORE)).run(),
                      time.perf_counter() - start))
        for persona in ("capable", "perfect", "adverse"):
            result, took = _run_llm(run, truth, persona)
            modes.append((f"LLM, test server ({persona})", result, took))
        for mode, result, took in modes:
            s = score(result, truth, planted, NOT_MODEL)
            n = result.n_model_errors
            tokens = (result.tokens["input"] + result.tokens["output"]) if result.tokens else None
            rows.append({
                "set": set_name, "mode": mode, "recovered": f"{s.recovered} of {len(planted)}",
                "macro_f1": round(s.macro_f1, 3),
                "invented": f"{len(s.invented)} of {s.n_produced}",
                "invented_share": round(s.invented_share, 3),
                "first_pass_precision": round(s.first_pass_precision, 3),
                "first_pass_recall": round(s.first_pass_recall, 3),
                "model_errors": n, "unlabelled": len(result.unlabelled),
                "tokens_per_1k_failures": round(tokens / n * 1000) if tokens and n else None,
                "cost_per_1k_failures_usd": round(result.cost_usd / n * 1000, 4)
                if result.cost_usd is not None and n else None,
                "calls": (result.calls or {}).get("calls"), "seconds": round(took, 2),
                "matches": {p: [m, round(f, 3)] for p, (m, f) in s.matches.items()},
                "per_category_f1": {p: round(f, 3) for p, f in s.per_category_f1.items()},
            })
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = ["set", "mode", "planted found", "macro-F1", "invented", "first pass P / R",
            "unlabelled", "tokens / 1k failures", "$ / 1k failures", "s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        tok = f"{r['tokens_per_1k_failures']:,}" if r["tokens_per_1k_failures"] else "0"
        cost = f"{r['cost_per_1k_failures_usd']:.4f}" if r["cost_per_1k_failures_usd"] is not None else "0"
        lines.append("| " + " | ".join([
            r["set"], r["mode"], r["recovered"], f"{r['macro_f1']:.2f}", r["invented"],
            f"{r['first_pass_precision']:.2f} / {r['first_pass_recall']:.2f}",
            str(r["unlabelled"]), tok, cost, f"{r['seconds']:.2f}"]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure triage on planted-failure evals.")
    parser.add_argument("--json", action="store_true", help="rows as JSON instead of a table")
    args = parser.parse_args()
    rows = measure()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows))
        for r in rows:
            print(f"- {r['set']}, {r['mode']}: matches {r['matches']}")


if __name__ == "__main__":
    main()
