"""What a user types to name a folder of runs, turned into (byte source, path).

`/data/runs` or `runs/` is a local folder; `ssh://[user@]host[:port]/path` a folder on an SSH
host (the host may be an alias from ~/.ssh/config, or from the file COCKPIT_SSH_CONFIG names);
`s3://bucket/prefix`, `gs://bucket/prefix` and `az://container/prefix` a prefix in a bucket.
Every location on the same host or bucket shares one source (one connection).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath

from cockpit.sources.base import ByteSource
from cockpit.sources.local import LOCAL

REMOTE_SCHEMES = ("ssh", "s3", "gs", "gcs", "az", "abfs")


class BadLocation(ValueError):
    """A location that cannot be understood or opened: one sentence naming it."""


@dataclass(frozen=True, slots=True)
class Location:
    """A watched folder (or file): where it is and its path there."""

    source: ByteSource
    path: PurePath

    def __str__(self) -> str:
        return self.source.url(self.path)

    @property
    def is_local(self) -> bool:
        return self.source is LOCAL

    @property
    def host(self) -> str | None:
        """The host or bucket runs here live on (None: this machine)."""
        return None if self.is_local else self.source.name


def scheme_of(text: str) -> str | None:
    head, sep, _ = str(text).partition("://")
    return head.lower() if sep and head.lower() in REMOTE_SCHEMES else None


def is_remote(text: str | PurePath) -> bool:
    return scheme_of(str(text)) is not None


def parse_location(text: str | PurePath) -> Location:
    """The Location a user's text names; nothing is contacted yet. Raises BadLocation."""
    raw = str(text)
    scheme = scheme_of(raw)
    if scheme is None:
        return Location(LOCAL, Path(raw).expanduser().absolute())
    if scheme == "ssh":
        from cockpit.sources.ssh import BadSshUrl, parse_ssh_url, ssh_files, ssh_host

        try:
            target, path = parse_ssh_url(raw, os.environ.get("COCKPIT_SSH_CONFIG") or None)
        except BadSshUrl as err:
            raise BadLocation(str(err)) from None
        return Location(ssh_files(ssh_host(target)), path)
    from cockpit.sources.objstore import BadBucketUrl, bucket_location

    try:
        source, path = bucket_location(raw)
    except BadBucketUrl as err:
        raise BadLocation(str(err)) from None
    return Location(source, path)


def close_sources() -> None:
    """Close every SSH connection and forget every bucket this process opened."""
    from cockpit.sources.objstore import forget_stores
    from cockpit.sources.ssh import close_all

    close_all()
    forget_stores()
