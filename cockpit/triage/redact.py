"""Removing secrets and e-mail addresses from eval text before it leaves the machine.

Eval samples are user data: customers paste e-mail addresses, engineers leave API keys in
prompts. Everything Cockpit sends to an LLM endpoint goes through `Redactor.redact` first;
each hit becomes `[REDACTED:<kind>]` and is counted, so the report can say how many went.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable

# (kind, pattern). Order matters: specific kinds first.
_PATTERNS: list[tuple[str, str]] = [
    ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"),
    ("api_key", r"\bsk-[A-Za-z0-9_\-]{16,}"),
    ("aws_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    ("slack_token", r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    ("google_key", r"\bAIza[0-9A-Za-z_\-]{30,}"),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    ("email", r"(?<![\w.+-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b"),
    ("hex_token", r"\b[0-9a-fA-F]{32,}\b"),
]
# "Bearer <token>", "password: <value>", "api_key=<value>": keep the name, drop the value.
_NAMED = re.compile(
    r"(?i)(\bbearer\s+|\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token"
    r"|token|client[_-]?secret)\b\s*[:=]\s*[\"']?)([^\s\"',;]{6,})"
)
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{40,}={0,2}")
_COMPILED = [(kind, re.compile(p)) for kind, p in _PATTERNS]


def _looks_random(token: str) -> bool:
    """A long run mixing digits with letters of both cases (or digit-heavy): a key, not a
    long identifier like `some_long_function_name_2`."""
    digits = sum(c.isdigit() for c in token)
    if digits == 0 or digits == len(token):
        return False
    mixed_case = any(c.isupper() for c in token) and any(c.islower() for c in token)
    return mixed_case or digits / len(token) >= 0.2


class Redactor:
    """Thread-safe; counts what it removed (by kind) across every call."""

    def __init__(self, extra_secrets: Iterable[str] = ()) -> None:
        self._extra = [s for s in extra_secrets if s and len(s) >= 8]
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def redact(self, text: str) -> str:
        if not text:
            return text
        hits: Counter[str] = Counter()
        for secret in self._extra:
            if secret in text:
                hits["configured_key"] += text.count(secret)
                text = text.replace(secret, "[REDACTED:configured_key]")
        for kind, pattern in _COMPILED:
            text, n = pattern.subn(f"[REDACTED:{kind}]", text)
            if n:
                hits[kind] += n

        def named(m: re.Match[str]) -> str:
            if m.group(2).startswith("[REDACTED"):
                return m.group(0)
            hits["secret"] += 1
            return f"{m.group(1)}[REDACTED:secret]"

        text = _NAMED.sub(named, text)

        def long_token(m: re.Match[str]) -> str:
            if not _looks_random(m.group(0)):
                return m.group(0)
            hits["token"] += 1
            return "[REDACTED:token]"

        text = _LONG_TOKEN.sub(long_token, text)
        if hits:
            with self._lock:
                self.counts.update(hits)
        return text

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())
