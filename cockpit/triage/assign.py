"""Step 3: every failure gets one category from the closed set (or "other"), in batches.

Each label is checked on its own: the id must be one of the batch's and not yet labelled,
the category one of the names offered. Invalid or missing labels are asked for again (the
reply and what was wrong go back to the model); whatever is still missing after the
retries stays unlabelled. Nothing is guessed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cockpit.triage.cost import BudgetExceeded
from cockpit.triage.jsonshape import InvalidOutput, parse_and_validate, validate
from cockpit.triage.llm import Cancelled, ChatClient, LlmError
from cockpit.triage.prompts import (
    ASSIGN_SCHEMA,
    LABEL_SCHEMA,
    OTHER,
    Record,
    assign_messages,
    normalize_name,
    repair_messages,
)

TOKENS_PER_LABEL = 60  # max_tokens budget per sample in a batch (id, name, short rationale)


@dataclass(slots=True)
class Assignment:
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # ref -> (category, why)
    unlabelled: list[str] = field(default_factory=list)
    invalid_replies: int = 0
    stopped: str | None = None  # why batches were left undone (cost cap, endpoint failure)
    notes: list[str] = field(default_factory=list)


def max_tokens_for(batch_size: int) -> int:
    return 200 + TOKENS_PER_LABEL * batch_size


def _batch(client: ChatClient, categories: Sequence[tuple[str, str]], records: Sequence[Record],
           max_invalid_retries: int, cancel: threading.Event | None
           ) -> tuple[dict[str, tuple[str, str]], int]:
    allowed = {name for name, _ in categories} | {OTHER}
    pending = {r.ref for r in records}
    labels: dict[str, tuple[str, str]] = {}
    invalid = 0
    messages = assign_messages(categories, records)
    for _ in range(max_invalid_retries + 1):
        reply = client.complete(messages, max_tokens_for(len(records)), cancel)
        try:
            value = parse_and_validate(reply.text, ASSIGN_SCHEMA)
        except InvalidOutput as err:
            invalid += 1
            messages = repair_messages(messages, reply.text, str(err), sorted(pending))
            continue
        problems: list[str] = []
        items = value["labels"]
        assert isinstance(items, list)
        for item in items:
            if validate(item, LABEL_SCHEMA):
                problems.append("a label is not an object with string id and category")
                continue
            ref, category = str(item["id"]), normalize_name(str(item["category"]))
            if ref not in pending:
                problems.append(f"id {ref[:40]!r} is not an unlabelled sample of this batch")
                continue
            if category not in allowed:
                problems.append(f"{ref}: {category[:40]!r} is not one of the category names")
                continue
            labels[ref] = (category, " ".join(str(item.get("rationale") or "").split())[:300])
            pending.discard(ref)
        if not pending:
            break
        invalid += 1 if problems else 0
        problem = "; ".join(problems[:5]) or f"{len(pending)} samples got no label"
        messages = repair_messages(messages, reply.text, problem, sorted(pending))
    return labels, invalid


def assign(client: ChatClient, categories: Sequence[tuple[str, str]],
           records: Sequence[Record], batch_size: int, concurrency: int,
           max_invalid_retries: int, cancel: threading.Event | None = None,
           on_batch: Callable[[int, int], None] | None = None) -> Assignment:
    """Label every record; batches run on a small thread pool. The cost cap or a failing
    endpoint stops new batches (what is done is kept, the rest stays unlabelled)."""
    batches = [list(records[i:i + batch_size]) for i in range(0, len(records), batch_size)]
    result = Assignment()
    stop = threading.Event()
    lock = threading.Lock()
    done = [0]

    def work(batch: list[Record]) -> None:
        if stop.is_set() or (cancel is not None and cancel.is_set()):
            return
        try:
            labels, invalid = _batch(client, categories, batch, max_invalid_retries, cancel)
        except BudgetExceeded as err:
            with lock:
                result.stopped = result.stopped or f"cost cap reached: {err}"
            stop.set()
            return
        except LlmError as err:
            with lock:
                result.stopped = result.stopped or str(err)
            stop.set()
            return
        with lock:
            result.labels.update(labels)
            result.invalid_replies += invalid
            done[0] += 1
            finished = done[0]
        if on_batch is not None:
            on_batch(finished, len(batches))

    with ThreadPoolExecutor(max_workers=max(1, concurrency),
                            thread_name_prefix="cockpit-triage") as pool:
        futures = [pool.submit(work, b) for b in batches]
        for fut in futures:
            fut.result()  # re-raises Cancelled and programming errors
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    result.unlabelled = [r.ref for r in records if r.ref not in result.labels]
    if result.invalid_replies:
        result.notes.append(f"{result.invalid_replies} replies were invalid and sent back for "
                            "repair")
    return result
