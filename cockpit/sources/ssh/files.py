"""The files of an SSH host as a ByteSource: the same followers and readers tail them.

The engine polls followers often (every 0.25 s), and a round trip to a distant host costs
tens of milliseconds, so the engine thread must not pay one per file per poll. A thread per
host does one batched "poll" request per interval instead: it stats every followed path,
fstats every open file, reads what was appended (up to READAHEAD bytes) and the crc of each
file's head. `stat`, `OpenFile.stat` and appends are then answered from that snapshot;
only opening a file, a large backlog or a head that changed costs a direct request (bounded
by a timeout). When the host is unreachable every call raises `SourceUnavailable` at once.

An open file keeps reading its version after a rotation (the helper holds the descriptor);
after a reconnect it is re-opened by path and kept only if the inode is the same, so a
version rotated away while the host was unreachable is reported as gone, never misread.
"""

from __future__ import annotations

import contextlib
import errno
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath
from typing import Any

from cockpit.sources.base import FileStat, Reachability, SourceUnavailable
from cockpit.sources.ssh.host import SshHost

HEAD = 1024  # the helper's crc covers this many bytes (the follower fingerprints <= 1 KiB)
READAHEAD = 256 * 1024  # appended bytes fetched per file per poll
BUFFER_CAP = 1024 * 1024  # read-ahead held per file before waiting for the reader


def _stat(row: list[Any]) -> FileStat | OSError:
    if row and row[0] == "E":
        code = int(row[1])
        cls = FileNotFoundError if code == errno.ENOENT else OSError
        return cls(code, str(row[2]))
    return FileStat(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def _is_dir(row: list[Any]) -> bool:
    return bool(row and row[0] != "E" and row[4])


@dataclass(slots=True)
class _Head:
    inode: int
    size: int  # of the file when read
    data: bytes


class SshOpenFile:
    """One remote file version held open by the helper."""

    def __init__(self, files: SshFiles, path: PurePosixPath, rh: int, st: FileStat) -> None:
        self.files = files
        self.path = path
        self.rh = rh
        self.conn = files.host.connects  # the session the remote handle belongs to
        self.st = st
        self.head = b""
        self.head_crc: int | None = None  # crc of the head at the last poll
        self.buf_start = 0
        self.buf = bytearray()
        self.lost = False  # rotated away while the host was unreachable: cannot be read
        self.closed = False

    @property
    def buf_end(self) -> int:
        return self.buf_start + len(self.buf)

    def stat(self) -> FileStat:
        self.files.check_up()
        self.files.rebind(self)
        return self.st

    def read(self, offset: int, size: int | None = None) -> bytes:
        files = self.files
        files.check_up()
        files.rebind(self)
        if self.lost:
            return b""
        if offset == 0 and size is not None and size <= HEAD:
            return self._read_head(size)
        with files.lock:
            want_end = self.st.size if size is None else min(offset + size, self.st.size)
            if self.buf_start <= offset <= self.buf_end and self.buf_end >= want_end:
                stop = None if size is None else offset + size - self.buf_start
                data = bytes(self.buf[offset - self.buf_start:stop])
                del self.buf[:offset + len(data) - self.buf_start]
                self.buf_start = offset + len(data)
                return data
        data = files.request("read", timeout=files.read_timeout, h=self.rh, off=offset, n=size)[1]
        with files.lock:
            self.buf = bytearray()
            self.buf_start = offset + len(data)
            if offset == 0:
                self._keep_head(data)
        return data

    def _read_head(self, size: int) -> bytes:
        with self.files.lock:
            if len(self.head) >= size and zlib.crc32(self.head) == self.head_crc:
                return self.head[:size]
        data = self.files.request("read", h=self.rh, off=0, n=HEAD)[1]
        with self.files.lock:
            self._keep_head(data)
        return data[:size]

    def _keep_head(self, data: bytes) -> None:
        self.head = data[:HEAD]
        if self.head_crc is None:
            self.head_crc = zlib.crc32(self.head)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.files.forget(self)


class SshFiles:
    """A ByteSource over one SshHost (shared with GPU telemetry and process readers)."""

    def __init__(self, host: SshHost, interval: float = 0.25, read_timeout: float = 30.0) -> None:
        self.host = host
        self.name = host.name
        self.interval = interval
        self.read_timeout = read_timeout
        self.lock = threading.Lock()
        self.polls = 0  # batched poll requests made (benchmarks, tests)
        self._paths: dict[str, FileStat | OSError] = {}  # followed path -> latest stat
        self._open: list[SshOpenFile] = []
        self._heads: dict[str, _Head] = {}  # sniffed heads of listed files
        self._listed: dict[str, FileStat] = {}  # stats from the latest walk
        self._names: dict[str, list[str]] = {}  # folder -> file names, from the latest walk
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._polled = threading.Condition(self.lock)

    def connect(self) -> None:
        """Reach the host now (SourceUnavailable with ssh's reason if it cannot be)."""
        self.host.connect()

    # ---- ByteSource ------------------------------------------------------------------------
    def reachability(self) -> Reachability:
        return self.host.reachability()

    def url(self, path: PurePath) -> str:
        return f"{self.name}{PurePosixPath(path)}"

    def check_up(self) -> None:
        state = self.host.reachability()
        if not state.ok:
            raise SourceUnavailable(state.reason or f"{self.name}: unreachable")

    def request(self, op: str, timeout: float | None = None,
                **args: Any) -> tuple[dict[str, Any], bytes]:
        return self.host.request(op, timeout, **args)

    def walk(self, root: PurePath) -> Iterator[tuple[PurePath, list[str], list[str]]]:
        msg, _ = self.request("walk", timeout=self.read_timeout, root=str(root))
        listed: dict[str, FileStat] = {}
        names_in: dict[str, list[str]] = {}
        allowed = {str(PurePosixPath(root))}
        for here, subdirs, rows in msg["dirs"]:
            if here not in allowed:
                continue  # the caller pruned it (or an ancestor) from its parent's list
            names = []
            for name, *stat in rows:
                names.append(name)
                found = _stat(stat)
                if isinstance(found, FileStat):
                    listed[f"{here.rstrip('/')}/{name}"] = found
            names_in[here] = names
            kept = list(subdirs)
            yield PurePosixPath(here), kept, names
            allowed.update(f"{here.rstrip('/')}/{d}" for d in kept)
        with self.lock:
            self._listed.update(listed)
            self._names.update(names_in)

    def files_in(self, folder: PurePath) -> list[str]:
        """The file names the latest walk saw in `folder` (no request)."""
        with self.lock:
            return list(self._names.get(str(folder), []))

    def stat(self, path: PurePath) -> FileStat:
        self.check_up()
        key = str(path)
        with self.lock:
            found = self._paths.get(key)
        if found is None:
            row = self.request("stat", paths=[key])[0]["stats"][0]
            found = _stat(row)
            with self.lock:
                self._paths[key] = found
            self._ensure_thread()
        if isinstance(found, OSError):
            raise found
        return found

    def _stat_now(self, path: PurePath) -> list[Any]:
        row: list[Any] = self.request("stat", paths=[str(path)])[0]["stats"][0]
        return row

    def is_file(self, path: PurePath) -> bool:
        try:
            row = self._stat_now(path)
        except OSError:
            return False
        return row[0] != "E" and not _is_dir(row)

    def is_dir(self, path: PurePath) -> bool:
        try:
            return _is_dir(self._stat_now(path))
        except OSError:
            return False

    def open(self, path: PurePath) -> SshOpenFile:
        self.check_up()
        msg, _ = self.request("open", path=str(path))
        st = _stat(msg["st"])
        assert isinstance(st, FileStat)
        fh = SshOpenFile(self, PurePosixPath(path), int(msg["h"]), st)
        with self.lock:
            self._open.append(fh)
            self._paths.setdefault(str(path), st)
        self._ensure_thread()
        return fh

    def read_head(self, path: PurePath, size: int) -> bytes:
        """For format sniffing at every rescan: a file that grew since has only its new bytes
        up to `size` fetched (an append leaves the start as it was); one replaced or shrunk
        is read again. The walk that just ran says the size, so nothing is asked otherwise."""
        key = str(path)
        with self.lock:
            st = self._listed.get(key)
            cached = self._heads.get(key)
        try:
            if cached is not None and st is not None and cached.inode == st.inode \
                    and st.size >= cached.size:
                data = cached.data
                want = min(size, st.size)
                if len(data) < want:
                    data += self.request("head", path=key, off=len(data), n=want - len(data))[1]
            else:
                data = self.request("head", path=key, n=size)[1]
        except OSError:
            return b""
        if st is not None:
            with self.lock:
                self._heads[key] = _Head(st.inode, st.size, data)
        return data[:size]

    # ---- the poll thread ---------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        with self.lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name=f"cockpit-ssh-poll-{self.host.target.host}")
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.host.reachability().ok:
                continue
            try:
                self.poll_now()
            except OSError:
                continue  # unreachable or not answering: the host's state says so

    def poll_now(self) -> None:
        """One batched look at every followed path and open file."""
        with self.lock:
            paths = list(self._paths)
            stale = [fh for fh in self._open if fh.conn != self.host.connects and not fh.lost]
        for fh in stale:
            self.rebind(fh)
        with self.lock:
            handles = [fh for fh in self._open if not fh.lost and fh.conn == self.host.connects]
            asks = [[fh.rh, fh.buf_end, READAHEAD if len(fh.buf) < BUFFER_CAP else 0]
                    for fh in handles]
        msg, blob = self.request("poll", paths=paths, handles=asks)
        pos = 0
        with self.lock:
            for path, row in zip(paths, msg["stats"], strict=True):
                self._paths[path] = _stat(row)
            for fh, ask, row, n in zip(handles, asks, msg["fstats"], msg["lens"], strict=True):
                data, pos = blob[pos:pos + n], pos + n
                found = _stat(row[:5])
                if isinstance(found, OSError):
                    continue
                fh.st = found
                fh.head_crc = int(row[5])
                if data and fh.buf_end == ask[1]:
                    fh.buf += data
            self.polls += 1
            self._polled.notify_all()

    def wait_poll(self, timeout: float) -> bool:
        """Wait for the next batched poll (tests and benchmarks)."""
        with self.lock:
            seen = self.polls
            return self._polled.wait_for(lambda: self.polls > seen, timeout)

    def rebind(self, fh: SshOpenFile) -> None:
        """After a reconnect the helper is new: re-open the path and keep the handle only if it
        is still the same file version."""
        if fh.lost or fh.conn == self.host.connects:
            return
        conn = self.host.connects
        try:
            msg, _ = self.request("open", path=str(fh.path))
        except FileNotFoundError:
            fh.lost = True
            return
        st = _stat(msg["st"])
        if not isinstance(st, FileStat) or st.inode != fh.st.inode:
            fh.lost = True
            with contextlib.suppress(OSError):
                self.request("close", h=int(msg["h"]))
            return
        with self.lock:
            fh.rh, fh.conn, fh.st = int(msg["h"]), conn, st

    def forget(self, fh: SshOpenFile) -> None:
        with self.lock:
            if fh in self._open:
                self._open.remove(fh)
        if not fh.lost and fh.conn == self.host.connects:
            with contextlib.suppress(OSError):
                self.request("close", h=fh.rh)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None


_files: dict[str, SshFiles] = {}
_files_lock = threading.Lock()


def ssh_files(host: SshHost) -> SshFiles:
    """The one SshFiles of a host (its folders share one poll thread and one connection)."""
    with _files_lock:
        files = _files.get(host.name)
        if files is None or files.host is not host or files._stop.is_set():
            files = _files[host.name] = SshFiles(host)
        return files


def close_files() -> None:
    """Stop every host's poll thread (their connections are closed by close_hosts)."""
    with _files_lock:
        files = list(_files.values())
        _files.clear()
    for f in files:
        f.close()
