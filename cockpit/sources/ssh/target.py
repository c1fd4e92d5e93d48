"""An SSH host as a user names it, and the `ssh` command line that reaches it.

Cockpit runs the system `ssh` binary, so whatever the user's OpenSSH setup says applies as
it does in their terminal: ~/.ssh/config aliases, Include and Match blocks, keys and
certificates, the agent, ProxyJump/ProxyCommand, known_hosts checking. The options added
here only make it safe to run unattended; none of them weakens host-key checking (docs/remote.md
says why the system binary was chosen over asyncssh and paramiko).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

# Unattended and bounded: no prompt can be answered (BatchMode: keys and the agent only; an
# unknown host key is refused, never accepted), a dead peer is noticed within ~9 s
# (ServerAlive 3 s x 2), a connect gives up after 8 s, no port forwards from the user's
# config compete for ports, and this process never becomes (or outlives as) a ControlMaster.
UNATTENDED = ("-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=3",
              "-o", "ServerAliveCountMax=2", "-o", "ConnectTimeout=8",
              "-o", "ClearAllForwardings=yes", "-o", "ControlMaster=no")


class BadSshUrl(ValueError):
    """An ssh:// location that cannot be understood: one sentence."""


@dataclass(frozen=True, slots=True)
class SshTarget:
    """`[user@]host[:port]` as typed: `host` may be an alias from the user's ssh config."""

    host: str
    user: str | None = None
    port: int | None = None
    config: str | None = None  # an ssh_config file instead of ~/.ssh/config (`ssh -F`)

    @property
    def name(self) -> str:
        """`ssh://[user@]host[:port]`: how runs on this host are named and told apart."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"ssh://{user}{self.host}{port}"

    def argv(self, remote_command: str) -> list[str]:
        ssh = os.environ.get("COCKPIT_SSH") or shutil.which("ssh") or "ssh"
        args = [ssh, *UNATTENDED]
        if self.config:
            args += ["-F", self.config]
        if self.port:
            args += ["-p", str(self.port)]
        if self.user:
            args += ["-l", self.user]
        return [*args, "--", self.host, remote_command]


def parse_ssh_url(url: str, config: str | None = None) -> tuple[SshTarget, PurePosixPath]:
    """`ssh://[user@]host[:port]/path` -> (target, absolute remote path). `~` or a relative
    path after the host is not supported: the remote path must be absolute."""
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.hostname:
        raise BadSshUrl(f"{url} is not an ssh://[user@]host[:port]/path location")
    try:
        port = parts.port
    except ValueError:
        raise BadSshUrl(f"{url}: the port is not a number") from None
    path = unquote(parts.path) or "/"
    if path.startswith("/~"):
        raise BadSshUrl(f"{url}: give the remote folder as an absolute path (no ~)")
    # urlsplit lower-cases the host name; an ssh config alias keeps its case.
    netloc = parts.netloc.rsplit("@", 1)[-1]
    host = netloc.rsplit(":", 1)[0] if parts.port is not None else netloc
    user = unquote(parts.username) if parts.username else None
    return SshTarget(host, user, port, config), PurePosixPath(path)
