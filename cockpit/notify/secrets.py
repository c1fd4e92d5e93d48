"""Secrets in notification URLs: referenced by name, expanded only at send time, redacted
from every log record.

A URL may say `{env:SLACK_TOKEN}` or `{keyring:slack}`; what is stored, printed and logged
is that text, never the value. The values expanded for a send are remembered (in this
process only) so a log record that quotes them, e.g. an HTTP error naming the URL, is
redacted before any handler sees it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

KEYRING_SERVICE = "cockpit"
REDACTED = "[secret]"
REFERENCE = re.compile(r"\{(env|keyring):([A-Za-z0-9_.\-/]+)\}")


class SecretError(Exception):
    """A referenced secret cannot be read (unset variable, no keyring): one sentence."""


@dataclass(frozen=True, slots=True)
class Expanded:
    url: str
    secrets: tuple[str, ...]


def references(template: str) -> list[tuple[str, str]]:
    """The (kind, name) of every secret a URL template names."""
    return [(m.group(1), m.group(2)) for m in REFERENCE.finditer(template)]


def expand(template: str) -> Expanded:
    """The URL with every reference replaced by its value (raises SecretError)."""
    values: list[str] = []

    def value(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        secret = _env(name) if kind == "env" else _keyring(name)
        values.append(secret)
        return secret

    url = REFERENCE.sub(value, template)
    remember(values)
    return Expanded(url, tuple(values))


def _env(name: str) -> str:
    secret = os.environ.get(name)
    if not secret:
        raise SecretError(f"environment variable {name} (named by {{env:{name}}}) is not set")
    return secret


def _keyring(name: str) -> str:
    module = keyring_module()
    if module is None:
        raise SecretError(f"{{keyring:{name}}} needs the python keyring package "
                          "(pip install keyring)")
    try:
        secret = module.get_password(KEYRING_SERVICE, name)
    except Exception as err:  # no backend, locked keyring: the library's own errors
        raise SecretError(f"the OS keyring cannot be read for {{keyring:{name}}}: {err}") from None
    if not secret:
        raise SecretError(f"the OS keyring holds no secret {name!r} for service "
                          f"{KEYRING_SERVICE!r} (named by {{keyring:{name}}})")
    return str(secret)


def keyring_module() -> Any:
    try:
        import keyring
    except ImportError:
        return None
    return keyring


def keyring_usable() -> bool:
    """Whether secrets can be stored in the OS keyring here (the package and a backend)."""
    module = keyring_module()
    if module is None:
        return False
    try:
        backend = module.get_keyring()
    except Exception:
        return False
    return float(getattr(backend, "priority", 0) or 0) > 0


def store_in_keyring(name: str, secret: str) -> str:
    """Keep `secret` in the OS keyring under `name`; returns the reference to write instead."""
    module = keyring_module()
    if module is None or not keyring_usable():
        raise SecretError("no OS keyring is available to keep the secret (pip install keyring, "
                          "or write {env:NAME} and set the variable)")
    try:
        module.set_password(KEYRING_SERVICE, name, secret)
    except Exception as err:
        raise SecretError(f"the OS keyring refused to store {name!r}: {err}") from None
    remember([secret])
    return f"{{keyring:{name}}}"


# ---- redaction -----------------------------------------------------------------------------
_known: set[str] = set()
_known_lock = threading.Lock()
MIN_SECRET = 4  # shorter values would redact ordinary words


def remember(values: list[str] | tuple[str, ...]) -> None:
    with _known_lock:
        _known.update(v for v in values if len(v) >= MIN_SECRET)


def redact(text: str) -> str:
    """`text` with every secret this process expanded replaced by a marker."""
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def install_log_redaction() -> None:
    """Redact every log record this process creates from now on, whichever library logs it
    (Apprise, urllib3 quoting the request line, smtplib …): a logger's filter would miss
    its children's records, a record factory sees them all. Costs nothing until a secret
    was expanded, and only for records a handler will see."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "cockpit_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _known:
            _redact_record(record)
        return record

    factory.cockpit_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the logging system's to report
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
