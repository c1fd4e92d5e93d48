import math
import random

from cockpit.ingest.jsonl import JsonlReader, looks_like_jsonl_metrics
from tests.conftest import H100


def rows(reader: JsonlReader, data: bytes):
    return reader.feed(data).points.rows()


def test_bare_nan_and_infinity_tokens_are_kept():
    data = b'{"step": 1, "loss": NaN, "lr": Infinity, "g": -Infinity}\n{"step": 2, "loss": 1.5}\n'
    got = {(k, s): v for k, s, _, v in rows(JsonlReader(), data)}
    assert math.isnan(got[("loss", 1)])
    assert got[("lr", 1)] == math.inf and got[("g", 1)] == -math.inf
    assert got[("loss", 2)] == 1.5


def test_half_written_last_line_waits_for_its_end():
    r = JsonlReader()
    assert rows(r, b'{"step": 1, "loss": 2.0}\n{"step": 2, "lo') == [("loss", 1, None, 2.0)]
    assert r.pending == b'{"step": 2, "lo'
    assert rows(r, b'ss": 1.0}\n') == [("loss", 2, None, 1.0)]
    assert r.pending == b""


def test_any_numeric_keys_nested_objects_and_non_numbers():
    data = b'{"step": 3, "time": 1700000000.5, "acc": 1, "name": "x", "ok": true, "train": {"loss": 0.5}}\n'
    got = rows(JsonlReader(), data)
    assert ("acc", 3, 1700000000.5, 1.0) in got
    assert ("train/loss", 3, 1700000000.5, 0.5) in got
    assert all(k not in ("name", "ok", "step", "time") for k, *_ in got)


def test_missing_step_uses_record_position_and_ms_timestamps_become_seconds():
    r = JsonlReader()
    got = rows(r, b'{"loss": 1.0, "timestamp": 1700000000000}\n{"loss": 2.0, "timestamp": 1700000001000}\n')
    assert [(s, t) for _, s, t, _ in got] == [(0, 1700000000.0), (1, 1700000001.0)]
    assert rows(r, b'{"loss": 3.0}\n')[0][1] == 2  # continues counting


def test_sparse_records_only_emit_logged_keys():
    data = b'{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9, "val_loss": 1.1}\n'
    got = rows(JsonlReader(), data)
    assert sorted((k, s) for k, s, *_ in got) == [("loss", 1), ("loss", 2), ("val_loss", 2)]


def test_bad_lines_are_counted_not_fatal():
    r = JsonlReader()
    res = r.feed(b'{"step": 1, "loss": 1.0}\nnot json\n[1, 2]\n\n\xff\xfe{"x\n{"step": 2, "loss": 2.0}\n')
    assert [(k, s) for k, s, *_ in res.points.rows()] == [("loss", 1), ("loss", 2)]
    assert res.bad_records == 3 and res.first_bad


def test_huge_line_without_newline_is_dropped():
    r = JsonlReader()
    res = r.feed(b'{"a": "' + b"x" * (5 * 1024 * 1024))
    assert res.bad_records == 1 and r.pending == b""


def test_random_chunking_equals_one_feed():
    data = (H100 / "fp16_adam_eps_nan" / "metrics.jsonl").read_bytes()
    whole = rows(JsonlReader(), data)
    rnd = random.Random(1)
    r = JsonlReader()
    pieces = []
    i = 0
    while i < len(data):
        n = rnd.randint(1, 5000)
        pieces += rows(r, data[i : i + n])
        i += n
    key = lambda t: (t[0], t[1])  # noqa: E731
    assert len(pieces) == len(whole)
    for a, b in zip(sorted(whole, key=key), sorted(pieces, key=key), strict=True):
        assert a[:3] == b[:3]
        assert (math.isnan(a[3]) and math.isnan(b[3])) or a[3] == b[3]


def test_real_fixture_counts_and_nans():
    got = rows(JsonlReader(), (H100 / "fp16_adam_eps_nan" / "metrics.jsonl").read_bytes())
    loss = {s: v for k, s, _, v in got if k == "loss"}
    assert len(loss) == 610 and not math.isnan(loss[0])
    assert all(math.isnan(loss[s]) for s in range(1, 610))


def test_sniffing():
    assert looks_like_jsonl_metrics(b'{"step": 1, "loss": 2}\n')
    assert not looks_like_jsonl_metrics(b'{"name": "x"}\n')
    assert not looks_like_jsonl_metrics(b"plain text\n")
    assert not looks_like_jsonl_metrics(b'{"step": 1, "lo')  # still being written
