"""Receivers on 127.0.0.1 for the notification tests: an HTTP server that takes what
Apprise's json://, slack:// (its webhook host pointed here), mmost:// and ntfy:// plugins post,
and an SMTP server (aiosmtpd) for mailto://.

The HTTP receiver can be stopped and started again on the same port (a destination that is
down, then back), answer with an error status, or hold each request until the test lets it go
(a slow receiver, with no sleep in the test). `memory_keyring` stands in for the OS keyring.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request arrived
    json: Any = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HttpReceiver:
    port: int = field(default_factory=free_port)
    status: int = 200
    hold: threading.Event | None = None  # set: requests wait for it before answering
    delay_s: float = 0.0  # every request takes this long to answer (a slow service)
    received: list[Received] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # every request, answered or not

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url_base(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.arrived.append(time.time())
                    receiver._cond.notify_all()
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)  # the service is slow, not the test
                item = Received(self.path, dict(self.headers), body, time.time())
                with contextlib.suppress(ValueError):
                    item.json = json.loads(body)
                status = receiver.status
                if status < 300:
                    with receiver._cond:
                        receiver.received.append(item)
                        receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket: the port refuses connections until start()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.received) >= count, timeout)

    def wait_arrived(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.arrived) >= count, timeout)


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1; with `password`, it requires AUTH LOGIN/PLAIN over plain text
    (no TLS on loopback) and records the credentials it saw."""

    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.port = free_port()
        self.messages: list[Any] = []
        self.logins: list[tuple[str, str]] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                with receiver._cond:
                    receiver.messages.append(envelope)
                    receiver._cond.notify_all()
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                         auth_data: Any) -> Any:
            if not isinstance(auth_data, LoginPassword):
                return AuthResult(success=False, handled=False)
            login = (auth_data.login.decode(), auth_data.password.decode())
            receiver.logins.append(login)
            return AuthResult(success=login == (user, password))

        kwargs: dict[str, Any] = {}
        if password is not None:
            kwargs = {"authenticator": authenticate, "auth_required": True,
                      "auth_require_tls": False}
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.messages) >= count, timeout)


@contextmanager
def memory_keyring() -> Iterator[Any]:
    """The OS keyring replaced by one in memory for the test (keyring's documented way to
    test: a backend of one's own); skips when the optional keyring package is missing."""
    import pytest

    keyring = pytest.importorskip("keyring", reason="pip install keyring")
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.values: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.values.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.values[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.values.pop((service, username), None)

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
