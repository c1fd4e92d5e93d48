"""Turning the many ways tools write a grade ("C", true, "pass", 0.5) into score and correct."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

import orjson

# Inspect AI's value letters (CORRECT, INCORRECT, PARTIAL, NOANSWER) and common words.
_WORD_SCORES = {
    "c": 1.0, "correct": 1.0, "true": 1.0, "yes": 1.0, "pass": 1.0, "passed": 1.0, "y": 1.0,
    "i": 0.0, "incorrect": 0.0, "false": 0.0, "no": 0.0, "fail": 0.0, "failed": 0.0, "n": 0.0,
    "p": 0.5, "partial": 0.5, "wrong": 0.0, "right": 1.0,
}


def grade(value: Any) -> tuple[float | None, bool | None]:
    """(score, correct) of one graded value; correct is set only for a binary grade."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return (1.0 if value else 0.0), value
    if isinstance(value, int | float):
        score = float(value)
        if not math.isfinite(score):
            return None, None
        return score, (score == 1.0 if score in (0.0, 1.0) else None)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _WORD_SCORES:
            score = _WORD_SCORES[text]
            return score, (score == 1.0 if score in (0.0, 1.0) else None)
        try:
            return grade(float(text))
        except ValueError:
            return None, None
    return None, None


def to_text(value: Any) -> str:
    """Any input/target/output value as display text (lists of messages joined)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return value[0] if len(value) == 1 else "\n".join(value)
        if all(isinstance(v, dict) and "content" in v for v in value):
            return "\n\n".join(f"{v.get('role', '')}: {message_text(v.get('content'))}".lstrip(": ")
                               for v in value)
    if isinstance(value, int | float | bool):
        return str(value)
    return orjson.dumps(value, default=str).decode()


def message_text(content: Any) -> str:
    """The text of a chat message content (a string or a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("text") or part.get("reasoning") or part.get("refusal")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return to_text(content)


_SPACE = re.compile(r"\s+")
_PUNCT_EDGE = re.compile(r"^[\W_]+|[\W_]+$")


def normalize_answer(text: str) -> str:
    """Case, accents, surrounding punctuation and spacing removed: for derived exact match."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = _SPACE.sub(" ", text)
    return _PUNCT_EDGE.sub("", text)


def scalar_metadata(values: dict[str, Any], skip: set[str] | frozenset[str] = frozenset(),
                    max_len: int = 200) -> dict[str, Any]:
    """The short scalar entries of a dict: what is worth slicing and filtering by."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in skip:
            continue
        short_text = isinstance(value, str) and len(value) <= max_len
        if value is None or short_text or isinstance(value, bool | int | float):
            out[key] = value
    return out
