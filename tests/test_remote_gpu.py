"""Remote GPUs over the same SSH connection: a fake `nvidia-smi` on the "remote" PATH
(tests/fake_nvidia_smi.py) replays a real H100 recording in nvidia-smi's own CSV format, a real
process on the "remote" writes the run's log, and Cockpit must stream the samples, attribute
the GPU process to the remote run through the remote /proc, and raise the GPU alerts the
recording's ground truth names (tests/fixtures/h100-runs/README.md), with `host` filled in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.model.alert import Alert
from cockpit.monitor.engine import IngestEngine
from cockpit.sources.ssh.files import SshFiles
from cockpit.store.writer import StoreWriter
from cockpit.telemetry.remote_live import ssh_sources, start_remote_gpu
from tests.conftest import H100
from tests.sshd_server import SshServer, sshd_unavailable, wait_for

pytestmark = [pytest.mark.skipif(sshd_unavailable() is not None, reason=str(sshd_unavailable())),
              pytest.mark.usefixtures("ssh_config")]

FAKE = Path(__file__).with_name("fake_nvidia_smi.py")


def install_fake_nvidia_smi(sshd: SshServer, recording: str, pid: int, speed: float) -> None:
    target = sshd.fake_bin / "nvidia-smi"
    shutil.copy(FAKE, target)
    target.chmod(0o755)
    (sshd.fake_bin / "nvidia-smi.json").write_text(json.dumps(
        {"recording": str(H100 / recording), "speed": speed, "pid": pid}))
    (sshd.fake_bin / "nvidia-smi.state").unlink(missing_ok=True)


def training_process(log: Path) -> subprocess.Popen:
    """A real process on the "remote": it holds the run's log open for writing, as a training
    job does, and logs a step now and then until it is killed."""
    code = ("import json,sys,time\n"
            "f=open(sys.argv[1],'a')\n"
            "for i in range(100000):\n"
            "    f.write(json.dumps({'step':i,'loss':3.0})+'\\n'); f.flush(); time.sleep(0.2)\n")
    return subprocess.Popen([sys.executable, "-c", code, str(log)])


@pytest.mark.slow
@pytest.mark.parametrize(("recording", "detector"), [("starved_dataloader", "low_gpu_util"),
                                                      ("memory_leak_oom", "memory_pressure")])
def test_remote_nvidia_smi_drives_gpu_alerts_on_the_remote_run(
        sshd: SshServer, tmp_path: Path, recording: str, detector: str) -> None:
    run = tmp_path / "runs" / recording
    run.mkdir(parents=True)
    trainer = training_process(run / "metrics.jsonl")
    install_fake_nvidia_smi(sshd, recording, trainer.pid, speed=10.0)
    alerts: list[Alert] = []
    try:
        with StoreWriter(tmp_path / "h.duckdb") as writer:
            engine = IngestEngine(writer, [f"ssh://{sshd.alias}{tmp_path / 'runs'}"],
                                  poll_interval=0.05, rescan_interval=0.2)
            engine.poll_once()
            engine.start()
            [files] = ssh_sources(engine)
            assert isinstance(files, SshFiles)
            pipeline = start_remote_gpu(files, engine, writer, alerts.extend, interval_s=0.5,
                                        process_interval_s=0.25)
            try:
                wait_for(lambda: any(a.detector == detector for a in alerts), timeout=30.0,
                         what=f"{detector} from the remote GPU")
            finally:
                pipeline.stop()
                engine.stop()
            writer.flush()
            cur = writer.cursor()
            samples = cur.execute("SELECT DISTINCT host FROM gpu_samples").fetchall()
            procs = cur.execute("SELECT DISTINCT host, pid, run_id FROM gpu_processes").fetchall()
            run_id = cur.execute("SELECT run_id FROM runs WHERE name = ?", [recording]).fetchone()[0]
            cur.close()
    finally:
        trainer.kill()
        trainer.wait()
    alert = next(a for a in alerts if a.detector == detector)
    assert alert.run_id == run_id and alert.run == recording
    assert alert.evidence.get("host") == sshd.alias
    assert samples == [(sshd.alias,)]
    assert (sshd.alias, trainer.pid, run_id) in procs
    assert sshd.connections() == 1  # files, /proc and nvidia-smi share one connection
