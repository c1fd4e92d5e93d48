"""One `ssh` process running Cockpit's helper on a host: framed requests, replies by id.

Everything for a host goes through this one session (one SSH connection): file reads, the
batched poll, /proc, `squeue`, the streamed `nvidia-smi`. A reader thread matches replies
to waiting requests and hands streamed lines to their callbacks. When the connection ends
(network, host down, killed) every waiting request fails at once with the reason ssh gave;
nothing waits for a timeout to find out.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import signal
import struct
import subprocess
import threading
from collections.abc import Callable
from importlib import resources
from typing import IO, Any

from cockpit.sources.base import SourceUnavailable
from cockpit.sources.ssh.target import SshTarget

MAGIC = b"COCKPIT-SSH-HELPER-1\n"
# Run by the remote login shell: read the helper's text from stdin, then run it. The helper
# prints MAGIC first, so anything a login script prints before it is skipped.
BOOTSTRAP = ("python3 -c 'import sys;b=sys.stdin.buffer;"
             "exec(b.read(int(b.readline())),{\"__name__\":\"__main__\"})'")

StreamCallback = Callable[[dict[str, Any], bytes], None]


def helper_source() -> bytes:
    return (resources.files("cockpit.sources.ssh") / "helper_script.py").read_bytes()


class _Pending:
    __slots__ = ("done", "msg", "blob", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.msg: dict[str, Any] = {}
        self.blob = b""
        self.error: Exception | None = None


class SshSession:
    def __init__(self, target: SshTarget, on_close: Callable[[str], None] | None = None) -> None:
        self.target = target
        self.on_close = on_close
        self.proc: subprocess.Popen[bytes] | None = None
        self.hello: dict[str, Any] = {}
        self.closed_reason: str | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._streams: dict[int, StreamCallback] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._ready = threading.Event()
        self._stderr_thread: threading.Thread | None = None

    # ---- start and stop ------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> dict[str, Any]:
        """Connect, send the helper, wait for it to answer; raises SourceUnavailable with ssh's
        own reason (refused, host key, permission, no python3)."""
        self.proc = subprocess.Popen(self.target.argv(BOOTSTRAP), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True,
                                               name="cockpit-ssh-stderr")
        self._stderr_thread.start()
        threading.Thread(target=self._read_loop, name="cockpit-ssh-reader", daemon=True).start()
        script = helper_source()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"%d\n" % len(script) + script)
            self.proc.stdin.flush()
        except OSError:
            pass  # the connection already failed: the reader reports why
        if not self._ready.wait(timeout):
            self.close(f"no answer within {timeout:.0f} s")
            raise SourceUnavailable(f"{self.target.name}: no answer within {timeout:.0f} s")
        if self.closed_reason is not None:
            raise SourceUnavailable(self.closed_reason)
        self.hello = self.request("hello", timeout=timeout)[0]
        return self.hello

    def close(self, reason: str = "closed") -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            # Our own child and its process group (a ProxyJump/ProxyCommand hop is in it);
            # its exit ends the reader loop, which fails the waiters.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (AttributeError, OSError):  # no process groups (Windows)
                proc.kill()
            proc.wait()
        self._fail_all(reason)

    @property
    def alive(self) -> bool:
        return self.closed_reason is None and self.proc is not None and self.proc.poll() is None

    # ---- requests ------------------------------------------------------------------------
    def request(self, op: str, timeout: float = 10.0, **args: Any) -> tuple[dict[str, Any], bytes]:
        """Send one request and wait for its reply; OSError with the remote errno for a failed
        file operation, SourceUnavailable when the connection is gone, TimeoutError when the
        host does not answer within `timeout`."""
        rid, pending = self._register()
        self._send({"id": rid, "op": op, **args}, rid)
        if not pending.done.wait(timeout):
            with self._lock:
                self._pending.pop(rid, None)
            raise TimeoutError(f"{self.target.name}: no answer to {op} within {timeout:.0f} s")
        if pending.error is not None:
            raise pending.error
        err = pending.msg.get("err")
        if err:
            raise OSError(int(err[0]), str(err[1]))
        return pending.msg, pending.blob

    def stream(self, argv: list[str], callback: StreamCallback) -> int:
        """Start a command remotely; `callback(msg, line)` gets each stdout line (msg has
        "more"), then one final call with "rc"/"err" (or "lost" when the connection ended)."""
        rid = next(self._ids)
        with self._lock:
            if self.closed_reason is not None:
                raise SourceUnavailable(self.closed_reason)
            self._streams[rid] = callback
        self._send({"id": rid, "op": "stream", "argv": argv}, rid)
        return rid

    def cancel(self, rid: int) -> None:
        with self._lock:
            self._streams.pop(rid, None)
        with contextlib.suppress(SourceUnavailable):
            self._send({"id": 0, "op": "cancel", "target": rid}, None)

    def _register(self) -> tuple[int, _Pending]:
        rid = next(self._ids)
        pending = _Pending()
        with self._lock:
            if self.closed_reason is not None:
                raise SourceUnavailable(self.closed_reason)
            self._pending[rid] = pending
        return rid, pending

    def _send(self, msg: dict[str, Any], rid: int | None) -> None:
        body = json.dumps(msg, separators=(",", ":")).encode()
        frame = struct.pack(">II", 4 + len(body), len(body)) + body
        try:
            with self._write_lock:
                assert self.proc is not None and self.proc.stdin is not None
                self.proc.stdin.write(frame)
                self.proc.stdin.flush()
        except (OSError, ValueError):
            reason = self.closed_reason or f"{self.target.name}: connection lost"
            with self._lock:
                if rid is not None:
                    self._pending.pop(rid, None)
                    self._streams.pop(rid, None)
            raise SourceUnavailable(reason) from None

    # ---- reader side -----------------------------------------------------------------------
    def _read_loop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout
        try:
            if not _skip_to_magic(out):
                return
            self._ready.set()
            while True:
                head = _read_exact(out, 8)
                if head is None:
                    return
                length, jlen = struct.unpack(">II", head)
                body = _read_exact(out, length - 4)
                if body is None:
                    return
                self._dispatch(json.loads(body[:jlen]), body[jlen:])
        finally:
            code = self.proc.wait()
            if self._stderr_thread is not None:
                self._stderr_thread.join(timeout=2.0)  # ssh's last words, before they are read
            self._fail_all(self._reason(code))
            self._ready.set()

    def _dispatch(self, msg: dict[str, Any], blob: bytes) -> None:
        rid = int(msg.get("id", 0))
        with self._lock:
            callback = self._streams.get(rid)
            if callback is not None and not msg.get("more"):
                del self._streams[rid]
            pending = self._pending.pop(rid, None) if callback is None else None
        if callback is not None:
            callback(msg, blob)
        elif pending is not None:
            pending.msg, pending.blob = msg, blob
            pending.done.set()

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            if self.closed_reason is None:
                self.closed_reason = reason
            pending, self._pending = self._pending, {}
            streams, self._streams = self._streams, {}
        error = SourceUnavailable(self.closed_reason or reason)
        for p in pending.values():
            p.error = error
            p.done.set()
        for callback in streams.values():
            callback({"lost": True, "err": [0, str(error)]}, b"")
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close(self.closed_reason or reason)

    def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._stderr.append(line)

    def _reason(self, code: int) -> str:
        """ssh's own last words, made into one sentence for the runs on this host."""
        lines = list(self._stderr)
        text = " ".join(lines)
        name = self.target.name
        if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
            return (f"{name}: the host key is not in known_hosts or has changed; connect once "
                    f"with `ssh {self.target.host}` to check and accept it (Cockpit never "
                    "accepts host keys by itself)")
        if "Permission denied" in text:
            return (f"{name}: permission denied: no key or agent identity was accepted "
                    "(Cockpit cannot type passwords or passphrases)")
        if code == 127 and "python3" in text:
            return (f"{name}: no python3 on the remote PATH (Cockpit runs a small stdlib script "
                    "there for the length of the connection)")
        last = next((ln for ln in reversed(lines) if not ln.startswith("Warning:")), "")
        if last:
            return f"{name}: {last}"
        return f"{name}: connection closed (ssh exit status {code})"


def _read_exact(stream: IO[bytes], n: int) -> bytes | None:
    data = stream.read(n)
    if len(data) < n:
        return None
    return data


def _skip_to_magic(stream: IO[bytes]) -> bool:
    """Skip whatever a login script printed before the helper's first line."""
    while True:
        line = stream.readline()
        if not line:
            return False
        if line.endswith(MAGIC):
            return True
