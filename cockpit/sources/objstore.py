"""Prefixes in a bucket as a ByteSource: `s3://`, `gs://`, `az://` through fsspec.

Credentials come from each cloud's own standard places, as its command-line tools read them:
AWS (AWS_* variables, ~/.aws/credentials, AWS_PROFILE, instance roles; AWS_ENDPOINT_URL for
an S3-compatible store), Google (GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth
application-default login`), Azure (AZURE_STORAGE_CONNECTION_STRING, or
AZURE_STORAGE_ACCOUNT_NAME with a key or the default Azure credential). Nothing is stored.

Jobs that sync logs to a bucket upload each file again as it grows. An object keeps one
identity per key (its "inode" is derived from the key), so a longer upload whose start is
unchanged is an append and only the new bytes are fetched (a ranged GET); an upload that
changes the head or shrinks is a rewrite, which the follower reads from the start (its head
fingerprint). `mtime_ns` changes with the ETag, so a re-upload of the same size is seen too.
Stats come from one listing per folder per `interval` (not one request per file per poll).
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePath, PurePosixPath
from typing import Any

from cockpit.sources.base import REACHABLE, FileStat, Reachability, SourceUnavailable

# scheme -> (fsspec protocol, the package that provides it)
SCHEMES: dict[str, tuple[str, str]] = {
    "s3": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
    "az": ("az", "adlfs"),
    "abfs": ("az", "adlfs"),
}


HEAD = 1024  # head bytes cached per object version (what the follower fingerprints)


class BadBucketUrl(ValueError):
    """A bucket location that cannot be understood or whose library is missing."""


def _filesystem(protocol: str) -> Any:
    import fsspec

    options: dict[str, Any] = {}
    if protocol == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
    # A fresh instance (no fsspec instance cache): listings are refreshed by us, not cached.
    return fsspec.filesystem(protocol, skip_instance_cache=True, **options)


def _mtime_ns(info: dict[str, Any]) -> int:
    """Last-modified time (seconds resolution in S3) plus a part of the ETag, so two uploads
    in the same second are still two versions."""
    modified = info.get("LastModified") or info.get("last_modified") or info.get("mtime") \
        or info.get("updated")
    seconds = 0.0
    if isinstance(modified, datetime):
        seconds = modified.timestamp()
    elif isinstance(modified, int | float):
        seconds = float(modified)
    elif isinstance(modified, str):
        try:
            seconds = datetime.fromisoformat(modified.replace("Z", "+00:00")).timestamp()
        except ValueError:
            seconds = 0.0
    etag = str(info.get("ETag") or info.get("etag") or info.get("md5Hash") or "")
    return int(seconds) * 1_000_000_000 + zlib.crc32(etag.encode()) % 1_000_000_000


def _inode(key: str) -> int:
    return zlib.crc32(key.encode()) or 1


class ObjectOpenFile:
    """An object read by ranges; it follows the key (a re-upload is the same file)."""

    def __init__(self, store: ObjectStoreFiles, path: PurePosixPath) -> None:
        self.store = store
        self.path = path

    def stat(self) -> FileStat:
        return self.store.stat(self.path)

    def read(self, offset: int, size: int | None = None) -> bytes:
        return self.store.read_range(self.path, offset, size)

    def close(self) -> None:
        pass


class ObjectStoreFiles:
    def __init__(self, scheme: str, bucket: str, fs: Any = None, interval: float = 2.0) -> None:
        protocol, package = SCHEMES[scheme]
        self.scheme = scheme
        self.bucket = bucket
        self.name = f"{scheme}://{bucket}"
        self.interval = interval
        self.requests = 0  # listings and reads made (tests, benchmarks)
        self.bytes_read = 0  # object bytes fetched (a re-upload costs only its new part)
        self._package = package
        self._protocol = protocol
        self._fs = fs
        self._lock = threading.Lock()
        self._folders: dict[str, tuple[float, dict[str, FileStat]]] = {}  # folder -> (when, stats)
        self._heads: dict[str, tuple[int, bytes]] = {}  # path -> (version, first HEAD bytes)
        self._sniffed: dict[str, tuple[int, bytes]] = {}  # path -> (size when read, head read)
        self._state = REACHABLE

    # ---- plumbing --------------------------------------------------------------------------
    @property
    def fs(self) -> Any:
        if self._fs is None:
            try:
                self._fs = _filesystem(self._protocol)
            except ImportError:
                raise SourceUnavailable(f"{self.name}: reading {self.scheme}:// needs the "
                                        f"{self._package} package (pip install {self._package})"
                                        ) from None
        return self._fs

    def _key(self, path: PurePath) -> str:
        return f"{self.bucket}{PurePosixPath(path)}"

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one store call; a missing key is FileNotFoundError, anything else from the
        store (network, credentials) makes the bucket unreachable until a call succeeds."""
        try:
            result = fn(*args, **kwargs)
        except FileNotFoundError:
            self._up()
            raise
        except SourceUnavailable:
            raise
        except Exception as err:  # botocore/google/azure errors have no common base
            reason = f"{self.name}: {what} failed: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
            if self._state.ok:
                self._state = Reachability(False, time.time(), reason)
            raise SourceUnavailable(reason) from None
        self._up()
        return result

    def _up(self) -> None:
        if not self._state.ok:
            self._state = Reachability(True, time.time())

    def connect(self) -> None:
        """Check that the bucket can be listed with the credentials found (one sentence if not)."""
        try:
            self._call("listing", self.fs.ls, self.bucket, detail=False)
        except FileNotFoundError:
            raise SourceUnavailable(f"{self.name}: no such bucket (or no permission to list "
                                    "it)") from None

    # ---- ByteSource ------------------------------------------------------------------------
    def reachability(self) -> Reachability:
        return self._state

    def url(self, path: PurePath) -> str:
        return f"{self.name}{PurePosixPath(path)}"

    def walk(self, root: PurePath) -> Iterator[tuple[PurePath, list[str], list[str]]]:
        self.fs.invalidate_cache()
        prefix = self._key(root)
        found = self._call("listing", self.fs.find, prefix, detail=True, withdirs=False)
        self.requests += 1
        tree: dict[str, tuple[set[str], list[str]]] = {}
        now = time.monotonic()
        fresh: dict[str, dict[str, FileStat]] = {}
        for key, info in found.items():
            rel = PurePosixPath("/" + key[len(self.bucket):].lstrip("/"))
            folder = str(rel.parent)
            tree.setdefault(folder, (set(), []))[1].append(rel.name)
            fresh.setdefault(folder, {})[str(rel)] = self._file_stat(key, info)
            parent = rel.parent
            while str(parent) != str(root) and parent != parent.parent:
                tree.setdefault(str(parent.parent), (set(), []))[0].add(parent.name)
                parent = parent.parent
        with self._lock:
            for folder, stats in fresh.items():
                self._folders[folder] = (now, stats)
        allowed = {str(PurePosixPath(root))}
        for folder in sorted(tree, key=lambda f: (f.count("/"), f)):
            if folder not in allowed:
                continue
            subdirs, files = tree[folder]
            kept = sorted(subdirs)
            yield PurePosixPath(folder), kept, sorted(files)
            allowed.update(str(PurePosixPath(folder) / d) for d in kept)

    def _file_stat(self, key: str, info: dict[str, Any]) -> FileStat:
        return FileStat(int(info.get("size") or 0), _mtime_ns(info), _inode(key))

    def _folder(self, folder: PurePosixPath) -> dict[str, FileStat]:
        """Stats of the objects directly in `folder`, listed at most once per `interval`."""
        key = str(folder)
        with self._lock:
            cached = self._folders.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.interval:
            return cached[1]
        self.fs.invalidate_cache(self._key(folder))
        entries = self._call("listing", self.fs.ls, self._key(folder), detail=True, refresh=True)
        self.requests += 1
        stats = {}
        for info in entries:
            if info.get("type") == "directory":
                continue
            name = str(info["name"])
            rel = "/" + name[len(self.bucket):].lstrip("/")
            stats[rel] = self._file_stat(name, info)
        with self._lock:
            self._folders[key] = (time.monotonic(), stats)
        return stats

    def stat(self, path: PurePath) -> FileStat:
        p = PurePosixPath(path)
        try:
            stats = self._folder(p.parent)
        except FileNotFoundError:
            stats = {}
        found = stats.get(str(p))
        if found is None:
            raise FileNotFoundError(2, "no such object", self.url(p))
        return found

    def is_file(self, path: PurePath) -> bool:
        try:
            self.stat(path)
            return True
        except FileNotFoundError:
            return False

    def is_dir(self, path: PurePath) -> bool:
        key = self._key(path).rstrip("/")
        try:
            return bool(self._call("listing", self.fs.ls, key, detail=False)) and not self.is_file(path)
        except FileNotFoundError:
            return False

    def open(self, path: PurePath) -> ObjectOpenFile:
        self.stat(path)  # FileNotFoundError for a missing object, as a local open
        return ObjectOpenFile(self, PurePosixPath(path))

    def read_range(self, path: PurePath, offset: int, size: int | None) -> bytes:
        if offset == 0 and size is not None and size <= HEAD:
            return self._head(PurePosixPath(path))[:size]
        end = None if size is None else offset + size
        self.requests += 1
        data: bytes = self._call("read", self.fs.cat_file, self._key(path), start=offset, end=end)
        self.bytes_read += len(data)
        return data

    def _head(self, path: PurePosixPath) -> bytes:
        """The first HEAD bytes of the object's current version, fetched once per version
        (the follower fingerprints the head at every change)."""
        version = self.stat(path).mtime_ns
        with self._lock:
            cached = self._heads.get(str(path))
        if cached is not None and cached[0] == version:
            return cached[1]
        self.requests += 1
        data: bytes = self._call("read", self.fs.cat_file, self._key(path), start=0, end=HEAD)
        self.bytes_read += len(data)
        with self._lock:
            self._heads[str(path)] = (version, data)
        return data

    def read_head(self, path: PurePath, size: int) -> bytes:
        """For format sniffing at every rescan: an object that grew has only its new bytes up
        to `size` fetched (a sniff needs the start, which an append leaves as it was); one
        that shrank is read again."""
        key = str(PurePosixPath(path))
        try:
            st = self.stat(path)
            with self._lock:
                cached = self._sniffed.get(key)
            if cached is not None and st.size >= cached[0]:
                data = cached[1]
                if len(data) < min(size, st.size):
                    data += self.read_range(path, len(data), min(size, st.size) - len(data))
            else:
                data = self.read_range(path, 0, size)
        except OSError:
            return b""
        with self._lock:
            self._sniffed[key] = (st.size, data)
        return data[:size]


_stores: dict[str, ObjectStoreFiles] = {}
_stores_lock = threading.Lock()


def bucket_location(url: str) -> tuple[ObjectStoreFiles, PurePosixPath]:
    """`s3://bucket/prefix` -> (the bucket's one source, /prefix)."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    bucket, _, key = rest.partition("/")
    if scheme not in SCHEMES or not bucket:
        raise BadBucketUrl(f"{url} is not a s3://, gs:// or az://bucket/prefix location")
    with _stores_lock:
        store = _stores.get(f"{scheme}://{bucket}")
        if store is None:
            store = _stores[f"{scheme}://{bucket}"] = ObjectStoreFiles(scheme, bucket)
    return store, PurePosixPath("/" + key.strip("/"))


def forget_stores() -> None:
    with _stores_lock:
        _stores.clear()
