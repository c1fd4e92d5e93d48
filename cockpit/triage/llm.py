"""Chat completions through the official `openai` client, with Cockpit's own retry policy.

The client's built-in retries are off so that every attempt passes the cost cap first.
Rate limits (429, honouring `Retry-After` / `retry-after-ms`), server errors (5xx),
timeouts and dropped connections are retried with exponential backoff; a wrong key, an
unknown model or a malformed request fail at once with one sentence. Responses are cached
by content hash, so asking the same thing twice costs once.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from cockpit.triage.cache import CachedResponse, ResponseCache, cache_key
from cockpit.triage.cost import BudgetExceeded, CostBudget, Price, worst_case_input_tokens
from cockpit.triage.endpoint import Endpoint

MAX_WAIT = 120.0  # never sleep longer than this on one Retry-After
MAX_REPLY_BYTES = 4 * 1024 * 1024  # a chat reply for triage is kilobytes; more is refused


class ReplyTooLarge(Exception):
    """The endpoint sent more than MAX_REPLY_BYTES: refused while reading, before parsing."""


class LlmError(Exception):
    """The endpoint cannot be used (refused key, unknown model, down): one sentence."""


class Cancelled(Exception):
    """The caller asked the triage to stop."""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    cached: bool


@dataclass(slots=True)
class CallStats:
    calls: int = 0  # requests that reached the endpoint and returned
    cache_hits: int = 0
    retries: int = 0
    timeouts: int = 0
    rate_limited: int = 0
    server_errors: int = 0


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, or `Retry-After` as seconds
    or an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ChatClient:
    """Thread-safe: the triage pipeline calls `complete` from a small thread pool."""

    def __init__(self, endpoint: Endpoint, budget: CostBudget, cache: ResponseCache | None = None,
                 timeout: float = 60.0, max_retries: int = 4, backoff: float = 1.0,
                 max_backoff: float = 30.0, temperature: float = 0.0,
                 sleep: Callable[[float], None] = time.sleep,
                 client: Any = None) -> None:
        self.endpoint = endpoint
        self.budget = budget
        self.cache = cache
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.temperature = temperature
        self._sleep = sleep
        self._client = client or openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key,
                                               max_retries=0, timeout=timeout)
        self._lock = threading.Lock()
        self._json_mode = True
        self._token_param = "max_tokens"
        self.stats = CallStats()

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int,
                 cancel: threading.Event | None = None) -> Completion:
        """One chat completion (from the cache when the same request was answered before).

        Raises BudgetExceeded when the call's worst case does not fit under the cap,
        LlmError when the endpoint refuses or keeps failing, Cancelled when `cancel` is set.
        """
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        request = {"messages": msgs, "max_tokens": max_tokens, "temperature": self.temperature,
                   "json": True}
        key = cache_key(self.endpoint.base_url, self.endpoint.model, request)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self._count("cache_hits")
                return Completion(hit.text, hit.input_tokens, hit.output_tokens, True)
        worst_in = worst_case_input_tokens(msgs)
        last = "no attempt"
        attempt = 0
        while attempt <= self.max_retries:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            reservation = self.budget.reserve(worst_in, max_tokens)
            wait: float | None = None
            try:
                response = self._create(msgs, max_tokens)
            except openai.APITimeoutError:
                self.budget.charge_worst(reservation)  # it may have run and been billed
                self._count("timeouts")
                last = f"no answer within {self.timeout:g} s"
            except openai.RateLimitError as err:
                self.budget.release(reservation)
                self._count("rate_limited")
                wait = retry_after_seconds(getattr(err.response, "headers", None))
                last = "rate limited (429)"
            except ReplyTooLarge as err:
                self.budget.charge_worst(reservation)  # it ran, and may be billed
                raise LlmError(f"{self.endpoint.base_url} sent a reply of {err}, over the "
                               f"{MAX_REPLY_BYTES // 2**20} MiB a triage answer may take; it "
                               "was refused unread") from None
            except openai.APIConnectionError as err:
                self.budget.release(reservation)
                last = f"cannot connect ({type(err).__name__})"
            except openai.APIStatusError as err:
                self.budget.release(reservation)
                status = err.status_code
                if status >= 500 or status in (408, 409):
                    self._count("server_errors")
                    last = f"server error {status}"
                elif status == 400 and self._adapt(str(err)):
                    continue  # retried with another parameter spelling; not an attempt
                else:
                    raise LlmError(_refusal_sentence(self.endpoint, status, err)) from None
            except BaseException:
                self.budget.release(reservation)
                raise
            else:
                return self._finish(response, reservation, key, worst_in)
            attempt += 1
            if attempt > self.max_retries:
                break
            self._count("retries")
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * (
                0.75 + 0.5 * random.random())
            if wait is not None:
                delay = max(delay, min(wait, MAX_WAIT))
            self._wait(delay, cancel)
        raise LlmError(f"{self.endpoint.base_url} failed {self.max_retries + 1} times in a row "
                       f"(last: {last})")

    def _create(self, msgs: list[dict[str, str]], max_tokens: int) -> Any:
        """The reply as parsed JSON. Its body is read here, capped at MAX_REPLY_BYTES (by its
        Content-Length or while it streams in), so nothing bigger is held or parsed."""
        kwargs: dict[str, Any] = {"model": self.endpoint.model, "messages": msgs,
                                  "temperature": self.temperature,
                                  self._token_param: max_tokens, "timeout": self.timeout}
        if self._json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        with self._client.chat.completions.with_streaming_response.create(**kwargs) as response:
            length = str(response.headers.get("content-length") or "")
            if length.isdigit() and int(length) > MAX_REPLY_BYTES:
                raise ReplyTooLarge(f"{int(length):,} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_REPLY_BYTES:
                    raise ReplyTooLarge(f"more than {MAX_REPLY_BYTES:,} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise LlmError(f"{self.endpoint.base_url} sent a reply that is not JSON") from None

    def _adapt(self, message: str) -> bool:
        """Servers differ: some reject `response_format`, newer OpenAI models `max_tokens`."""
        text = message.lower()
        with self._lock:
            if "response_format" in text and self._json_mode:
                self._json_mode = False
                return True
            if "max_tokens" in text and self._token_param == "max_tokens":
                self._token_param = "max_completion_tokens"
                return True
        return False

    def _finish(self, response: Any, reservation: Any, key: str, worst_in: int) -> Completion:
        choices = _field(response, "choices") or []
        message = _field(choices[0], "message") if isinstance(choices, list) and choices else None
        text = str(_field(message, "content") or "")
        usage = _field(response, "usage")
        in_tok = _field(usage, "prompt_tokens")
        out_tok = _field(usage, "completion_tokens")
        if not isinstance(in_tok, int) or not isinstance(out_tok, int):
            # No usage reported: count the worst case for input and one token per byte out.
            in_tok, out_tok = worst_in, len(text.encode("utf-8"))
        self.budget.settle(reservation, in_tok, out_tok)
        self._count("calls")
        if self.cache is not None:
            self.cache.put(key, CachedResponse(text, in_tok, out_tok))
        return Completion(text, in_tok, out_tok, False)

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        if cancel is not None:
            if cancel.wait(seconds):
                raise Cancelled()
        else:
            self._sleep(seconds)


def _field(obj: Any, name: str) -> Any:
    """A field of a reply: parsed JSON (a dict) or an openai object."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def make_client(endpoint: Endpoint, max_cost: float, price: Price | None = None,
                cache: ResponseCache | None = None, timeout: float = 60.0) -> ChatClient:
    """A client with a fresh budget: `price` defaults to the table (or free on localhost)."""
    from cockpit.triage.cost import price_for

    chosen = price or price_for(endpoint.model, endpoint.base_url)
    return ChatClient(endpoint, CostBudget(max_cost, chosen), cache, timeout=timeout)


def _refusal_sentence(endpoint: Endpoint, status: int, err: Exception) -> str:
    if status == 401:
        return f"{endpoint.base_url} rejected the API key (401); check OPENAI_API_KEY or the keyring"
    if status == 403:
        return f"{endpoint.base_url} refused access (403) to model {endpoint.model!r}"
    if status == 404:
        return f"{endpoint.base_url} has no model {endpoint.model!r} (404); pass --model"
    detail = str(getattr(err, "message", "") or err).splitlines()[0][:160]
    return f"{endpoint.base_url} refused the request ({status}): {detail}"


__all__ = ["BudgetExceeded", "Cancelled", "ChatClient", "Completion", "LlmError", "make_client",
           "retry_after_seconds"]
