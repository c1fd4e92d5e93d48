"""The SSH session, its helper and SshFiles without an sshd: `ssh` is replaced by
tests/local_ssh.sh, which runs the remote command here, so the framing, the helper's
operations, the batched poll, reconnection and the follower's tail -F semantics are tested
wherever Python runs (the real-sshd tests cover OpenSSH itself)."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePosixPath

import pytest

from cockpit.ingest.follower import FileFollower
from cockpit.ingest.jsonl import JsonlReader
from cockpit.sources import SourceUnavailable
from cockpit.sources.ssh import SshFiles, SshHost, SshTarget
from cockpit.sources.ssh.processes import RemoteProcesses
from cockpit.sources.ssh.session import helper_source
from cockpit.telemetry.nvidia_smi import GPU_FIELDS, parse_gpu_line, parse_timestamp

LOCAL_SSH = Path(__file__).with_name("local_ssh.sh")


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COCKPIT_SSH", str(LOCAL_SSH))
    h = SshHost(SshTarget("here"))
    yield h
    h.close()


def line(i: int) -> bytes:
    return b'{"step": %d, "loss": %d.5}\n' % (i, i)


def steps(result) -> list[int]:
    return [] if result is None else [r[1] for r in result.points.rows()]


def test_the_helper_is_python_3_6_syntax_and_stdlib_only() -> None:
    tree = ast.parse(helper_source(), feature_version=(3, 6))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names)


def test_a_login_script_printing_first_is_skipped(host: SshHost, monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_SSH_BANNER", "Welcome to gpu1! Last login: yesterday")
    host.connect()
    assert host.request("hello")[0]["pid"] > 0


def test_follower_tails_append_rotation_and_truncation_through_ssh_files(host: SshHost,
                                                                         tmp_path: Path) -> None:
    host.connect()
    files = SshFiles(host, interval=0.02)
    path = tmp_path / "m.jsonl"
    path.write_bytes(line(0) + b'{"step": 1, "lo')
    f = FileFollower(PurePosixPath(path), JsonlReader(), source=files)
    try:
        assert steps(f.poll()) == [0]
        with open(path, "ab") as fh:
            fh.write(b'ss": 1.5}\n' + line(2))
        assert files.wait_poll(5) and files.wait_poll(5)
        polls = files.polls
        assert steps(f.poll()) == [1, 2]
        assert files.polls == polls  # served from the batched poll's read-ahead, no request
        with open(path, "ab") as fh:
            fh.write(line(3))
        os.rename(path, tmp_path / "m.jsonl.1")
        path.write_bytes(line(10))
        assert files.wait_poll(5) and files.wait_poll(5)
        assert steps(f.poll()) == [10]  # the new file; the rotated one is drained apart
        gen = f.generation
        assert gen is not None and gen.rotated_to == PurePosixPath(tmp_path / "m.jsonl.1")
        assert steps(gen.drained) == [3]
        path.write_bytes(line(20))  # truncated and rewritten, shorter
        assert files.wait_poll(5) and files.wait_poll(5)
        assert steps(f.poll()) == [20] and f.rewrites == 2 and f.generation.replaced
        path.unlink()
        assert files.wait_poll(5) and files.wait_poll(5)
        assert f.poll() is None and f.gone
    finally:
        f.close()
        files.close()


def test_a_dropped_connection_fails_requests_at_once_then_reconnects(host: SshHost) -> None:
    host.connect()
    first = host.session()
    changes: list[bool] = []
    down = threading.Event()
    host.on_change(lambda state: (changes.append(state.ok), state.ok or down.set()))
    assert first.proc is not None
    os.killpg(first.proc.pid, signal.SIGKILL)  # the connection dies with everything on it
    assert down.wait(5)
    asked = time.monotonic()
    with pytest.raises(SourceUnavailable):
        host.request("hello")  # no waiting on a dead host
    assert time.monotonic() - asked < 0.5
    deadline = time.monotonic() + 10
    while host.connects < 2:
        assert time.monotonic() < deadline, "no reconnect"
        time.sleep(0.05)
    assert changes[:2] == [False, True]
    assert host.request("hello")[0]["pid"] != first.hello["pid"]


def test_files_opened_before_a_reconnect_go_on_reading_the_same_version(host: SshHost,
                                                                         tmp_path: Path) -> None:
    host.connect()
    files = SshFiles(host, interval=0.02)
    kept, rotated = tmp_path / "kept.jsonl", tmp_path / "rotated.jsonl"
    kept.write_bytes(line(0))
    rotated.write_bytes(line(0))
    a = FileFollower(PurePosixPath(kept), JsonlReader(), source=files)
    b = FileFollower(PurePosixPath(rotated), JsonlReader(), source=files)
    try:
        assert steps(a.poll()) == [0] and steps(b.poll()) == [0]
        host.session().close("dropped")
        with open(kept, "ab") as fh:
            fh.write(line(1))
        os.rename(rotated, tmp_path / "rotated.jsonl.1")  # rotated while unreachable
        rotated.write_bytes(line(5))
        deadline = time.monotonic() + 10
        while host.connects < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert files.wait_poll(5) and files.wait_poll(5)
        assert steps(a.poll()) == [1]
        assert steps(b.poll()) == [5]  # the old version cannot be read any more: never misread
    finally:
        a.close()
        b.close()
        files.close()


def test_processes_commands_and_streams(host: SshHost, tmp_path: Path) -> None:
    host.connect()
    log = tmp_path / "run" / "train.log"
    log.parent.mkdir()
    writer = subprocess.Popen([sys.executable, "-c",
                               "import sys,time; f=open(sys.argv[1],'a'); time.sleep(60)",
                               str(log)], cwd=log.parent)
    try:
        procs = RemoteProcesses(host)
        deadline = time.monotonic() + 10
        while True:
            table = procs.table([tmp_path / "run"])
            if writer.pid in table.processes and table.processes[writer.pid].writing:
                break
            assert time.monotonic() < deadline, "writer not seen"
            time.sleep(0.05)
        info = table.processes[writer.pid]
        assert str(log) in info.writing and info.cwd == str(log.parent)
        assert info.state in ("sleeping", "alive") and info.create_time and table.cpu_count
        gone = procs.snapshot([writer.pid, 999_999_99])
        assert gone.processes[999_999_99].state == "gone"
    finally:
        writer.kill()
        writer.wait()
    assert host.run(["echo", "hi"]) == (0, b"hi\n", "")
    with pytest.raises(FileNotFoundError):
        host.run(["no-such-command-here"])
    got: list[bytes] = []
    done = threading.Event()

    def collect(msg, blob) -> None:
        if msg.get("more"):
            got.append(blob)
        else:
            done.set()

    host.stream(["sh", "-c", "for i in 1 2 3; do echo $i; done"], collect)
    assert done.wait(10) and got == [b"1\n", b"2\n", b"3\n"]


def test_nvidia_smi_lines_in_its_own_format() -> None:
    line = ("2026/12/04 16:52:18.250, 1, GPU-abc, 62, 30, 7012, 81559, 350.12, 700.00, 45, "
            "1980, 2619, 0x0000000000000044")
    sample, uuid = parse_gpu_line(line, GPU_FIELDS, "gpu1", 3600.0, 0.0)
    assert uuid == "GPU-abc" and sample["gpu"] == 1 and sample["host"] == "gpu1"
    assert sample["ts"] == parse_timestamp("2026/12/04 15:52:18.250", 0.0)
    assert sample["mem_used"] == 7012 * 1024 * 1024 and sample["power_w"] == 350.12
    assert sample["clock_event_reasons"] == "sw_power_cap,hw_thermal"
    na = line.replace("350.12", "[N/A]").replace("0x0000000000000044", "[Not Supported]")
    sample, _ = parse_gpu_line(na, GPU_FIELDS, "gpu1", 0.0, 0.0)
    assert sample["power_w"] is None and sample["clock_event_reasons"] is None
    assert parse_gpu_line("No devices were found", GPU_FIELDS, "gpu1", 0.0, 0.0) is None


def test_a_log_that_starts_with_a_banner_is_found_once_metrics_follow(host: SshHost,
                                                                     tmp_path: Path) -> None:
    from cockpit.monitor.discovery import discover

    host.connect()
    files = SshFiles(host)
    log = tmp_path / "job" / "train.out"
    log.parent.mkdir()
    log.write_bytes(b"starting job 17 on 8 GPUs\n")
    try:
        assert discover(PurePosixPath(tmp_path), files) == []
        with open(log, "ab") as fh:  # the sniffer reads on from where it stopped
            fh.write(b"".join(b"iter %d: loss %.4f, time 40.00ms\n" % (i, 3 - i / 100)
                              for i in range(0, 50, 10)))
        [run] = discover(PurePosixPath(tmp_path), files)
        assert run.name == "job" and [s.format for s in run.sources] == ["text"]
    finally:
        files.close()
