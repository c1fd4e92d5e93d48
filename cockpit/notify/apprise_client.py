"""Delivery through Apprise: one URL scheme per service (Slack, e-mail, ntfy, Discord, Teams,
Telegram, JSON webhooks …) instead of a hand-written client for each.

The URL's secrets are expanded here, for one send, and forgotten; what is ever shown is the
template, masked where Apprise knows a part is private (its privacy mode).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import apprise

from cockpit.notify.config import ConfigError
from cockpit.notify.destination import SendResult
from cockpit.notify.message import Message
from cockpit.notify.secrets import REFERENCE, SecretError, expand, install_log_redaction, redact

install_log_redaction()  # Apprise and urllib3 quote the URLs they try, tokens and all

ASSET = apprise.AppriseAsset(app_id="Cockpit", app_desc="Cockpit training-run alerts",
                             app_url="https://github.com/")
_SENTINEL = "COCKPITREF{}X"
_TOKEN_SPLIT = re.compile(r"[/:@?&=,#+;]+")


class AppriseSender:
    """Sends one message to one URL template, synchronously (the destination's thread)."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s

    def send(self, template: str, message: Message) -> SendResult:
        try:
            url = expand(template).url
        except SecretError as err:
            return SendResult(False, str(err))
        target = apprise.Apprise(asset=ASSET)
        if not target.add(url):
            return SendResult(False, "Apprise does not know this URL")
        result = target.notify(body=message.body, title=message.title,
                               notify_type=message.tone, body_format=apprise.NotifyFormat.TEXT,
                               timeout=self.timeout_s)
        if result:
            return SendResult(True)
        return SendResult(False, _reason(result))


def _reason(result: object) -> str:
    """The last warning Apprise logged for this call (e.g. the HTTP status), redacted."""
    entries = [e for e in getattr(result, "logs", lambda: [])()
               if getattr(e, "level", "") in ("WARNING", "ERROR", "CRITICAL")]
    text = entries[-1].message if entries else "the service did not accept the message"
    return redact(" ".join(str(text).split()))


def check_url(template: str) -> None:
    """Raise ConfigError (or SecretError) when the URL cannot be used: unknown scheme,
    missing parts, an unset secret. Expands the secrets, which stay in memory only."""
    url = expand(template).url
    if apprise.Apprise.instantiate(url, asset=ASSET) is None:
        raise ConfigError(f"{display(template)} is not a notification URL Apprise can use "
                          "(see the URL formats at github.com/caronc/apprise/wiki)")


def _sentinels(template: str) -> tuple[str, dict[str, str]]:
    refs: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        key = _SENTINEL.format(len(refs))
        refs[key] = match.group(0)
        return key

    return REFERENCE.sub(swap, template), refs


def display(template: str) -> str:
    """The URL as it may be printed, logged or shown: Apprise's privacy form (tokens and
    passwords masked), references kept as written, no query."""
    url, refs = _sentinels(template)
    plugin = apprise.Apprise.instantiate(url, asset=ASSET)
    if plugin is None:
        if refs and REFERENCE.fullmatch(template.strip()):
            return template.strip()  # the whole URL comes from a secret: show its name
        parts = urlsplit(template)
        return f"{parts.scheme}://{parts.hostname or '…'}/…"
    shown = str(plugin.url(privacy=True)).split("?", 1)[0]
    for key, ref in refs.items():
        shown = shown.replace(key, ref)
    return redact(shown)


def clear_secrets(template: str) -> bool:
    """Whether the URL holds, in clear, a part Apprise treats as private (a token, a
    password): such a URL must not be written to a settings file."""
    url, _ = _sentinels(template)
    plugin = apprise.Apprise.instantiate(url, asset=ASSET)
    if plugin is None:
        return False
    full = set(_TOKEN_SPLIT.split(unquote(str(plugin.url(privacy=False)))))
    masked = set(_TOKEN_SPLIT.split(unquote(str(plugin.url(privacy=True)))))
    hidden = {t for t in full - masked if t and "COCKPITREF" not in t}
    return bool(hidden)
