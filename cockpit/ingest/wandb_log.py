"""Weights & Biases run logs (`wandb/offline-run-*/run-<id>.wandb`, `wandb/run-*/...`).

An offline W&B run keeps its whole history only in this binary file: a LevelDB-style log
(a 7-byte header `:W&B` 0xBEE1 version, then 32 KiB blocks of records, each `crc32 (zlib, of
type + data), length (u16), type (1 full, 2 first, 3 middle, 4 last)`) of `wandb_internal`
`Record` protobufs. Decoded by hand like the tfevents reader, so reading needs no wandb:

- `history` records (each `wandb.log` call) become points, step from `_step`, time from
  `_timestamp`; nested keys are joined with `/`; media and other objects are skipped;
- `stats` records (system metrics: cpu, memory, gpu.N.*) become points `system/<key>` with
  their timestamp and no step;
- `run` and `config` records become run params (`wandb.run_id`, `config.<key>` ...);
- the `exit` record says the run finished (exit code 0) or failed.

Verified against files written by wandb 0.31.0 (wandb-core) in offline mode (tests).
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from cockpit.ingest.protowire import Malformed as _Malformed
from cockpit.ingest.protowire import fields as _fields
from cockpit.ingest.reader import RecordLogReader
from cockpit.model.records import ReadResult, RunEvent

MAGIC = b":W&B\xe1\xbe"
_FILE_HEADER = 7
_BLOCK = 32768
_RECORD_HEADER = 7
_HEADER = struct.Struct("<IHB")
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_U64_SIGN = 1 << 63
_SKIPPED_KEYS = frozenset({"_step", "_runtime", "_timestamp"})


class WandbReader(RecordLogReader):
    """Incremental reader of a `.wandb` log; an incomplete record waits in `pending`."""

    format = "wandb"
    what = "W&B record"

    def __init__(self) -> None:
        super().__init__()
        self._steps = 0  # history records seen without a step

    def feed(self, data: bytes) -> ReadResult:
        result = ReadResult()
        buf = self.pending + data if self.pending else bytes(data)
        pos = 0
        if self._base == 0:
            if len(buf) < _FILE_HEADER:
                self.pending = buf
                return result
            if not buf.startswith(MAGIC):
                result.bad("not a W&B run log (no :W&B header)")
                self.pending = b""
                self._base = len(buf)
                return result
            pos = _FILE_HEADER
        pos = self._records(buf, pos, result)
        self.pending = buf[pos:]
        self._base += pos
        return result

    def truncated(self) -> bool:
        return bool(self.pending.strip(b"\x00"))  # zeros: a block's padding, not a record

    def on_rewrite(self) -> None:
        super().on_rewrite()
        self._steps = 0

    def state(self) -> dict[str, Any]:
        return {"base": self._base, "steps": self._steps}

    def restore(self, state: dict[str, Any]) -> None:
        self._base = int(state.get("base", 0))
        self._steps = int(state.get("steps", 0))

    # -- framing -------------------------------------------------------------------------------

    def _records(self, buf: bytes, pos: int, result: ReadResult) -> int:
        """Decode every complete logical record from `pos`; returns where the rest begins."""
        parts: list[bytes] = []
        start = pos  # where the logical record being assembled began
        trusted = True  # the last header read was good: a bad one's length is believed once
        while True:
            left_in_block = _BLOCK - (self._base + pos) % _BLOCK
            if left_in_block < _RECORD_HEADER:  # the block's zero-filled trailer
                if pos + left_in_block > len(buf):
                    return start
                pos += left_in_block
                if not parts:
                    start = pos
                continue
            if pos + _RECORD_HEADER > len(buf):
                return start
            crc, length, kind = _HEADER.unpack_from(buf, pos)
            if crc == 0 and length == 0 and kind == 0:
                return start  # zeros past the end of what was written: wait for more
            end = pos + _RECORD_HEADER + length
            if end > len(buf):
                return start
            data = buf[pos + _RECORD_HEADER : end]
            if zlib.crc32(bytes([kind]) + data) != crc or kind not in (1, 2, 3, 4):
                # Skip this record, trusting its length once; if the next header is no good
                # either, the length was the damage: skip to the next block, as LevelDB does.
                where = "the next record" if trusted else "the next block"
                result.bad(f"W&B record at byte {self._base + pos} fails its checksum; "
                           f"skipped to {where}")
                pos = end if trusted else pos + left_in_block
                trusted = False
                parts, start = [], pos
                continue
            trusted = True
            pos = end
            if kind == _FULL:
                parts = [data]
            elif kind == _FIRST:
                parts = [data]
                continue
            else:
                parts.append(data)
                if kind == _MIDDLE:
                    continue
            try:
                self._record(b"".join(parts), result)
            except (_Malformed, IndexError, struct.error, ValueError) as exc:
                result.bad(f"W&B record before byte {self._base + pos} is malformed: {exc}")
            parts, start = [], pos

    # -- records -------------------------------------------------------------------------------

    def _record(self, data: bytes, result: ReadResult) -> None:
        for field, wire, a, b in _fields(data, 0, len(data)):
            if wire != 2:
                continue
            if field == 2:
                self._history(data, a, b, result)
            elif field == 7:
                _stats(data, a, b, result)
            elif field == 17:
                _run(data, a, b, result)
            elif field == 5:
                _config(data, a, b, result)
            elif field == 18:
                _exit(data, a, b, result)

    def _history(self, data: bytes, start: int, stop: int, result: ReadResult) -> None:
        step: int | None = None
        items: list[tuple[str, Any]] = []
        for field, wire, a, b in _fields(data, start, stop):
            if field == 1 and wire == 2:
                items.append(_item(data, a, b))
            elif field == 2 and wire == 2:
                for f2, w2, a2, _ in _fields(data, a, b):
                    if f2 == 1 and w2 == 0:
                        step = a2 - (1 << 64) if a2 >= _U64_SIGN else a2
        values = dict(items)
        if step is None and isinstance(values.get("_step"), int | float):
            step = int(values["_step"])
        if step is None:
            step = self._steps
        self._steps = step + 1
        ts = values.get("_timestamp")
        ts = float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None
        add = result.points.add
        for key, value in items:
            if key in _SKIPPED_KEYS or key.startswith("_wandb"):
                continue
            for name, number in _numbers(key, value):
                add(name, step, ts, number)


def _item(data: bytes, start: int, stop: int) -> tuple[str, Any]:
    """(key, value) of a HistoryItem / StatsItem / ConfigItem: `nested_key` parts joined by
    `/`; the value from value_json, or the typed fields newer writers use."""
    key = ""
    nested: list[str] = []
    value: Any = None
    for field, wire, a, b in _fields(data, start, stop):
        if field == 1 and wire == 2:
            key = data[a:b].decode("utf-8", errors="replace")
        elif field == 2 and wire == 2:
            nested.append(data[a:b].decode("utf-8", errors="replace"))
        elif field == 16 and wire == 2:
            value = _json(data[a:b])
        elif field == 6 and wire == 1:
            value = struct.unpack_from("<d", data, a)[0]
        elif field == 5 and wire == 0:
            value = (a >> 1) ^ -(a & 1)  # sint64, zigzag
        elif field == 4 and wire == 0:
            value = bool(a)
        elif field == 8 and wire == 2:
            value = _json(data[a:b])
    return ("/".join(nested) if nested else key), value


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)  # W&B writes NaN and Infinity as bare tokens, as Python does
    except ValueError:
        return None


def _numbers(key: str, value: Any) -> list[tuple[str, float]]:
    """Points from one logged value: numbers as they are, dicts of numbers flattened
    (`{"a": {"b": 1}}` -> `a/b`), W&B objects (images, tables, histograms) skipped."""
    if isinstance(value, bool):
        return [(key, float(value))]
    if isinstance(value, int | float):
        try:
            return [(key, float(value))]
        except OverflowError:
            return []
    if isinstance(value, dict) and "_type" not in value:
        out: list[tuple[str, float]] = []
        for k, v in value.items():
            out += _numbers(f"{key}/{k}", v)
        return out
    return []


def _stats(data: bytes, start: int, stop: int, result: ReadResult) -> None:
    ts: float | None = None
    items: list[tuple[str, Any]] = []
    for field, wire, a, b in _fields(data, start, stop):
        if field == 2 and wire == 2:
            seconds = nanos = 0
            for f2, w2, a2, _ in _fields(data, a, b):
                if f2 == 1 and w2 == 0:
                    seconds = a2
                elif f2 == 2 and w2 == 0:
                    nanos = a2
            ts = seconds + nanos / 1e9
        elif field == 3 and wire == 2:
            items.append(_item(data, a, b))
    for key, value in items:
        for name, number in _numbers(f"system/{key}", value):
            result.points.add(name, None, ts, number)


def _run(data: bytes, start: int, stop: int, result: ReadResult) -> None:
    names = {1: "wandb.run_id", 2: "wandb.entity", 3: "wandb.project", 6: "wandb.group",
             8: "wandb.name"}
    for field, wire, a, b in _fields(data, start, stop):
        if field in names and wire == 2 and b > a:
            result.params[names[field]] = data[a:b].decode("utf-8", errors="replace")
        elif field == 4 and wire == 2:
            _config(data, a, b, result)


def _config(data: bytes, start: int, stop: int, result: ReadResult) -> None:
    for field, wire, a, b in _fields(data, start, stop):
        if field == 1 and wire == 2:
            key, value = _item(data, a, b)
            if key and not key.startswith("_wandb"):
                result.params[f"config.{key}"] = value


def _exit(data: bytes, start: int, stop: int, result: ReadResult) -> None:
    code = 0
    for field, wire, a, _ in _fields(data, start, stop):
        if field == 1 and wire == 0:
            code = a - (1 << 64) if a >= _U64_SIGN else a
            code = code - (1 << 32) if code >= 1 << 31 else code
    if code == 0:
        result.events.append(RunEvent("finished", "W&B run exited with code 0"))
    else:
        result.events.append(RunEvent("error", f"W&B run exited with code {code}"))
