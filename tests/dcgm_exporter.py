"""A test exporter speaking dcgm-exporter's text format, replaying the H100 recordings.

Built to dcgm-exporter's documented output (metric names DCGM_FI_*, `# HELP` / `# TYPE` per
family, the labels gpu, UUID, pci_bus_id, device, modelName, Hostname, DCGM_FI_DRIVER_VERSION,
and with its Kubernetes mapping pod / namespace / container, or hpc_job with its HPC job
mapping). Each exported GPU replays one recording of tests/fixtures/h100-runs in a loop over
the training process's lifetime (process.json), at real time: what a scrape sees is what NVML
read at the same offset into the run. One HTTP server per host, on 127.0.0.1.

Also a command for benchmarks, which run the exporters in their own process:
    python -m tests.dcgm_exporter --hosts 8 --gpus 8 --ports-file FILE
"""

from __future__ import annotations

import argparse
import bisect
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

H100 = Path(__file__).parent / "fixtures" / "h100-runs"
MIB = 1024 * 1024

# (metric, HELP text as dcgm-exporter's default counters say it)
FAMILIES: tuple[tuple[str, str], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "Current clock throttle reasons."),
    ("DCGM_FI_PROF_SM_ACTIVE", "The ratio of cycles an SM has at least 1 warp assigned (in %)."),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "Ratio of cycles the tensor (HMMA) pipe is active (in %)."),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "Ratio of cycles the device memory interface is active sending "
                                 "or receiving data (in %)."),
)


@dataclass
class Recording:
    """One fixture run's NVML trace and GPM lines over its training process's lifetime."""

    start: float
    end: float
    trace_ts: list[float]
    trace: list[dict[str, Any]]
    procs_ts: list[float]
    procs: list[dict[str, Any]]

    @classmethod
    def load(cls, name: str, skip_s: float = 3.0) -> Recording:
        folder = H100 / name
        process = json.loads((folder / "process.json").read_text())
        trace = [json.loads(x) for x in (folder / "gpu_trace.jsonl").read_text().splitlines() if x]
        procs = [json.loads(x) for x in (folder / "gpu_procs.jsonl").read_text().splitlines() if x]
        return cls(process["process_start"] + skip_s, process["process_end"],
                   [t["ts"] for t in trace], trace, [p["ts"] for p in procs], procs)

    def at(self, offset: float) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The trace sample and GPM line NVML had `offset` seconds into the loop."""
        span = self.end - self.start
        position = self.start + offset % span
        trace = self.trace[max(0, bisect.bisect_right(self.trace_ts, position) - 1)]
        i = bisect.bisect_right(self.procs_ts, position) - 1
        return trace, self.procs[i] if i >= 0 else None


IDLE = {"util_gpu": 0, "util_mem": 0, "mem_used": 512 * MIB, "mem_total": 85520809984,
        "power_mw": 70000, "temp_c": 33, "sm_clock_mhz": 345, "mem_clock_mhz": 2619,
        "clock_event_reasons": 1}


@dataclass
class ExportedGpu:
    """One GPU of a host: a recording to replay (None = an idle GPU) and its workload labels."""

    gpu: int
    recording: str | None = None
    pod: str | None = None
    namespace: str | None = None
    container: str | None = None
    hpc_job: str | None = None
    data: Recording | None = field(default=None, repr=False)

    def labels(self, host: str) -> str:
        pairs = [("gpu", str(self.gpu)), ("UUID", f"GPU-{host}-{self.gpu:04d}"),
                 ("pci_bus_id", f"00000000:{0x18 + self.gpu:02X}:00.0"),
                 ("device", f"nvidia{self.gpu}"), ("modelName", "NVIDIA H100 80GB HBM3"),
                 ("Hostname", host), ("DCGM_FI_DRIVER_VERSION", "580.159.04")]
        if self.pod:
            pairs += [("container", self.container or ""), ("namespace", self.namespace or ""),
                      ("pod", self.pod)]
        if self.hpc_job:
            pairs.append(("hpc_job", self.hpc_job))
        return ",".join(f'{k}="{v}"' for k, v in pairs)

    def values(self, offset: float) -> dict[str, float]:
        if self.data is None:
            trace, gpm = IDLE, None
        else:
            trace, gpm = self.data.at(offset)
        used = trace["mem_used"] / MIB
        out = {
            "DCGM_FI_DEV_SM_CLOCK": trace["sm_clock_mhz"],
            "DCGM_FI_DEV_MEM_CLOCK": trace["mem_clock_mhz"],
            "DCGM_FI_DEV_GPU_TEMP": trace["temp_c"],
            "DCGM_FI_DEV_POWER_USAGE": trace["power_mw"] / 1000,
            "DCGM_FI_DEV_GPU_UTIL": trace["util_gpu"],
            "DCGM_FI_DEV_MEM_COPY_UTIL": trace["util_mem"],
            "DCGM_FI_DEV_FB_USED": round(used),
            "DCGM_FI_DEV_FB_FREE": round(trace["mem_total"] / MIB - used),
            "DCGM_FI_DEV_XID_ERRORS": 0,
            "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": trace["clock_event_reasons"],
        }
        if gpm is not None:  # DCGM's profiling fields are ratios; the recording has percent
            out["DCGM_FI_PROF_SM_ACTIVE"] = gpm["gpm_sm_util"] / 100
            out["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"] = gpm["gpm_tensor_util"] / 100
            out["DCGM_FI_PROF_DRAM_ACTIVE"] = gpm["gpm_dram_bw_util"] / 100
        return out


def serve_metrics(render: Callable[[], str]) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 answering every GET with `render()` as Prometheus text."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


class DcgmExporter:
    """One host's exporter: GET /metrics renders every GPU at the current offset."""

    def __init__(self, host: str, gpus: list[ExportedGpu], started: float | None = None) -> None:
        self.host = host
        self.gpus = gpus
        self.started = time.time() if started is None else started
        self.scrapes = 0
        for gpu in gpus:
            if gpu.recording and gpu.data is None:
                gpu.data = Recording.load(gpu.recording)
        self.server = serve_metrics(self.render)
        self.port = self.server.server_port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def render(self) -> str:
        self.scrapes += 1
        offset = time.time() - self.started
        values = [(gpu, gpu.values(offset)) for gpu in self.gpus]
        lines = []
        for name, help_text in FAMILIES:
            rows = [(gpu, v[name]) for gpu, v in values if name in v]
            if not rows:
                continue
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} gauge")
            lines.extend(f"{name}{{{gpu.labels(self.host)}}} {value:g}" for gpu, value in rows)
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class NodeExporter:
    """node-exporter's CPU and disk counters for one host (its documented text format):
    `node_cpu_seconds_total{cpu, mode}` and `node_disk_io_time_seconds_total{device}`, growing
    as if core 0 were `busy_core` busy (a data loader pegging it) and the rest idle."""

    def __init__(self, cores: int = 8, busy_core: float = 0.99, disk_busy: float = 0.05) -> None:
        self.cores = cores
        self.busy_core = busy_core
        self.disk_busy = disk_busy
        self.started = time.time()
        self.server = serve_metrics(self.render)
        self.target = f"127.0.0.1:{self.server.server_port}"

    def render(self) -> str:
        elapsed = 1000.0 + time.time() - self.started
        lines = ["# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.",
                 "# TYPE node_cpu_seconds_total counter"]
        for cpu in range(self.cores):
            busy = self.busy_core if cpu == 0 else 0.02
            for mode, share in (("idle", 1 - busy), ("user", busy * 0.9), ("system", busy * 0.1)):
                lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="{mode}"}} '
                             f"{elapsed * share:.3f}")
        lines += ["# HELP node_disk_io_time_seconds_total Total seconds spent doing I/Os.",
                  "# TYPE node_disk_io_time_seconds_total counter",
                  f'node_disk_io_time_seconds_total{{device="nvme0n1"}} '
                  f"{elapsed * self.disk_busy:.3f}"]
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


RECORDINGS = ("healthy_bf16", "starved_dataloader", "lr_stuck_at_zero", "fp16_adam_eps_nan",
              "memory_leak_oom")


def fleet(hosts: int, gpus: int) -> list[DcgmExporter]:
    """`hosts` exporters of `gpus` GPUs each, every GPU replaying a recording, each in a pod."""
    loaded = {name: Recording.load(name) for name in RECORDINGS}
    out = []
    for h in range(hosts):
        host = f"node-{h:02d}"
        exported = []
        for g in range(gpus):
            name = RECORDINGS[(h * gpus + g) % len(RECORDINGS)]
            exported.append(ExportedGpu(g, name, pod=f"{name.replace('_', '-')}-{h}{g}x7c",
                                        namespace="ml", container="trainer", data=loaded[name]))
        out.append(DcgmExporter(host, exported))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--ports-file", type=Path, required=True)
    args = parser.parse_args()
    exporters = fleet(args.hosts, args.gpus)
    partial = args.ports_file.with_suffix(".partial")
    partial.write_text("\n".join(e.target for e in exporters) + "\n")
    partial.replace(args.ports_file)  # readers never see half a list
    threading.Event().wait()


if __name__ == "__main__":
    main()
