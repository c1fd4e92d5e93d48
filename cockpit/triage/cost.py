"""Token estimates, model prices and the hard cost cap.

The cap is checked before every call with that call's worst case: input tokens bounded by
the prompt's UTF-8 bytes (a byte-level BPE token is at least one byte) plus per-message
overhead, and output tokens by `max_tokens`. The worst case is reserved while the call
runs and replaced by the reported usage when it returns, so concurrent calls together can
never push the spend past the cap.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

# USD per 1M tokens (input, output), list prices of 2025; override with --price-in/--price-out.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}
UNKNOWN_PRICE = (10.00, 30.00)  # deliberately high, so an unknown model hits the cap early
MESSAGE_OVERHEAD = 8  # tokens of chat framing per message, generous
REQUEST_OVERHEAD = 16


class BudgetExceeded(Exception):
    """The next call could cost more than what is left under --max-cost."""


@dataclass(frozen=True, slots=True)
class Price:
    input_per_m: float
    output_per_m: float
    source: str  # where the numbers came from, shown beside the estimate

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_m + output_tokens * self.output_per_m) / 1e6


def is_local(base_url: str) -> bool:
    host = (urlparse(base_url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def price_for(model: str, base_url: str, price_in: float | None = None,
              price_out: float | None = None) -> Price:
    """The user's prices if given, else the table (longest matching model prefix), else free
    for a server on this machine, else a deliberately high guess."""
    if price_in is not None or price_out is not None:
        return Price(price_in or 0.0, price_out or 0.0, "--price-in/--price-out")
    name = model.lower().split("/")[-1]
    for known in sorted(PRICES, key=len, reverse=True):
        if name == known or name.startswith(known + "-"):
            pin, pout = PRICES[known]
            return Price(pin, pout, f"list price of {known}")
    if is_local(base_url):
        return Price(0.0, 0.0, "a server on this machine: free")
    pin, pout = UNKNOWN_PRICE
    return Price(pin, pout, f"unknown model {model!r}: assumed ${pin:g}/${pout:g} per 1M tokens "
                            "(set --price-in/--price-out)")


def estimate_tokens(text: str) -> int:
    """A typical token count: ~4 characters a token for English (a heuristic, not a tokenizer)."""
    return math.ceil(len(text) / 4)


def worst_case_input_tokens(messages: Sequence[dict[str, str]]) -> int:
    """An upper bound on prompt tokens: one per UTF-8 byte plus framing."""
    return REQUEST_OVERHEAD + sum(len(m.get("content", "").encode("utf-8")) + MESSAGE_OVERHEAD
                                  for m in messages)


@dataclass(slots=True)
class Reservation:
    input_tokens: int
    output_tokens: int
    cost: float
    open: bool = True


class CostBudget:
    """Thread-safe spend tracking under a hard cap (USD)."""

    def __init__(self, cap_usd: float, price: Price) -> None:
        self.cap_usd = float(cap_usd)
        self.price = price
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._reserved = 0.0
        self.spent_usd = 0.0
        self.input_tokens = 0
        self.output_tokens = 0

    def reserve(self, input_tokens: int, max_output_tokens: int,
                wait: bool = True) -> Reservation:
        """Hold the worst case of one call. When it does not fit but other calls are in
        flight, wait for them to settle (their real cost is usually far below their worst
        case); raise BudgetExceeded once nothing is in flight and it still does not fit."""
        cost = self.price.cost(input_tokens, max_output_tokens)
        with self._changed:
            while self.spent_usd + self._reserved + cost > self.cap_usd + 1e-12:
                if not wait or self._reserved <= 1e-15:
                    left = self.cap_usd - self.spent_usd - self._reserved
                    raise BudgetExceeded(
                        f"the next call could cost ${cost:.4f} but ${max(left, 0):.4f} is left "
                        f"under the ${self.cap_usd:g} cap")
                self._changed.wait(1.0)
            self._reserved += cost
        return Reservation(input_tokens, max_output_tokens, cost)

    def settle(self, res: Reservation, input_tokens: int, output_tokens: int) -> float:
        """Replace a reservation by what the call really used; returns its cost."""
        cost = self.price.cost(input_tokens, output_tokens)
        with self._lock:
            if res.open:
                self._reserved -= res.cost
                res.open = False
            self.spent_usd += cost
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self._changed.notify_all()
        return cost

    def charge_worst(self, res: Reservation) -> None:
        """A call whose outcome is unknown (timed out) may still be billed: count its worst case."""
        self.settle(res, res.input_tokens, res.output_tokens)

    def release(self, res: Reservation) -> None:
        """A call that was refused before any work (429, 5xx, connection refused) costs nothing."""
        with self._lock:
            if res.open:
                self._reserved -= res.cost
                res.open = False
            self._changed.notify_all()
