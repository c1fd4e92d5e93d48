"""Consent before eval text is first sent to an endpoint, remembered per endpoint URL.

Stored as a small JSON file in the user's config dir (platformdirs; `COCKPIT_CONFIG_DIR`
overrides the folder). It holds endpoint URLs and times only, never a key.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import urlparse

import platformdirs

CONSENT_FILE = "llm_consent.json"


def config_dir() -> Path:
    override = os.environ.get("COCKPIT_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("cockpit", appauthor=False))


def consent_path() -> Path:
    return config_dir() / CONSENT_FILE


def endpoint_id(base_url: str) -> str:
    """One spelling per endpoint: lower-case scheme and host, no trailing slash, no query."""
    parts = urlparse(base_url.strip())
    netloc = (parts.hostname or "").lower()
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def _read(path: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    return {str(k): v for k, v in endpoints.items() if isinstance(v, dict)} if isinstance(
        endpoints, dict) else {}


def has_consent(base_url: str, path: Path | None = None) -> bool:
    return endpoint_id(base_url) in _read(path or consent_path())


def grant_consent(base_url: str, path: Path | None = None) -> Path:
    """Remember consent for this endpoint (atomic replace of the file); returns the file."""
    path = path or consent_path()
    endpoints = _read(path)
    endpoints[endpoint_id(base_url)] = {"granted_at": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"endpoints": endpoints}, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path
