"""Live reads: the process that owns the history (`watch`, the app, `import`) answers
read-only queries on a unix socket that only its user can open, so `cockpit query`,
`cockpit runs`, a second app and a notebook can read a history that is locked.

The socket lies beside the database (`history.duckdb.sock`, mode 0600; in a private
runtime folder when that path is too long for a socket). Both ends check that the other
runs as the same user. Each query runs through the read-only surface (cockpit.store.sql)
in its own snapshot, on the owner's connection: it sees everything committed, which the
writer does as soon as a batch arrives, so results are at most one poll old.

Frames are an 8-byte length and a payload. A request is one JSON object; a reply is a JSON
header and then one frame per column: raw bytes for numeric, boolean and time columns
(plus a frame of the NULL mask when there are NULLs), JSON for the others. No pickle.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import struct
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from cockpit.store.db import StoreError
from cockpit.store.sql import Result, SqlRefused, plain_column, run

log = logging.getLogger(__name__)

MAX_ROWS = 5_000_000  # a bigger result is refused: aggregate it or LIMIT it
QUERY_TIMEOUT_S = 120.0
_MAX_SOCKET_PATH = 100  # bytes; sun_path holds 108 on Linux, 104 on macOS
_RAW_KINDS = frozenset("biufcmM")
_LEN = struct.Struct(">Q")
_MAX_REQUEST = 16 * 1024 * 1024
# Unix sockets and user ids: on Windows the history is not served live (yet): the locked
# sentence says so as before.
SUPPORTED = hasattr(socket, "AF_UNIX") and hasattr(os, "getuid")
SWITCH_INTERVAL_S = 0.001


def socket_path(db: str | Path) -> Path:
    """Where the owner of `db` listens: beside it, or in a private runtime folder."""
    db = Path(db).expanduser().absolute()
    beside = db.with_name(db.name + ".sock")
    if len(os.fsencode(beside)) < _MAX_SOCKET_PATH:
        return beside
    digest = hashlib.sha1(os.fsencode(db.resolve())).hexdigest()[:16]
    return _runtime_dir() / f"{digest}.sock"


def _runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"cockpit-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    st = folder.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise StoreError(f"{folder} is not a private folder of this user; remove it")
    return folder


def _same_user(sock: socket.socket) -> bool:
    """The process at the other end runs as this user (or as root)."""
    peer = getattr(socket, "SO_PEERCRED", None)
    if peer is None:  # macOS: the socket's mode 0600 is the check
        return True
    creds = sock.getsockopt(socket.SOL_SOCKET, peer, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return uid in (os.getuid(), 0)


# ---- frames ----------------------------------------------------------------------------
def _send(sock: socket.socket, payload: bytes) -> None:
    if len(payload) < 65536:
        sock.sendall(_LEN.pack(len(payload)) + payload)
    else:  # no copy of a big frame
        sock.sendall(_LEN.pack(len(payload)))
        sock.sendall(payload)


def _recv(sock: socket.socket, limit: int | None = None) -> bytes | None:
    head = _recv_exactly(sock, _LEN.size)
    if head is None:
        return None
    (size,) = _LEN.unpack(head)
    if limit is not None and size > limit:
        raise StoreError(f"a live-read request of {size} bytes is too large")
    data = _recv_exactly(sock, size)
    if data is None:
        raise StoreError("the history's owner closed the connection mid-reply")
    return data


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            return None
        got += n
    return bytes(buf)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def encode(result: Result) -> list[bytes]:
    """A result as frames: its header, then its columns."""
    cols: list[dict[str, Any]] = []
    frames: list[bytes] = []
    for name in result.columns:
        arr = result.data[name]
        masked = isinstance(arr, np.ma.MaskedArray)
        kind = arr.dtype.kind
        if kind in _RAW_KINDS:
            data = np.ascontiguousarray(arr.data if masked else arr)
            frames.append(data.tobytes())
            mask = masked and bool(np.ma.getmaskarray(arr).any())
            if mask:
                frames.append(np.ma.getmaskarray(arr).tobytes())
            cols.append({"enc": "raw", "dtype": data.dtype.str, "mask": mask})
        else:
            frames.append(json.dumps(plain_column(arr), default=_json_default).encode())
            cols.append({"enc": "json"})
    header = {"ok": True, "columns": result.columns, "types": result.types,
              "rows": len(result), "truncated": result.truncated, "cols": cols}
    return [json.dumps(header).encode(), *frames]


def decode(header: dict[str, Any], frames: list[bytes]) -> Result:
    data: dict[str, Any] = {}
    it = iter(frames)
    n = int(header["rows"])
    for name, col in zip(header["columns"], header["cols"], strict=True):
        if col["enc"] == "raw":
            arr: Any = np.frombuffer(next(it), dtype=np.dtype(col["dtype"]))
            if col["mask"]:
                arr = np.ma.MaskedArray(arr, mask=np.frombuffer(next(it), dtype=bool))
        else:
            values = json.loads(next(it))
            arr = np.empty(n, dtype=object)
            for i, v in enumerate(values):
                arr[i] = v
        data[name] = arr
    return Result(list(header["columns"]), list(header["types"]), data,
                  bool(header["truncated"]))


def _frames_expected(header: dict[str, Any]) -> int:
    return sum(2 if c.get("mask") else 1 for c in header.get("cols", []))


# ---- the owner's side ------------------------------------------------------------------
class LiveServer:
    """Answers read-only queries on the history's socket, one thread per client."""

    def __init__(self, cursor: Callable[[], duckdb.DuckDBPyConnection], db: Path,
                 file_access: bool = False) -> None:
        self._cursor = cursor
        self.db = Path(db)
        self.file_access = file_access
        self.path = socket_path(db) if SUPPORTED else Path(db)
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.queries = 0

    def start(self) -> None:
        """Listen; a socket left behind by a killed owner is replaced (this process holds
        the database, so no other owner can be listening)."""
        if not SUPPORTED:
            raise OSError("live reads need unix sockets")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            os.chmod(self.path, 0o600)  # before listen(): nobody else can connect in between
            sock.listen(16)
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.5)
        self._sock = sock
        # An answer needs the GIL a handful of times; against a busy ingest thread each wait
        # could last the default 5 ms switch interval (the app sets 1 ms for its GUI too).
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._thread = threading.Thread(target=self._accept, name="cockpit-live-reads",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(OSError):
                self.path.unlink()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            if not _same_user(conn):
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), name="cockpit-live-client",
                             daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        cur: duckdb.DuckDBPyConnection | None = None
        try:
            while not self._stop.is_set():
                raw = _recv(conn, _MAX_REQUEST)
                if raw is None:
                    return
                if cur is None:
                    cur = self._cursor()
                for frame in self._answer(cur, raw):
                    _send(conn, frame)
        except (OSError, StoreError):
            return  # the client went away
        finally:
            if cur is not None:
                cur.close()
            conn.close()

    def _answer(self, cur: duckdb.DuckDBPyConnection, raw: bytes) -> list[bytes]:
        try:
            request = json.loads(raw)
            sql, params = str(request["sql"]), request.get("params")
            unsafe = bool(request.get("unsafe"))
            max_rows = min(int(request.get("max_rows") or MAX_ROWS), MAX_ROWS)
        except (ValueError, KeyError, TypeError):
            return [_error("the live-read request is not valid")]
        if unsafe and not self.file_access:
            return [_error(f"--unsafe-sql is not served live: PID {os.getpid()} holds "
                           f"{self.db} with file access off; stop it to query the file")]
        if self.file_access and not unsafe:
            return [_error(f"PID {os.getpid()} holds {self.db} with file access on (its "
                           f"setting); pass --unsafe-sql to query it live")]
        timer = threading.Timer(QUERY_TIMEOUT_S, cur.interrupt)
        timer.start()
        try:
            result = run(cur, sql, params, unsafe=unsafe, max_rows=max_rows, snapshot=True)
        except SqlRefused as err:
            return [_error(str(err))]
        finally:
            timer.cancel()
        self.queries += 1
        if result.truncated and max_rows == MAX_ROWS:
            return [_error(f"the result has more than {MAX_ROWS:,} rows; aggregate it or "
                           "add a LIMIT")]
        return encode(result)


def _error(message: str) -> bytes:
    return json.dumps({"ok": False, "error": message}).encode()


# ---- the reader's side -----------------------------------------------------------------
class LiveClient:
    """A connection to the owner of a history; `query` as often as needed, then `close`."""

    def __init__(self, sock: socket.socket, path: Path) -> None:
        self._sock = sock
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, db: str | Path, timeout: float = QUERY_TIMEOUT_S + 10) -> LiveClient | None:
        """A client when the history's owner serves live reads, else None."""
        if not SUPPORTED:
            return None
        try:
            path = socket_path(db)
            st = path.stat()
        except (OSError, StoreError):
            return None
        if st.st_uid != os.getuid():
            return None  # not a socket of this user's Cockpit: never send it a query
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            if not _same_user(sock):
                raise OSError("the socket's owner is another user")
        except OSError:
            sock.close()
            return None
        return cls(sock, path)

    def query(self, sql: str, params: list[Any] | None = None, unsafe: bool = False,
              max_rows: int | None = None) -> Result:
        request = json.dumps({"sql": sql, "params": params, "unsafe": unsafe,
                              "max_rows": max_rows}, default=_json_default).encode()
        with self._lock:
            try:
                _send(self._sock, request)
                head = _recv(self._sock)
                if head is None:
                    raise StoreError("the history's owner closed the live-read connection")
                header = json.loads(head)
                if not header.get("ok"):
                    raise SqlRefused(str(header.get("error")))
                frames = []
                for _ in range(_frames_expected(header)):
                    frame = _recv(self._sock)
                    if frame is None:
                        raise StoreError("the history's owner closed the connection mid-reply")
                    frames.append(frame)
            except TimeoutError:
                raise StoreError(f"no live-read answer from {self.path} within "
                                 f"{QUERY_TIMEOUT_S:.0f} s") from None
            except OSError as err:
                raise StoreError(f"live read through {self.path} failed: "
                                 f"{err.strerror or err}") from None
        return decode(header, frames)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> LiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


