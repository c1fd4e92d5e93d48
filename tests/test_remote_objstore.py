"""Runs whose logs sync to a bucket, read through a real S3 API: moto's server on 127.0.0.1.

The job's sync re-uploads each log as it grows; Cockpit must read only the new bytes
(ranged GETs), never store a point twice, and say in one sentence when the bucket or the
credentials are wrong. gs:// and az:// go through the same fsspec code with gcsfs/adlfs and
are not exercised here (no emulator on this machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("s3fs", reason="s3fs is not installed: pip install s3fs")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")

from cockpit.monitor.engine import IngestEngine, import_paths  # noqa: E402
from cockpit.sources.location import parse_location  # noqa: E402
from cockpit.sources.objstore import forget_stores  # noqa: E402
from cockpit.store.writer import StoreWriter  # noqa: E402


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Credentials and endpoint the way a user sets them: AWS's standard variables."""
    for var, value in {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"
                       }.items():
        monkeypatch.setenv(var, value)
    import boto3

    client = boto3.client("s3")
    bucket = f"logs-{time.monotonic_ns()}"
    client.create_bucket(Bucket=bucket)
    forget_stores()
    client.bucket = bucket  # type: ignore[attr-defined]
    yield client
    forget_stores()


def jsonl(start: int, stop: int) -> bytes:
    return b"".join(json.dumps({"step": i, "loss": 4.0 / (i + 1)}).encode() + b"\n"
                    for i in range(start, stop))


def steps(writer: StoreWriter, run: str) -> list[int]:
    cur = writer.cursor()
    try:
        return [r[0] for r in cur.execute(
            "SELECT step FROM metrics JOIN runs USING (run_id) WHERE name = ? AND key = 'loss' "
            "ORDER BY step", [run]).fetchall()]
    finally:
        cur.close()


def wait_for(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.02)


def test_a_log_growing_by_reupload_is_read_incrementally(s3, tmp_path: Path) -> None:
    bucket = s3.bucket
    body = jsonl(0, 200)
    s3.put_object(Bucket=bucket, Key="exp/run1/metrics.jsonl", Body=body)
    s3.put_object(Bucket=bucket, Key="exp/run2/train.log",
                  Body=b"iter 0: loss 3.0000, time 40.00ms\n")
    url = f"s3://{bucket}/exp"
    store = parse_location(url).source
    store.interval = 0.1  # type: ignore[attr-defined]
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        engine = IngestEngine(writer, [url], poll_interval=0.05, rescan_interval=0.2)
        engine.start()
        try:
            wait_for(lambda: steps(writer, "run1") == list(range(200)), what="first upload")
            before = store.bytes_read  # type: ignore[attr-defined]
            grown = body + jsonl(200, 210) + b'{"step": 210, "lo'  # a sync caught a half line
            s3.put_object(Bucket=bucket, Key="exp/run1/metrics.jsonl", Body=grown)
            wait_for(lambda: steps(writer, "run1") == list(range(210)), what="re-upload")
            new_bytes = store.bytes_read - before  # type: ignore[attr-defined]
            s3.put_object(Bucket=bucket, Key="exp/run1/metrics.jsonl",
                          Body=grown + b'ss": 0.1}\n')
            wait_for(lambda: steps(writer, "run1") == list(range(211)), what="the half line")
            s3.put_object(Bucket=bucket, Key="exp/run2/train.log",
                          Body=b"iter 0: loss 3.0000, time 40.00ms\niter 10: loss 2.5000, time 40.00ms\n")
            wait_for(lambda: steps(writer, "run2") == [0, 10], what="text log")
        finally:
            engine.stop()
        cur = writer.cursor()
        dupes = cur.execute("SELECT run_id, key, step, count(*) FROM metrics GROUP BY ALL "
                            "HAVING count(*) > 1").fetchall()
        hosts = cur.execute("SELECT DISTINCT host, path FROM runs WHERE name = 'run1'").fetchall()
        cur.close()
    assert dupes == []
    # Only the appended part was fetched again (by the follower, and by the format sniffer at
    # a rescan), plus at most the 1 KiB head and 1 KiB tail fingerprints that prove the new
    # version still begins with what was read (cockpit.ingest.follower): never the object.
    appended = len(grown) - len(body)
    assert appended <= new_bytes <= 2 * appended + 2 * 1024, new_bytes
    assert new_bytes < len(body) / 2
    assert hosts == [(f"s3://{bucket}", f"s3://{bucket}/exp/run1")]


def test_import_twice_adds_nothing_and_a_rewrite_is_read_from_the_start(s3, tmp_path: Path) -> None:
    bucket = s3.bucket
    s3.put_object(Bucket=bucket, Key="r/a/metrics.jsonl", Body=jsonl(0, 50))
    db = tmp_path / "h.duckdb"
    assert len(import_paths([f"s3://{bucket}/r"], db)) == 1
    import_paths([f"s3://{bucket}/r"], db)
    s3.put_object(Bucket=bucket, Key="r/a/metrics.jsonl", Body=jsonl(100, 103))  # a new run
    import_paths([f"s3://{bucket}/r"], db)
    with StoreWriter(db) as writer:  # a new generation: what the object says now replaces it
        assert steps(writer, "a") == [100, 101, 102]


def cockpit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cockpit", *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))


def test_a_wrong_bucket_or_missing_credentials_is_one_sentence(s3, tmp_path: Path,
                                                               monkeypatch) -> None:
    missing = cockpit("import", "s3://no-such-bucket-here/x", "--db", str(tmp_path / "h.duckdb"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "s3://no-such-bucket-here: no such bucket" in missing.stderr
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    nocreds = cockpit("import", f"s3://{s3.bucket}/r", "--db", str(tmp_path / "h.duckdb"))
    assert nocreds.returncode == 2 and "Traceback" not in nocreds.stderr
    assert nocreds.stderr.count("\n") == 1 and f"s3://{s3.bucket}" in nocreds.stderr
