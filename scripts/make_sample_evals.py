"""Write the bundled sample evals under sample_runs/evals/ (deterministic: same bytes each run).

1. `mcqa/`: two models (model-a-7b, model-b-7b) on the same 1,000 multiple-choice items, as
   lm-evaluation-harness `--log_samples` output (results_*.json + samples_*.jsonl), with
   metadata (language, code_switching, topic, difficulty) and per-choice log-likelihoods.
   Planted: model B collapses on Spanish code-switched items (language=es,
   code_switching=true: ~30% vs ~75% for A) and is over-confident there.
2. `triage/`: an Inspect AI `.eval` log (per-sample layout) of 200 short-answer items where
   the failures carry their planted cause in `metadata.planted_category`, including two
   kinds that are not model errors (label noise, grader false negatives).

Run: `python scripts/make_sample_evals.py [--out DIR] [--tool-logs]`. `--tool-logs` also
regenerates `tool_logs/inspect/` through inspect_ai itself (needs `pip install inspect_ai`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
from pathlib import Path
from typing import Any

from inspect_eval_file import write_inspect_eval

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "sample_runs" / "evals"
SEED = 1234
N_ITEMS = 1000
N_TRIAGE = 200
TIMESTAMP = "2026-05-04T10-12-33.418220"
DATE = 1777889553.4  # 2026-05-04 10:12:33 UTC

COUNTRIES = [("France", "Paris"), ("Spain", "Madrid"), ("Germany", "Berlin"), ("Italy", "Rome"),
             ("Portugal", "Lisbon"), ("Poland", "Warsaw"), ("Austria", "Vienna"),
             ("Greece", "Athens"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
             ("Egypt", "Cairo"), ("Japan", "Tokyo"), ("Kenya", "Nairobi"), ("Peru", "Lima"),
             ("Chile", "Santiago"), ("Canada", "Ottawa")]
ELEMENTS = [("gold", "Au"), ("silver", "Ag"), ("iron", "Fe"), ("sodium", "Na"),
            ("potassium", "K"), ("lead", "Pb"), ("tin", "Sn"), ("copper", "Cu"),
            ("mercury", "Hg"), ("helium", "He"), ("neon", "Ne"), ("zinc", "Zn")]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

TEMPLATES = {
    "arithmetic": {"en": "What is {a} + {b}?", "es": "¿Cuánto es {a} + {b}?",
                   "de": "Was ist {a} + {b}?", "fr": "Combien font {a} + {b} ?",
                   "es_cs": "¿Cuánto es {a} + {b}, like, in total?"},
    "units": {"en": "How many centimetres are in {a} metres?",
              "es": "¿Cuántos centímetros hay en {a} metros?",
              "de": "Wie viele Zentimeter sind {a} Meter?",
              "fr": "Combien de centimètres dans {a} mètres ?",
              "es_cs": "¿Cuántos centimeters hay en {a} meters, exactly?"},
    "dates": {"en": "Which day comes {a} days after Monday?",
              "es": "¿Qué día es {a} días después del lunes?",
              "de": "Welcher Tag ist {a} Tage nach Montag?",
              "fr": "Quel jour est {a} jours après lundi ?",
              "es_cs": "¿Qué día es {a} days after Monday, bro?"},
    "geography": {"en": "What is the capital of {a}?", "es": "¿Cuál es la capital de {a}?",
                  "de": "Was ist die Hauptstadt von {a}?", "fr": "Quelle est la capitale de {a} ?",
                  "es_cs": "¿Cuál es la capital city de {a}, you know?"},
    "science": {"en": "What is the chemical symbol for {a}?",
                "es": "¿Cuál es el símbolo químico del {a}?",
                "de": "Was ist das chemische Symbol für {a}?",
                "fr": "Quel est le symbole chimique de {a} ?",
                "es_cs": "¿Cuál es el chemical symbol del {a}, please?"},
}
BASE = {"easy": 0.88, "medium": 0.74, "hard": 0.55}


def _item(i: int, rng: random.Random) -> dict[str, Any]:
    language = rng.choices(["en", "es", "de", "fr"], weights=[40, 25, 20, 15])[0]
    code_switching = rng.random() < (0.45 if language == "es" else 0.04)
    topic = rng.choice(list(TEMPLATES))
    difficulty = rng.choices(["easy", "medium", "hard"], weights=[35, 40, 25])[0]
    if topic == "arithmetic":
        a, b = rng.randint(10, 99 if difficulty != "hard" else 999), rng.randint(10, 99)
        gold = str(a + b)
        wrong = {str(a + b + d) for d in (-10, -1, 1, 10, 2)}
        fill: Any = {"a": a, "b": b}
    elif topic == "units":
        a = rng.randint(2, 40)
        gold = str(a * 100)
        wrong = {str(a * 10), str(a * 1000), str(a)}
        fill = {"a": a}
    elif topic == "dates":
        a = rng.randint(1, 20)
        gold = DAYS[a % 7]
        wrong = set(DAYS) - {gold}
        fill = {"a": a}
    elif topic == "geography":
        country, gold = rng.choice(COUNTRIES)
        wrong = {c for _, c in COUNTRIES} - {gold}
        fill = {"a": country}
    else:
        element, gold = rng.choice(ELEMENTS)
        wrong = {s for _, s in ELEMENTS} - {gold}
        fill = {"a": element}
    key = "es_cs" if code_switching and language == "es" else language
    if code_switching and language != "es":
        key = language  # rare mixed items in other languages stay mostly monolingual
    question = TEMPLATES[topic][key].format(**fill)
    choices = rng.sample(sorted(wrong - {gold}), 3) + [gold]
    rng.shuffle(choices)
    return {"question": question, "choices": choices,
            "answer": choices.index(gold), "language": language,
            "code_switching": code_switching, "topic": topic, "difficulty": difficulty}


def _p_correct(doc: dict[str, Any], model: str) -> float:
    p = BASE[doc["difficulty"]]
    if model == "b":
        p += 0.03  # B is a little better overall...
        if doc["language"] == "es" and doc["code_switching"]:
            p = 0.30  # ...but collapses on Spanish code-switched prompts
    return min(p, 0.97)


def _confidence(doc: dict[str, Any], model: str, p: float, rng: random.Random) -> float:
    if model == "a":
        c = p + rng.gauss(0, 0.08)  # roughly calibrated
    else:
        nominal = BASE[doc["difficulty"]] + 0.03
        c = nominal + 0.08 + rng.gauss(0, 0.06)  # over-confident, blind to its weak slice
    return min(0.995, max(0.36, c))


def _logliks(chosen: int, c: float, rng: random.Random) -> list[float]:
    rest = [1.0 + rng.uniform(-0.3, 0.3) for _ in range(3)]
    total = sum(rest)
    probs = [(1 - c) * r / total for r in rest]
    probs.insert(chosen, c)
    shift = -rng.uniform(2.0, 9.0)  # log-likelihoods of continuations are far below 0
    return [round(math.log(p) + shift, 4) for p in probs]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _lm_eval_row(doc_id: int, doc: dict[str, Any], model: str, rng: random.Random) -> dict[str, Any]:
    p = _p_correct(doc, model)
    correct = rng.random() < p
    gold = doc["answer"]
    chosen = gold if correct else rng.choice([i for i in range(4) if i != gold])
    c = _confidence(doc, model, p, rng)
    lls = _logliks(chosen, c, rng)
    context = f"Q: {doc['question']}\nA:"
    args = {f"gen_args_{i}": {"arg_0": context, "arg_1": f" {choice}"}
            for i, choice in enumerate(doc["choices"])}
    resps = [[[str(ll), "False"]] for ll in lls]
    acc = 1.0 if correct else 0.0
    return {
        "doc_id": doc_id, "doc": doc, "target": str(gold), "arguments": args,
        "resps": resps, "filtered_resps": [r[0] for r in resps], "filter": "none",
        # No doc/prompt/target hashes: lm-eval writes them only since 0.4.3, and leaving
        # them out keeps the bundled samples under 2 MB.
        "metrics": ["acc", "acc_norm"], "acc": acc, "acc_norm": acc,
    }


def _results(model_id: str, accs: list[float], task: str) -> dict[str, Any]:
    n = len(accs)
    mean = sum(accs) / n
    stderr = math.sqrt(sum((a - mean) ** 2 for a in accs) / (n - 1) / n)
    return {
        "results": {task: {"alias": task, "acc,none": mean, "acc_stderr,none": stderr,
                           "acc_norm,none": mean, "acc_norm_stderr,none": stderr}},
        "group_subtasks": {task: []},
        "configs": {task: {"task": task, "dataset_path": "json", "test_split": "test",
                           "output_type": "multiple_choice",
                           "doc_to_text": "Q: {{question}}\nA:",
                           "doc_to_choice": "{{choices}}", "doc_to_target": "answer",
                           "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}]}},
        "versions": {task: 1.0}, "n-shot": {task: 0},
        "higher_is_better": {task: {"acc": True, "acc_norm": True}},
        "n-samples": {task: {"original": n, "effective": n}},
        "config": {"model": "hf", "model_args": f"pretrained=cockpit/{model_id}",
                   "batch_size": 8, "device": "cuda:0", "limit": None},
        "date": DATE, "lm_eval_version": "0.4.2", "model_name": f"cockpit/{model_id}",
        "model_name_sanitized": f"cockpit__{model_id}",
    }


def make_mcqa(out: Path) -> None:
    rng = random.Random(SEED)
    docs = [_item(i, rng) for i in range(N_ITEMS)]
    task = "cockpit_mcqa"
    for model, model_id in (("a", "model-a-7b"), ("b", "model-b-7b")):
        folder = out / "mcqa" / model_id
        folder.mkdir(parents=True, exist_ok=True)
        mrng = random.Random(f"{SEED}-{model}")
        rows = [_lm_eval_row(i, doc, model, mrng) for i, doc in enumerate(docs)]
        with (folder / f"samples_{task}_{TIMESTAMP}.jsonl").open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        results = _results(model_id, [r["acc"] for r in rows], task)
        (folder / f"results_{TIMESTAMP}.json").write_text(json.dumps(results, indent=2) + "\n")


# ---- planted failures (Inspect .eval) ------------------------------------------------
FAILURES = {
    "refusal": 11, "format_violation": 11, "truncated": 10, "wrong_language": 11,
    "arithmetic_error": 13, "hallucinated_entity": 12,
    "label_noise": 6, "grader_false_negative": 6,
}
NOT_MODEL_ERRORS = {"label_noise", "grader_false_negative"}


def _qa_item(i: int, rng: random.Random) -> dict[str, Any]:
    language = rng.choices(["en", "es", "de"], weights=[55, 30, 15])[0]
    topic = rng.choice(["arithmetic", "geography", "science"])
    if topic == "arithmetic":
        a, b = rng.randint(10, 500), rng.randint(10, 500)
        question, answer = TEMPLATES["arithmetic"][language].format(a=a, b=b), str(a + b)
    elif topic == "geography":
        country, answer = rng.choice(COUNTRIES)
        question = TEMPLATES["geography"][language].format(a=country)
    else:
        element, answer = rng.choice(ELEMENTS)
        question = TEMPLATES["science"][language].format(a=element)
    return {"id": f"t{i:03d}", "question": question, "answer": answer, "language": language,
            "topic": topic}


def _failure_output(category: str, item: dict[str, Any], rng: random.Random) -> tuple[str, str, str]:
    """(output, target as graded, stop_reason) for a planted failure."""
    ans = item["answer"]
    if category == "refusal":
        return "I'm sorry, but I can't help with that request.", ans, "stop"
    if category == "format_violation":
        return (f"Let me think step by step. The question asks for a value and after "
                f"careful consideration I believe it is {ans}, give or take.", ans, "stop")
    if category == "truncated":
        return "ANSWER: Let me work through this carefully. First we note that the", ans, "max_tokens"
    if category == "wrong_language":
        text = {"es": "La respuesta es", "de": "Die Antwort ist"}.get(item["language"], "Réponse :")
        return f"{text} {ans}", ans, "stop"
    if category == "arithmetic_error":
        if item["topic"] == "arithmetic":
            return f"ANSWER: {int(ans) + rng.choice([-10, -1, 1, 10, 100])}", ans, "stop"
        return f"ANSWER: {rng.randint(2, 999)}", ans, "stop"
    if category == "hallucinated_entity":
        fake = rng.choice(["Valdoria", "Mirestad", "Zr", "Qx", "Port Anselm"])
        return f"ANSWER: {fake}", ans, "stop"
    if category == "label_noise":  # the model is right, the stored target is wrong
        wrong_target = rng.choice([c for _, c in COUNTRIES if c != ans] + ["42"])
        return f"ANSWER: {ans}", wrong_target, "stop"
    # grader_false_negative: right answer, graded wrong by a strict exact match
    return f"ANSWER: {ans.lower()}.", ans, "stop"


def _inspect_sample(item: dict[str, Any], category: str, rng: random.Random) -> dict[str, Any]:
    if category == "none":
        output, target, stop = f"ANSWER: {item['answer']}", item["answer"], "stop"
        value = "C"
    else:
        output, target, stop = _failure_output(category, item, rng)
        value = "I"
    if category == "wrong_language" and item["language"] == "en":
        value = "I"
    meta = {"language": item["language"], "topic": item["topic"], "planted_category": category,
            "not_model_error": category in NOT_MODEL_ERRORS}
    reply = {"id": f"m{item['id']}a", "content": output, "source": "generate",
             "role": "assistant", "model": "cockpit/model-b-7b"}
    usage = {"input_tokens": len(item["question"]) // 4 + 1, "output_tokens": len(output) // 4 + 1}
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    return {
        "id": item["id"], "epoch": 1, "input": item["question"], "target": target,
        # No `messages`: they repeat input and output, and the file stays small.
        "output": {"model": "cockpit/model-b-7b",
                   "choices": [{"message": reply, "stop_reason": stop}],
                   "completion": output, "usage": usage},
        "scores": {"match": {"value": value, "answer": output.removeprefix("ANSWER: "),
                             "explanation": output}},
        "metadata": meta, "store": {}, "events": [],
        "model_usage": {"cockpit/model-b-7b": usage},
        "uuid": _sha(item["id"])[:22], "error_retries": [], "attachments": {},
    }


def make_triage(out: Path) -> None:
    rng = random.Random(SEED + 7)
    items = [_qa_item(i, rng) for i in range(N_TRIAGE)]
    categories = [c for c, k in FAILURES.items() for _ in range(k)]
    categories += ["none"] * (len(items) - len(categories))
    rng.shuffle(categories)
    samples = [_inspect_sample(item, cat, rng) for item, cat in zip(items, categories, strict=True)]
    write_inspect_eval(
        out / "triage" / "2026-05-04T11-02-10+00-00_cockpit-short-qa_cockpitShortQa.eval",
        samples, eval_id="cockpitTriageEval0001", run_id="cockpitTriageRun0001",
        task="cockpit_short_qa", task_id="cockpitShortQa", model="cockpit/model-b-7b",
        created="2026-05-04T11:02:10+00:00", completed="2026-05-04T11:04:51+00:00",
        fixed_time=(2026, 5, 4, 11, 2, 10), reductions=True)


# ---- real tool logs (need inspect_ai) -------------------------------------------------
def run_inspect_tiny(folder: Path, fmt: str, epochs: int, log_samples: bool = True) -> None:
    """Inspect's own `eval` of four items with its offline mockllm model, logged to `folder`."""
    import inspect_ai.model._model as model_module
    import inspect_ai.model._tokens as tokens
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    # Token counting downloads a tiktoken vocabulary; offline, estimate from length instead.
    tokens.count_text_tokens = lambda text: max(1, len(text) // 4)
    model_module.count_text_tokens = tokens.count_text_tokens
    answers = {"What is 2+2?": "The answer is 4", "Capital of France?": "Lyon",
               "Say hello": "hello there", "Symbol for gold?": "Au"}

    def reply(messages: Any, tools: Any, tool_choice: Any, config: Any) -> Any:
        return ModelOutput.from_content("mockllm/model", answers[messages[-1].text])

    dataset = [
        Sample(id="q1", input="What is 2+2?", target="4", metadata={"topic": "math", "language": "en"}),
        Sample(id="q2", input="Capital of France?", target="Paris",
               metadata={"topic": "geo", "language": "en"}),
        Sample(id=3, input="Say hello", target="hello", metadata={"topic": "misc", "language": "es"}),
        Sample(id="q4", input="Symbol for gold?", target="Ag",
               metadata={"topic": "science", "language": "en"}),
    ]
    task = Task(dataset=dataset, solver=[generate()], scorer=includes(), name="tiny")
    inspect_eval(task, model="mockllm/model", model_args={"custom_outputs": reply},
                 log_dir=str(folder), log_format=fmt, display="none", epochs=epochs,
                 log_samples=log_samples)


def make_inspect_tool_logs(out: Path) -> None:
    """Logs written by inspect_ai itself with its mockllm model (offline)."""
    from inspect_ai.log._recorders.chunked import convert_eval_logs_to_chunked

    folder = out / "tool_logs" / "inspect"
    folder.mkdir(parents=True, exist_ok=True)
    run_inspect_tiny(folder / "eval", "eval", epochs=2)
    run_inspect_tiny(folder / "json", "json", epochs=1)
    for log in sorted((folder / "eval").glob("*.eval")):
        convert_eval_logs_to_chunked(str(log), str(folder / "chunked"), overwrite=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--tool-logs", action="store_true",
                        help="also regenerate tool_logs/inspect through inspect_ai")
    args = parser.parse_args()
    make_mcqa(args.out)
    make_triage(args.out)
    if args.tool_logs:
        make_inspect_tool_logs(args.out)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
