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


# ---- values that are not plain numbers (issue 13): handled and counted, never raised ----
def test_list_of_numbers_becomes_indexed_series():
    data = (b'{"step": 1, "lr": [0.1, 0.01], "loss": 2.0}\n'
            b'{"step": 2, "lr": [0.2, 0.02, 0.5], "loss": 1.5}\n'
            b'{"step": 3, "opt": {"lr": [1e-3]}, "loss": 1.0}\n')
    res = JsonlReader().feed(data)
    got = {(k, s): v for k, s, _, v in res.points.rows()}
    assert got[("lr/0", 1)] == 0.1 and got[("lr/1", 1)] == 0.01
    assert got[("lr/2", 2)] == 0.5 and got[("opt/lr/0", 3)] == 1e-3
    assert got[("loss", 3)] == 1.0 and not res.skipped and not res.bad_records


def test_lists_that_are_not_numbers_are_skipped_and_counted():
    data = (b'{"step": 1, "loss": 2.0, "tags": ["a", "b"], "mixed": [1, "x"], "rows": [[1, 2]]}\n'
            b'{"step": 2, "loss": 1.0, "ids": [' + b",".join(b"1" for _ in range(2000)) + b']}\n')
    res = JsonlReader().feed(data)
    assert sorted(k for k, *_ in res.points.rows()) == ["loss", "loss"]
    assert res.skipped == {"a list that is not all numbers": 3,
                           "a list of more than 1024 numbers": 1}


def test_the_first_record_holding_a_list_still_reads_every_sibling_series():
    """A list in the first record used to crash the column path (numpy's ragged arrays)."""
    lines = [b'{"step": %d, "lr": [%d.0%s], "loss": %d.5}' % (i, i, b", 1.0" * (i % 3), i)
             for i in range(50)]
    res = JsonlReader().feed(b"\n".join(lines) + b"\n")
    keys = {k for k, *_ in res.points.rows()}
    assert {"loss", "lr/0", "lr/1", "lr/2"} <= keys
    assert sum(1 for k, *_ in res.points.rows() if k == "loss") == 50


def test_huge_numbers_are_bounded_and_counted():
    five_thousand = b"9" * 5000
    four_hundred = b"9" * 400
    data = (b'{"step": 1, "loss": ' + five_thousand + b'}\n'
            b'{"step": 2, "loss": 1.0, "big": ' + four_hundred + b'}\n'
            b'{"step": ' + four_hundred + b', "loss": 0.5, "time": ' + four_hundred + b'}\n'
            b'{"step": 4, "loss": 1.' + five_thousand + b'}\n')
    res = JsonlReader().feed(data)
    rows_ = res.points.rows()
    assert res.bad_records == 1  # 5,000 digits: beyond Python's int parsing limit
    assert res.skipped == {"a number beyond the range of a double": 1}
    assert ("loss", 2, None, 1.0) in rows_
    # a step beyond int64 falls back to the record's position; a time beyond a double is none
    assert [r for r in rows_ if r[3] == 0.5] == [("loss", 1, None, 0.5)]
    assert ("loss", 4, None, 2.0) in rows_


def test_deep_nesting_is_bounded_and_counted():
    deep = b'{"step": 1, "loss": 1.0, "a": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    deeper = b'{"step": 2, "loss": 1.0, "a": ' + b'{"b": ' * 3000 + b"1" + b"}" * 3000 + b"}"
    nested = b'{"step": 3, "loss": 1.0, "a": ' + b'{"b": ' * 20 + b"1" + b"}" * 20 + b"}"
    res = JsonlReader().feed(deep + b"\n" + deeper + b"\n" + nested + b"\n")
    assert res.bad_records == 1  # nested beyond what a JSON parser accepts: an unreadable line
    assert res.skipped == {"nesting deeper than 16 levels": 1, "a list that is not all numbers": 1}
    assert sorted((k, s) for k, s, *_ in res.points.rows()) == [("loss", 1), ("loss", 3)]


def test_a_finished_file_without_a_final_newline_keeps_its_last_record():
    r = JsonlReader()
    assert len(r.feed(b'{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.5}').points) == 1
    assert r.finish().points.rows() == [("loss", 2, None, 0.5)]
    assert r.pending == b""
    half = JsonlReader()
    half.feed(b'{"step": 1, "loss": 1.0}\n{"step": 2, "lo')
    assert not half.finish().points and half.pending


def test_sniffing_reads_past_a_config_header_and_garbage():
    header = b'{"model": "gpt2", "run": "a", "tags": ["x"]}\n'
    assert looks_like_jsonl_metrics(header + b'{"step": 1, "loss": 2}\n')
    assert looks_like_jsonl_metrics(b"\x00garbage\n" + b'{"step": 1, "lr": [0.1]}\n')
    assert not looks_like_jsonl_metrics(header * 3)
    assert not looks_like_jsonl_metrics(header + b'{"doc_id": 1, "acc": 1.0}\n')
