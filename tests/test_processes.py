"""The process seam on this machine: LocalProcesses reports real child processes as facts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cockpit.model.process import ProcessInfo
from cockpit.sources.processes import LocalProcesses, cmdline_paths

WRITER = """
import sys, time
f = open(sys.argv[1], "a")
f.write("started\\n"); f.flush()
print("ready", flush=True)
code = sys.stdin.readline().strip()
sys.exit(int(code or 0))
"""


def spawn_writer(log: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(log)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def wait_state(source: LocalProcesses, pid: int, state: str) -> ProcessInfo:
    deadline = time.monotonic() + 10
    while True:
        info = source.snapshot([pid]).processes[pid]
        if info.state == state:
            return info
        assert time.monotonic() < deadline, f"pid {pid} never reached {state}: {info}"
        time.sleep(0.02)


def test_table_finds_the_process_writing_under_a_folder(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    proc = spawn_writer(run / "train.log")
    try:
        source = LocalProcesses()
        table = source.table([tmp_path / "runs"])
        assert proc.pid in table.processes
        info = table.processes[proc.pid]
        assert str(run / "train.log") in info.writing
        assert info.state in ("sleeping", "alive") and info.exists
        assert info.create_time is not None and info.cmdline[0] == sys.executable
        assert table.cpu_count and table.cpu_busy is not None
        # Unrelated processes are left out when the folders are given.
        assert all(p.writing or p.cwd or p.cmdline for p in table.processes.values())
        other = source.table([tmp_path / "elsewhere"])
        assert proc.pid not in other.processes
    finally:
        proc.communicate("0\n")


@pytest.mark.parametrize(("how", "code", "sig"), [("exit", 3, None), ("kill", None, 9)])
def test_an_unreaped_process_shows_how_it_ended(tmp_path: Path, how: str, code: int | None,
                                               sig: int | None) -> None:
    proc = spawn_writer(tmp_path / "log")
    source = LocalProcesses()
    assert source.snapshot([proc.pid]).processes[proc.pid].exists
    if how == "kill":
        proc.send_signal(signal.SIGKILL)
    else:
        assert proc.stdin is not None
        proc.stdin.write("3\n")
        proc.stdin.flush()
    zombie = wait_state(source, proc.pid, "zombie")  # the parent (this test) has not reaped it
    assert (zombie.exit_code, zombie.signal) == (code, sig)
    assert zombie.how_it_ended() == ("killed by SIGKILL" if sig else "exit code 3")
    proc.wait()
    gone = source.snapshot([proc.pid]).processes[proc.pid]
    assert gone.state == "gone" and gone.how_it_ended() is None


def test_a_pid_that_never_existed_is_gone_and_cpu_is_measured_between_looks() -> None:
    import psutil

    source = LocalProcesses()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        first = source.snapshot([busy.pid, 2**22 + 7])
        assert first.processes[2**22 + 7].state == "gone"
        assert first.processes[busy.pid].cpu_percent is None  # no previous look yet
        spent = psutil.Process(busy.pid).cpu_times()
        start, began = spent.user + spent.system, time.monotonic()
        while True:  # until it has burnt some CPU (a loaded machine gives it little)
            now = psutil.Process(busy.pid).cpu_times()
            if now.user + now.system - start >= 0.05:
                break
            assert time.monotonic() - began < 30
            time.sleep(0.01)
        second = source.snapshot([busy.pid]).processes[busy.pid]
        assert second.cpu_percent is not None and second.cpu_percent > 0
        assert second.state == "alive" or second.state == "sleeping"
    finally:
        busy.kill()
        busy.wait()


def test_cmdline_paths_are_resolved_against_the_working_folder() -> None:
    paths = cmdline_paths(["python", "train.py", "--out=runs/a", "/abs/b", "x/../c"], "/work")
    assert paths == ["/work/runs/a", "/abs/b", "/work/c"]
