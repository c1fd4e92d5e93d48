"""Step 2: the model reads a stratified sample of failures and proposes a small taxonomy."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cockpit.triage.jsonshape import InvalidOutput, parse_and_validate
from cockpit.triage.llm import ChatClient
from cockpit.triage.prompts import (
    NAME_PATTERN,
    OTHER,
    PROPOSE_SCHEMA,
    Record,
    normalize_name,
    propose_messages,
    repair_messages,
)

PROPOSE_MAX_TOKENS = 2000


@dataclass(slots=True)
class ProposedCategory:
    name: str
    definition: str
    example_refs: list[str] = field(default_factory=list)  # ids shown to the model


@dataclass(slots=True)
class Proposal:
    categories: list[ProposedCategory]
    notes: list[str]


def stratified_sample(strata: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Row indices: every stratum gets at least min(size, 3) rows, the rest in proportion
    to size (largest remainders), drawn at random with a fixed seed."""
    n = len(strata)
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    groups = {s: np.flatnonzero(strata == s) for s in np.unique(strata).tolist()}
    base = {s: min(len(rows), 3) for s, rows in groups.items()}
    left = limit - sum(base.values())
    spare = {s: len(rows) - base[s] for s, rows in groups.items()}
    total_spare = sum(spare.values())
    quota = dict(base)
    if left > 0 and total_spare > 0:
        exact = {s: left * spare[s] / total_spare for s in groups}
        for s in groups:
            quota[s] += int(exact[s])
        remaining = limit - sum(quota.values())
        for s in sorted(groups, key=lambda s: -(exact[s] - int(exact[s])))[:max(remaining, 0)]:
            quota[s] += 1
    picks = [rng.choice(rows, size=min(quota[s], len(rows)), replace=False)
             for s, rows in groups.items()]
    return np.sort(np.concatenate(picks))[:limit]


def _categories(value: dict[str, object], shown: set[str], max_categories: int
                ) -> tuple[list[ProposedCategory], list[str]]:
    notes: list[str] = []
    out: list[ProposedCategory] = []
    seen: set[str] = set()
    invented = 0
    raw = value["categories"]
    assert isinstance(raw, list)
    for item in raw:
        name = normalize_name(str(item["name"]))
        if not re.match(NAME_PATTERN, name) or name == OTHER or name in seen:
            continue
        seen.add(name)
        refs = [str(r) for r in item.get("example_ids", []) or []]
        real = [r for r in refs if r in shown]
        invented += len(refs) - len(real)
        out.append(ProposedCategory(name, " ".join(str(item["definition"]).split())[:400],
                                    list(dict.fromkeys(real))))
    if len(out) > max_categories:
        notes.append(f"the model proposed {len(out)} categories; kept the first {max_categories}")
        out = out[:max_categories]
    if invented:
        notes.append(f"{invented} example ids the model gave were not in the sample it read "
                     "(ignored)")
    if not out:
        raise InvalidOutput("no category with a usable snake_case name other than 'other'")
    return out, notes


def propose(client: ChatClient, records: Sequence[Record], max_categories: int,
            max_invalid_retries: int, cancel: threading.Event | None = None) -> Proposal:
    """Ask for a taxonomy; an invalid reply is sent back for repair up to
    `max_invalid_retries` times, then InvalidOutput is raised."""
    messages = propose_messages(records, max_categories)
    shown = {r.ref for r in records}
    problem = ""
    for _ in range(max_invalid_retries + 1):
        reply = client.complete(messages, PROPOSE_MAX_TOKENS, cancel)
        try:
            value = parse_and_validate(reply.text, PROPOSE_SCHEMA)
            categories, notes = _categories(value, shown, max_categories)
            return Proposal(categories, notes)
        except InvalidOutput as err:
            problem = str(err)
            messages = repair_messages(messages, reply.text, problem)
    raise InvalidOutput(f"no valid taxonomy after {max_invalid_retries + 1} replies ({problem})")
