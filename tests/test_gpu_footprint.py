"""`cockpit gpu` loads only what sampling needs, and the fake NVML stands in for `pynvml` in
any NVML client (how the sampler benchmark runs nvitop beside cockpit without a GPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.telemetry.fake_nvml import write_pynvml_shim

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import atexit, json, sys
heavy = ("duckdb", "numpy", "orjson", "cockpit.store", "cockpit.ingest", "cockpit.monitor",
         "cockpit.health", "cockpit.evals", "cockpit.triage", "PySide6")
atexit.register(lambda: print("LOADED " + json.dumps(sorted(
    m for m in sys.modules if m.startswith(heavy))), file=sys.stderr))
from cockpit.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def env_with_shim(tmp_path: Path, gpus: int) -> dict[str, str]:
    write_pynvml_shim(tmp_path / "shim", gpus)
    return dict(os.environ, PYTHONPATH=f"{tmp_path / 'shim'}{os.pathsep}{ROOT}")


def test_cockpit_gpu_samples_without_loading_the_history_or_readers(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "gpu", "--json", "--count", "4", "--interval", "0.1"],
        env=env_with_shim(tmp_path, 2), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    samples = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(samples) == 4 and {s["gpu"] for s in samples} == {0, 1}
    assert samples[0]["util_gpu"] == 60 and samples[0]["power_w"] == 350.0
    loaded = json.loads(out.stderr.split("LOADED ", 1)[1].splitlines()[0])
    assert loaded == [], f"cockpit gpu imported {loaded}"


def test_other_commands_still_register_everything():
    from cockpit.cli.main import build_parser

    parser = build_parser()
    for command in ("gpu", "watch", "import", "check", "runs", "query"):
        assert parser.parse_known_args([command, "x"])[0].command == command


def test_nvitop_reads_the_same_simulated_gpus(tmp_path):
    pytest.importorskip("nvitop", reason="nvitop not installed (pip install nvitop)")
    code = ("from nvitop import Device\n"
            "d = Device.all()\n"
            "print(len(d), d[0].gpu_utilization(), d[0].memory_used(), d[0].power_usage(), "
            "d[0].temperature(), sorted(d[1].processes()))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env_with_shim(tmp_path, 2),
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "60", str(40 * 2**30), "350000", "33", "[4000001]"]


def test_a_reused_device_reading_never_keeps_a_stale_value():
    from cockpit.telemetry.fake_nvml import FakeGpu, FakeNvml
    from cockpit.telemetry.nvml_gateway import NvmlGateway

    fake = FakeNvml([FakeGpu(util_gpu=50)])
    module = fake.module()
    gateway = NvmlGateway(loader=lambda: module)
    assert gateway.open()
    reading = gateway.read_device(0)
    assert reading.util_gpu == 50 and reading.mem_used is not None
    fake.errors["nvmlDeviceGetUtilizationRates"] = 999  # NVML_ERROR_UNKNOWN this tick
    assert gateway.read_device(0, into=reading) is reading
    assert reading.util_gpu is None and reading.util_mem is None and reading.mem_used is not None
