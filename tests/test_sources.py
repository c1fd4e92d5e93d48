"""The byte-source seam: discovery, sniffing and the follower see files only through a
`ByteSource`, so an in-memory source (standing in for an SSH host or a bucket) gives the
same runs, points and rotation handling as local files, with no local file involved."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path, PurePath, PurePosixPath

import pytest

from cockpit.ingest.follower import FileFollower
from cockpit.ingest.formats import detect_format
from cockpit.ingest.jsonl import JsonlReader
from cockpit.monitor.discovery import discover, run_id_for
from cockpit.sources import LOCAL, REACHABLE, FileStat, Reachability

_inodes = itertools.count(100)


class _Version:
    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.inode = next(_inodes)
        self.mtime_ns = 1


class _MemOpen:
    def __init__(self, version: _Version) -> None:
        self.version = version

    def stat(self) -> FileStat:
        v = self.version
        return FileStat(len(v.data), v.mtime_ns, v.inode)

    def read(self, offset: int, size: int | None = None) -> bytes:
        end = None if size is None else offset + size
        return bytes(self.version.data[offset:end])

    def close(self) -> None:
        pass


class MemorySource:
    """Files held in a dict; an open file keeps reading its version after a rotation."""

    name = "mem://test"

    def __init__(self) -> None:
        self.files: dict[PurePosixPath, _Version] = {}
        self.reads = 0

    def write(self, path: str, data: bytes) -> None:
        self.files[PurePosixPath(path)] = _Version(data)

    def append(self, path: str, data: bytes) -> None:
        v = self.files[PurePosixPath(path)]
        v.data += data
        v.mtime_ns += 1

    def rotate(self, path: str, to: str) -> None:
        self.files[PurePosixPath(to)] = self.files.pop(PurePosixPath(path))

    def walk(self, root: PurePath) -> Iterator[tuple[PurePath, list[str], list[str]]]:
        root = PurePosixPath(root)
        folders = sorted({p.parent for p in self.files if p.is_relative_to(root)} | {root})
        for folder in folders:
            subdirs = sorted({p.relative_to(folder).parts[0] for p in folders
                              if p != folder and p.is_relative_to(folder)})
            names = sorted(p.name for p in self.files if p.parent == folder)
            yield folder, subdirs, names

    def stat(self, path: PurePath) -> FileStat:
        v = self.files.get(PurePosixPath(path))
        if v is None:
            raise FileNotFoundError(str(path))
        return FileStat(len(v.data), v.mtime_ns, v.inode)

    def is_file(self, path: PurePath) -> bool:
        return PurePosixPath(path) in self.files

    def is_dir(self, path: PurePath) -> bool:
        return any(p.is_relative_to(PurePosixPath(path)) for p in self.files)

    def open(self, path: PurePath) -> _MemOpen:
        self.reads += 1
        v = self.files.get(PurePosixPath(path))
        if v is None:
            raise FileNotFoundError(str(path))
        return _MemOpen(v)

    def read_head(self, path: PurePath, size: int) -> bytes:
        v = self.files.get(PurePosixPath(path))
        return b"" if v is None else bytes(v.data[:size])

    def reachability(self) -> Reachability:
        return REACHABLE

    def url(self, path: PurePath) -> str:
        return f"{self.name}{path}"


def _lines(start: int, stop: int) -> bytes:
    return b"".join(b'{"step": %d, "loss": %d.5}\n' % (i, i) for i in range(start, stop))


def test_discovery_and_sniffing_go_through_the_source() -> None:
    mem = MemorySource()
    mem.write("/remote/exp/a/metrics.jsonl", _lines(0, 3))
    mem.write("/remote/exp/b/notes.txt", b"hello\n")  # not a log
    mem.write("/remote/exp/c/events.out.tfevents.1.host", b"")
    assert detect_format(Path("/remote/exp/a/metrics.jsonl"), mem) == "jsonl"
    runs = discover(Path("/remote/exp"), mem)
    assert sorted(r.name for r in runs) == ["a", "c"]
    a = next(r for r in runs if r.name == "a")
    assert a.source is mem and [s.format for s in a.sources] == ["jsonl"]
    # The same folder name on another source is another run.
    assert a.run_id != run_id_for(Path("/remote/exp/a"), LOCAL)


def test_follower_tails_appends_partial_lines_and_rotation_through_the_source() -> None:
    mem = MemorySource()
    path = "/remote/run/metrics.jsonl"
    mem.write(path, _lines(0, 3) + b'{"step": 3, "lo')
    f = FileFollower(PurePosixPath(path), JsonlReader(), source=mem)
    first = f.poll()
    assert first is not None and [r[1] for r in first.points.rows()] == [0, 1, 2]
    assert f.poll() is None  # nothing changed
    mem.append(path, b'ss": 3.5}\n' + _lines(4, 5))
    second = f.poll()
    assert second is not None and [r[1] for r in second.points.rows()] == [3, 4]
    # Rotation: the old version gets one more line after being renamed, a new file appears.
    mem.rotate(path, path + ".1")
    mem.append(path + ".1", _lines(5, 6))
    mem.write(path, _lines(100, 102))
    third = f.poll()
    assert third is not None and [r[1] for r in third.points.rows()] == [100, 101]
    gen = f.generation
    assert gen is not None and gen.rotated_to == PurePosixPath(path + ".1")
    assert [r[1] for r in gen.drained.points.rows()] == [5]
    assert f.state.inode == mem.stat(PurePosixPath(path)).inode


def test_a_vanished_file_is_gone_not_an_error() -> None:
    mem = MemorySource()
    mem.write("/r/x.jsonl", _lines(0, 2))
    f = FileFollower(PurePosixPath("/r/x.jsonl"), JsonlReader(), source=mem)
    assert f.poll() is not None
    del mem.files[PurePosixPath("/r/x.jsonl")]
    assert f.poll() is None and f.gone


def test_local_source_reads_what_the_file_system_holds(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    p.write_bytes(_lines(0, 2))
    st = LOCAL.stat(p)
    assert st.size == p.stat().st_size and st.inode == p.stat().st_ino
    fh = LOCAL.open(p)
    try:
        assert fh.read(0, 5) == _lines(0, 2)[:5] and fh.read(3) == _lines(0, 2)[3:]
    finally:
        fh.close()
    assert LOCAL.read_head(tmp_path / "missing", 10) == b""
    with pytest.raises(FileNotFoundError):
        LOCAL.stat(tmp_path / "missing")
