"""TensorBoard event files (`events.out.tfevents.*`): TFRecord framing, scalars, histograms and
the HParams plugin's data.

The Event protobuf is decoded by hand, so reading needs neither protobuf nor tensorboard.
Scalars come in two encodings: `simple_value` (torch's SummaryWriter, tf1) and one-element
tensors (tf2 `tf.summary.scalar`, new-style writers). Histograms (the histograms and
distributions dashboards) come as a `HistogramProto` (torch, tf1) or as a tf2 tensor of
(left, right, count) rows; they go to the `histograms` table. The HParams plugin's session
start info holds the run's hyper-parameters: they become run params `hparam.<name>`.
Images, audio, text and graphs are skipped.

Speed comes from a fast path: a training loop writes the same few events over and over,
differing only in wall time, step and value. Once an event has been decoded in full, its
bytes after the step, less the value, are remembered with the tag; a later event with the
same bytes costs one dictionary lookup instead of a protobuf walk.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from crc32c import crc32c

from cockpit.ingest.protowire import Malformed as _Malformed
from cockpit.ingest.protowire import fields as _fields
from cockpit.ingest.protowire import varint as _varint
from cockpit.ingest.reader import RecordLogReader
from cockpit.model.records import Histogram, ReadResult

# TFRecord: uint64 length, uint32 masked crc32c(length), data, uint32 masked crc32c(data).
_HEADER = struct.Struct("<QI")
# The header plus the first byte and the double after it: an Event starts with its
# wall_time (key 0x09), so one unpack reads the framing and the time together.
_HEADER_WALL = struct.Struct("<QIBd")
# A record's last 4 bytes (the float32 of torch's layout) and its data checksum, followed by
# the next record's header and wall time.
_RECORD_TAIL = struct.Struct("<fIQIBd")
_U32 = struct.Struct("<I")
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")
_HALF = struct.Struct("<e")
_HEADER_SIZE = 12
_FOOTER_SIZE = 4
_MASK_DELTA = 0xA282EAD8
_U32_MAX = 0xFFFFFFFF
_U64_SIGN = 1 << 63
_U64_WRAP = 1 << 64
_WALL_TIME_KEY = 0x09  # Event field 1, 64-bit
_STEP_KEY = 0x10  # Event field 2, varint
_ZEROS = bytes(_HEADER_SIZE)
_NONZERO = re.compile(rb"[^\x00]")
_CACHE_LIMIT = 4096  # distinct record lengths / tag layouts remembered by the fast path

_SCALARS_PLUGIN = "scalars"
_HISTOGRAMS_PLUGIN = "histograms"
_HPARAMS_PLUGIN = "hparams"
_HPARAMS_PREFIX = "hparam."
_DATA_CLASS_SCALAR = 1  # SummaryMetadata.DataClass.DATA_CLASS_SCALAR

# TensorFlow DataType -> (repeated field of TensorProto holding it, struct of one raw element).
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_UINT8, _DT_INT16, _DT_INT8 = 1, 2, 3, 4, 5, 6
_DT_INT64, _DT_BFLOAT16, _DT_HALF, _DT_UINT32, _DT_UINT64 = 9, 14, 19, 22, 23
_NUMERIC_DTYPES: dict[int, tuple[int, struct.Struct]] = {
    _DT_FLOAT: (5, _FLOAT),
    _DT_DOUBLE: (6, _DOUBLE),
    _DT_INT32: (7, struct.Struct("<i")),
    _DT_UINT8: (7, struct.Struct("<B")),
    _DT_INT16: (7, struct.Struct("<h")),
    _DT_INT8: (7, struct.Struct("<b")),
    _DT_INT64: (10, struct.Struct("<q")),
    _DT_BFLOAT16: (13, struct.Struct("<H")),
    _DT_HALF: (13, _HALF),
    _DT_UINT32: (16, struct.Struct("<I")),
    _DT_UINT64: (17, struct.Struct("<Q")),
}
_SIGNED_VARINT_DTYPES = frozenset({_DT_INT32, _DT_INT16, _DT_INT8, _DT_INT64})


# (tag, value, offset of the value, its struct when a float32/float64 read as is)
_Scalar = tuple[str, float, int, struct.Struct | None]


def masked_crc32c(data: bytes) -> int:
    """The checksum TFRecord stores: crc32c, rotated and offset so data holding CRCs stays safe."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32_MAX


class TfeventsReader(RecordLogReader):
    """Incremental reader of TensorBoard event files; a partial trailing record waits in `pending`.

    A record whose data checksum fails is counted and skipped (its length is trusted, having its
    own checksum). A length whose checksum fails cannot be trusted: the reader counts one bad
    record and scans forward for the next offset that holds a valid length and checksum.
    """

    format = "tfevents"
    what = "tfevents record"

    def __init__(self) -> None:
        super().__init__()
        self._lost = False  # inside a corrupted stretch, looking for the next valid header
        # Tags whose metadata names a plugin other than scalars: their later tensors (which tf2
        # writes without metadata) are not scalars either.
        self._non_scalar_tags: set[str] = set()
        self._histogram_tags: set[str] = set()  # tf2 histogram tensors' tags
        self._length_crcs: dict[int, int] = {}  # record length -> its masked crc (verified)
        # Fast path, learned from events decoded in full. The bytes after the step up to a final
        # float32 (torch's layout) -> tag; else the event's length after the step -> shapes
        # (offset of the float, its struct, bytes before it -> (tag, bytes after it)).
        self._tail_layouts: dict[bytes, str] = {}
        self._layouts: dict[
            int, list[tuple[int, struct.Struct, dict[bytes, tuple[str, bytes]]]]
        ] = {}
        self._learned = 0

    # -- StreamReader interface -------------------------------------------------------------

    def feed(self, data: bytes) -> ReadResult:
        result = ReadResult()
        buf = self.pending + data if self.pending else bytes(data)
        pos = self._scan(buf, result)
        self.pending = buf[pos:]
        self._base += pos
        return result

    def truncated(self) -> bool:
        return bool(self.pending) and not self._lost

    def on_rewrite(self) -> None:
        super().on_rewrite()
        self._lost = False
        self._non_scalar_tags.clear()
        self._histogram_tags.clear()
        self._forget_layouts()

    def state(self) -> dict[str, Any]:
        return {
            "base": self._base,
            "lost": self._lost,
            "non_scalar_tags": sorted(self._non_scalar_tags),
            "histogram_tags": sorted(self._histogram_tags),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._base = int(state.get("base", 0))
        self._lost = bool(state.get("lost", False))
        self._non_scalar_tags = set(state.get("non_scalar_tags", ()))
        self._histogram_tags = set(state.get("histogram_tags", ()))
        self._forget_layouts()

    # -- framing and the fast path ----------------------------------------------------------

    def _scan(self, buf: bytes, result: ReadResult) -> int:
        """Read every complete record in `buf`; returns where the unread rest begins."""
        end = len(buf)
        pts = result.points
        keys_add, steps_add = pts.keys.append, pts.steps.append
        ts_add, values_add = pts.ts.append, pts.values.append
        tail_layouts = self._tail_layouts
        layouts = self._layouts
        length_crcs = self._length_crcs
        header_wall = _HEADER_WALL.unpack_from
        record_tail = _RECORD_TAIL.unpack_from
        unpack_u32 = _U32.unpack_from
        last_header = end - _HEADER_WALL.size
        last_tail_stop = end - _RECORD_TAIL.size + 4  # a record ending here has a next header
        next_length = next_crc = next_first = 0
        next_wall = 0.0
        have_next = False
        pos = 0
        if self._lost:
            pos = self._resync(buf, 0)
        while True:
            if have_next:  # read together with the previous record's tail
                length, length_crc, first, wall = next_length, next_crc, next_first, next_wall
                have_next = False
            elif pos <= last_header:
                length, length_crc, first, wall = header_wall(buf, pos)
            elif pos + _HEADER_SIZE <= end:
                length, length_crc = _HEADER.unpack_from(buf, pos)
                first, wall = -1, 0.0
            else:
                return pos
            if length_crcs.get(length) != length_crc:
                if masked_crc32c(buf[pos : pos + 8]) != length_crc:
                    result.bad(
                        f"tfevents length checksum mismatch at byte {self._base + pos}; "
                        "skipped to the next valid record"
                    )
                    self._lost = True
                    pos = self._resync(buf, pos + 1)
                    continue
                if len(length_crcs) >= _CACHE_LIMIT:
                    length_crcs.clear()
                length_crcs[length] = length_crc
            start = pos + _HEADER_SIZE
            stop = start + length
            if stop + _FOOTER_SIZE > end:
                return pos
            if stop <= last_tail_stop:
                tail, data_crc, next_length, next_crc, next_first, next_wall = record_tail(
                    buf, stop - 4
                )
                have_next = True
            else:
                tail = None
                data_crc = unpack_u32(buf, stop)[0]
            crc = crc32c(buf[start:stop])
            if (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32_MAX != data_crc:
                result.bad(
                    f"tfevents record at byte {self._base + pos} fails its data checksum; skipped"
                )
                pos = stop + _FOOTER_SIZE
                continue
            pos = stop + _FOOTER_SIZE
            try:
                if first != _WALL_TIME_KEY or length <= 9:
                    self._decode_event(buf, start, stop, result)
                    continue
                # wall_time first (read with the header), then the step varint if nonzero.
                p = start + 9
                if buf[p] == _STEP_KEY:
                    b = buf[p + 1]
                    if b < 0x80:
                        step = b
                        p += 2
                    else:
                        c = buf[p + 2]
                        if c < 0x80:
                            step = (b & 0x7F) | c << 7
                            p += 3
                        elif buf[p + 3] < 0x80:
                            step = (b & 0x7F) | (c & 0x7F) << 7 | buf[p + 3] << 14
                            p += 4
                        else:
                            step, p = _varint(buf, p + 1)
                            if step >= _U64_SIGN:
                                step -= _U64_WRAP
                else:
                    step = 0
                # The rest of the event is a layout seen before, bar the value?
                tag = tail_layouts.get(buf[p : stop - 4])
                if tag is not None:  # torch's SummaryWriter: the float32 ends the event
                    keys_add(tag)
                    steps_add(step)
                    ts_add(wall)
                    values_add(_FLOAT.unpack_from(buf, stop - 4)[0] if tail is None else tail)
                    continue
                for hole, value_struct, prefixes in layouts.get(stop - p, ()):
                    known = prefixes.get(buf[p : p + hole])
                    if known is not None and buf.startswith(known[1], p + hole + value_struct.size):
                        keys_add(known[0])
                        steps_add(step)
                        ts_add(wall)
                        values_add(value_struct.unpack_from(buf, p + hole)[0])
                        break
                else:
                    learned = self._decode_event(buf, start, stop, result)
                    if learned is not None and learned[0] == step and learned[1] == wall:
                        self._learn(buf, p, stop, learned[2])
            except (_Malformed, IndexError, struct.error) as exc:
                result.bad(f"tfevents record at byte {self._base + start - 12} is malformed: {exc}")

    def _resync(self, buf: bytes, start: int) -> int:
        """Where reading resumes after a damaged length: the next valid header, if one is in
        `buf`, else the last bytes that may still begin one (nothing else is kept)."""
        found = _find_header(buf, start)
        if found is None:
            return max(start, len(buf) - _HEADER_SIZE + 1)
        self._lost = False
        return found

    def _learn(self, buf: bytes, p: int, stop: int, scalar: _Scalar) -> None:
        """Remember the bytes around a float value so the next event of this shape skips decoding.

        The bytes from after the step to the end of the event, less the value, fix the tag and
        every length: an event with the same bytes there decodes the same, bar the value.
        """
        tag, _, at, value_struct = scalar
        if value_struct is None or at < p:
            return
        self._learned += 1
        if self._learned > _CACHE_LIMIT:
            self._forget_layouts()
            self._learned = 1
        if value_struct is _FLOAT and at + 4 == stop:
            self._tail_layouts[buf[p:at]] = tag
            return
        hole = at - p
        prefix, suffix = buf[p:at], buf[at + value_struct.size : stop]
        shapes = self._layouts.setdefault(stop - p, [])
        for shape_hole, shape_struct, prefixes in shapes:
            if shape_hole == hole and shape_struct is value_struct:
                prefixes[prefix] = (tag, suffix)
                return
        shapes.append((hole, value_struct, {prefix: (tag, suffix)}))

    def _forget_layouts(self) -> None:
        self._tail_layouts.clear()
        self._layouts.clear()

    # -- the general decoder ----------------------------------------------------------------

    def _decode_event(
        self, buf: bytes, start: int, stop: int, result: ReadResult
    ) -> tuple[int, float | None, _Scalar] | None:
        """Points for every scalar Value of any Event layout (histograms and hparams go to
        `result` too).

        Returns (step, wall_time, scalar) when the event held exactly one Value and it was a
        scalar, which is the shape the fast path can learn.
        """
        wall: float | None = None
        step = 0
        summaries: list[tuple[int, int]] = []
        for field, wire, a, b in _fields(buf, start, stop):
            if field == 1 and wire == 1:
                wall = _DOUBLE.unpack_from(buf, a)[0]
            elif field == 2 and wire == 0:
                step = a - _U64_WRAP if a >= _U64_SIGN else a
            elif field == 5 and wire == 2:
                summaries.append((a, b))
        values = 0
        scalars: list[_Scalar] = []
        others: list[Histogram | dict[str, Any]] = []
        for s_start, s_stop in summaries:
            for field, wire, a, b in _fields(buf, s_start, s_stop):
                if field == 1 and wire == 2:
                    values += 1
                    found = self._value(buf, a, b, step, wall)
                    if isinstance(found, tuple):
                        scalars.append(found)
                    elif found is not None:
                        others.append(found)
        for scalar in scalars:  # only once the whole event has parsed
            result.points.add(scalar[0], step, wall, scalar[1])
        for other in others:
            if isinstance(other, Histogram):
                result.histograms.append(other)
            else:
                result.params.update(other)
        return (step, wall, scalars[0]) if values == 1 and scalars else None

    def _value(self, buf: bytes, start: int, stop: int, step: int, wall: float | None
               ) -> _Scalar | Histogram | dict[str, Any] | None:
        """What a Summary.Value holds: a scalar, a histogram, hparams, or None (skipped)."""
        tag: str | None = None
        simple: int | None = None
        histo: tuple[int, int] | None = None
        tensor: tuple[int, int] | None = None
        plugin: str | None = None
        content: tuple[int, int] | None = None
        for field, wire, a, b in _fields(buf, start, stop):
            if field == 1 and wire == 2:
                tag = buf[a:b].decode("utf-8", errors="replace")
            elif field == 2 and wire == 5:
                simple = a
            elif field == 5 and wire == 2:
                histo = (a, b)
            elif field == 8 and wire == 2:
                tensor = (a, b)
            elif field == 9 and wire == 2:
                plugin, content = _plugin_of_metadata(buf, a, b)
        if tag is None:
            return None
        if simple is not None:
            return tag, _FLOAT.unpack_from(buf, simple)[0], simple, _FLOAT
        if histo is not None:
            return _histogram_proto(buf, *histo, tag, step, wall)
        if plugin == _HPARAMS_PLUGIN:
            return _hparams(buf, *content) if content is not None else None
        if plugin is not None:  # tf2 writes metadata only with the first event of a tag
            if plugin == _SCALARS_PLUGIN:
                self._non_scalar_tags.discard(tag)
                self._histogram_tags.discard(tag)
            elif tag not in self._non_scalar_tags:
                self._non_scalar_tags.add(tag)
                self._forget_layouts()  # a learned layout may name this tag
            if plugin == _HISTOGRAMS_PLUGIN:
                self._histogram_tags.add(tag)
        if tensor is None:
            return None
        if tag in self._histogram_tags:
            return _histogram_tensor(buf, *tensor, tag, step, wall)
        if tag in self._non_scalar_tags:
            return None
        found = _scalar_of_tensor(buf, *tensor)
        return None if found is None else (tag, *found)


def _plugin_of_metadata(buf: bytes, start: int, stop: int) -> tuple[str, tuple[int, int] | None]:
    """(plugin, span of its content) a SummaryMetadata names; "scalars" for data_class SCALAR
    or no plugin."""
    plugin = ""
    content: tuple[int, int] | None = None
    for field, wire, a, b in _fields(buf, start, stop):
        if field == 1 and wire == 2:  # plugin_data
            for f2, w2, a2, b2 in _fields(buf, a, b):
                if f2 == 1 and w2 == 2:
                    plugin = buf[a2:b2].decode("utf-8", errors="replace")
                elif f2 == 2 and w2 == 2:
                    content = (a2, b2)
        elif field == 4 and wire == 0 and a == _DATA_CLASS_SCALAR:
            return _SCALARS_PLUGIN, None
    return plugin or _SCALARS_PLUGIN, content


def _doubles(buf: bytes, start: int, stop: int, wire: int) -> list[float]:
    """A repeated double field: packed (wire 2) or one element (wire 1)."""
    if wire == 1:
        return [_DOUBLE.unpack_from(buf, start)[0]]
    n = (stop - start) // 8
    return list(struct.unpack_from(f"<{n}d", buf, start))


def _histogram_proto(buf: bytes, start: int, stop: int, tag: str, step: int,
                     wall: float | None) -> Histogram:
    """TF's HistogramProto: min, max, num, sum, sum_squares, bucket_limit[], bucket[]."""
    scalars = [0.0] * 5
    limits: list[float] = []
    counts: list[float] = []
    for field, wire, a, b in _fields(buf, start, stop):
        if 1 <= field <= 5 and wire == 1:
            scalars[field - 1] = _DOUBLE.unpack_from(buf, a)[0]
        elif field == 6 and wire in (1, 2):
            limits += _doubles(buf, a, b, wire)
        elif field == 7 and wire in (1, 2):
            counts += _doubles(buf, a, b, wire)
    if len(limits) != len(counts):
        raise _Malformed(f"histogram {tag!r} has {len(limits)} limits for {len(counts)} buckets")
    return Histogram(tag, step, wall, scalars[0], scalars[1], scalars[2], scalars[3], scalars[4],
                     limits, counts)


def _histogram_tensor(buf: bytes, start: int, stop: int, tag: str, step: int,
                      wall: float | None) -> Histogram | None:
    """tf2's histogram: a float tensor of k rows (left edge, right edge, count)."""
    dtype = 0
    content: tuple[int, int] | None = None
    packed: list[float] = []
    for field, wire, a, b in _fields(buf, start, stop):
        if field == 1 and wire == 0:
            dtype = a
        elif field == 4 and wire == 2:
            content = (a, b)
        elif field == 6 and wire in (1, 2):
            packed += _doubles(buf, a, b, wire)
        elif field == 5 and wire == 2:
            packed += list(struct.unpack_from(f"<{(b - a) // 4}f", buf, a))
    if content is not None and content[1] > content[0]:
        size = 8 if dtype == _DT_DOUBLE else 4
        n = (content[1] - content[0]) // size
        packed = list(struct.unpack_from(f"<{n}{'d' if size == 8 else 'f'}", buf, content[0]))
    if not packed or len(packed) % 3:
        return None
    rows = [packed[i:i + 3] for i in range(0, len(packed), 3)]
    counts = [r[2] for r in rows]
    return Histogram(tag, step, wall, rows[0][0], rows[-1][1], sum(counts), None, None,
                     [r[1] for r in rows], counts)


def _hparams(buf: bytes, start: int, stop: int) -> dict[str, Any] | None:
    """`hparam.<name>` -> value from the HParams plugin's session start info, else None."""
    out: dict[str, Any] = {}
    for field, wire, a, b in _fields(buf, start, stop):
        if field != 3 or wire != 2:  # HParamsPluginData.session_start_info
            continue
        for f2, w2, a2, b2 in _fields(buf, a, b):
            if f2 == 1 and w2 == 2:  # map<string, google.protobuf.Value> entry
                name, value = "", None
                for f3, w3, a3, b3 in _fields(buf, a2, b2):
                    if f3 == 1 and w3 == 2:
                        name = buf[a3:b3].decode("utf-8", errors="replace")
                    elif f3 == 2 and w3 == 2:
                        value = _protobuf_value(buf, a3, b3)
                if name:
                    out[_HPARAMS_PREFIX + name] = value
    return out or None


def _protobuf_value(buf: bytes, start: int, stop: int) -> Any:
    """A google.protobuf.Value: number, string or bool (None for null, lists and structs)."""
    for field, wire, a, b in _fields(buf, start, stop):
        if field == 2 and wire == 1:
            number = _DOUBLE.unpack_from(buf, a)[0]
            return int(number) if number.is_integer() and abs(number) < 2**53 else number
        if field == 3 and wire == 2:
            return buf[a:b].decode("utf-8", errors="replace")
        if field == 4 and wire == 0:
            return bool(a)
    return None


def _scalar_of_tensor(
    buf: bytes, start: int, stop: int
) -> tuple[float, int, struct.Struct | None] | None:
    """(value, offset, struct) of a one-element numeric TensorProto, else None.

    The struct is given only for a float32/float64 read at `offset` as is, which the fast path
    can repeat; other types need a conversion.
    """
    dtype = 0
    elements = 1
    content: tuple[int, int] | None = None
    values: dict[int, tuple[int, int, int]] = {}  # field -> first (wire, a, b)
    for field, wire, a, b in _fields(buf, start, stop):
        if field == 1 and wire == 0:
            dtype = a
        elif field == 2 and wire == 2:
            elements = _element_count(buf, a, b)
        elif field == 4 and wire == 2:
            content = (a, b)
        elif field not in values:
            values[field] = (wire, a, b)
    spec = _NUMERIC_DTYPES.get(dtype)
    if spec is None or elements != 1:
        return None
    field, raw = spec
    repeatable = raw if dtype in (_DT_FLOAT, _DT_DOUBLE) else None
    if content is not None and content[1] > content[0]:
        if content[1] - content[0] != raw.size:
            return None
        return _from_raw(dtype, raw.unpack_from(buf, content[0])[0]), content[0], repeatable
    if field not in values:
        return 0.0, 0, None  # TensorFlow fills a tensor without values with zeros
    wire, a, b = values[field]
    if field in (5, 6):  # float_val, double_val: packed or not, fixed size
        if b - a < raw.size:
            return None
        return raw.unpack_from(buf, a)[0], a, repeatable
    if wire == 2:  # packed varints: the first one
        if b == a:
            return None
        a = _varint(buf, a)[0]
    elif wire != 0:
        return None
    if dtype in _SIGNED_VARINT_DTYPES and a >= _U64_SIGN:
        a -= _U64_WRAP
    if dtype in (_DT_HALF, _DT_BFLOAT16):
        return _from_raw(dtype, a & 0xFFFF), 0, None
    return float(a), 0, None


def _from_raw(dtype: int, raw: float | int) -> float:
    """A raw element as a float; 16-bit floats arrive as their bit pattern from `half_val`."""
    if dtype == _DT_HALF and isinstance(raw, int):
        return float(_HALF.unpack(raw.to_bytes(2, "little"))[0])
    if dtype == _DT_BFLOAT16:
        return float(_FLOAT.unpack((int(raw) << 16).to_bytes(4, "little"))[0])
    return float(raw)


def _element_count(buf: bytes, start: int, stop: int) -> int:
    """Elements of a TensorShapeProto: the product of its dims, -1 when the rank is unknown."""
    count = 1
    for field, wire, a, b in _fields(buf, start, stop):
        if field == 2 and wire == 2:
            for f2, w2, a2, _ in _fields(buf, a, b):
                if f2 == 1 and w2 == 0:
                    count *= a2 - _U64_WRAP if a2 >= _U64_SIGN else a2
        elif field == 3 and wire == 0 and a:
            return -1
    return count


def _find_header(buf: bytes, start: int) -> int | None:
    """The first offset >= start holding a length and its valid checksum, None if not yet seen.

    Real records are shorter than 1 TiB, so the length's top three bytes are zero: a cheap
    `find` picks the candidates before any checksum is computed. Twelve zero bytes are never
    a header, so a zero-filled stretch (a file cut short by a crash) is skipped in one step.
    """
    end = len(buf)
    p = start
    while True:
        z = buf.find(b"\x00\x00\x00", p + 5)
        if z < 0:
            return None
        candidate = z - 5
        if candidate + _HEADER_SIZE > end:
            return None
        if masked_crc32c(buf[candidate : candidate + 8]) == _U32.unpack_from(buf, candidate + 8)[0]:
            return candidate
        p = candidate + 1
        if buf.startswith(_ZEROS, candidate):
            nonzero = _NONZERO.search(buf, candidate + _HEADER_SIZE)
            if nonzero is None:
                return None
            p = max(p, nonzero.start() - _HEADER_SIZE + 1)
