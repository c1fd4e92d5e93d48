import os

import pytest

from cockpit.ingest import follower as follower_mod
from cockpit.ingest.follower import FileFollower, FollowerState
from cockpit.ingest.jsonl import JsonlReader


def steps(result):
    return [s for _, s, _, _ in result.points.rows()] if result else []


def line(step: int) -> str:
    return f'{{"step": {step}, "loss": {1.0 / (step + 1)}}}\n'


def test_follows_a_growing_file_and_waits_for_partial_lines(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(0))
    f = FileFollower(path, JsonlReader())
    assert steps(f.poll()) == [0]
    assert f.poll() is None  # nothing new
    with open(path, "a") as fh:
        fh.write(line(1) + '{"step": 2, "lo')
    assert steps(f.poll()) == [1]
    assert f.state.offset == len(line(0) + line(1))  # the half line is not committed
    with open(path, "a") as fh:
        fh.write('ss": 0.3}\n')
    assert steps(f.poll()) == [2]


def test_resume_from_stored_offset_has_no_duplicates_or_gaps(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(0) + line(1) + '{"step": 2')
    first = FileFollower(path, JsonlReader())
    assert steps(first.poll()) == [0, 1]
    saved = FollowerState(first.state.dev, first.state.inode, first.state.offset,
                          first.state.head_sig, first.state.reader_state)
    first.close()
    with open(path, "a") as fh:
        fh.write(', "loss": 1}\n' + line(3))
    second = FileFollower(path, JsonlReader(), saved)  # a restart
    assert steps(second.poll()) == [2, 3]


def test_reads_large_backlogs_in_chunks_without_duplicates(tmp_path, monkeypatch):
    monkeypatch.setattr(follower_mod, "CHUNK", 100)
    path = tmp_path / "m.jsonl"
    path.write_text("".join(line(i) for i in range(200)))
    f = FileFollower(path, JsonlReader())
    got = steps(f.poll(final=True))
    while f.more:
        got += steps(f.poll(final=True))
    assert got == list(range(200))


def test_rotation_drains_the_old_file_then_reads_the_new_one(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(line(0))
    f = FileFollower(path, JsonlReader())
    assert steps(f.poll()) == [0]
    with open(path, "a") as fh:
        fh.write(line(1))  # written just before rotation, not yet polled
    os.rename(path, tmp_path / "train.jsonl.1")
    path.write_text(line(2))
    assert steps(f.poll()) == [1, 2]
    assert f.rewrites == 0


def test_truncation_restarts_at_the_beginning(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(0) + line(1) + line(2))
    f = FileFollower(path, JsonlReader())
    assert steps(f.poll()) == [0, 1, 2]
    path.write_text(line(10))  # truncated and rewritten, shorter
    assert steps(f.poll()) == [10]
    assert f.rewrites == 1


def test_replaced_by_other_content_of_the_same_size_is_detected(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(1) + line(2))
    f = FileFollower(path, JsonlReader())
    steps(f.poll())
    path.write_text(line(7) + line(8) + line(9))  # same inode, longer, other content
    assert steps(f.poll()) == [7, 8, 9]


def test_deleted_file_is_not_an_error(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(0))
    f = FileFollower(path, JsonlReader())
    steps(f.poll())
    path.unlink()
    assert f.poll() is None and f.gone


@pytest.mark.parametrize("junk", [b"\xff\xfe\x00garbage\n", b"\x00" * 100 + b"\n"])
def test_binary_junk_lines_are_skipped(tmp_path, junk):
    path = tmp_path / "m.jsonl"
    path.write_bytes(line(0).encode() + junk + line(1).encode())
    result = FileFollower(path, JsonlReader()).poll()
    assert steps(result) == [0, 1] and result.bad_records == 1
