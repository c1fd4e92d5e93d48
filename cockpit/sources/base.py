"""The byte-source protocol: what a follower and discovery need from a place holding logs.

Paths are the source's own (a `pathlib.Path` locally, a `PurePosixPath` on a remote host),
always absolute. Errors are `OSError`s (`FileNotFoundError` for a path that is gone), as a
local file system raises them, so callers handle every source the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Protocol


class SourceUnavailable(ConnectionError):
    """The place holding the files cannot be reached now (a host that is down, a connection
    being re-established): one sentence saying why. Not a missing file: the files are
    probably still there, and reading resumes where it stopped once the place is back."""


@dataclass(frozen=True, slots=True)
class Reachability:
    """Whether a source can be read now; `since` (unix seconds) is when that last changed."""

    ok: bool
    since: float
    reason: str = ""


REACHABLE = Reachability(True, 0.0)


@dataclass(frozen=True, slots=True)
class FileStat:
    """What a follower compares between polls. `inode` is whatever names this version of the
    file (an inode, or a number derived from an object's ETag); `dev` is 0 where the source
    has no devices."""

    size: int
    mtime_ns: int
    inode: int
    dev: int = 0


class OpenFile(Protocol):
    """One opened version of a file. After the path is rotated (renamed away and recreated)
    an open file still reads the old version, which is how `tail -F` drains it."""

    def stat(self) -> FileStat: ...

    def read(self, offset: int, size: int | None = None) -> bytes:
        """Up to `size` bytes from `offset` (None: to the end as it is now)."""
        ...

    def close(self) -> None: ...


class ByteSource(Protocol):
    """List, stat and read: everything Cockpit needs from a place holding training logs."""

    @property
    def name(self) -> str:
        """Where this is, for messages and the `host` of runs ("local", "ssh://gpu1")."""
        ...

    def walk(self, root: PurePath) -> Iterator[tuple[PurePath, list[str], list[str]]]:
        """Top-down like `os.walk`: (folder, subfolder names, file names); the caller may
        prune the subfolder list in place."""
        ...

    def stat(self, path: PurePath) -> FileStat: ...

    def is_file(self, path: PurePath) -> bool: ...

    def is_dir(self, path: PurePath) -> bool: ...

    def open(self, path: PurePath) -> OpenFile: ...

    def read_head(self, path: PurePath, size: int) -> bytes:
        """The first `size` bytes (fewer for a short file); b"" when it cannot be read."""
        ...

    def reachability(self) -> Reachability:
        """Whether the place can be read now (local files always can); never blocks."""
        ...

    def url(self, path: PurePath) -> str:
        """How a user names `path` on this source (a local path, `ssh://gpu1/runs/a`)."""
        ...
