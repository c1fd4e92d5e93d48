"""Which OpenAI-compatible endpoint, model and key to use, from flags, environment or keyring.

The key comes from `OPENAI_API_KEY` or the OS keyring (service `cockpit`, user = the
endpoint URL or `openai`; only when the `keyring` package is importable). It lives in
memory only: never written to the database, a log or the output, and `repr` hides it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from cockpit.triage.consent import endpoint_id
from cockpit.triage.cost import is_local

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
KEYRING_SERVICE = "cockpit"
NO_KEY = "not-needed"  # what the client sends to servers that take no key (vLLM, Ollama)


class EndpointError(Exception):
    """A setting the user must fix (bad URL, no model named): one sentence."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    model: str
    api_key: str = field(repr=False, default=NO_KEY)
    key_source: str = "none"  # "env", "keyring" or "none"

    def describe(self) -> str:
        return f"{self.model} at {self.base_url} (key: {self.key_source})"


def _keyring_key(base_url: str) -> str | None:
    try:
        import keyring  # optional: only when installed
    except Exception:
        return None
    for user in (endpoint_id(base_url), "openai"):
        try:
            value = keyring.get_password(KEYRING_SERVICE, user)
        except Exception:  # no backend, locked keychain: treat as no key
            return None
        if value:
            return str(value)
    return None


def resolve_endpoint(base_url: str | None = None, model: str | None = None,
                     env: Mapping[str, str] | None = None,
                     use_keyring: bool = True) -> Endpoint | None:
    """The endpoint to use, or None when none is configured (then triage runs offline)."""
    env = os.environ if env is None else env
    base = (base_url or env.get("OPENAI_BASE_URL") or "").strip() or None
    key = (env.get("OPENAI_API_KEY") or "").strip() or None
    source = "env" if key else "none"
    if base is None and key is None:
        return None
    base = base or OPENAI_URL
    parts = urlparse(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"base URL {base!r} is not an http(s) URL (e.g. http://localhost:8000/v1)")
    if key is None and use_keyring and not is_local(base):
        key = _keyring_key(base)
        source = "keyring" if key else "none"
    name = (model or env.get("COCKPIT_LLM_MODEL") or "").strip()
    if not name:
        if endpoint_id(base) != endpoint_id(OPENAI_URL):
            raise EndpointError(f"no model named for {base}: pass --model or set COCKPIT_LLM_MODEL")
        name = DEFAULT_OPENAI_MODEL
    return Endpoint(base.rstrip("/"), name, key or NO_KEY, source)
