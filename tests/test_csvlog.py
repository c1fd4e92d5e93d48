"""CsvLogReader on files written by Lightning's and Keras' real CSVLoggers, and on bad input.

Lightning and Keras tests skip when the library is not installed; the same behaviours are
also tested on files built to the formats those loggers write (sorted header, CRLF lines,
Lightning's whole-file rewrite when a metric appears, Keras' `NA` for missing values).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cockpit.ingest.csvlog import MAX_LINE_BYTES, CsvLogReader, looks_like_metrics_csv
from cockpit.model.records import ReadResult

Point = tuple[str, int | None, str]  # key, step, repr(value): NaN compares equal to NaN


def norm(rows: list[tuple[str, int | None, float | None, float]]) -> list[Point]:
    return [(key, step, repr(value)) for key, step, _, value in rows]


def expected_from(logged: list[tuple[int, dict[str, float]]]) -> list[Point]:
    """What a reader must produce for metrics logged as (step, {key: value})."""
    return [(k, step, repr(float(v))) for step, metrics in logged for k, v in metrics.items()]


class Tail:
    """Follows a file by the follower's contract, given the file's whole content at each poll.

    New content is fed from the stored offset; when the file shrank or its first bytes
    changed, the reader gets `on_rewrite()` and the file is fed again from byte 0.
    """

    def __init__(self, reader: CsvLogReader) -> None:
        self.reader = reader
        self.offset = 0
        self.head = b""
        self.rewrites = 0

    def poll(self, content: bytes, chunks: int = 1, rng: random.Random | None = None) -> ReadResult:
        if len(content) < self.offset or not content.startswith(self.head):
            self.reader.on_rewrite()
            self.offset = 0
            self.rewrites += 1
        result = ReadResult()
        data = content[self.offset:]
        cuts = sorted(rng.sample(range(len(data) + 1), min(chunks - 1, len(data) + 1))) if rng else []
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            part = self.reader.feed(data[start:end])
            result.points.extend(part.points)
            result.bad_records += part.bad_records
        self.offset = len(content) - len(self.reader.pending)
        self.head = content[: min(1024, self.offset)]
        return result

    def restart(self) -> None:
        """A new reader rebuilt from the stored state, as after a process restart."""
        state = self.reader.state()
        self.reader = CsvLogReader()
        self.reader.restore(state)


def read_all(data: bytes) -> ReadResult:
    reader = CsvLogReader()
    result = reader.feed(data)
    tail = reader.finish()
    result.points.extend(tail.points)
    result.bad_records += tail.bad_records
    return result


# -- real PyTorch Lightning CSVLogger ----------------------------------------------------


def _lightning_log() -> list[tuple[int, dict[str, float]]]:
    """`a` from step 0, `b` from step 10 and `lr-AdamW` from 15: two header rewrites."""
    logged = []
    for step in range(22):
        metrics: dict[str, float] = {"a": 1.0 / (step + 1), "epoch": float(step // 8)}
        if step >= 10:
            metrics["b"] = 2.0 * step
        if step >= 15:
            metrics["lr-AdamW"] = 1e-4 * (22 - step)
        if step == 12:
            metrics["a"] = float("nan")
        if step == 13:
            metrics["b"] = float("inf")
        if step == 14:
            metrics["b"] = float("-inf")
        logged.append((step, metrics))
    return logged


@pytest.fixture(scope="module")
def lightning_snapshots(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], list[Any]]:
    """metrics.csv after every save of a real Lightning CSVLogger (saves every 1-3 steps)."""
    loggers = pytest.importorskip("lightning.pytorch.loggers")
    root = tmp_path_factory.mktemp("lightning")
    logger = loggers.CSVLogger(save_dir=str(root), name="exp", flush_logs_every_n_steps=1000)
    path = Path(logger.log_dir) / "metrics.csv"
    snapshots: list[bytes] = []
    logged = _lightning_log()
    for step, metrics in logged:
        logger.log_metrics(metrics, step=step)
        if step % 3 != 1:  # several rows per save now and then, like flush_logs_every_n_steps
            logger.save()
            snapshots.append(path.read_bytes())
    logger.finalize("success")
    snapshots.append(path.read_bytes())
    return snapshots, logged


@pytest.mark.slow  # importing lightning (and torch) takes 4-20 s
def test_lightning_real_file_followed_across_rewrites_has_no_duplicates_or_gaps(
    lightning_snapshots: tuple[list[bytes], list[Any]],
) -> None:
    snapshots, logged = lightning_snapshots
    header = snapshots[-1].split(b"\r\n", 1)[0]
    assert header == b"a,b,epoch,lr-AdamW,step"  # the logger's own sorted, widened header
    tail = Tail(CsvLogReader())
    points: list[Point] = []
    for content in snapshots:
        result = tail.poll(content)
        assert result.bad_records == 0
        points += norm(result.points.rows())
    assert tail.rewrites == 2  # `b` and `lr-AdamW` each made Lightning rewrite the file
    assert sorted(points) == sorted(expected_from(logged))
    assert len(points) == len(set(points))


@pytest.mark.slow
def test_lightning_rewrite_seen_half_written_chunked_and_across_restarts(
    lightning_snapshots: tuple[list[bytes], list[Any]],
) -> None:
    """Lightning rewrites with open('w'): a poll may see any prefix of the new content."""
    snapshots, logged = lightning_snapshots
    rng = random.Random(7)
    tail = Tail(CsvLogReader())
    points: list[Point] = []
    previous = b""
    for content in snapshots:
        if not content.startswith(previous[:64]):  # a rewrite: first show it half written
            for cut in sorted(rng.sample(range(len(content)), 5)):
                points += norm(tail.poll(content[:cut], chunks=3, rng=rng).points.rows())
                tail.restart()
        points += norm(tail.poll(content, chunks=4, rng=rng).points.rows())
        tail.restart()
        previous = content
    assert sorted(points) == sorted(expected_from(logged))


@pytest.mark.slow
def test_lightning_real_file_through_the_file_follower(tmp_path: Path) -> None:
    loggers = pytest.importorskip("lightning.pytorch.loggers")
    from cockpit.ingest.follower import FileFollower

    logger = loggers.CSVLogger(save_dir=str(tmp_path), name="exp", flush_logs_every_n_steps=1000)
    path = Path(logger.log_dir) / "metrics.csv"
    follower: FileFollower | None = None
    points: list[Point] = []
    logged = _lightning_log()
    for step, metrics in logged:
        logger.log_metrics(metrics, step=step)
        logger.save()
        follower = follower or FileFollower(path, CsvLogReader())
        result = follower.poll()
        if follower.generation is not None and follower.generation.replaced:
            points = []  # a rewrite is a new generation: what the file says replaces it
        if result is not None:
            points += norm(result.points.rows())
    assert follower is not None and follower.rewrites == 2
    assert sorted(points) == sorted(expected_from(logged))


# -- real Keras CSVLogger ------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_callbacks() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_BACKEND", "torch")  # the only backend installed beside Cockpit
        keras = pytest.importorskip("keras")
        yield keras.callbacks


def _keras_fit(callbacks: Any, path: Path, epochs: list[dict[str, float]], append: bool) -> None:
    """The calls `model.fit` makes on its CSVLogger callback, with these epoch logs."""
    logger = callbacks.CSVLogger(str(path), append=append)
    logger.on_train_begin()
    for epoch, logs in enumerate(epochs):
        logger.on_epoch_end(epoch, logs)
    logger.on_train_end()


KERAS_FIT_1 = [
    {"accuracy": 0.5, "loss": 1.25, "val_accuracy": 0.4, "val_loss": 1.5},
    {"accuracy": 0.625, "loss": float("nan"), "val_accuracy": 0.5, "val_loss": float("inf")},
    {"accuracy": 0.75, "loss": 0.5, "val_accuracy": 0.625, "val_loss": 0.875},
]
KERAS_FIT_2 = [
    {"accuracy": 0.25, "loss": 2.5, "val_accuracy": 0.125, "val_loss": 3.0},
    {"accuracy": 0.375, "loss": 2.0, "val_accuracy": 0.25, "val_loss": 2.5},
]


def _keras_expected(*fits: list[dict[str, float]]) -> list[Point]:
    return expected_from([(epoch, logs) for fit in fits for epoch, logs in enumerate(fit)])


@pytest.mark.slow  # importing keras (and torch) takes seconds
def test_keras_real_file_step_is_epoch_and_nan_inf_kept(keras_callbacks: Any, tmp_path: Path) -> None:
    path = tmp_path / "training.log"
    _keras_fit(keras_callbacks, path, KERAS_FIT_1, append=False)
    data = path.read_bytes()
    assert data.startswith(b"epoch,accuracy,loss,val_accuracy,val_loss\r\n")
    assert looks_like_metrics_csv(data)
    result = read_all(data)
    assert result.bad_records == 0
    assert sorted(norm(result.points.rows())) == sorted(_keras_expected(KERAS_FIT_1))


@pytest.mark.slow
def test_keras_real_refit_overwrites_file_and_every_new_row_is_read(
    keras_callbacks: Any, tmp_path: Path
) -> None:
    """append=False (the default) truncates the file at each fit: another log, read fully."""
    path = tmp_path / "log.csv"
    _keras_fit(keras_callbacks, path, KERAS_FIT_1, append=False)
    tail = Tail(CsvLogReader())
    points = norm(tail.poll(path.read_bytes()).points.rows())
    _keras_fit(keras_callbacks, path, KERAS_FIT_2, append=False)  # fewer rows than before
    points += norm(tail.poll(path.read_bytes()).points.rows())
    assert tail.rewrites == 1
    assert sorted(points) == sorted(_keras_expected(KERAS_FIT_1, KERAS_FIT_2))


@pytest.mark.slow
def test_keras_real_append_and_missing_values_written_as_na(keras_callbacks: Any, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    no_val = [{"accuracy": 0.5, "loss": 1.0}, {"accuracy": 0.75, "loss": 0.75}]
    _keras_fit(keras_callbacks, path, no_val, append=True)
    tail = Tail(CsvLogReader())
    points = norm(tail.poll(path.read_bytes()).points.rows())
    _keras_fit(keras_callbacks, path, no_val[:1], append=True)  # appended, no second header
    result = tail.poll(path.read_bytes())
    points += norm(result.points.rows())
    assert b",NA,NA" in path.read_bytes()  # Keras' placeholder for val_* it never got
    assert tail.rewrites == 0 and result.bad_records == 0
    assert sorted(points) == sorted(_keras_expected(no_val, no_val[:1]))


# -- files built to the documented formats ----------------------------------------------


LIGHTNING_V1 = b"epoch,step,train_loss\r\n0,0,2.5\r\n0,1,2.25\r\n"
LIGHTNING_V2 = (b"epoch,lr-AdamW,step,train_loss,val_loss\r\n0,,0,2.5,\r\n0,,1,2.25,\r\n"
                b"0,0.001,2,2.0,2.75\r\n")


def test_lightning_format_rewrite_with_new_columns_without_the_library() -> None:
    tail = Tail(CsvLogReader())
    first = norm(tail.poll(LIGHTNING_V1).points.rows())
    second = norm(tail.poll(LIGHTNING_V2).points.rows())
    assert tail.rewrites == 1
    assert first == [("epoch", 0, "0.0"), ("train_loss", 0, "2.5"),
                     ("epoch", 1, "0.0"), ("train_loss", 1, "2.25")]
    assert sorted(second) == sorted([("epoch", 2, "0.0"), ("lr-AdamW", 2, "0.001"),
                                     ("train_loss", 2, "2.0"), ("val_loss", 2, "2.75")])


def test_file_replaced_by_another_log_is_read_from_its_first_row() -> None:
    tail = Tail(CsvLogReader())
    tail.poll(b"step,loss\n0,1.0\n1,0.9\n2,0.8\n")
    result = tail.poll(b"step,loss,acc\n0,5.0,0.1\n")
    assert norm(result.points.rows()) == [("loss", 0, "5.0"), ("acc", 0, "0.1")]


def test_state_survives_json_and_a_restart_mid_file() -> None:
    import json

    reader = CsvLogReader()
    reader.feed(b"step,loss\n0,1.0\n1,0.")
    restored = CsvLogReader()
    restored.restore(json.loads(json.dumps(reader.state())))
    result = restored.feed(b"1,0.5\n2,0.25\n")  # re-fed from offset - len(pending)
    assert norm(result.points.rows()) == [("loss", 1, "0.5"), ("loss", 2, "0.25")]


@pytest.mark.parametrize(
    ("token", "expected"),
    [("nan", "nan"), ("NaN", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("Infinity", "inf"),
     ("-Infinity", "-inf"), (" 1e-3 ", "0.001"), ("", None), ("NA", None), ("train", None)],
)
def test_cell_tokens(token: str, expected: str | None) -> None:
    result = read_all(f"step,loss\n3,{token}\n".encode())
    assert result.bad_records == 0
    assert norm(result.points.rows()) == ([] if expected is None else [("loss", 3, expected)])


def test_step_falls_back_to_epoch_then_row_index() -> None:
    by_epoch = read_all(b"epoch,loss\n4,1.0\n")
    assert norm(by_epoch.points.rows()) == [("loss", 4, "1.0")]
    by_index = read_all(b"loss,acc\n1.0,0.5\n0.5,0.75\n")
    assert [(k, s) for k, s, _ in norm(by_index.points.rows())] == [
        ("loss", 0), ("acc", 0), ("loss", 1), ("acc", 1)]


def test_step_column_wins_over_epoch_which_becomes_a_metric() -> None:
    result = read_all(b"epoch,step,loss\n1,100,0.5\n")
    assert sorted(norm(result.points.rows())) == [("epoch", 100, "1.0"), ("loss", 100, "0.5")]


@pytest.mark.parametrize(
    ("column", "cell", "ts"),
    [("time", "1700000000.5", 1700000000.5), ("timestamp", "1700000000500", 1700000000.5),
     ("created_at", "2023-11-14T22:13:20.500000+00:00", 1700000000.5), ("time", "soon", None)],
)
def test_timestamp_column(column: str, cell: str, ts: float | None) -> None:
    result = read_all(f"step,{column},loss\n1,{cell},0.5\n".encode())
    assert result.points.rows() == [("loss", 1, ts, 0.5)]


def test_other_delimiters_and_quoted_cells() -> None:
    semicolons = read_all(b"epoch;loss;note\n0;1.5;\"a;b\"\n")
    assert norm(semicolons.points.rows()) == [("loss", 0, "1.5")]
    tabs = read_all(b"step\t\"val loss\"\n7\t0.25\n")
    assert norm(tabs.points.rows()) == [("val loss", 7, "0.25")]


def test_half_written_last_line_waits_and_finish_takes_a_complete_one() -> None:
    reader = CsvLogReader()
    assert len(reader.feed(b"step,loss\n0,1.0\n1,0.7").points) == 1
    assert reader.pending == b"1,0.7"
    assert norm(reader.feed(b"5\n").points.rows()) == [("loss", 1, "0.75")]
    reader.feed(b"2,0.5")
    assert norm(reader.finish().points.rows()) == [("loss", 2, "0.5")]
    truncated = CsvLogReader()
    truncated.feed(b"step,a,b\n0,1,2\n1,3")
    tail = truncated.finish()
    assert len(tail.points) == 0 and tail.bad_records == 1


def test_rows_with_wrong_column_count_are_bad_and_skipped() -> None:
    result = read_all(b"step,loss,acc\n0,1.0,0.5\n1,0.9\n2,0.8,0.6,7\n3,0.7,0.7,\n4,\"x,0.6\n5,0.5,0.8\n")
    assert result.bad_records == 3  # too few cells, too many, broken quoting
    assert "row 1 has 2 cells" in (result.first_bad or "")
    assert [s for _, s, _ in norm(result.points.rows())] == [0, 0, 3, 3, 5, 5]


def test_invalid_utf8_row_is_bad_and_later_rows_are_read() -> None:
    result = read_all(b"step,loss\n0,1.0\n1,\xff\xfe0.9\n2,0.8\n")
    assert result.bad_records == 1 and "UTF-8" in (result.first_bad or "")
    assert norm(result.points.rows()) == [("loss", 0, "1.0"), ("loss", 2, "0.8")]


def test_invalid_utf8_in_header_names_is_replaced_not_fatal() -> None:
    result = read_all(b"step,lo\xffss\n0,1.0\n")
    assert result.bad_records == 0
    assert norm(result.points.rows()) == [("lo\ufffdss", 0, "1.0")]


def test_huge_line_in_one_feed_or_across_feeds_is_one_bad_row_and_memory_stays_bounded() -> None:
    huge = b"1," + b"9" * (MAX_LINE_BYTES + 10)
    whole = read_all(b"step,loss\n0,1.0\n" + huge + b"\n2,0.5\n")
    assert whole.bad_records == 1
    reader = CsvLogReader()
    points = norm(reader.feed(b"step,loss\n0,1.0\n").points.rows())
    bad = 0
    for i in range(0, len(huge), 256 * 1024):
        part = reader.feed(huge[i:i + 256 * 1024])
        bad += part.bad_records
        assert len(reader.pending) <= MAX_LINE_BYTES + 256 * 1024
    part = reader.feed(b"\n2,0.5\n")
    points += norm(part.points.rows())
    assert bad + part.bad_records == 1
    assert points == norm(whole.points.rows()) == [("loss", 0, "1.0"), ("loss", 2, "0.5")]


def test_bad_rows_keep_the_row_count_aligned_across_a_rewrite() -> None:
    tail = Tail(CsvLogReader())
    first = tail.poll(b"step,a\n0,1\n1,2,3\n2,\xff\n3,4\n")
    assert first.bad_records == 2
    second = tail.poll(b"b,step,a\n,0,1\n,1,2,3\n,2,\xff\n,3,4\n5,4,6\n")
    assert second.bad_records == 0  # the bad rows were reported once already
    assert sorted(norm(second.points.rows())) == [("a", 4, "6.0"), ("b", 4, "5.0")]


def test_binary_garbage_and_empty_input_do_not_raise() -> None:
    rng = random.Random(3)
    garbage = bytes(rng.randrange(256) for _ in range(20000))
    result = read_all(b"step,loss\n" + garbage)
    assert all(isinstance(v, float) for v in result.points.values)
    assert len(read_all(b"").points) == 0
    assert len(read_all(b"\n\n\r\n").points) == 0


def test_blank_lines_are_not_rows() -> None:
    result = read_all(b"loss\n\n1.0\n\r\n2.0\n")
    assert norm(result.points.rows()) == [("loss", 0, "1.0"), ("loss", 1, "2.0")]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"epoch,lr-AdamW,step,train_loss,val_loss\r\n0,,0,2.5,\r\n", True),
        (b"epoch,accuracy,loss,val_accuracy,val_loss\r\n", True),
        (b"\xef\xbb\xbfStep;Loss\n", True),
        (b"step\tloss", True),  # the file so far: a header still being written
        (b"epoch,lo", True),
        (b"a,b\n1,2\n", False),  # no step or epoch
        (b"step\n1\n", False),  # nothing besides the step
        (b"step,time\n", False),
        (b"0,1.5\n1,1.2\n", False),  # data, not a header
        (b'{"step": 1, "loss": 2.0}\n', False),
        (b"step 10 | loss 2.0, lr 1e-4\n", False),
        (b"step,,loss\n", False),
        (b"\x00\x01step,loss", False),
        (b"", False),
    ],
)
def test_looks_like_metrics_csv(head: bytes, expected: bool) -> None:
    assert looks_like_metrics_csv(head) is expected


def test_non_finite_step_cells_give_no_step() -> None:
    result = read_all(b"step,loss\nnan,1.0\n2.0,0.5\n")
    assert result.points.steps == [None, 2]
    assert math.isclose(result.points.values[1], 0.5)


def test_restart_while_skipping_an_over_long_line() -> None:
    reader = CsvLogReader()
    assert reader.feed(b"step,loss\n0,1.0\n" + b"9" * (MAX_LINE_BYTES + 1)).bad_records == 1
    restored = CsvLogReader()
    restored.restore(reader.state())
    result = restored.feed(b"999\n2,0.5\n")  # the rest of the long line, then a row
    assert (result.bad_records, norm(result.points.rows())) == (0, [("loss", 2, "0.5")])
