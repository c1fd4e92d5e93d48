"""A real OpenSSH server on 127.0.0.1 for the remote-run tests and the remote benchmark.

`SshServer` starts Debian's `sshd` on a free port in the foreground (a child the test owns),
with a host key and a user key made for the test, an `ssh_config` as a user would write it
(a host alias, a second alias reached through a `ProxyJump` hop via the first, the key, a
known_hosts file already holding the server's key) and a `PATH` for sessions that puts
`fake_bin` first (where tests drop a fake `nvidia-smi`, `squeue`, `sacct`). Nothing under the
user's own ~/.ssh is read or written: the client is pointed at the config with `-F`.

When sshd or ssh-keygen is missing, `sshd_unavailable()` says why in one sentence, and tests
skip with it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
SSH_KEYGEN = shutil.which("ssh-keygen")
SSH = shutil.which("ssh")
USER = os.environ.get("USER") or __import__("getpass").getuser()


def sshd_unavailable() -> str | None:
    """Why a real sshd cannot run here, or None."""
    if SSHD is None:
        return "no sshd: apt-get install openssh-server (packaging/apt/ssh.txt)"
    if SSH is None or SSH_KEYGEN is None:
        return "no ssh client: apt-get install openssh-client (packaging/apt/ssh.txt)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, comment: str) -> None:
    subprocess.run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True)


@dataclass
class SshServer:
    """One sshd; `alias` reaches it directly, `jump_alias` through a ProxyJump hop via `alias`."""

    workdir: Path
    alias: str = "gpubox"
    port: int = field(default_factory=free_port)
    max_sessions: int = 30
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)
        self.fake_bin = self.workdir / "fake_bin"
        self.fake_bin.mkdir(exist_ok=True)
        self.host_key = self.workdir / "host_ed25519"
        self.user_key = self.workdir / "id_ed25519"
        self.known_hosts = self.workdir / "known_hosts"
        self.authorized_keys = self.workdir / "authorized_keys"
        self.sshd_config = self.workdir / "sshd_config"
        self.ssh_config = self.workdir / "ssh_config"
        self.log = self.workdir / "sshd.log"
        self.jump_alias = f"{self.alias}-via-jump"
        self.stranger_alias = f"{self.alias}-unknown-key"  # known_hosts lacks this server's key
        if not self.host_key.exists():
            _keygen(self.host_key, "cockpit-test-host")
            _keygen(self.user_key, "cockpit-test-user")
        self.authorized_keys.write_text(self.user_key.with_suffix(".pub").read_text())
        self.authorized_keys.chmod(0o600)
        self._write_configs()

    def _write_configs(self) -> None:
        path = f"{self.fake_bin}:/usr/local/bin:/usr/bin:/bin"
        self.sshd_config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "AllowTcpForwarding yes",
            f"MaxSessions {self.max_sessions}",
            "MaxStartups 100:30:200",
            f"SetEnv PATH={path} COCKPIT_TEST_REMOTE=1",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
            "",
        ]))
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        empty = self.workdir / "empty_known_hosts"
        empty.write_text("")
        self.ssh_config.write_text("".join([
            self._host_block(self.alias, self.known_hosts),
            self._host_block(self.jump_alias, self.known_hosts, f"ProxyJump {self.alias}"),
            self._host_block(self.stranger_alias, empty),
        ]))

    def _host_block(self, alias: str, known_hosts: Path, *extra: str) -> str:
        """A `Host` entry as a user writes one: the key, strict host-key checking."""
        lines = [f"Host {alias}", "HostName 127.0.0.1", f"Port {self.port}", f"User {USER}",
                 *extra, f"IdentityFile {self.user_key}", "IdentitiesOnly yes",
                 f"UserKnownHostsFile {known_hosts}", "StrictHostKeyChecking yes",
                 "LogLevel ERROR"]
        return lines[0] + "\n" + "".join(f"    {line}\n" for line in lines[1:]) + "\n"

    # ---- process ---------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> SshServer:
        if os.geteuid() == 0:
            # sshd running as root wants its privilege-separation directory (the Debian
            # service creates it at boot; a foreground sshd does not).
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        log = open(self.log, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self.sshd_config)],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"sshd did not listen on {self.port}: {self.log.read_text()[-2000:]}")

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        if self.proc is None:
            return []
        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def connections(self) -> int:
        """Established TCP connections to this server's port (one per SSH connection)."""
        n = 0
        for conn in psutil.net_connections("tcp"):
            if (conn.status == psutil.CONN_ESTABLISHED and conn.laddr
                    and conn.laddr.port == self.port):
                n += 1
        return n

    def kill_sessions(self) -> int:
        """SIGKILL every connection's sshd process (the network dropping the connection)."""
        pids = self.session_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        """The host going down: the listener and every session end."""
        self.kill_sessions()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> SshServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- pytest fixtures (imported by the remote test modules) ---------------------------------
@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture
def ssh_config(sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cockpit reads the test's ssh_config instead of ~/.ssh/config; every test starts with
    no connection and ends closing its own."""
    from cockpit.sources.ssh import close_all

    monkeypatch.setenv("COCKPIT_SSH_CONFIG", str(sshd.ssh_config))
    close_all()
    yield
    close_all()


def wait_for(predicate: Callable[[], object], timeout: float = 15.0,
             what: str = "condition") -> None:
    """Wait on a condition the background threads bring about (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.02)
