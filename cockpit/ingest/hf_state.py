"""Reader of Hugging Face Trainer's `trainer_state.json`.

The Trainer rewrites this JSON document as a whole at every checkpoint, with its
`log_history` list grown by the entries logged since. The follower feeds the full content
after each change; the reader emits only the entries it has not emitted before.

A document that does not parse is either being written right now or broken. It counts as
being written (kept in `pending`, no points, not bad) while it does not yet end in `}` or `]`
or the parser stopped at its very end; it counts as one bad record when it ends in `}` or `]`
and the parser stopped earlier (a truncation whose last character is a `}` inside a string
is miscounted as bad; the next rewrite reads normally either way).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from cockpit.ingest.reader import StreamReader
from cockpit.model.records import ReadResult, RunEvent

MAX_DOCUMENT_BYTES = 512 << 20  # no trainer_state.json comes near this; bounds `pending`


def _fingerprint(entry: Any) -> str:
    text = json.dumps(entry, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        return None


def _as_step(value: Any) -> int | None:
    number = _as_float(value)
    if number is None or not math.isfinite(number):
        return None
    return int(number)


def _parse(doc: bytes) -> tuple[Any, str | None, bool]:
    """(document, problem, complete): complete False means wait for the rest of the file."""
    try:
        text = doc.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        truncated = exc.end >= len(doc) and exc.reason == "unexpected end of data"
        return None, f"not valid UTF-8 at byte {exc.start}", not truncated
    stripped = text.rstrip()
    if not stripped.endswith(("}", "]")):
        return None, "the JSON document is incomplete", False
    try:
        return json.loads(stripped), None, True  # bare NaN / Infinity accepted
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc}", exc.pos < len(stripped)
    except RecursionError:
        return None, "invalid JSON: nested too deeply", True
    except ValueError:  # a number of more than 4,300 digits
        return None, "invalid JSON: a number too long to read", True


class HfTrainerStateReader(StreamReader):
    """Points from `log_history` entries; params and the finished event from the top level."""

    format = "hf_state"
    whole_file = True

    def __init__(self) -> None:
        super().__init__()
        self._consumed = 0  # log_history entries already emitted
        self._last_entry: str | None = None  # fingerprint of entry `_consumed - 1`
        self._finished = False

    def feed(self, data: bytes) -> ReadResult:
        result = ReadResult()
        doc, problem, complete = _parse(self.pending + data)
        if problem is not None and self.pending:
            # Fed again without `on_rewrite()`: the new bytes alone may be the whole file.
            alone, problem_alone, _ = _parse(data)
            if problem_alone is None and isinstance(alone, dict):
                doc, problem = alone, None
        if problem is None:
            self.pending = b""
            self._read_document(doc, result)
        elif complete:
            self.pending = b""
            result.bad(f"trainer_state.json: {problem}")
        else:
            self.pending += data
            if len(self.pending) > MAX_DOCUMENT_BYTES:
                self.pending = b""
                result.bad(f"trainer_state.json is larger than {MAX_DOCUMENT_BYTES} bytes")
        return result

    def finish(self) -> ReadResult:
        """The file stopped changing: an unparsable document is now known to be broken."""
        result = ReadResult()
        if self.pending:
            _, problem, _ = _parse(self.pending)
            result.bad(f"trainer_state.json: {problem}")
            self.pending = b""
        return result

    def state(self) -> dict[str, Any]:
        return {"entries": self._consumed, "last_entry": self._last_entry,
                "finished": self._finished}

    def restore(self, state: dict[str, Any]) -> None:
        self._consumed = int(state.get("entries", 0))
        self._last_entry = state.get("last_entry")
        self._finished = bool(state.get("finished", False))

    def _read_document(self, doc: Any, result: ReadResult) -> None:
        if not isinstance(doc, dict):
            result.bad(f"trainer_state.json holds a JSON {type(doc).__name__}, not an object")
            return
        history = doc.get("log_history", [])
        if isinstance(history, list):
            self._emit_new_entries(history, result)
        else:  # what was emitted stays counted: the next good rewrite continues from it
            result.bad("trainer_state.json: log_history is not a list")
        result.params.update({k: v for k, v in doc.items() if k != "log_history"
                              and (v is None or isinstance(v, str | int | float))})
        global_step, max_steps = _as_step(doc.get("global_step")), _as_step(doc.get("max_steps"))
        if (not self._finished and global_step is not None and max_steps
                and global_step >= max_steps > 0):
            self._finished = True
            result.events.append(RunEvent(
                "finished", f"trainer_state.json: global_step {global_step} reached "
                f"max_steps {max_steps}", step=global_step))

    def _emit_new_entries(self, history: list[Any], result: ReadResult) -> None:
        n = self._consumed
        if n > len(history) or (n and _fingerprint(history[n - 1]) != self._last_entry):
            n = 0  # log_history is not the one read before: another run wrote this file
            self._finished = False
        add = result.points.add
        for entry in history[n:]:
            if not isinstance(entry, dict):
                result.bad(f"trainer_state.json: log_history entry is not an object: {entry!r}")
                continue
            step = _as_step(entry.get("step"))
            for key, raw in entry.items():
                value = _as_float(raw)
                if key != "step" and value is not None:
                    add(str(key), step, None, value)
        self._consumed = len(history)
        self._last_entry = _fingerprint(history[-1]) if history else None
