"""Follows one file: reads what was appended, and notices when the file became another one.

The follower owns the offset and the file identity; the reader only sees bytes. The
offset it reports is the end of the last complete record, so storing it together with the
points (in one transaction) makes a restart resume with no duplicates and no gaps. Like
`tail -F` it keeps the file open. Bytes come through a byte source (cockpit.sources), so
the same follower tails local and remote files.

Generations (the rule the store keeps, docs/history.md): what the follower has read is one
*generation* of the path, recognised by its first and last bytes before the offset (head
and tail signatures). While the file at the path still starts with those bytes, new bytes
are appended data, whatever else happened (an atomic replace by a longer copy included).
Otherwise the generation ended:

- rotated: the old file is in the same folder under a name that starts with this one's
  (`train.log.1`, `train.log-20250101`), found by its identity or, for a copy
  (`copytruncate`), by its content. Its unread rest is drained and its points keep living
  under that name (`Generation.rotated_to`): they are what that file says now.
- replaced: truncated, rewritten shorter or longer, overwritten with other content of the
  same size, or replaced by another file (the old one deleted or moved away). The points of
  the old generation are replaced by what the file says now (`Generation.replaced`).

Either way the new generation is read from byte 0 by a fresh reader, so no stored series
ever mixes two generations. Whole-file formats (trainer_state.json) re-read the file on
every change instead and are left to their reader.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any

from cockpit.ingest.reader import StreamReader
from cockpit.model.records import ReadResult
from cockpit.sources import LOCAL, ByteSource, OpenFile

CHUNK = 16 * 1024 * 1024  # bytes read per poll; a large backlog is read over several polls
HEAD = 1024  # bytes fingerprinted at the start and before the offset


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
    tail_sig: str = ""  # signature of the HEAD bytes before `offset` ("" = not known)
    # What this generation of the file held that could not be read: records, values by reason.
    bad_records: int = 0
    first_bad: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def count(self, result: ReadResult) -> None:
        self.bad_records += result.bad_records
        self.first_bad = self.first_bad or result.first_bad
        for reason, n in result.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + n


@dataclass(slots=True)
class Generation:
    """The previous generation of the path ended during this poll (see the module doc)."""

    replaced: bool  # its points are to be replaced by the new generation's
    rotated_to: PurePath | None = None  # where the old file lives now (rotated)
    drained: ReadResult = field(default_factory=ReadResult)  # its unread rest (rotated)
    old_state: FollowerState | None = None  # the rotated file's state after the drain


class FileFollower:
    def __init__(self, path: PurePath, reader: StreamReader, state: FollowerState | None = None,
                 source: ByteSource = LOCAL,
                 fresh_reader: Callable[[], StreamReader] | None = None) -> None:
        self.path = path
        self.source = source
        self.reader = reader
        self.state = state or FollowerState()
        self.gone = False
        self.unreadable: str | None = None  # why the file could not be opened, while it cannot
        self.rewrites = 0  # generations that ended (replaced or rotated)
        self.generation: Generation | None = None  # set by the poll that started a new one
        self.more = False  # the last poll stopped at CHUNK: poll again soon
        self._fresh = fresh_reader or type(reader)
        self._fh: OpenFile | None = None
        # Where the next read starts: the committed offset plus what the reader holds pending.
        self._pos = self.state.offset
        # The bytes just before the committed offset as read (what `tail_sig` fingerprints),
        # kept so that fingerprinting after a read needs no second read; None: not known.
        self._tail: bytes | None = b"" if not self.state.offset else None
        self._seen: tuple[int, int, int] = (-1, -1, -1)  # (inode, size, mtime_ns)
        if state and state.reader_state:
            reader.restore(state.reader_state)

    @property
    def mtime(self) -> float | None:
        """The file's modification time at the last poll that saw it change (unix seconds):
        when its newest bytes arrived."""
        return self._seen[2] / 1e9 if self._seen[2] >= 0 else None

    def skip_to(self, offset: int, dev: int, inode: int, head_sig: str, tail_sig: str = "") -> None:
        """Everything before `offset` was stored by other means (a bulk load)."""
        s = self.state
        s.offset = self._pos = offset
        self._tail = None
        s.dev, s.inode = dev, inode
        s.head_sig, s.tail_sig = head_sig, tail_sig
        s.reader_state = self.reader.state()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _read_more(self, fh: OpenFile) -> ReadResult:
        data = fh.read(self._pos, CHUNK)
        self.more = len(data) >= CHUNK
        before = self.reader.pending  # the bytes from the committed offset to `_pos`
        result = self.reader.feed(data)
        self._pos += len(data)
        self._advance(before, data)
        return result

    def _finish(self) -> ReadResult:
        """The reader's `finish()`: what it took of its pending bytes counts as read."""
        before = self.reader.pending
        result = self.reader.finish()
        self._advance(before, b"")
        return result

    def _advance(self, before: bytes, data: bytes) -> None:
        """Move the committed offset to what the reader consumed of `before + data`, and keep
        the bytes before it (`_tail`) from memory."""
        old = self.state.offset
        new = self.state.offset = self._pos - len(self.reader.pending)
        consumed = new - old
        want = min(HEAD, new)
        if consumed >= want:
            self._tail = _window(before, data, consumed - want, consumed)
        elif self._tail is not None:
            self._tail = (self._tail + _window(before, data, 0, consumed))[-want:] if want else b""
        else:
            self._tail = None

    def poll(self, final: bool = False) -> ReadResult | None:
        """Read what is new; None when nothing changed. `final`: the file is complete (import).

        When the poll started a new generation, `self.generation` says what became of the
        old one; the result holds the new generation's first points.
        """
        self.generation = None
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
        if self.reader.whole_file:
            return self._poll_whole(final)
        old = self._fh
        if old is not None and old.stat().inode == st.inode:
            fh = old
        else:
            try:
                fh = self.source.open(self.path)  # kept open to drain on rotation
            except OSError as err:
                self.unreadable = f"cannot be read ({err.strerror or err})"
                self._seen = (-1, -1, -1)  # try again next poll (permissions may change)
                return None
            self.unreadable = None
        s = self.state
        if (s.offset or s.head_sig) and not self._continues(fh):
            self.generation = self._end_generation(old if old is not fh else None)
            self.rewrites += 1
            self.reader = self._fresh()
            self.state = FollowerState()
            self._pos = 0
            self._tail = b""
        if old is not None and old is not fh:
            old.close()
        self._fh = fh
        s = self.state
        result = self._read_more(fh)
        if final and not self.more:
            result.merge(self._finish())
        s.count(result)
        self._sign(fh)
        fst = fh.stat()
        s.dev, s.inode = fst.dev, fst.inode
        s.reader_state = self.reader.state()
        return result

    def _continues(self, fh: OpenFile) -> bool:
        """The file still begins with what was read: new bytes are appended data."""
        if fh.stat().size < max(self.state.offset, self._pos):  # cut before what was read
            return False
        tail = _matching_tail(fh, self.state)
        if tail is None:
            return False
        if len(tail) == min(HEAD, self.state.offset):
            self._tail = tail
        return True

    def _end_generation(self, old: OpenFile | None) -> Generation:
        """Find the old file (rotated) and drain it, or declare it replaced."""
        found = self._find_rotated(old)
        if found is None:
            return Generation(replaced=True)
        path, handle = found
        gen = Generation(replaced=False, rotated_to=path)
        try:
            gen.drained = self._read_more(handle)
            while self.more:
                gen.drained.merge(self._read_more(handle))
            gen.drained.merge(self._finish())  # a rotated file is complete
            self._sign(handle)
            hst = handle.stat()
            gen.old_state = replace(self.state, dev=hst.dev, inode=hst.inode,
                                    reader_state=self.reader.state(),
                                    skipped=dict(self.state.skipped))
            gen.old_state.count(gen.drained)
        finally:
            if handle is not old:
                handle.close()
        return gen

    def _find_rotated(self, old: OpenFile | None) -> tuple[PurePath, OpenFile] | None:
        """The old generation under another name in this folder: the same identity (renamed)
        or the same first and last read bytes (copied, as logrotate's copytruncate does)."""
        s = self.state
        identity = (old.stat().dev, old.stat().inode) if old is not None else (s.dev, s.inode)
        try:
            listing = next(iter(self.source.walk(self.path.parent)), None)
        except OSError:
            listing = None
        if listing is None:
            return None
        folder, _, names = listing
        for name in sorted(names):
            if name == self.path.name or not name.startswith(self.path.name):
                continue
            candidate = PurePath(folder) / name
            try:
                cst = self.source.stat(candidate)
                if cst.size < s.offset:
                    continue
                if old is not None and (cst.dev, cst.inode) == identity:
                    return candidate, old
                handle = self.source.open(candidate)
            except OSError:
                continue
            hst = handle.stat()
            if (hst.dev, hst.inode) == identity or _matches(handle, s):
                return candidate, handle
            handle.close()
        return None

    def _sign(self, fh: OpenFile) -> None:
        """Fingerprint the first bytes and the bytes before the offset of what was read (the
        latter from memory when the reads were contiguous: no second read of a remote file)."""
        s = self.state
        if _sig_length(s.head_sig) < min(HEAD, s.offset):
            s.head_sig = head_signature(fh.read(0, min(HEAD, s.offset)))
        n = min(HEAD, s.offset)
        if self._tail is None or len(self._tail) != n:
            self._tail = fh.read(s.offset - n, n) if n else b""
        s.tail_sig = head_signature(self._tail) if n else ""

    def _poll_whole(self, final: bool) -> ReadResult | None:
        """A file rewritten as a whole: its reader gets the full content on every change."""
        if self._fh is not None:
            self.close()  # a whole file is re-opened each time (it is replaced, not appended)
        try:
            fh = self.source.open(self.path)
        except OSError as err:
            self.unreadable = f"cannot be read ({err.strerror or err})"
            self._seen = (-1, -1, -1)
            return None
        self.unreadable = None
        s = self.state
        try:
            fst = fh.stat()
            if (fst.inode, fst.size) == (s.inode, s.offset) and s.head_sig == str(fst.mtime_ns):
                return None
            self.reader.on_rewrite()
            data = fh.read(0)
        finally:
            fh.close()
        result = self.reader.feed(data)
        if final:
            result.merge(self.reader.finish())
        s.count(result)
        s.offset = self._pos = len(data)
        s.head_sig = str(fst.mtime_ns)  # whole files are recognised by mtime instead
        s.dev, s.inode = fst.dev, fst.inode
        s.reader_state = self.reader.state()
        return result


def _matches(fh: OpenFile, s: FollowerState) -> bool:
    """`fh` holds the bytes `s` fingerprinted: the same first bytes and bytes before offset."""
    return _matching_tail(fh, s) is not None


def _matching_tail(fh: OpenFile, s: FollowerState) -> bytes | None:
    """The bytes before `s.offset` in `fh` when they and the first bytes are the ones `s`
    fingerprinted (b"" when no tail was fingerprinted); None when they differ."""
    n = _sig_length(s.head_sig)
    if n and head_signature(fh.read(0, n)) != s.head_sig:
        return None
    t = _sig_length(s.tail_sig)
    if not t:
        return b""
    tail = fh.read(s.offset - t, t)
    return tail if head_signature(tail) == s.tail_sig else None


def _window(before: bytes, data: bytes, start: int, end: int) -> bytes:
    """Bytes [start, end) of `before + data`, without joining the two."""
    if end <= len(before):
        return before[start:end]
    if start >= len(before):
        return data[start - len(before):end - len(before)]
    return before[start:] + data[:end - len(before)]
