"""The first pass, without an LLM: failures that are not the model's reasoning going wrong.

An engineer triaging an eval first wants the plumbing out of the way: the sample errored or
timed out, the output is empty or cut off, the model refused, the scorer missed a right
answer (extraction failure), or the stored target itself looks wrong. Each rule is cheap,
stated in `evidence`, and errs towards keeping a failure as a model error.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from cockpit.evals.model import EvalRun
from cockpit.triage.language import words

KINDS = ("error", "empty_output", "truncated", "refusal", "suspect_target", "extraction_failure")

_ERROR_KEYS = ("output:error", "error")
_STOP_KEYS = ("output:stop_reason", "stop_reason", "finish_reason", "output:finish_reason")
_TRUNCATED_STOPS = {"max_tokens", "length", "model_length", "max_output_tokens"}

_REFUSAL = [re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:i'?m|i am)\s+(?:sorry|afraid)\b.{0,60}?\b(?:can(?:no|')t|cannot|unable|not able|won'?t)\b",
    r"\bi\s+(?:can(?:no|')t|cannot|won'?t|am unable to|am not able to|must decline to)\s+"
    r"(?:help|assist|provide|comply|answer|share|do that|fulfil|fulfill)",
    r"\bas an ai\b.{0,80}?\b(?:can(?:no|')t|cannot|unable|not able)\b",
    r"\blo siento\b.{0,60}?\bno puedo\b",
    r"\bes tut mir leid\b.{0,80}?\b(?:nicht|kann)\b",
    r"\bd[ée]sol[ée]e?\b.{0,60}?\bne (?:peux|pouvons) pas\b",
)]
_ANSWER_LINE = re.compile(
    r"(?im)^[\s*#>]*(?:final\s+answer|answer|respuesta|antwort|r[ée]ponse)\s*[:：]\s*(.+?)\s*$")
_FUNCTION_WORDS = words(
    "the a an and or of to in on at for with by from that which who is are was be as than then "
    "so but if we our this these its into el la los las de del y o que en con por para un una "
    "der die das und oder zu mit von den dem le les des et ou du au pour avec")
_EXPR = re.compile(r"(?<![\d.])(-?\d{1,9})\s*([+\-*/×x])\s*(-?\d{1,9})(?![\d.])")


@dataclass(slots=True)
class FirstPass:
    """Per failure (positions into the run): the kind of non-model error, or None."""

    failures: np.ndarray  # int positions of failed samples in the run
    kinds: list[str | None]
    evidence: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def model_errors(self) -> np.ndarray:
        keep = np.array([k is None for k in self.kinds], dtype=bool)
        return self.failures[keep] if len(self.failures) else self.failures

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for k in self.kinds:
            if k is not None:
                out[k] = out.get(k, 0) + 1
        return {k: out[k] for k in KINDS if k in out}


def failed_positions(run: EvalRun) -> tuple[np.ndarray, list[str]]:
    """Failures: samples graded wrong; without binary grades, scores below 0.5 (noted)."""
    t = run.table
    wrong = np.flatnonzero(t.correct == 0.0)
    if len(wrong) or np.any(t.correct == 1.0):
        return wrong, []
    scored = ~np.isnan(t.scores)
    if not scored.any():
        return wrong, ["no sample has a grade or a score: nothing to triage"]
    return np.flatnonzero(scored & (t.scores < 0.5)), [
        "no binary grades: failures are samples with score < 0.5"]


def normalize(text: str) -> str:
    """Lower-cased, markdown and quotes stripped, inner whitespace collapsed, no final dot."""
    text = text.replace("\u2019", "'").lower()
    text = re.sub(r"[*_`\"“”«»]", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" .,;:!?")


def _as_number(text: str) -> float | None:
    cleaned = text.replace(",", "").replace("$", "").replace("€", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def same_answer(a: str, b: str) -> bool:
    na, nb = normalize(a), normalize(b)
    if not na or not nb:
        return False
    if na == nb:
        return True
    x, y = _as_number(na), _as_number(nb)
    return x is not None and y is not None and abs(x - y) <= 1e-9 * max(1.0, abs(x))


def extracted_answer(output: str, meta: dict[str, object]) -> str | None:
    """The answer the output commits to: an `ANSWER:` line, else a short scorer answer."""
    lines = _ANSWER_LINE.findall(output)
    if lines:
        return str(lines[-1])
    answer = meta.get("output:answer")
    if isinstance(answer, str) and 0 < len(answer) <= 60 and answer.strip() != output.strip():
        return answer
    return None


def _contains(haystack: str, needle: str) -> bool:
    n, h = normalize(needle), normalize(haystack)
    if not n:
        return False
    if len(n) < 2 and _as_number(n) is None and len(h.split()) > 3:
        return False  # a one-letter target is in almost any sentence
    return re.search(rf"(?<![\w.]){re.escape(n)}(?![\w]|\.\d)", h) is not None


def _truncated_text(output: str) -> bool:
    text = output.rstrip()
    if len(text) < 40 or text.count("```") % 2 == 1:
        return len(text) >= 40
    if text[-1] in ".!?)]}\"'`”»。":
        return False
    last = re.findall(r"[^\W\d_]+", text[-30:].lower())
    return text[-1] in ",:;-(" or bool(last) and last[-1] in _FUNCTION_WORDS


def _arithmetic(inp: str) -> float | None:
    found = _EXPR.findall(inp)
    if len(found) != 1:
        return None
    a, op, b = int(found[0][0]), found[0][1], int(found[0][2])
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op in "*×x":
        return a * b
    return a / b if b else None


def first_pass(run: EvalRun, failures: np.ndarray | None = None) -> FirstPass:
    """Classify every failure as one non-model-error kind or None (a model error)."""
    notes: list[str] = []
    if failures is None:
        failures, notes = failed_positions(run)
    t = run.table
    by_input: dict[str, list[int]] = defaultdict(list)
    for i, inp in enumerate(t.inputs.tolist()):
        by_input[normalize(str(inp))].append(i)
    kinds: list[str | None] = []
    evidence: list[str] = []
    for pos in failures.tolist():
        kind, why = _classify(run, int(pos), by_input)
        kinds.append(kind)
        evidence.append(why)
    return FirstPass(np.asarray(failures, dtype=np.int64), kinds, evidence, notes)


def _classify(run: EvalRun, i: int, by_input: dict[str, list[int]]) -> tuple[str | None, str]:
    t = run.table
    meta = t.metadata[i]
    output, target = str(t.outputs[i]), str(t.targets[i])
    for key in _ERROR_KEYS:
        if meta.get(key):
            return "error", f"the sample errored: {str(meta[key])[:120]}"
    if not output.strip():
        return "empty_output", "the output is empty"
    answer = extracted_answer(output, meta)
    for key in _STOP_KEYS:
        if str(meta.get(key, "")).lower() in _TRUNCATED_STOPS:
            return "truncated", f"stop reason {meta[key]}"
    head = output[:400].replace("\u2019", "'")
    if answer is not None and (len(answer) > 80 or len(answer.split()) > 8):
        answer = None  # an "answer" line that is really prose
    if answer is None:
        for pattern in _REFUSAL:
            m = pattern.search(head)
            if m:
                return "refusal", f"refusal phrase {m.group(0)[:60]!r}"
        if _truncated_text(output):
            return "truncated", "the output stops mid-sentence with no answer"
    suspect = _suspect_target(run, i, answer if answer is not None else output, by_input)
    if suspect:
        return "suspect_target", suspect
    if answer is not None:
        if same_answer(answer, target):
            return "extraction_failure", f"answer {answer[:40]!r} equals the target after normalizing"
    elif _contains(output, target):
        return "extraction_failure", "the target appears in the output but no answer was extracted"
    return None, ""


def _suspect_target(run: EvalRun, i: int, answer: str, by_input: dict[str, list[int]]) -> str:
    t = run.table
    target, inp = str(t.targets[i]), str(t.inputs[i])
    if not target.strip():
        return "the target is empty"
    for j in by_input.get(normalize(inp), []):
        other = str(t.targets[j])
        if j != i and not same_answer(other, target) and same_answer(answer, other):
            return (f"the same input has target {other[:40]!r} in sample {t.sample_ids[j]}, "
                    "which the output gives")
    value = _arithmetic(inp)
    if value is not None:
        got, want = _as_number(normalize(answer)), _as_number(normalize(target))
        if got is not None and want is not None and abs(got - value) < 1e-9 and abs(want - value) > 1e-9:
            shown = int(value) if float(value).is_integer() else value
            return f"the input's expression evaluates to {shown}, as the output says, not the target {target[:20]!r}"
    return ""
