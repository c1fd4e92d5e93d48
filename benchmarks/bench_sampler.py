"""GPU sampler overhead: CPU time per sample per GPU, the sampler's memory, and `cockpit gpu`
side by side with nvitop's Device API and `nvidia-smi -l` (issue 17).

Side by side: each tool runs as its own process at 1 Hz for the same time, reading the same
fields class (utilization, memory, power, temperature, clocks, processes; cockpit also GPM and
PCIe), and its CPU (user + system, start-up included) and peak RSS come from wait4(). Without a
GPU both read the same simulated GPUs: cockpit/telemetry/fake_nvml.py's `pynvml` stand-in put
first on the child's PYTHONPATH, so every NVML call of either tool costs only its Python side;
the rows say which NVML they ran on.

Targets (issue 4): <= 0.5 % of one core per GPU at the default rate (1 Hz device reads, 1 Hz
process/GPM tier, PCIe every 5 s on its own thread) and <= 60 MB RSS for the sampler.

Where NVML answers (a GPU and its driver), the real gateway is measured, side by side with
`nvidia-smi --query-gpu` run in a loop and with nvitop's Device API. Without a GPU those
references cannot run at all (nvidia-smi is absent or fails, nvitop raises NVMLError), so
the sampler is measured against the fake NVML module (its calls cost what a pynvml wrapper's
Python side costs, not the driver's time) and the replay, and an estimate adds the driver
latencies measured on an H100 (tests/fixtures/h100-runs/nvml_device_and_call_cost.json).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run_all import row
from cockpit.telemetry.fake_nvml import FakeGpu, FakeNvml, write_pynvml_shim
from cockpit.telemetry.gpu_detectors import GpuHealthMonitor
from cockpit.telemetry.nvml_gateway import NvmlGateway
from cockpit.telemetry.replay import ReplaySource
from cockpit.telemetry.sampler import Sampler, SamplerConfig

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "h100-runs"
COSTS = FIXTURES / "nvml_device_and_call_cost.json"
TARGET_CORE_PCT = 0.5
TARGET_RSS_MB = 60.0
GPUS = 8

# NVML calls per GPU per tick of each tier (see NvmlGateway.read_device / Sampler).
DEVICE_CALLS = {"utilization": 1, "memory": 1, "power": 2, "temperature": 1, "clock": 2,
                "clock_reasons": 1}
PROCESS_CALLS = {"compute_procs": 1, "process_utilization": 1, "gpm_metrics_get": 1}


def _fake_sampler(gpus: int) -> tuple[Sampler, FakeNvml]:
    fake = FakeNvml([FakeGpu(util_gpu=60, gpm={2: 46.0, 3: 25.0, 5: 11.0, 10: 30.0},
                             procs=[(1000 + i, 5 * 10**9)], proc_util=[(1000 + i, 60, 30)])
                     for i in range(gpus)])
    module = fake.module()
    gateway = NvmlGateway(loader=lambda: module)
    assert gateway.open()
    sampler = Sampler(gateway, lambda batch: None, host="bench", config=SamplerConfig(),
                      pid_visible=lambda pid: False)
    return sampler, fake


def sampler_cpu_us(ticks: int, gpus: int = GPUS) -> float:
    """CPU microseconds per sample per GPU at the default rate (every tier due every second)."""
    sampler, _ = _fake_sampler(gpus)
    sampler.sample_once(now=0.0)  # warm up
    start = time.thread_time()
    for tick in range(1, ticks + 1):
        sampler.sample_once(now=float(tick))
    return (time.thread_time() - start) / ticks / gpus * 1e6


def nvml_latency_us() -> tuple[float, float]:
    """Median driver latency per GPU per second of the device and process tiers (H100)."""
    costs = json.loads(COSTS.read_text())["costs"]
    device = sum(costs[k]["median_us"] * n for k, n in DEVICE_CALLS.items())
    process = sum(costs[k]["median_us"] * n for k, n in PROCESS_CALLS.items())
    return device, process


def replay_cpu_us(repeats: int) -> tuple[float, float]:
    """CPU microseconds per replayed sample: reading alone, and reading plus the detectors."""
    runs = sorted(p for p in FIXTURES.iterdir() if (p / "gpu_trace.jsonl").exists())
    read = detect = 0.0
    samples = 0
    for _ in range(repeats):
        for run in runs:
            start = time.thread_time()
            batches = list(ReplaySource(run, speed=0).batches())
            read += time.thread_time() - start
            monitor = GpuHealthMonitor()
            start = time.thread_time()
            for batch in batches:
                monitor.observe(batch)
            detect += time.thread_time() - start
            samples += sum(len(b.samples) for b in batches)
    return read / samples * 1e6, (read + detect) / samples * 1e6


# VmHWM belongs to this process image; ru_maxrss would carry the parent's peak over the
# fork (Linux keeps it across exec), which after the ingest benchmark is hundreds of MB.
RSS_PROBE = """
import re, sys
from benchmarks.bench_sampler import _fake_sampler
sampler, _ = _fake_sampler(int(sys.argv[1]))
for tick in range(300):
    sampler.sample_once(now=float(tick))
status = open("/proc/self/status").read()
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) / 1024)
"""


def sampler_rss_mb(gpus: int = GPUS) -> float:
    """Peak RSS of a fresh interpreter that runs only the sampler (imports included)."""
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, str(gpus)], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def nvidia_smi_us(runs: int) -> tuple[float | None, str]:
    """CPU microseconds per sample per GPU of `nvidia-smi --query-gpu` in a loop."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None, "not measurable: no nvidia-smi on this machine (no NVIDIA driver)"
    query = [exe, "--query-gpu=utilization.gpu,memory.used,power.draw,temperature.gpu,"
             "clocks.sm,clocks_event_reasons.active", "--format=csv,noheader"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    gpus = 0
    for _ in range(runs):
        done = subprocess.run(query, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"not measurable: nvidia-smi fails ({done.stdout.strip()[:80]})"
        gpus = max(gpus, len(done.stdout.strip().splitlines()))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / runs / max(gpus, 1) * 1e6, f"{runs} runs, {gpus} GPU(s)"


def nvitop_us(ticks: int) -> tuple[float | None, str]:
    """CPU microseconds per sample per GPU of nvitop's Device API (same readings)."""
    try:
        from nvitop import Device
    except ImportError:
        return None, "not measurable: nvitop not installed (pip install nvitop)"
    try:
        devices = Device.all()
    except Exception as err:  # nvitop raises NVMLError subclasses without a driver
        return None, f"not measurable: nvitop cannot start NVML ({type(err).__name__})"
    if not devices:
        return None, "not measurable: nvitop sees no GPU"
    start = time.thread_time()
    for _ in range(ticks):
        for device in devices:
            device.gpu_utilization()
            device.memory_used()
            device.power_usage()
            device.temperature()
            device.sm_clock()
    return (time.thread_time() - start) / ticks / len(devices) * 1e6, f"{len(devices)} GPU(s)"


def real_sampler_us(ticks: int) -> tuple[float | None, str]:
    gateway = NvmlGateway()
    if not gateway.open():
        return None, f"not measurable: {gateway.status}"
    gpus = gateway.device_count()
    sampler = Sampler(gateway, lambda batch: None, config=SamplerConfig())
    sampler.sample_once()
    start = time.thread_time()
    for tick in range(1, ticks + 1):
        sampler.sample_once(now=time.time() + tick)  # every tier due on every tick
    cpu = (time.thread_time() - start) / ticks / gpus * 1e6
    gateway.close()
    return cpu, f"{gpus} GPU(s), real NVML, device + process + GPM tiers every tick"


NVITOP_LOOP = """
import sys, time
from nvitop import Device
seconds = int(sys.argv[1])
devices = Device.all()
start = time.monotonic()
for tick in range(seconds):
    for d in devices:
        procs = d.processes()
        print(d.index, d.gpu_utilization(), d.memory_utilization(), d.memory_used(),
              d.memory_total(), d.power_usage(), d.power_limit(), d.temperature(), d.sm_clock(),
              d.memory_clock(), [(p.pid, p.gpu_memory(), p.gpu_sm_utilization())
                                 for p in procs.values()], flush=True)
    time.sleep(max(0.0, start + tick + 1 - time.monotonic()))
"""


def _cost(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + system, start-up included) and peak RSS (MB) of one child run."""
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def side_by_side(seconds: int, gpus: int) -> list[dict]:
    """`cockpit gpu`, nvitop's Device API and `nvidia-smi -l 1`, each at 1 Hz for `seconds`."""
    real = NvmlGateway()
    on_gpu = real.open()
    real.close()
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-nvml-") as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        if not on_gpu:
            write_pynvml_shim(Path(tmp), gpus)
            env["PYTHONPATH"] = f"{tmp}{os.pathsep}{ROOT}"
        basis = ("real NVML" if on_gpu else
                 f"no GPU here: both on the same fake NVML ({gpus} simulated busy GPUs, one "
                 "process each), so NVML calls cost only their Python side")
        ours_cpu, ours_rss = _cost([sys.executable, "-m", "cockpit", "gpu", "--count",
                                    str(seconds * (real.device_count() if on_gpu else gpus))],
                                   env)
        rows = []
        try:
            import nvitop  # noqa: F401

            top_cpu, top_rss = _cost([sys.executable, "-c", NVITOP_LOOP, str(seconds)], env)
        except (ImportError, RuntimeError) as err:
            top_cpu = top_rss = None
            rows.append(row("nvitop Device API at 1 Hz", None, None, None,
                             f"not measurable: {err}"))
        pct = 100.0 / seconds
        rows.insert(0, row(
            f"`cockpit gpu` at 1 Hz for {seconds} s: % of a core (incl. start-up)",
            round(ours_cpu * pct, 3), None if top_cpu is None else round(top_cpu * pct, 3),
            "<= nvitop", basis + "; NVML + GPM + processes + PCIe + events"))
        if top_cpu is not None:
            rows[0]["note"] += f"; reference: nvitop Device API, same fields, {top_rss:.1f} MB"
        rows.append(row("`cockpit gpu` peak RSS MB", round(ours_rss, 1),
                         None if top_rss is None else round(top_rss, 1), "<= 50",
                         "reference: nvitop Device API process"))
        smi = shutil.which("nvidia-smi")
        if smi is not None and on_gpu:
            smi_cpu, smi_rss = _cost(["timeout", str(seconds), smi, "--query-gpu=utilization.gpu,"
                                      "memory.used,power.draw,temperature.gpu,clocks.sm",
                                      "--format=csv", "-l", "1"], env)
            rows.append(row("nvidia-smi --query-gpu -l 1: % of a core / peak RSS MB",
                             round(smi_cpu * pct, 3), round(smi_rss, 1), None, "real NVML"))
        else:
            rows.append(row("nvidia-smi --query-gpu -l 1", None, None, None,
                             "not measurable: no NVIDIA driver on this machine"))
    return rows


def run(quick: bool = False) -> list[dict]:
    ticks = 200 if quick else 2000
    rows: list[dict] = []
    fake_us = sampler_cpu_us(ticks)
    device_us, process_us = nvml_latency_us()
    real_us, real_note = real_sampler_us(20 if quick else 100)
    smi_us, smi_note = nvidia_smi_us(5 if quick else 30)
    top_us, top_note = nvitop_us(ticks)
    reference = smi_us if smi_us is not None else top_us
    rows.append(row(
        "sampler CPU us/sample/GPU (fake NVML)", round(fake_us, 1), None, None,
        f"{GPUS} simulated GPUs; our Python side only, all tiers every 1 s tick"))
    rows.append(row(
        "sampler CPU us/sample/GPU (real NVML)",
        None if real_us is None else round(real_us, 1),
        None if reference is None else round(reference, 1), None, real_note))
    rows.append(row("nvidia-smi --query-gpu loop us/sample/GPU",
                     None if smi_us is None else round(smi_us, 1), None, None, smi_note))
    rows.append(row("nvitop Device API us/sample/GPU",
                     None if top_us is None else round(top_us, 1), None, None, top_note))
    measured = real_us if real_us is not None else fake_us + device_us + process_us
    basis = ("real NVML" if real_us is not None else
             f"fake-NVML overhead + H100 NVML median latencies ({device_us:.0f} us device tier "
             f"+ {process_us:.0f} us process/GPM tier; an upper bound: latency, not CPU)")
    rows.append(row("sampler % of one core per GPU at 1 Hz", round(measured / 1e4, 3), None,
                     f"<= {TARGET_CORE_PCT}", basis + "; PCIe (2 x 21 ms every 5 s) blocks "
                     "on its own thread without using CPU"))
    read_us, detect_us = replay_cpu_us(1 if quick else 5)
    rows.append(row("replay CPU us/sample", round(read_us, 1), None, None,
                     "ReplaySource of the 5 H100 recordings, speed 0"))
    rows.append(row("replay + GPU detectors CPU us/sample", round(detect_us, 1), None, None,
                     "what `cockpit check` spends per recorded sample"))
    rows.append(row("sampler peak RSS MB", round(sampler_rss_mb(), 1), None,
                     f"<= {TARGET_RSS_MB}", f"fresh interpreter, sampler + {GPUS} fake GPUs, "
                     "300 ticks"))
    rows.extend(side_by_side(20 if quick else 90, 2))
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    columns = ("name", "ours", "reference", "ratio", "target", "note")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for result in run(quick=quick):
        print("| " + " | ".join("" if result[c] is None else str(result[c]) for c in columns) + " |")
