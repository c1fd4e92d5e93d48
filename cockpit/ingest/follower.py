"""Follows one file: reads what was appended, notices rotation, truncation and rewrites.

The follower owns the offset and the file identity; the reader only sees bytes. The
offset it reports is the end of the last complete record, so storing it together with the
points (in one transaction) makes a restart resume with no duplicates and no gaps.

Like `tail -F` it keeps the file open: when the path is rotated (renamed away and
recreated) the rest of the old file is drained through the open handle first. Bytes come
through a byte source (cockpit.sources), so the same follower tails local and remote files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from cockpit.ingest.reader import StreamReader
from cockpit.model.records import ReadResult
from cockpit.sources import LOCAL, ByteSource, OpenFile

CHUNK = 16 * 1024 * 1024  # bytes read per poll; a large backlog is read over several polls
HEAD = 1024  # bytes fingerprinted to recognise a file replaced by other content


def head_signature(head: bytes) -> str:
    return f"{hashlib.blake2b(head, digest_size=8).hexdigest()}:{len(head)}"


def _sig_length(sig: str) -> int:
    return int(sig.rsplit(":", 1)[1]) if sig else 0


@dataclass(slots=True)
class FollowerState:
    """What the `sources` table stores for one file."""

    dev: int = 0
    inode: int = 0
    offset: int = 0
    head_sig: str = ""
    reader_state: dict[str, Any] | None = None


def _merge(into: ReadResult, other: ReadResult) -> None:
    into.points.extend(other.points)
    into.events.extend(other.events)
    into.params.update(other.params)
    into.histograms.extend(other.histograms)
    into.bad_records += other.bad_records
    into.first_bad = into.first_bad or other.first_bad


class FileFollower:
    def __init__(self, path: PurePath, reader: StreamReader, state: FollowerState | None = None,
                 source: ByteSource = LOCAL) -> None:
        self.path = path
        self.source = source
        self.reader = reader
        self.state = state or FollowerState()
        self.gone = False
        self.rewrites = 0
        self.more = False  # the last poll stopped at CHUNK: poll again soon
        self._fh: OpenFile | None = None
        # Where the next read starts: the committed offset plus what the reader holds pending.
        self._pos = self.state.offset
        self._seen: tuple[int, int, int] = (-1, -1, -1)  # (inode, size, mtime_ns)
        if state and state.reader_state:
            reader.restore(state.reader_state)

    @property
    def mtime(self) -> float | None:
        """The file's modification time at the last poll that saw it change (unix seconds):
        when its newest bytes arrived."""
        return self._seen[2] / 1e9 if self._seen[2] >= 0 else None

    def skip_to(self, offset: int, dev: int, inode: int, head_sig: str) -> None:
        """Everything before `offset` was stored by other means (a bulk load)."""
        s = self.state
        s.offset = self._pos = offset
        s.dev, s.inode = dev, inode
        s.head_sig = head_sig
        s.reader_state = self.reader.state()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _read_more(self, fh: OpenFile) -> ReadResult:
        data = fh.read(self._pos, CHUNK)
        self.more = len(data) >= CHUNK
        result = self.reader.feed(data)
        self._pos += len(data)
        self.state.offset = self._pos - len(self.reader.pending)
        return result

    def _restart(self) -> None:
        self.rewrites += 1
        self.reader.on_rewrite()
        self.state.offset = self._pos = 0
        self.state.head_sig = ""

    def poll(self, final: bool = False) -> ReadResult | None:
        """Read what is new; None when nothing changed. `final`: the file is complete (import)."""
        try:
            st = self.source.stat(self.path)
        except FileNotFoundError:
            self.gone = True  # a deleted file keeps its history; nothing more to read
            return None
        self.gone = False
        seen = (st.inode, st.size, st.mtime_ns)
        if seen == self._seen and not self.more and not final:
            return None
        self._seen = seen
        result = ReadResult()
        s = self.state

        if self._fh is not None and self._fh.stat().inode != st.inode:
            if not self.reader.whole_file:  # rotated: drain the old file first
                _merge(result, self._read_more(self._fh))
                self.reader.pending = b""  # an unfinished last line of a rotated file stays so
                self._pos = 0
                s.offset, s.head_sig = 0, ""
            self.close()
        if self._fh is None:
            try:
                self._fh = self.source.open(self.path)  # kept open to drain on rotation
            except OSError:
                return None
        fh = self._fh
        fst = fh.stat()

        if self.reader.whole_file:
            if (fst.inode, fst.size) == (s.inode, s.offset) and s.head_sig == str(fst.mtime_ns):
                return None
            self.reader.on_rewrite()
            data = fh.read(0)
            _merge(result, self.reader.feed(data))
            if final:
                _merge(result, self.reader.finish())
            s.offset = self._pos = len(data)
            s.head_sig = str(fst.mtime_ns)  # whole files are recognised by mtime instead
        else:
            if s.offset or s.head_sig:
                n = _sig_length(s.head_sig)
                if fst.size < s.offset or head_signature(fh.read(0, n)) != s.head_sig:
                    self._restart()  # truncated, or replaced by other content
            _merge(result, self._read_more(fh))
            if final and not self.more:
                _merge(result, self.reader.finish())
            if _sig_length(s.head_sig) < min(HEAD, s.offset):
                s.head_sig = head_signature(fh.read(0, min(HEAD, s.offset)))
        s.dev, s.inode = fst.dev, fst.inode
        s.reader_state = self.reader.state()
        return result
