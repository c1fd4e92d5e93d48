"""Local files through the operating system: the byte source of every folder on this machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import IO

from cockpit.sources.base import REACHABLE, FileStat, Reachability

_PREAD_MAX = 1 << 20  # reads up to this size are one pread (signatures, small appends)


def _stat(st: os.stat_result) -> FileStat:
    return FileStat(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


class LocalOpenFile:
    """An open local file; `stat` is fstat of the handle, so a rotated file is still seen."""

    __slots__ = ("_fh",)

    def __init__(self, path: PurePath) -> None:
        self._fh: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by close()

    def stat(self) -> FileStat:
        return _stat(os.fstat(self._fh.fileno()))

    def read(self, offset: int, size: int | None = None) -> bytes:
        if size is not None and size <= _PREAD_MAX:  # one syscall for the small reads
            return os.pread(self._fh.fileno(), size, offset)
        self._fh.seek(offset)
        return self._fh.read() if size is None else self._fh.read(size)

    def close(self) -> None:
        self._fh.close()


class LocalFiles:
    """The machine's own file system."""

    name = "local"

    def walk(self, root: PurePath) -> Iterator[tuple[PurePath, list[str], list[str]]]:
        for dirpath, dirnames, filenames in os.walk(root):
            yield Path(dirpath), dirnames, filenames

    def stat(self, path: PurePath) -> FileStat:
        return _stat(os.stat(path))

    def is_file(self, path: PurePath) -> bool:
        return os.path.isfile(path)

    def is_dir(self, path: PurePath) -> bool:
        return os.path.isdir(path)

    def open(self, path: PurePath) -> LocalOpenFile:
        return LocalOpenFile(path)

    def read_head(self, path: PurePath, size: int) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read(size)
        except OSError:
            return b""

    def reachability(self) -> Reachability:
        return REACHABLE

    def url(self, path: PurePath) -> str:
        return str(path)


LOCAL = LocalFiles()
