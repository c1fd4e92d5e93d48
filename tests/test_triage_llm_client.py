"""The chat client against a real local HTTP server through the real `openai` client:
retries, Retry-After, timeouts, refusals, the cache and the cost cap."""

from __future__ import annotations

import email.utils
import socket
import time

import openai
import pytest
from llm_server import LlmTestServer, PlantedModel

from cockpit.triage.cache import MemoryCache
from cockpit.triage.cost import (
    BudgetExceeded,
    CostBudget,
    Price,
    price_for,
    worst_case_input_tokens,
)
from cockpit.triage.endpoint import Endpoint
from cockpit.triage.llm import ChatClient, LlmError, retry_after_seconds

KEY = "sk-test-Zx81fPq0Lm3Nv7Rt2Ws9Yb4Kc6Hd1Je5"
FREE = Price(0.0, 0.0, "test")
MESSAGES = [
    {"role": "system", "content": "s"},
    {
        "role": "user",
        "content": '<<<DATA ab>>>\n{"id": "x1"}\n<<<END DATA ab>>>\n\n'
        "Task: give each of the 1 failed samples\n- cat_a: d\n",
    },
]


def _client(
    srv: LlmTestServer,
    budget: CostBudget | None = None,
    timeout: float = 5.0,
    waits: list[float] | None = None,
    cache: MemoryCache | None = None,
) -> ChatClient:
    sink = waits if waits is not None else []
    return ChatClient(
        Endpoint(srv.base_url, "test-model", KEY, "env"),
        budget or CostBudget(1.0, FREE),
        cache,
        timeout=timeout,
        max_retries=3,
        backoff=0.01,
        sleep=sink.append,
    )


def _server(script: list[str], **kw: object) -> LlmTestServer:
    return LlmTestServer(PlantedModel({"x1": "unit_arithmetic"}), script=script, **kw)  # type: ignore[arg-type]


def test_answer_goes_through_the_real_openai_client() -> None:
    with _server([]) as srv:
        client = _client(srv)
        assert isinstance(client._client, openai.OpenAI)
        got = client.complete(MESSAGES, 100)
    assert '"labels"' in got.text and not got.cached
    assert got.input_tokens == srv.billed_prompt_tokens and client.stats.calls == 1
    assert srv.requests[0]["response_format"] == {"type": "json_object"}
    assert srv.requests[0]["temperature"] == 0.0


def test_rate_limit_waits_at_least_retry_after() -> None:
    waits: list[float] = []
    with _server(["rate_limit", "rate_limit", "ok"], retry_after="0.7") as srv:
        client = _client(srv, waits=waits)
        got = client.complete(MESSAGES, 100)
    assert '"labels"' in got.text
    assert len(srv.requests) == 3 and client.stats.rate_limited == 2
    assert len(waits) == 2 and all(w >= 0.7 for w in waits)


def test_timeout_is_retried_and_its_worst_case_counted() -> None:
    price = Price(1.0, 1.0, "test")
    budget = CostBudget(10.0, price)
    with _server(["timeout", "ok"], timeout_sleep=2.0) as srv:
        client = _client(srv, budget=budget, timeout=0.5)
        start = time.monotonic()
        got = client.complete(MESSAGES, 100)
        took = time.monotonic() - start
    assert '"labels"' in got.text and client.stats.timeouts == 1
    assert took < 2.0  # the client gave up on the slow reply
    worst = price.cost(worst_case_input_tokens(MESSAGES), 100)
    assert budget.spent_usd == pytest.approx(
        worst + price.cost(got.input_tokens, got.output_tokens)
    )


def test_server_errors_are_retried_then_reported_in_one_sentence() -> None:
    with _server(["server_error", "ok"]) as srv:
        assert '"labels"' in _client(srv).complete(MESSAGES, 100).text
    with _server([], default="server_error") as srv:
        with pytest.raises(LlmError, match="failed 4 times in a row .*server error 500"):
            _client(srv).complete(MESSAGES, 100)
        assert len(srv.requests) == 4


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [("unauthorized", "rejected the API key"), ("not_found", "has no model 'test-model'")],
)
def test_refusals_fail_at_once_without_the_key(behaviour: str, words: str) -> None:
    with _server([behaviour]) as srv:
        with pytest.raises(LlmError) as info:
            _client(srv).complete(MESSAGES, 100)
        assert len(srv.requests) == 1
    assert words in str(info.value) and KEY not in str(info.value)
    assert KEY not in repr(Endpoint("http://x", "m", KEY))


def test_unreachable_endpoint_is_one_sentence() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ChatClient(
        Endpoint(f"http://127.0.0.1:{port}/v1", "m"),
        CostBudget(1.0, FREE),
        max_retries=1,
        backoff=0.01,
        sleep=lambda _: None,
        timeout=2.0,
    )
    with pytest.raises(LlmError, match="cannot connect"):
        client.complete(MESSAGES, 10)


def test_same_request_is_answered_from_the_cache() -> None:
    cache = MemoryCache()
    budget = CostBudget(1.0, Price(1.0, 1.0, "test"))
    with _server([]) as srv:
        first = _client(srv, budget=budget, cache=cache).complete(MESSAGES, 100)
        spent = budget.spent_usd
        again = _client(srv, budget=budget, cache=cache).complete(MESSAGES, 100)
        assert len(srv.requests) == 1
    assert again.cached and again.text == first.text and budget.spent_usd == spent


def test_cost_cap_refuses_a_call_that_might_not_fit() -> None:
    price = Price(1000.0, 1000.0, "test")  # $1 per 1,000 tokens
    worst = price.cost(worst_case_input_tokens(MESSAGES), 100)
    with _server([]) as srv:
        with pytest.raises(BudgetExceeded):
            _client(srv, budget=CostBudget(worst * 0.99, price)).complete(MESSAGES, 100)
        assert srv.requests == []
        budget = CostBudget(worst * 1.01, price)
        _client(srv, budget=budget).complete(MESSAGES, 100)
        assert 0 < budget.spent_usd <= budget.cap_usd
        with pytest.raises(BudgetExceeded):  # what is left no longer covers the worst case
            _client(srv, budget=budget).complete(MESSAGES, 100)
        assert len(srv.requests) == 1


def test_retry_after_parsing_and_prices() -> None:
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after_seconds({"retry-after": future}) or 0) <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds(None) is None
    assert price_for("gpt-4o-mini-2024-07-18", "https://api.openai.com/v1").input_per_m == 0.15
    assert price_for("gpt-4o", "https://api.openai.com/v1").output_per_m == 10.0
    assert price_for("llama3", "http://localhost:11434/v1").input_per_m == 0.0
    assert price_for("mystery", "https://llm.example.com/v1").input_per_m == 10.0
    assert price_for("gpt-4o", "https://x", 1.0, 2.0).source == "--price-in/--price-out"


@pytest.mark.parametrize("behaviour", ["huge", "huge_unannounced"])
def test_a_20_mb_reply_is_refused_before_parsing(behaviour: str) -> None:
    """The reply is capped while it is read (by its Content-Length, or counting as it
    streams in): one sentence, no retry, and far less than 20 MB held at any time."""
    import tracemalloc

    with _server([behaviour]) as srv:
        client = _client(srv)
        tracemalloc.start()
        try:
            with pytest.raises(LlmError, match="refused unread"):
                client.complete(MESSAGES, max_tokens=100)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert srv.behaviours[behaviour] == 1 and sum(srv.behaviours.values()) == 1  # no retry
        assert peak < 12 * 1024 * 1024, peak  # the cap is 4 MiB; the reply was 20 MB
