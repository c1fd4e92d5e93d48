"""TfeventsReader against files written by torch's SummaryWriter and tensorboard's own writer.

The expected points come from what the test logged or from decoding the same file with
tensorboard's protobuf classes, never from the reader under test.
"""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tb_masked_crc32c
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from cockpit.ingest.tfevents import TfeventsReader

FIXTURES = Path(__file__).parent / "fixtures" / "h100-runs"
NAN = float("nan")
INF = float("inf")

Row = tuple[str, int | None, float | None, float]


# -- helpers ----------------------------------------------------------------------------------


def _event_file(folder: Path) -> Path:
    (path,) = folder.glob("events.out.tfevents.*")
    return path


def _f32(x: float) -> float:
    return float(np.float32(x))


def _same(a: list[Row], b: list[Row]) -> bool:
    """Row lists equal, NaN equal to NaN."""
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if ra[:3] != rb[:3]:
            return False
        if not (ra[3] == rb[3] or (math.isnan(ra[3]) and math.isnan(rb[3]))):
            return False
    return True


def _read(data: bytes, chunks: list[int] | None = None) -> tuple[list[Row], int, TfeventsReader]:
    """All rows of `data` fed whole or in the given chunk sizes; also the bad-record count."""
    reader = TfeventsReader()
    rows: list[Row] = []
    bad = 0
    pos = 0
    for size in chunks or [len(data)]:
        result = reader.feed(data[pos : pos + size])
        rows += result.points.rows()
        bad += result.bad_records
        pos += size
    assert pos >= len(data)
    return rows, bad, reader


def _records(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every TFRecord in a well-formed file, found by its framing alone."""
    spans = []
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        spans.append((pos, pos + 16 + length))
        pos += 16 + length
    return spans


def _protobuf_scalars(data: bytes) -> list[Row]:
    """The scalar points of a file, decoded by tensorboard's protobuf classes (the oracle)."""
    rows: list[Row] = []
    plugins: dict[str, str] = {}
    for start, end in _records(data):
        event = event_pb2.Event.FromString(data[start + 12 : end - 4])
        wall = event.wall_time or None  # proto3: a zero wall_time is not written
        for value in event.summary.value:
            if value.HasField("metadata"):
                plugins[value.tag] = value.metadata.plugin_data.plugin_name or "scalars"
            if value.HasField("simple_value"):
                rows.append((value.tag, event.step, wall, value.simple_value))
            elif value.HasField("tensor") and plugins.get(value.tag, "scalars") == "scalars":
                array = tensor_util.make_ndarray(value.tensor)
                if array.size == 1 and array.dtype.kind in "fiu":
                    rows.append((value.tag, event.step, wall, float(array.reshape(-1)[0])))
    return rows


def _write_torch_run(folder: Path) -> list[Row]:
    """A SummaryWriter file with scalars (NaN/Inf, odd steps) among non-scalar summaries."""
    writer = pytest.importorskip("torch.utils.tensorboard").SummaryWriter(str(folder))
    expected: list[Row] = []
    values = [0.5, -1.25, NAN, INF, -INF, 3.0e38, 1e-30, 0.0]
    steps = [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**35 + 7]
    rng = np.random.default_rng(0)
    for i, step in enumerate(steps):
        wall = 1.7e9 + i * 0.25
        for tag in ("train/loss", "lr"):
            value = values[(i + len(tag)) % len(values)]
            writer.add_scalar(tag, value, step, walltime=wall)
            expected.append((tag, step, wall, _f32(value)))
        writer.add_histogram("weights", rng.normal(size=100), step, walltime=wall)
        writer.add_image("sample", rng.random((3, 8, 8)), step, walltime=wall)
        writer.add_text("note", f"step {step}", step, walltime=wall)
        writer.add_scalar(
            "double", 1.0 / 3.0 + i, step, walltime=wall, new_style=True, double_precision=True
        )
        expected.append(("double", step, wall, 1.0 / 3.0 + i))
        writer.add_scalar("tensor_style", 2.5 * i, step, walltime=wall, new_style=True)
        expected.append(("tensor_style", step, wall, _f32(2.5 * i)))
    writer.close()
    return expected


def _tensor_value(
    tag: str, tensor: tensor_pb2.TensorProto, plugin: str | None
) -> summary_pb2.Summary.Value:
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if plugin is not None:
        value.metadata.plugin_data.plugin_name = plugin
    return value


def _write_events(folder: Path, events: list[event_pb2.Event]) -> Path:
    writer = EventFileWriter(str(folder))
    for event in events:
        writer.add_event(event)
    writer.close()
    return _event_file(folder)


def _tensor_scalar_events() -> tuple[list[event_pb2.Event], list[Row]]:
    """Scalars written as tensors the way tf2 and new-style writers do, plus non-scalars."""
    events: list[event_pb2.Event] = []
    expected: list[Row] = []

    def add(step: int, wall: float, *values: summary_pb2.Summary.Value) -> None:
        events.append(
            event_pb2.Event(step=step, wall_time=wall, summary=summary_pb2.Summary(value=values))
        )

    raw_float = tensor_pb2.TensorProto(
        dtype=1,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=struct.pack("<f", 0.75),
    )
    for step in range(6):
        wall = 1.6e9 + step
        # tf2 writes the metadata only with a tag's first event.
        first = step == 0
        add(
            step,
            wall,
            _tensor_value(
                "tf2/loss",
                tensor_util.make_tensor_proto(np.float32(step / 7)),
                "scalars" if first else None,
            ),
        )
        expected.append(("tf2/loss", step, wall, _f32(step / 7)))
        add(
            step,
            wall,
            _tensor_value("f64", tensor_util.make_tensor_proto(np.float64(step / 3)), None),
        )
        expected.append(("f64", step, wall, step / 3))
        add(
            step,
            wall,
            _tensor_value("f16", tensor_util.make_tensor_proto(np.float16(1.5 + step)), "scalars"),
        )
        expected.append(("f16", step, wall, 1.5 + step))
        add(
            step,
            wall,
            _tensor_value("i64", tensor_util.make_tensor_proto(np.int64(-(2**40) - step)), None),
        )
        expected.append(("i64", step, wall, float(-(2**40) - step)))
        add(
            step,
            wall,
            _tensor_value("i32", tensor_util.make_tensor_proto(np.int32(-5 * step)), None),
        )
        expected.append(("i32", step, wall, float(-5 * step)))
        add(
            step,
            wall,
            _tensor_value(
                "rank1", tensor_util.make_tensor_proto(np.array([step], np.float32)), None
            ),
        )
        expected.append(("rank1", step, wall, float(step)))
        add(step, wall, _tensor_value("raw", raw_float, "scalars"))
        expected.append(("raw", step, wall, 0.75))
        # Not scalars: three elements, a string, a histogram-plugin tag (metadata only first).
        add(
            step,
            wall,
            _tensor_value("vector", tensor_util.make_tensor_proto(np.ones(3, np.float32)), None),
        )
        add(step, wall, _tensor_value("text", tensor_util.make_tensor_proto("hello"), "text"))
        add(
            step,
            wall,
            _tensor_value(
                "hist",
                tensor_util.make_tensor_proto(np.float32(1.0)),
                "histograms" if first else None,
            ),
        )
        # tf1: several simple values in one summary.
        add(
            step,
            wall,
            summary_pb2.Summary.Value(tag="a", simple_value=step * 2.0),
            summary_pb2.Summary.Value(tag="b", simple_value=-step * 1.0),
        )
        expected += [("a", step, wall, step * 2.0), ("b", step, wall, -step * 1.0)]
    # Events with no summary at all: a session log and a file version.
    events.append(event_pb2.Event(wall_time=1.6e9, file_version="brain.Event:2"))
    events.append(
        event_pb2.Event(step=9, wall_time=1.6e9 + 9, session_log=event_pb2.SessionLog(status=1))
    )
    return events, expected


def _chunkings(size: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    chunkings = [[1] * size]
    for limit in (7, 100, 5000):
        chunks = []
        left = size
        while left > 0:
            chunks.append(min(left, rng.randint(1, limit)))
            left -= chunks[-1]
        chunkings.append(chunks)
    return chunkings


@pytest.fixture(scope="module")
def torch_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[Row]]:
    folder = tmp_path_factory.mktemp("torch_run")
    expected = _write_torch_run(folder)
    return _event_file(folder).read_bytes(), expected


@pytest.fixture(scope="module")
def tensor_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[Row]]:
    folder = tmp_path_factory.mktemp("tensor_run")
    events, expected = _tensor_scalar_events()
    return _write_events(folder, events).read_bytes(), expected


# -- files as writers write them --------------------------------------------------------------


def test_torch_summary_writer_scalars_are_read_as_logged(
    torch_file: tuple[bytes, list[Row]],
) -> None:
    data, expected = torch_file
    rows, bad, reader = _read(data)
    assert bad == 0 and reader.pending == b""
    assert _same(rows, expected)
    assert any(math.isnan(r[3]) for r in rows) and {INF, -INF} <= {r[3] for r in rows}
    assert {r[0] for r in rows} == {"train/loss", "lr", "double", "tensor_style"}


def test_torch_file_matches_protobuf_decoding(torch_file: tuple[bytes, list[Row]]) -> None:
    data, _ = torch_file
    assert _same(_read(data)[0], _protobuf_scalars(data))


def test_tensor_scalars_of_every_numeric_dtype_are_read(
    tensor_file: tuple[bytes, list[Row]],
) -> None:
    data, expected = tensor_file
    rows, bad, _ = _read(data)
    assert bad == 0
    assert _same(rows, expected)
    assert _same(rows, _protobuf_scalars(data))
    assert not {"vector", "text", "hist"} & {r[0] for r in rows}


def test_tensor_encodings_numpy_cannot_write(tmp_path: Path) -> None:
    """bfloat16 (as bits in half_val or raw bytes), raw half bytes, int8 and uint64 lists."""
    bits = struct.unpack("<I", struct.pack("<f", -2.375))[0] >> 16  # exact in bfloat16
    tensors = {
        "bf16_bits": tensor_pb2.TensorProto(dtype=14, half_val=[bits]),
        "bf16_raw": tensor_pb2.TensorProto(dtype=14, tensor_content=struct.pack("<H", bits)),
        "f16_raw": tensor_pb2.TensorProto(dtype=19, tensor_content=struct.pack("<e", 0.125)),
        "i8": tensor_pb2.TensorProto(dtype=6, int_val=[-7]),
        "u64": tensor_pb2.TensorProto(dtype=23, uint64_val=[2**64 - 1]),
        "bool": tensor_pb2.TensorProto(dtype=10, bool_val=[True]),
        "unknown_rank": tensor_pb2.TensorProto(
            dtype=1,
            float_val=[1.0],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(unknown_rank=True),
        ),
    }
    events = [
        event_pb2.Event(
            step=2,
            wall_time=3.0,
            summary=summary_pb2.Summary(
                value=[_tensor_value(tag, t, None) for tag, t in tensors.items()]
            ),
        )
    ]
    rows, bad, _ = _read(_write_events(tmp_path, events).read_bytes())
    assert bad == 0
    assert rows == [
        ("bf16_bits", 2, 3.0, -2.375),
        ("bf16_raw", 2, 3.0, -2.375),
        ("f16_raw", 2, 3.0, 0.125),
        ("i8", 2, 3.0, -7.0),
        ("u64", 2, 3.0, float(2**64 - 1)),
    ]


def test_event_without_wall_time_has_no_timestamp_and_extreme_steps_survive(tmp_path: Path) -> None:
    steps = [0, -1, -(2**63), 2**63 - 1, 2**32 + 1]
    events = [
        event_pb2.Event(
            step=s,
            summary=summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag="x", simple_value=1.0)]
            ),
        )
        for s in steps
    ]
    rows, bad, _ = _read(_write_events(tmp_path, events).read_bytes())
    assert bad == 0
    assert rows == [("x", s, None, 1.0) for s in steps]


# -- incremental feeding ----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["torch_file", "tensor_file"])
def test_any_chunking_gives_the_same_points(which: str, request: pytest.FixtureRequest) -> None:
    data, _ = request.getfixturevalue(which)
    whole, _, _ = _read(data)
    for chunks in _chunkings(len(data), seed=len(data)):
        rows, bad, reader = _read(data, chunks)
        assert bad == 0 and reader.pending == b""
        assert _same(rows, whole)


def test_truncated_trailing_record_waits_then_completes(
    torch_file: tuple[bytes, list[Row]],
) -> None:
    data, _ = torch_file
    whole, _, _ = _read(data)
    start, end = _records(data)[-3]  # a scalar record among the last ones
    assert struct.unpack_from("<Q", data, start)[0] < 200
    for cut in (start + 1, start + 11, start + 12, start + 20, end - 1):
        reader = TfeventsReader()
        first = reader.feed(data[:cut])
        assert first.bad_records == 0
        assert reader.pending == data[start:cut]
        second = reader.feed(data[cut:])
        assert second.bad_records == 0 and reader.pending == b""
        assert _same(first.points.rows() + second.points.rows(), whole)


def test_finish_reports_a_truncated_tail_once(torch_file: tuple[bytes, list[Row]]) -> None:
    data, _ = torch_file
    reader = TfeventsReader()
    reader.feed(data[:-5])
    done = reader.finish()
    assert done.bad_records == 1 and "truncated" in (done.first_bad or "")
    assert reader.pending == b"" and reader.finish().bad_records == 0


def test_state_restores_mid_file(tensor_file: tuple[bytes, list[Row]]) -> None:
    """A reader rebuilt from state() and fed from the stored offset continues as if unbroken."""
    data, _ = tensor_file
    whole, _, _ = _read(data)
    half = len(data) // 2
    reader = TfeventsReader()
    rows = reader.feed(data[:half]).points.rows()
    offset = half - len(reader.pending)
    rebuilt = TfeventsReader()
    rebuilt.restore(json.loads(json.dumps(reader.state())))
    rows += rebuilt.feed(data[offset:]).points.rows()
    assert _same(rows, whole)


def test_rewrite_starts_over(torch_file: tuple[bytes, list[Row]]) -> None:
    data, _ = torch_file
    reader = TfeventsReader()
    reader.feed(data[: len(data) // 2 + 3])
    reader.on_rewrite()
    assert reader.pending == b""
    assert _same(reader.feed(data).points.rows(), _read(data)[0])


# -- damaged files ----------------------------------------------------------------------------


def _scalar_record_index(data: bytes, tag: bytes) -> int:
    return next(i for i, (s, e) in enumerate(_records(data)) if tag in data[s:e] and e - s < 100)


def test_bad_data_checksum_skips_only_that_record(torch_file: tuple[bytes, list[Row]]) -> None:
    data, _ = torch_file
    whole, _, _ = _read(data)
    spans = _records(data)
    index = _scalar_record_index(data, b"train/loss")
    start, end = spans[index]
    damaged = bytearray(data)
    damaged[end - 10] ^= 0x40  # inside the float of the value
    assert len(_read(data[start:end])[0]) == 1
    at = len(_read(data[:start])[0])  # points before the damaged record
    for chunks in (None, [1] * len(damaged), [97] * (len(damaged) // 97 + 1)):
        rows, bad, reader = _read(bytes(damaged), chunks)
        assert bad == 1 and reader.pending == b""
        assert _same(rows, whole[:at] + whole[at + 1 :])


def test_bad_length_checksum_resynchronises_on_the_next_record(
    torch_file: tuple[bytes, list[Row]],
) -> None:
    data, _ = torch_file
    whole, _, _ = _read(data)
    spans = _records(data)
    index = _scalar_record_index(data, b"lr")
    start, end = spans[index]
    assert len(_read(data[start:end])[0]) == 1
    damaged = bytearray(data)
    damaged[start] ^= 0x01  # the length no longer matches its checksum
    at = len(_read(data[:start])[0])  # points before the damaged record
    for chunks in (None, [1] * len(damaged), [33] * (len(damaged) // 33 + 1)):
        rows, bad, reader = _read(bytes(damaged), chunks)
        assert bad == 1 and reader.pending == b""
        assert _same(rows, whole[:at] + whole[at + 1 :])
    # Back in step after the damage, a cut-off last record is reported as truncated.
    reader = TfeventsReader()
    assert reader.feed(bytes(damaged[:-5])).bad_records == 1
    assert "truncated" in (reader.finish().first_bad or "")


def test_garbage_inside_a_file_is_one_bad_stretch(torch_file: tuple[bytes, list[Row]]) -> None:
    data, _ = torch_file
    whole, _, _ = _read(data)
    cut = _records(data)[10][0]
    junk = random.Random(1).randbytes(3000)
    rows, bad, _ = _read(data[:cut] + junk + data[cut:])
    assert bad == 1
    assert _same(rows, whole)


def test_zero_filled_stretch_is_skipped_in_one_step(torch_file: tuple[bytes, list[Row]]) -> None:
    """Files cut short by a crash can hold megabytes of zeros; resync must not crawl through them."""
    data, _ = torch_file
    whole, _, _ = _read(data)
    cut = _records(data)[10][0]
    zeros = bytes(16 * 2**20)
    started = time.process_time()
    rows, bad, _ = _read(data[:cut] + zeros + data[cut:])
    assert time.process_time() - started < 3.0  # byte by byte: 16M checksums, tens of seconds
    assert bad == 1 and _same(rows, whole)
    reader = TfeventsReader()
    reader.feed(data + zeros)
    assert len(reader.pending) < 16 and reader.finish().bad_records == 0


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x00" * 64,
        b"not a tensorboard file\n" * 40,
        random.Random(2).randbytes(20000),
        b"\xff" * 4096,
    ],
)
def test_junk_never_raises(blob: bytes) -> None:
    for chunks in (None, [3] * (len(blob) // 3 + 1)):
        rows, bad, reader = _read(blob, chunks)
        assert rows == []
        assert len(reader.pending) < 16
        assert reader.finish().bad_records <= 1
    if len(blob) >= 16:
        assert _read(blob)[1] >= 1


def _frame(payload: bytes) -> bytes:
    """One TFRecord around `payload`, checksummed by tensorboard's own implementation."""
    head = struct.pack("<Q", len(payload))
    return (
        head
        + struct.pack("<I", tb_masked_crc32c(head))
        + payload
        + struct.pack("<I", tb_masked_crc32c(payload))
    )


def _scalar_event(tag: str, value: float, step: int = 3, wall: float = 5.0) -> bytes:
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    return event_pb2.Event(step=step, wall_time=wall, summary=summary).SerializeToString()


def test_valid_framing_around_a_malformed_event_is_counted() -> None:
    """A record with good checksums but a broken protobuf is bad; its neighbours are read."""
    good = _scalar_event("x", 2.0)
    broken = good[:-3]  # the float cut short
    # A good first value, then a second whose tag claims more bytes than the value holds.
    first = summary_pb2.Summary.Value(tag="y", simple_value=1.0).SerializeToString()
    summary = b"\x0a" + bytes([len(first)]) + first + b"\x0a\x03\x0a\x05a"
    half_good = (
        event_pb2.Event(step=1).SerializeToString() + b"\x2a" + bytes([len(summary)]) + summary
    )
    for payload in (broken, half_good):
        with pytest.raises(DecodeError):
            event_pb2.Event.FromString(payload)
    framed = [_frame(p) for p in (good, broken, b"\x0f\xff", half_good, good)]
    rows, bad, _ = _read(b"".join(framed))
    assert bad == 3
    assert rows == [("x", 3, 5.0, 2.0)] * 2


def test_fields_in_unusual_order_decode_as_protobuf_does() -> None:
    """Serialised messages may come in any field order; repeated layouts must not fool the reader."""
    wall = event_pb2.Event(wall_time=7.0).SerializeToString()
    version = event_pb2.Event(file_version="v").SerializeToString()
    step = event_pb2.Event(step=5).SerializeToString()
    data = b"".join(
        _frame(wall + version + step + _scalar_event("x", v, step=0, wall=0.0))
        for v in (1.0, 2.0, 3.0)
    )
    expected = _protobuf_scalars(data)
    assert [r[1] for r in expected] == [5, 5, 5]
    assert _same(_read(data)[0], expected)


def test_a_tag_that_changes_plugin_is_not_read_from_a_learned_layout() -> None:
    """Same bytes but the plugin's name: the other plugin's scalar-shaped tensor is no scalar."""

    def tensor_event(value: float, plugin: str | None) -> bytes:
        tensor = tensor_util.make_tensor_proto(np.float32(value))
        summary = summary_pb2.Summary(value=[_tensor_value("t", tensor, plugin)])
        return event_pb2.Event(step=1, wall_time=2.0, summary=summary).SerializeToString()

    data = b"".join(
        _frame(tensor_event(v, plugin))
        for v, plugin in [
            (1.0, "scalars"),
            (2.0, "scalars"),
            (3.0, "imagesx"),
            (4.0, None),
            (5.0, "scalars"),
        ]
    )
    expected = _protobuf_scalars(data)
    assert [r[3] for r in expected] == [1.0, 2.0, 5.0]
    assert _same(_read(data)[0], expected)


def test_a_tag_first_read_as_scalar_then_claimed_by_a_plugin_stops_being_read() -> None:
    def tensor_event(value: float, plugin: str | None) -> bytes:
        tensor = tensor_util.make_tensor_proto(np.float32(value))
        summary = summary_pb2.Summary(value=[_tensor_value("m", tensor, plugin)])
        return event_pb2.Event(step=1, wall_time=2.0, summary=summary).SerializeToString()

    data = b"".join(
        _frame(tensor_event(v, plugin))
        for v, plugin in [(1.0, None), (2.0, None), (3.0, "images"), (4.0, None)]
    )
    expected = _protobuf_scalars(data)
    assert [r[3] for r in expected] == [1.0, 2.0]
    assert _same(_read(data)[0], expected)


# -- real training runs -----------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("tag", "field"),
    [("train/loss", "loss"), ("train/grad_norm", "grad_norm"), ("val/loss", "val_loss")],
)
def test_real_h100_run_matches_its_metrics_jsonl(tag: str, field: str) -> None:
    folder = FIXTURES / "healthy_bf16"
    rows, bad, reader = _read(_event_file(folder).read_bytes())
    assert bad == 0 and reader.pending == b""
    logged = [(r["step"], r[field]) for r in _jsonl(folder / "metrics.jsonl") if field in r]
    points = [(step, value) for key, step, _, value in rows if key == tag]
    assert len(points) == len(logged) > 5
    for (step, value), (jstep, jvalue) in zip(points, logged, strict=True):
        assert step == jstep
        assert value == pytest.approx(jvalue, rel=2**-23, abs=1e-30)


def test_real_nan_run_keeps_its_nans() -> None:
    folder = FIXTURES / "fp16_adam_eps_nan"
    rows, bad, _ = _read(_event_file(folder).read_bytes())
    loss = [(step, value) for key, step, _, value in rows if key == "train/loss"]
    logged = [(r["step"], r["loss"]) for r in _jsonl(folder / "metrics.jsonl")]
    assert bad == 0 and [s for s, _ in loss] == [s for s, _ in logged]
    assert [math.isnan(v) for _, v in loss] == [math.isnan(v) for _, v in logged]
    assert sum(math.isnan(v) for _, v in loss) > 100


def test_reader_imports_no_protobuf_or_tensorboard() -> None:
    code = (
        "import sys, cockpit.ingest.tfevents; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('google', 'tensorboard', 'torch', 'tensorflow')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
