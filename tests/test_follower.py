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
    assert steps(f.poll()) == [2]  # the new generation, from a fresh reader
    gen = f.generation
    assert gen is not None and not gen.replaced and gen.rotated_to == tmp_path / "train.jsonl.1"
    assert steps(gen.drained) == [1]  # the old file's unread rest, under its new name
    assert gen.old_state.offset == len(line(0) + line(1))
    assert f.poll() is None and f.generation is None


def test_truncation_restarts_at_the_beginning_as_a_new_generation(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(0) + line(1) + line(2))
    f = FileFollower(path, JsonlReader())
    assert steps(f.poll()) == [0, 1, 2]
    path.write_text(line(10))  # truncated and rewritten, shorter
    assert steps(f.poll()) == [10]
    assert f.rewrites == 1 and f.generation is not None and f.generation.replaced


def test_replaced_by_other_content_of_the_same_size_is_detected(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(1) + line(2))
    f = FileFollower(path, JsonlReader())
    steps(f.poll())
    path.write_text(line(7) + line(8) + line(9))  # same inode, longer, other content
    assert steps(f.poll()) == [7, 8, 9]
    assert f.generation is not None and f.generation.replaced


def test_a_longer_rewrite_with_the_same_first_lines_is_a_new_generation(tmp_path):
    """The head is the same (the first KiB), the bytes before the old offset are not."""
    path = tmp_path / "m.jsonl"
    first = "".join(line(i) for i in range(40))
    path.write_text(first + '{"step": 40, "loss": 1.0}\n')
    f = FileFollower(path, JsonlReader())
    assert len(steps(f.poll())) == 41
    path.write_text(first + '{"step": 40, "loss": 2.0}\n' + line(41))
    got = f.poll()
    assert f.generation is not None and f.generation.replaced
    assert steps(got) == list(range(42))


def test_same_size_overwrite_and_atomic_replace_are_new_generations(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(1) + line(2))
    f = FileFollower(path, JsonlReader())
    steps(f.poll())
    with open(path, "r+") as fh:  # in place, same size
        fh.write(line(1).replace("1", "3") + line(2).replace("2", "4"))
    assert steps(f.poll()) == [3, 4] and f.generation.replaced
    tmp = tmp_path / "m.jsonl.tmp"
    tmp.write_text(line(5) + line(6))
    os.replace(tmp, path)  # atomic replace by other content: the old file is gone
    assert steps(f.poll()) == [5, 6] and f.generation.replaced


def test_an_atomic_replace_by_a_longer_copy_continues(tmp_path):
    """A tool that rewrites the whole log atomically each time: the new file still starts
    with what was read, so only the new lines are new."""
    path = tmp_path / "m.jsonl"
    path.write_text(line(0) + line(1))
    f = FileFollower(path, JsonlReader())
    assert steps(f.poll()) == [0, 1]
    tmp = tmp_path / "m.jsonl.tmp"
    tmp.write_text(line(0) + line(1) + line(2))
    os.replace(tmp, path)
    assert steps(f.poll()) == [2] and f.generation is None


def test_copytruncate_rotation_finds_the_copy_by_content(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(line(0))
    f = FileFollower(path, JsonlReader())
    assert steps(f.poll()) == [0]
    with open(path, "a") as fh:
        fh.write(line(1))
    (tmp_path / "train.jsonl-20250101").write_bytes(path.read_bytes())  # logrotate's copy
    with open(path, "r+") as fh:
        fh.truncate(0)
    with open(path, "a") as fh:
        fh.write(line(2))
    assert steps(f.poll()) == [2]
    gen = f.generation
    assert gen.rotated_to == tmp_path / "train.jsonl-20250101" and steps(gen.drained) == [1]


def _saved(f):
    s = f.state
    return FollowerState(s.dev, s.inode, s.offset, s.head_sig, s.reader_state, s.tail_sig)


def test_rotation_while_stopped_drains_the_rotated_file_on_restart(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(line(0))
    first = FileFollower(path, JsonlReader())
    assert steps(first.poll()) == [0]
    saved = _saved(first)
    first.close()
    with open(path, "a") as fh:
        fh.write(line(1))
    os.rename(path, tmp_path / "train.jsonl.1")
    path.write_text(line(2))
    second = FileFollower(path, JsonlReader(), saved)
    assert steps(second.poll()) == [2]
    assert steps(second.generation.drained) == [1]


def test_replace_while_stopped_is_a_new_generation_on_restart(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(0) + line(1))
    first = FileFollower(path, JsonlReader())
    steps(first.poll())
    saved = _saved(first)
    first.close()
    tmp = tmp_path / "other"
    tmp.write_text(line(5))
    os.replace(tmp, path)
    second = FileFollower(path, JsonlReader(), saved)
    assert steps(second.poll()) == [5] and second.generation.replaced


def test_a_cut_half_line_is_a_new_generation(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(line(0) + '{"step": 1, "loss": 0.12345')
    f = FileFollower(path, JsonlReader())
    assert steps(f.poll()) == [0]
    with open(path, "r+") as fh:
        fh.truncate(len(line(0)) + 5)
    assert f.poll() is not None and f.generation is not None


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
