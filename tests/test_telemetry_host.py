"""Host sampling (psutil) and process-to-run attribution, on real processes we start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from cockpit.telemetry.attribution import RunAttributor, RunRef, pins_from_process_json
from cockpit.telemetry.host import HostSampler

WAIT_FOR_STDIN = "import sys; print('ready', flush=True); sys.stdin.read()"


class Procs:
    """Processes a test starts; each prints one line when ready and exits when stdin closes."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, code: str, cwd: Path, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.started.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.started:
            if proc.stdin:
                proc.stdin.close()
        for proc in self.started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def procs() -> Iterator[Procs]:
    started = Procs()
    yield started
    started.close()


def test_attribution_by_open_file_cwd_cmdline_and_parent(tmp_path: Path, procs: Procs) -> None:
    run_a, run_b, run_c = tmp_path / "runs" / "a", tmp_path / "runs" / "b", tmp_path / "runs" / "c"
    for folder in (run_a, run_b, run_c):
        folder.mkdir(parents=True)
    log = run_b / "metrics.jsonl"
    in_cwd = procs.start(WAIT_FOR_STDIN, run_a)
    holds_log = procs.start(
        "import sys; f = open(sys.argv[1], 'a'); print('ready', flush=True); sys.stdin.read()",
        tmp_path, str(log))
    names_it = procs.start(WAIT_FOR_STDIN, tmp_path, "--output_dir=runs/c/out")
    launcher = procs.start(
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'],"
        " cwd='/', stdin=subprocess.PIPE)\n"
        "print(child.pid, flush=True)\n"
        "sys.stdin.read()\n"
        "child.stdin.close(); child.wait()\n",
        run_a)
    unrelated = procs.start(WAIT_FOR_STDIN, Path("/"))
    for proc in (in_cwd, holds_log, names_it, unrelated):
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    assert launcher.stdout is not None
    worker_pid = int(launcher.stdout.readline())

    attributor = RunAttributor([RunRef("A", "a", run_a), RunRef("B", "b", run_b),
                                RunRef("C", "c", run_c), RunRef("ROOT", "runs", tmp_path / "runs")])
    assert attributor.attribute(in_cwd.pid) == "A"
    assert attributor.attribute(holds_log.pid) == "B"
    assert attributor.attribute(names_it.pid) == "C"
    assert attributor.attribute(worker_pid) == "A"  # a data-loader style child: its parent's run
    assert attributor.attribute(unrelated.pid) is None
    attributor.pin(unrelated.pid, "B")
    assert attributor.attribute(unrelated.pid) == "B"
    rows: list[dict[str, Any]] = [{"pid": in_cwd.pid, "run_id": None}, {"pid": 2**22 + 12345, "run_id": None},
            {"pid": holds_log.pid, "run_id": "kept"}]
    attributor.attribute_rows(rows)
    assert [r["run_id"] for r in rows] == ["A", None, "kept"]  # an invisible PID is not guessed
    assert worker_pid in attributor.children_of(launcher.pid)


def test_pins_from_process_json(tmp_path: Path) -> None:
    assert pins_from_process_json(Path(__file__).parent / "fixtures" / "h100-runs" /
                                  "starved_dataloader", "r") == {481: "r"}
    (tmp_path / "process.json").write_bytes(b"\xff\xfe")
    assert pins_from_process_json(tmp_path, "r") == {}
    (tmp_path / "process.json").write_text('{"pid": true}')
    assert pins_from_process_json(tmp_path, "r") == {}
    assert pins_from_process_json(tmp_path / "missing", "r") == {}


def test_host_sampler_measures_the_training_family(procs: Procs) -> None:
    worker = procs.start(WAIT_FOR_STDIN, Path("/"))
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    sampler = HostSampler(host="box")
    me = os.getpid()
    first = sampler.sample({me: "run-x"})
    wall0, cpu0 = time.monotonic(), time.process_time()
    while time.process_time() < cpu0 + 0.3:  # burn CPU in the "training" process
        pass
    with open(__file__, "rb") as handle:
        handle.read()
    # What this process really used, as a share of one core (the box may be busy elsewhere).
    used = (time.process_time() - cpu0) / (time.monotonic() - wall0) * 100
    snap = sampler.sample({me: "run-x", 2**22 + 4242: "gone"})
    assert snap.host == "box" and len(snap.cpu_per_core) == psutil.cpu_count()
    assert 0 < snap.ram_used <= snap.ram_total
    for rate in (snap.disk_read_bps, snap.net_sent_bps, snap.net_recv_bps):
        assert rate is None or rate >= 0
    training = next(p for p in snap.processes if p.pid == me)
    assert training.role == "training" and training.run_id == "run-x"
    assert training.cpu_percent is not None
    assert used * 0.6 - 5 < training.cpu_percent < used * 1.4 + 5
    assert training.rss and training.rss > 10**6 and training.threads
    child = next(p for p in snap.processes if p.pid == worker.pid)
    assert child.role == "worker" and child.training_pid == me and child.ppid == me
    assert snap.busiest_cpu(me) == max(p.cpu_percent or 0 for p in snap.family(me))
    assert all(p.training_pid == me for p in snap.processes)  # the vanished PID is skipped
    assert first.processes and first.disk_read_bps is None  # no rate before a second sample
