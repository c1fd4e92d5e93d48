"""LLM responses cached by a content hash of (base URL, model, prompt), so a re-run is free.

`DuckDbCache` keeps them in the history database's `llm_cache` table, read through a
cursor and written through the store's single writer thread.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CachedResponse:
    text: str
    input_tokens: int
    output_tokens: int


class ResponseCache(Protocol):
    def get(self, key: str) -> CachedResponse | None: ...

    def put(self, key: str, response: CachedResponse) -> None: ...


def cache_key(base_url: str, model: str, request: dict[str, Any]) -> str:
    """sha256 of the endpoint, the model and the full request (messages and parameters)."""
    payload = json.dumps({"base_url": base_url.rstrip("/"), "model": model, "request": request},
                         sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class MemoryCache:
    """For tests and `--no-store` runs."""

    def __init__(self) -> None:
        self._data: dict[str, CachedResponse] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, response: CachedResponse) -> None:
        with self._lock:
            self._data[key] = response

    def __len__(self) -> int:
        return len(self._data)


class _Writer(Protocol):
    def cursor(self) -> Any: ...

    def call(self, fn: Any) -> None: ...


class DuckDbCache:
    """The `llm_cache` table through a `StoreWriter` (reads see committed rows and the
    responses this process put since, kept in memory until committed)."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer
        self._recent = MemoryCache()
        self._lock = threading.Lock()  # one lookup at a time: cursors come from one connection

    def get(self, key: str) -> CachedResponse | None:
        hit = self._recent.get(key)
        if hit is not None:
            return hit
        with self._lock:
            cur = self._writer.cursor()
            try:
                row = cur.execute("SELECT response, input_tokens, output_tokens FROM llm_cache "
                                  "WHERE key = ?", [key]).fetchone()
            finally:
                cur.close()
        if row is None:
            return None
        return CachedResponse(str(row[0]), int(row[1] or 0), int(row[2] or 0))

    def put(self, key: str, response: CachedResponse) -> None:
        self._recent.put(key, response)
        now = time.time()

        def write(con: Any) -> None:
            con.execute("INSERT OR REPLACE INTO llm_cache (key, response, input_tokens, "
                        "output_tokens, created_at) VALUES (?, ?, ?, ?, ?)",
                        [key, response.text, response.input_tokens, response.output_tokens, now])

        self._writer.call(write)
