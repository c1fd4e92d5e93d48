"""Features Cockpit derives from the text itself, used as extra slice fields.

Evals rarely record "this question mixes two languages" or "this input is three times
longer than usual", but those are classic reasons for failure. Derived fields are named
`derived:<what>` and sliced like metadata, in both triage modes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from cockpit.evals.model import EvalRun
from cockpit.triage.language import UNDETERMINED, LanguageDetector, detector

PREFIX = "derived:"
LANGUAGE = "derived:language"
CODE_SWITCHED = "derived:code_switched"
INPUT_LENGTH = "derived:input_length"
NUMBERS = "derived:numbers"
ANSWER_LANGUAGE = "derived:answer_language"

# Values that are findings (the rest - "false", "typical", ... - are the unremarkable state).
FINDINGS = {CODE_SWITCHED: {"true"}, INPUT_LENGTH: {"long", "short"},
            NUMBERS: {"several"}, ANSWER_LANGUAGE: {"differs"}}
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\w.]*\d)")
_WORDS = re.compile(r"\S+")


@dataclass(slots=True)
class DerivedFeatures:
    positions: np.ndarray  # positions into the run the columns are aligned with
    columns: dict[str, np.ndarray]
    detector: str
    median_words: float
    languages: list[str]

    def describe(self, field: str, value: str) -> str:
        """A plain sentence for a derived field value (used in offline definitions)."""
        if field == CODE_SWITCHED:
            return f"the input mixes languages ({'+'.join(self.languages[:3])}) within one text"
        if field == INPUT_LENGTH:
            if value == "long":
                return f"the input is long (over {2 * self.median_words:.0f} words, twice the median)"
            return f"the input is short (under {self.median_words / 2:.0f} words, half the median)"
        if field == NUMBERS:
            return "the input holds several numbers (calculation or unit questions)"
        if field == ANSWER_LANGUAGE:
            return "the output is in another language than the input"
        if field == LANGUAGE:
            return f"the input is in language {value!r}"
        return f"{field} = {value}"


def derive_features(run: EvalRun, positions: np.ndarray,
                    lang: LanguageDetector | None = None) -> DerivedFeatures:
    lang = lang or detector()
    t = run.table
    all_words = np.fromiter((len(_WORDS.findall(str(s))) for s in t.inputs.tolist()),
                            dtype=np.float64, count=len(t))
    median = float(np.median(all_words)) if len(all_words) else 0.0
    idx = np.asarray(positions, dtype=np.int64)
    inputs = [str(t.inputs[i]) for i in idx.tolist()]
    outputs = [str(t.outputs[i]) for i in idx.tolist()]
    detected = [lang.language(s) for s in inputs]
    langs = [code for code, _ in detected]
    counts = Counter(code for code in langs if code != UNDETERMINED)
    floor = max(2, int(0.03 * len(langs)))
    candidates = [code for code, c in counts.most_common(6) if c >= floor]
    switched = [lang.code_switch(s, candidates).switched for s in inputs]
    length = []
    for i in idx.tolist():
        words = all_words[i]
        length.append("long" if median and words > 2 * median else
                      "short" if median and words < median / 2 else "typical")
    numbers = []
    for s in inputs:
        n = len(_NUMBER.findall(s))
        numbers.append("none" if n == 0 else "one" if n == 1 else "several")
    answer_lang = []
    for (code, prob), out in zip(detected, outputs, strict=True):
        if code == UNDETERMINED or prob < 0.9 or len(_WORDS.findall(out)) < 3:
            answer_lang.append("n/a")
            continue
        out_code, out_prob = lang.language(out)
        answer_lang.append("differs" if out_prob >= 0.9 and out_code not in (code, UNDETERMINED)
                           else "matches")
    columns = {
        LANGUAGE: np.array(langs, dtype=object),
        CODE_SWITCHED: np.array(["true" if s else "false" for s in switched], dtype=object),
        INPUT_LENGTH: np.array(length, dtype=object),
        NUMBERS: np.array(numbers, dtype=object),
        ANSWER_LANGUAGE: np.array(answer_lang, dtype=object),
    }
    return DerivedFeatures(idx, columns, lang.name, median, candidates)
