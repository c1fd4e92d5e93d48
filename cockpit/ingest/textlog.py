"""Plain-text training logs: nanoGPT, modded-nanogpt, llm.c, Megatron-LM, HF Trainer stdout.

Training scripts print their metrics as text far more often than they write a structured
log, and the same text is where a crash leaves its traceback. This reader turns metric
lines into points and crashes into one `error` event, line by line and incrementally, so a
log can be tailed while it grows. Banners, tables and config dumps produce nothing: only a
line that starts with a step marker (or is a Trainer log dict) can carry points.
"""

from __future__ import annotations

import re
from typing import Any

from cockpit.ingest import textlog_patterns as pat
from cockpit.ingest.reader import StreamReader
from cockpit.model.records import ReadResult, RunEvent

MAX_LINE = 1024 * 1024  # bytes; a longer line is not a log line (binary junk, a dumped tensor)
_KEY_CACHE_LIMIT = 4096
_PREFIX_STARTS = frozenset("[ 0123456789")  # a line that may carry a rank or time prefix
_TIMESTAMP_STARTS = frozenset("[0123456789")
_SHAPE_LIMIT = 32  # layouts learned per file; more means free text, read generically
_SHAPE_MAX_PAIRS = 64
_SHAPE_MAX_CHARS = 2048
_STEP_LINE_MAX_CHARS = 4096  # longer is a dump, not a metric line (and costly to search)
_MAX_STEP_DIGITS = 18  # a longer "step" is junk (and int() refuses beyond 4,300 digits)
SKIP_STEP = "a step number longer than 18 digits"
_FATAL = "fatal"
_IGNORED = "ignored"  # a traceback Python prints after "Exception ignored in": not a crash


class TextLogReader(StreamReader):
    """Incremental reader of plain-text training logs; a half-written last line waits in `pending`."""

    format = "text"

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, str] = {}  # (raw key|unit) -> stored key
        self._shapes: list[pat.LineShape] = []  # metric line layouts seen: the fast path
        self._reset()

    def _reset(self) -> None:
        self.last_step: int | None = None
        self.total_steps: int | None = None
        self.hf_train = 0  # Trainer log dicts seen: their step
        self.hf_eval = 0  # Trainer eval dicts seen: their own step
        self.finished = False
        self.error_reported = False  # one error event per crash: later echoes are quiet
        self.tracebacks: dict[str, str] = {}  # rank -> _FATAL / _IGNORED while inside one
        self.ignored_armed: set[str] = set()  # ranks whose last line was "Exception ignored in"
        self.metric_rank: str | None = None  # the rank whose metric lines count
        self.skipping = False  # inside an over-long line: drop bytes until its end

    # --- StreamReader --------------------------------------------------------------------

    def feed(self, data: bytes) -> ReadResult:
        result = ReadResult()
        buf = self.pending + data if self.pending else data
        if self.skipping:
            buf = self._skip_long_line(buf)
        end = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
        self.pending = buf[end + 1 :]
        if len(self.pending) > MAX_LINE:
            self._drop_long_line(result)
        if end >= 0:
            self._lines(buf[: end + 1], result)
        return result

    def finish(self) -> ReadResult:
        result = ReadResult()
        if self.pending and not self.skipping:
            self._lines(self.pending, result)
        self.pending = b""
        self.skipping = False
        for rank, kind in list(self.tracebacks.items()):
            if kind == _FATAL:
                self._error("Python traceback at the end of the log, with no exception line",
                            None, result)
            del self.tracebacks[rank]
        return result

    def on_rewrite(self) -> None:
        """A replaced or truncated text log is a new log: counters and crash state start over."""
        self.pending = b""
        self._reset()

    def state(self) -> dict[str, Any]:
        return {
            "last_step": self.last_step,
            "total_steps": self.total_steps,
            "hf_train": self.hf_train,
            "hf_eval": self.hf_eval,
            "finished": self.finished,
            "error_reported": self.error_reported,
            "tracebacks": dict(self.tracebacks),
            "ignored_armed": sorted(self.ignored_armed),
            "metric_rank": self.metric_rank,
            "skipping": self.skipping,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._reset()
        self.last_step = state.get("last_step")
        self.total_steps = state.get("total_steps")
        self.hf_train = int(state.get("hf_train", 0))
        self.hf_eval = int(state.get("hf_eval", 0))
        self.finished = bool(state.get("finished", False))
        self.error_reported = bool(state.get("error_reported", False))
        self.tracebacks = dict(state.get("tracebacks") or {})
        self.ignored_armed = set(state.get("ignored_armed") or ())
        self.metric_rank = state.get("metric_rank")
        self.skipping = bool(state.get("skipping", False))

    # --- over-long lines -------------------------------------------------------------------

    def _drop_long_line(self, result: ReadResult) -> None:
        result.bad(f"line longer than {MAX_LINE} bytes skipped")
        self.pending = b""
        self.skipping = True

    def _skip_long_line(self, buf: bytes) -> bytes:
        ends = [i for i in (buf.find(b"\n"), buf.find(b"\r")) if i >= 0]
        if not ends:
            return b""
        self.skipping = False
        return buf[min(ends) + 1 :]

    # --- lines -----------------------------------------------------------------------------

    def _lines(self, body: bytes, result: ReadResult) -> None:
        text = body.decode("utf-8", errors="replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        # A line of n characters holds at most 4n bytes: only then look for over-long ones.
        if len(body) > MAX_LINE and max(map(len, lines)) * 4 > MAX_LINE:
            lines = self._without_long_lines(body, lines, result)
        if "\x1b" in text:
            lines = [pat.ANSI.sub("", line) if "\x1b" in line else line for line in lines]
        pts = result.points
        add_keys, add_steps = pts.keys.extend, pts.steps.extend
        add_ts, add_values = pts.ts.extend, pts.values.extend
        shapes = self._shapes
        for line in lines:
            if not line:
                continue
            rank = ""
            ts: float | None = None
            if line[0] in _PREFIX_STARTS:
                m = pat.RANK_PREFIX.match(line)
                if m is not None:
                    rank = m.group(1) or m.group(2) or m.group(3)
                    line = line[m.end() :]
                if line and line[0] in _TIMESTAMP_STARTS:
                    tm = pat.TIMESTAMP_PREFIX.match(line)
                    if tm is not None:
                        ts = pat.parse_timestamp(tm.group(1))
                        line = line[tm.end() :]
                if not line:
                    continue
            if self.tracebacks and rank in self.tracebacks and self._traceback_line(
                line, rank, ts, result
            ):
                continue
            for shape in shapes:  # the fast path: a layout seen before
                sm = shape.fullmatch(line)
                if sm is not None:
                    if shape is not shapes[0]:  # most recently used first
                        shapes.remove(shape)
                        shapes.insert(0, shape)
                    break
            else:
                if not self._step_line(line, rank, ts, result):
                    self._other_line(line, rank, ts, result)
                continue
            if rank and not self._counts(rank):
                continue
            g = sm.groups()
            if len(g[shape.step_group]) > _MAX_STEP_DIGITS:
                result.skip(SKIP_STEP)
                continue
            step = int(g[shape.step_group])
            vals = list(map(float, g[shape.first_value :]))
            names = shape.keys
            n = len(vals)
            add_keys(names)
            add_values(vals)
            add_steps([step] * n)
            add_ts([ts] * n)
            if shape.epoch_group is not None:
                pts.add("epoch", step, ts, float(g[shape.epoch_group]))
            if shape.total_group is None:
                self.last_step = step
                self.error_reported = False
            else:
                self._progress(step, g[shape.total_group], ts, result)

    def _step_line(self, line: str, rank: str, ts: float | None, result: ReadResult) -> bool:
        """A line starting with a step marker, read generically; True if it gave points."""
        if len(line) > _STEP_LINE_MAX_CHARS:
            return False
        sm = pat.STEP_LINE.match(line)
        if sm is None:
            return False
        if len(sm.group("step")) > _MAX_STEP_DIGITS:
            result.skip(SKIP_STEP)
            return True
        step = int(sm.group("step"))
        matches: list[re.Match[str]] = []
        names: list[str] = []
        for p in pat.PAIR.finditer(line, sm.end()):
            name = self._key(p.group(1), p.group(3) or "")
            if name:  # a "key" of punctuation only (`(`, `%`) names nothing
                matches.append(p)
                names.append(name)
        value_first = pat.VALUE_FIRST.findall(line, sm.end()) if "|" in line or "(" in line else []
        if not matches and not value_first:
            return False
        if (
            not value_first
            and len(self._shapes) < _SHAPE_LIMIT
            and len(matches) <= _SHAPE_MAX_PAIRS
            and len(line) <= _SHAPE_MAX_CHARS
        ):
            self._shapes.insert(0, pat.learn_shape(line, sm, matches, names))
        if rank and not self._counts(rank):
            return True
        add = result.points.add
        for p, name in zip(matches, names, strict=True):
            # `step_avg:nanms` is kept as NaN, as logged; only loss-like series are NaN-watched.
            add(name, step, ts, float(p.group(2)))
        for token, unit in value_first:
            add(pat.VALUE_FIRST_KEYS.get(unit, "mfu_pct"), step, ts, float(token))
        epoch = sm.group("epoch")
        if epoch is not None:
            add("epoch", step, ts, float(epoch))
        self._progress(step, sm.group("total"), ts, result)
        return True

    def _without_long_lines(self, body: bytes, lines: list[str], result: ReadResult) -> list[str]:
        raw = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        kept = []
        for line, raw_line in zip(lines, raw, strict=True):
            if len(raw_line) > MAX_LINE:
                result.bad(f"line longer than {MAX_LINE} bytes skipped")
            else:
                kept.append(line)
        return kept

    def _key(self, raw: str, unit: str) -> str:
        cache_key = f"{raw}|{unit}"
        key = self._keys.get(cache_key)
        if key is None:
            key = pat.normalise_key(raw, unit)
            if len(self._keys) < _KEY_CACHE_LIMIT:
                self._keys[cache_key] = key
        return key

    def _counts(self, rank: str) -> bool:
        """Only one rank's metric lines count, or every rank would log each step again."""
        if self.metric_rank is None:
            self.metric_rank = rank
        return rank == self.metric_rank

    def _progress(self, step: int, total: str | None, ts: float | None, result: ReadResult) -> None:
        self.last_step = step
        self.error_reported = False  # the run moved on: a later crash is a new one
        if total is None or len(total) > _MAX_STEP_DIGITS:
            return
        total_steps = int(total)
        if total_steps != self.total_steps:
            self.total_steps = total_steps
            result.params["total_steps"] = total_steps
        if step >= total_steps > 0:
            self._finished(f"reached the final step {total_steps}", step, ts, result)

    def _finished(self, message: str, step: int | None, ts: float | None, result: ReadResult) -> None:
        if not self.finished:
            self.finished = True
            result.events.append(RunEvent("finished", message, step, ts))

    def _error(self, message: str, ts: float | None, result: ReadResult) -> None:
        if not self.error_reported:
            self.error_reported = True
            result.events.append(RunEvent("error", pat.trim_message(message), self.last_step, ts))

    # --- tracebacks and crashes -----------------------------------------------------------

    def _traceback_line(self, line: str, rank: str, ts: float | None, result: ReadResult) -> bool:
        """Inside a traceback: True when the line belonged to it (a frame, or its end)."""
        if not line.strip() or line[0] in " \t":
            return True  # frames, source lines, carets, blank lines
        if line.startswith(pat.TRACEBACK_START):
            return True  # chained tracebacks restart with a new header
        if pat.EXCEPTION_LINE.match(line) is None:
            return False  # another writer's line interleaved with the traceback
        kind = self.tracebacks.pop(rank)
        if kind == _FATAL:
            self._error(line, ts, result)
        return True

    def _other_line(self, line: str, rank: str, ts: float | None, result: ReadResult) -> None:
        """Everything that is not a step line: Trainer dicts, Megatron validation, crashes."""
        if "{'" in line and self._hf_dict(line, ts, result):
            return
        if line.startswith(pat.TRACEBACK_START):
            armed = rank in self.ignored_armed
            self.ignored_armed.discard(rank)
            self.tracebacks[rank] = _IGNORED if armed else _FATAL
            return
        if line.startswith(pat.EXCEPTION_IGNORED):
            self.ignored_armed.add(rank)
            return
        self.ignored_armed.discard(rank)
        if "validation loss at" in line:
            self._megatron_validation(line, rank, ts, result)
            return
        if line[0] in " \t":
            return  # source code and tables; crash messages are not indented
        if pat.CRASH_LINE.search(line, 0, pat.CRASH_SEARCH_CHARS) is not None:
            self._error(line, ts, result)
        elif pat.FINISHED_LINE.search(line, 0, pat.CRASH_SEARCH_CHARS) is not None:
            self._finished(line.strip(), self.last_step, ts, result)

    def _megatron_validation(self, line: str, rank: str, ts: float | None, result: ReadResult) -> None:
        m = pat.MEGATRON_VALIDATION.match(line)
        if m is None or (rank and not self._counts(rank)):
            return
        if m.group("step") and len(m.group("step")) > _MAX_STEP_DIGITS:
            result.skip(SKIP_STEP)
            return
        step = int(m.group("step")) if m.group("step") else self.last_step
        split = m.group("split") or "val"
        prefix = "val" if split in ("val", "valid", "validation") else pat.snake(split)
        for raw, token, unit in pat.PAIR.findall(m.group("rest")):
            name = pat.normalise_key(raw, unit)
            name = name.removeprefix("lm_").removesuffix("_value")  # lm loss value -> loss
            name = pat.KEY_ALIASES.get(name, name)
            if name == "val_loss":
                name = "loss"
            elif name == "loss_ppl":
                name = "ppl"
            result.points.add(f"{prefix}_{name}", step, ts, float(token))

    def _hf_dict(self, line: str, ts: float | None, result: ReadResult) -> bool:
        """`{'loss': 2.3, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'epoch': 0.5}` and kin.

        True when the line was a Trainer log record (or a broken one).
        """
        m = pat.HF_DICT.search(line)
        record = pat.parse_hf_dict(m.group(0)) if m is not None else None
        if record is None:
            if "'loss'" in line or "'epoch'" in line:
                result.bad(line)
                return True
            return False
        if "train_runtime" in record:  # the Trainer's closing summary: run facts, not a point
            for key, raw in record.items():
                value = pat.hf_number(raw)
                if value is not None:
                    result.params[pat.snake(key)] = value
            self._finished("Trainer finished training", self.last_step, ts, result)
            return True
        is_eval = any(key.startswith("eval_") for key in record)
        if not is_eval and "loss" not in record and "epoch" not in record:
            return False  # a printed config dict, not a log record
        logged = pat.hf_number(record.get("step", record.get("global_step")))
        logged = int(logged) if logged is not None and logged.is_integer() else None
        if is_eval:
            self.hf_eval += 1
            step = logged if logged is not None else self.hf_eval
        else:
            self.hf_train += 1
            step = logged if logged is not None else self.hf_train
        for key, raw in record.items():
            value = pat.hf_number(raw)
            if value is None or key in ("step", "global_step"):
                continue
            # Eval steps count evals, not log records: their epoch is a series of its own.
            name = "eval_epoch" if is_eval and key == "epoch" else pat.normalise_key(key)
            result.points.add(name, step, ts, float(value))
        if not is_eval:
            self.last_step = step
            self.error_reported = False
        return True
