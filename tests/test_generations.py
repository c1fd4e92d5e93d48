"""A file that becomes another one (truncated, rewritten shorter or longer, overwritten with
the same size, replaced atomically, rotated, copied and truncated): the stored series of
each source is exactly what its file says now (cockpit.ingest.follower's generations).

Each test drives the real engine and writer over a real folder; `cockpit watch` in a real
subprocess is tested the same way in tests/test_live_reads.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cockpit.ingest.jsonl import JsonlReader
from cockpit.monitor.engine import IngestEngine
from cockpit.store.writer import StoreWriter

Row = tuple[str, int | None, str]


def line(step: int, loss: float) -> str:
    return f'{{"step": {step}, "loss": {loss}, "lr": [0.001, 0.0001]}}\n'


def lines(steps: range, base: float = 1.0) -> str:
    return "".join(line(s, base / (s + 1)) for s in steps)


def file_says(path: Path) -> list[Row]:
    """What the file says now: a fresh reader over its whole content."""
    reader = JsonlReader()
    result = reader.feed(path.read_bytes())
    result.merge(reader.finish())
    return sorted((k, s, repr(v)) for k, s, _, v in result.points.rows())


def stored(writer: StoreWriter, source: str) -> list[Row]:
    cur = writer.cursor()
    try:
        rows = cur.execute("SELECT key, step, value FROM metrics WHERE source = ?",
                           [source]).fetchall()
    finally:
        cur.close()
    return sorted((k, s, repr(v)) for k, s, v in rows)


class Watch:
    """The engine polling a run folder, as `watch` does; `sync()` = one poll, committed."""

    def __init__(self, root: Path, db: Path) -> None:
        self.root, self.db = root, db
        self.writer = StoreWriter(db)
        self.engine = IngestEngine(self.writer, [root])

    def sync(self) -> None:
        self.engine.poll_once()
        self.writer.flush()

    def restart(self) -> None:
        self.close()
        self.writer = StoreWriter(self.db)
        self.engine = IngestEngine(self.writer, [self.root])

    def close(self) -> None:
        self.engine.stop()
        self.writer.close()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[tuple[Path, Watch]]:
    root = tmp_path / "runs"
    (root / "a").mkdir(parents=True)
    path = root / "a" / "m.jsonl"
    path.write_text(lines(range(30)))
    watch = Watch(root, tmp_path / "h.duckdb")
    watch.sync()
    assert stored(watch.writer, "m.jsonl") == file_says(path)
    yield path, watch
    watch.close()


def _truncate_shorter(path: Path) -> None:
    path.write_text(lines(range(5), base=7.0))


def _rewrite_longer_same_head(path: Path) -> None:
    path.write_text(lines(range(25)) + lines(range(25, 60), base=9.0))


def _overwrite_same_size(path: Path) -> None:
    data = path.read_bytes()
    other = lines(range(30), base=3.0).encode()[: len(data)]
    other = other[: other.rfind(b"\n") + 1].ljust(len(data) - 1, b" ") + b"\n"
    with open(path, "r+b") as fh:
        fh.write(other)
    assert path.stat().st_size == len(data)


def _atomic_replace(path: Path) -> None:
    tmp = path.with_name("m.jsonl.tmp")
    tmp.write_text(lines(range(10, 20), base=5.0))
    os.replace(tmp, path)


def _atomic_replace_same_size(path: Path) -> None:
    size = path.stat().st_size
    tmp = path.with_name("m.jsonl.tmp")
    other = lines(range(30), base=2.0)
    tmp.write_text(other[: other.rfind("\n", 0, size - 1) + 1].ljust(size - 1) + "\n")
    assert tmp.stat().st_size == size
    os.replace(tmp, path)


def _append_then_truncate_before_poll(path: Path) -> None:
    with open(path, "a") as fh:
        fh.write(lines(range(30, 40)))
    path.write_text(lines(range(3), base=4.0))


SCENARIOS: dict[str, Callable[[Path], None]] = {
    "truncate-in-place, shorter": _truncate_shorter,
    "rewrite, longer, same first lines": _rewrite_longer_same_head,
    "same-size overwrite in place": _overwrite_same_size,
    "atomic replace by other content": _atomic_replace,
    "atomic replace, same size": _atomic_replace_same_size,
    "appended, then truncated before a poll": _append_then_truncate_before_poll,
}


@pytest.mark.parametrize("change", list(SCENARIOS), ids=list(SCENARIOS))
def test_a_new_generation_replaces_the_stored_series(run: tuple[Path, Watch], change: str) -> None:
    path, watch = run
    SCENARIOS[change](path)
    watch.sync()
    assert stored(watch.writer, "m.jsonl") == file_says(path)
    with open(path, "a") as fh:  # and the new generation keeps growing normally
        fh.write(lines(range(100, 103)))
    watch.sync()
    assert stored(watch.writer, "m.jsonl") == file_says(path)


@pytest.mark.parametrize("change", list(SCENARIOS), ids=list(SCENARIOS))
def test_a_new_generation_while_watch_was_stopped(run: tuple[Path, Watch], change: str) -> None:
    path, watch = run
    watch.close()
    SCENARIOS[change](path)
    watch.restart()
    watch.sync()
    assert stored(watch.writer, "m.jsonl") == file_says(path)


def test_an_atomic_replace_by_a_longer_copy_only_adds_the_new_lines(run: tuple[Path, Watch]) -> None:
    path, watch = run
    tmp = path.with_name("m.jsonl.tmp")
    tmp.write_text(path.read_text() + lines(range(30, 35)))
    os.replace(tmp, path)
    watch.sync()
    assert stored(watch.writer, "m.jsonl") == file_says(path)


@pytest.mark.parametrize("stopped", [False, True], ids=["live", "while stopped"])
def test_rotation_keeps_the_old_generation_under_the_rotated_name(
        run: tuple[Path, Watch], stopped: bool) -> None:
    path, watch = run
    with open(path, "a") as fh:
        fh.write(lines(range(30, 33)))  # not read yet when the file is rotated
    if stopped:
        watch.close()
    os.rename(path, path.with_name("m.jsonl.1"))
    path.write_text(lines(range(33, 40)))
    if stopped:
        watch.restart()
    watch.sync()
    assert stored(watch.writer, "m.jsonl") == file_says(path)
    assert stored(watch.writer, "m.jsonl.1") == file_says(path.with_name("m.jsonl.1"))


def test_copytruncate_rotation_keeps_the_copy(run: tuple[Path, Watch]) -> None:
    path, watch = run
    with open(path, "a") as fh:
        fh.write(lines(range(30, 32)))
    copy = path.with_name("m.jsonl-20250101")
    copy.write_bytes(path.read_bytes())
    with open(path, "r+") as fh:
        fh.truncate(0)
    with open(path, "a") as fh:
        fh.write(lines(range(32, 36)))
    watch.sync()
    assert stored(watch.writer, "m.jsonl") == file_says(path)
    assert stored(watch.writer, "m.jsonl-20250101") == file_says(copy)


def test_a_replaced_generation_restarts_the_detectors_on_what_is_stored(run: tuple[Path, Watch]) -> None:
    """After a rewrite the run's extent is the new generation's (no stale last step)."""
    path, watch = run
    path.write_text(lines(range(4), base=2.0))
    watch.sync()
    cur = watch.writer.cursor()
    try:
        assert cur.execute("SELECT last_step FROM runs").fetchone() == (3,)
    finally:
        cur.close()


@pytest.mark.parametrize("name, content, last", [
    ("m.jsonl", '{"step": 0, "loss": 1.0}\n{"step": 1, "loss": 0.5}', 1),
    ("metrics.csv", "step,loss\n0,1.0\n1,0.5\n2,0.25", 2),
    ("train.log", "".join(f"iter {i}: loss {2 - i / 10:.4f}, time 10.00ms\n" for i in range(4))
     + "iter 4: loss 1.5000, time 10.00ms", 4),
])
def test_reimporting_a_file_without_a_final_newline_adds_nothing(tmp_path: Path, name: str,
                                                                   content: str, last: int) -> None:
    """The last line of a finished file is read at import; its bytes count as read."""
    from cockpit.monitor.engine import import_paths

    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (run / name).write_text(content)
    db = tmp_path / "h.duckdb"
    counts = []
    for _ in range(3):
        import_paths([tmp_path / "runs"], db)
        writer = StoreWriter(db)
        cur = writer.cursor()
        counts.append(cur.execute("SELECT count(*), max(step) FROM metrics").fetchone())
        cur.close()
        writer.close()
    assert counts[0][1] == last and counts == [counts[0]] * 3
