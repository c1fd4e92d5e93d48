"""Runs on an SSH host, read through a real OpenSSH server on 127.0.0.1 (tests/sshd_server.py).

The "remote" folders are this machine's tmp folders reached over ssh, through the ssh_config
alias or its ProxyJump hop, so a test writes a file here and Cockpit must read it there:
growing, rotated and truncated logs in three formats, a connection killed mid-tail, a host
that goes down and comes back, an unknown host key, and the CLI on ssh:// locations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cockpit.monitor.engine import IngestEngine, import_paths
from cockpit.sources.location import parse_location
from cockpit.sources.ssh import close_all
from cockpit.store.writer import StoreWriter
from tests.sshd_server import SshServer, sshd_unavailable, wait_for

pytestmark = [pytest.mark.skipif(sshd_unavailable() is not None, reason=str(sshd_unavailable())),
              pytest.mark.usefixtures("ssh_config")]


def jsonl(start: int, stop: int) -> str:
    return "".join(json.dumps({"step": i, "loss": 10.0 / (i + 1)}) + "\n" for i in range(start, stop))


def text_lines(steps: range) -> str:
    return "".join(f"iter {i}: loss {5.0 / (i + 1):.4f}, time 41.20ms, lr 6.00e-04\n" for i in steps)


def rows(writer: StoreWriter, sql: str, params: list | None = None) -> list[tuple]:
    cur = writer.cursor()
    try:
        return cur.execute(sql, params or []).fetchall()
    finally:
        cur.close()


def steps_of(writer: StoreWriter, run: str, key: str = "loss") -> list[int]:
    return [r[0] for r in rows(writer, "SELECT step FROM metrics JOIN runs USING (run_id) "
                                       "WHERE name = ? AND key = ? ORDER BY step", [run, key])]


def test_tails_growing_rotated_and_truncated_logs_in_three_formats_through_a_proxyjump(
        sshd: SshServer, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for name in ("jsonl_run", "text_run", "csv_run"):
        (root / name).mkdir(parents=True)
    metrics = root / "jsonl_run" / "metrics.jsonl"
    metrics.write_text(jsonl(0, 3) + '{"step": 3, "lo')  # a half-written last line waits
    log = root / "text_run" / "train.log"
    log.write_text("starting run\n" + text_lines(range(0, 30, 10)))
    csv = root / "csv_run" / "metrics.csv"
    csv.write_text("epoch,loss,val_loss\n0,1.5,1.6\n")

    with StoreWriter(tmp_path / "h.duckdb") as writer:
        engine = IngestEngine(writer, [f"ssh://{sshd.jump_alias}{root}"], poll_interval=0.05,
                              rescan_interval=0.2)
        engine.start()
        try:
            wait_for(lambda: steps_of(writer, "jsonl_run") == [0, 1, 2]
                     and steps_of(writer, "text_run") == [0, 10, 20]
                     and steps_of(writer, "csv_run", "val_loss") == [0], what="first reads")
            with open(metrics, "a") as f:
                f.write('ss": 2.5}\n' + jsonl(4, 5))
            with open(csv, "a") as f:
                f.write("1,1.2,1.4\n")
            wait_for(lambda: steps_of(writer, "jsonl_run") == [0, 1, 2, 3, 4]
                     and steps_of(writer, "csv_run", "val_loss") == [0, 1], what="appends")

            # Rotation: one more line lands in the old file just before it is renamed away.
            with open(metrics, "a") as f:
                f.write(jsonl(5, 6))
            os.rename(metrics, metrics.with_suffix(".jsonl.1"))
            metrics.write_text(jsonl(6, 8))
            # Truncation: the text log starts over, shorter.
            log.write_text(text_lines(range(100, 101)))
            wait_for(lambda: steps_of(writer, "jsonl_run") == list(range(8))
                     and 100 in steps_of(writer, "text_run"), what="rotation and truncation")
        finally:
            engine.stop()
        dupes = rows(writer, "SELECT run_id, key, step, count(*) FROM metrics GROUP BY ALL "
                             "HAVING count(*) > 1")
        assert dupes == []
        runs = rows(writer, "SELECT name, host, path FROM runs ORDER BY name")
    assert [r[0] for r in runs] == ["csv_run", "jsonl_run", "text_run"]
    assert all(r[1] == sshd.jump_alias for r in runs)
    assert runs[1][2] == f"ssh://{sshd.jump_alias}{root}/jsonl_run"


def test_one_connection_per_host_however_many_runs_and_roots(sshd: SshServer,
                                                             tmp_path: Path) -> None:
    roots = []
    for r in range(3):
        for i in range(4):
            run = tmp_path / f"root{r}" / f"run{i}"
            run.mkdir(parents=True)
            (run / "metrics.jsonl").write_text(jsonl(0, 5))
        roots.append(f"ssh://{sshd.alias}{tmp_path / f'root{r}'}")
    before = sshd.connections()
    ids = import_paths(roots, tmp_path / "h.duckdb")
    assert len(ids) == 12
    assert sshd.connections() - before == 1
    assert parse_location(roots[0]).source is parse_location(roots[2]).source


@pytest.mark.slow
def test_connection_killed_mid_tail_then_restart_loses_and_doubles_nothing(
        sshd: SshServer, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    (root / "live").mkdir(parents=True)
    metrics = root / "live" / "metrics.jsonl"
    metrics.write_text(jsonl(0, 10))
    url = f"ssh://{sshd.alias}{root}"
    db = tmp_path / "h.duckdb"
    with StoreWriter(db) as writer:
        engine = IngestEngine(writer, [url], poll_interval=0.05, rescan_interval=0.2)
        host = parse_location(url).source.host  # type: ignore[attr-defined]
        engine.start()
        try:
            wait_for(lambda: len(steps_of(writer, "live")) == 10, what="first lines")
            with open(metrics, "a") as f:
                for step in range(10, 60):
                    f.write(jsonl(step, step + 1))
                    f.flush()
                    if step == 25:
                        assert sshd.kill_sessions() >= 1  # the connection dies mid-tail
                    time.sleep(0.01)
            wait_for(lambda: host.connects >= 2, what="reconnect")
            wait_for(lambda: len(steps_of(writer, "live")) == 60, what="all lines after reconnect")
        finally:
            engine.stop()
        assert steps_of(writer, "live") == list(range(60))
    close_all()
    # A restart: a new Cockpit (new connection) resumes at the offset stored with the points.
    with open(metrics, "a") as f:
        f.write(jsonl(60, 70))
    import_paths([url], db)
    with StoreWriter(db) as writer:
        assert steps_of(writer, "live") == list(range(70))


def test_host_down_is_a_state_on_its_runs_within_10_s_and_reading_resumes(
        sshd: SshServer, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    (root / "job").mkdir(parents=True)
    metrics = root / "job" / "metrics.jsonl"
    metrics.write_text(jsonl(0, 5))
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        changes: list[tuple[str, bool]] = []
        engine = IngestEngine(writer, [f"ssh://{sshd.alias}{root}"], poll_interval=0.05,
                              rescan_interval=0.2,
                              on_reachability=lambda place, st: changes.append((place, st.ok)))
        engine.start()
        try:
            wait_for(lambda: len(steps_of(writer, "job")) == 5, what="first lines")
            down_at = time.monotonic()
            sshd.stop()
            wait_for(lambda: rows(writer, "SELECT status FROM runs") == [("unknown",)],
                     timeout=10.0, what="unreachable state")
            shown_after = time.monotonic() - down_at
            reason = rows(writer, "SELECT status_reason FROM runs")[0][0]
            assert reason.startswith("remote unreachable since ") and sshd.alias in reason
            with open(metrics, "a") as f:
                f.write(jsonl(5, 8))  # written while the host cannot be reached
            sshd.start()
            wait_for(lambda: len(steps_of(writer, "job")) == 8, timeout=20.0, what="resumed")
            wait_for(lambda: rows(writer, "SELECT status FROM runs") == [("running",)],
                     what="status back")
        finally:
            engine.stop()
    assert shown_after < 10.0
    assert changes == [(f"ssh://{sshd.alias}", False), (f"ssh://{sshd.alias}", True)]


def cockpit(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "cockpit", *args], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.slow
def test_cli_import_and_check_read_ssh_locations(sshd: SshServer, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    (root / "nan_run").mkdir(parents=True)
    lines = [json.dumps({"step": i, "loss": 2.0 - i * 0.01}) for i in range(40)]
    lines += ['{"step": 40, "loss": NaN}']
    (root / "nan_run" / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    db = tmp_path / "h.duckdb"
    url = f"ssh://{sshd.alias}{root}"
    first = cockpit("import", url, "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "imported 1 run(s), 41 new point(s)" in first.stdout
    again = cockpit("import", url, "--db", str(db))
    assert "0 new point(s)" in again.stdout
    check = cockpit("check", url, "--json")
    assert check.returncode == 1, check.stderr
    alerts = [json.loads(line) for line in check.stdout.splitlines()]
    assert any(a["detector"] == "nan" and a["run"] == "nan_run" for a in alerts)


def test_unknown_host_key_wrong_path_and_bad_url_are_one_sentence(sshd: SshServer,
                                                                  tmp_path: Path) -> None:
    refused = cockpit("import", f"ssh://{sshd.stranger_alias}{tmp_path}", "--db",
                      str(tmp_path / "h.duckdb"))
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "host key is not in known_hosts" in refused.stderr
    assert "never accepts host keys" in refused.stderr
    missing = cockpit("import", f"ssh://{sshd.alias}{tmp_path}/nowhere", "--db",
                      str(tmp_path / "h.duckdb"))
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith(f"ssh://{sshd.alias}{tmp_path}/nowhere does not exist")
    bad = cockpit("watch", "ssh://host:port/x", "--db", str(tmp_path / "h.duckdb"))
    assert bad.returncode == 2 and "port is not a number" in bad.stderr


def test_a_remote_folder_that_vanishes_is_a_state_and_comes_back(sshd: SshServer,
                                                                 tmp_path: Path) -> None:
    root = tmp_path / "runs"
    (root / "job").mkdir(parents=True)
    (root / "job" / "metrics.jsonl").write_text(jsonl(0, 3))
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        engine = IngestEngine(writer, [f"ssh://{sshd.alias}{root}"], poll_interval=0.05,
                              rescan_interval=0.1)
        engine.start()
        try:
            wait_for(lambda: len(steps_of(writer, "job")) == 3, what="first lines")
            os.rename(root, tmp_path / "elsewhere")  # unmounted, renamed, deleted
            wait_for(lambda: rows(writer, "SELECT status FROM runs") == [("unknown",)],
                     what="vanished state")
            reason = rows(writer, "SELECT status_reason FROM runs")[0][0]
            assert reason.startswith(f"ssh://{sshd.alias}{root} vanished at ")
            os.rename(tmp_path / "elsewhere", root)
            with open(root / "job" / "metrics.jsonl", "a") as f:
                f.write(jsonl(3, 5))
            wait_for(lambda: len(steps_of(writer, "job")) == 5, what="read on")
            assert rows(writer, "SELECT status FROM runs") == [("running",)]
        finally:
            engine.stop()
