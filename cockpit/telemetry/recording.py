"""The GPU telemetry recording format (SPEC §5): its two files, their lines, and conversions.

`gpu_trace.jsonl` holds one device sample per line (power in mW, clock-event reasons as a
bitmask); `gpu_procs.jsonl` one process list per GPU per second with GPM metrics (percent) and
PCIe rates. A process entry is a PID, or (cluster telemetry) a workload named by labels:
`{"pid": null, "job": "pod/ml/train-7f9c/trainer", ...}`. `gpu_source.json`, when present,
says where the telemetry came from (`{"source": "prometheus", "origin": URL}`); without it a
recording is NVML's. Readers are lenient: a line that is not a JSON object, has no numeric `ts`, or is
absurdly long is skipped and counted, never fatal. Bare NaN/Infinity tokens parse; a
non-finite reading becomes None.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.telemetry.clock_reasons import reasons_mask, reasons_text
from cockpit.telemetry.rows import GpuProcessRow, GpuSample, new_process_row, new_sample
from cockpit.telemetry.workload import Workload

TRACE_FILE = "gpu_trace.jsonl"
PROCS_FILE = "gpu_procs.jsonl"
SOURCE_FILE = "gpu_source.json"
MAX_LINE_BYTES = 1 << 20

# procs-line key -> gpu_samples column.
GPM_KEYS = {
    "gpm_sm_util": "sm_active",
    "gpm_sm_occupancy": "sm_occupancy",
    "gpm_tensor_util": "tensor_active",
    "gpm_dram_bw_util": "dram_active",
    "pcie_tx_kbs": "pcie_tx_kbs",
    "pcie_rx_kbs": "pcie_rx_kbs",
}


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (missing, text, bool, NaN, Inf)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def integer(value: Any) -> int | None:
    got = number(value)
    return None if got is None else int(got)


def compact(value: Any) -> Any:
    """Whole floats as ints, so a re-recorded trace looks like the original."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(slots=True)
class BadLine:
    file: str
    line_no: int
    reason: str


def iter_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
    """(line number, object) per non-blank line; a BadLine where it cannot be one."""
    with path.open("rb") as handle:
        line_no = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            line_no += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of a huge line
                    raw = handle.readline(MAX_LINE_BYTES)
                yield line_no, BadLine(path.name, line_no, "line longer than 1 MiB")
                continue
            text = raw.strip()
            if not text:
                continue
            try:
                obj = json.loads(text.decode("utf-8"))
            except UnicodeDecodeError:
                yield line_no, BadLine(path.name, line_no, "not UTF-8")
                continue
            except ValueError:
                reason = "truncated JSON" if not raw.endswith(b"\n") else "not JSON"
                yield line_no, BadLine(path.name, line_no, reason)
                continue
            if not isinstance(obj, dict) or number(obj.get("ts")) is None:
                yield line_no, BadLine(path.name, line_no, "not an object with a numeric ts")
                continue
            yield line_no, obj


def sample_from_trace(obj: dict[str, Any], host: str) -> GpuSample:
    """One gpu_trace.jsonl object as a gpu_samples row (power_mw -> power_w)."""
    host = obj["host"] if isinstance(obj.get("host"), str) else host
    row = new_sample(float(obj["ts"]), host, integer(obj.get("gpu")) or 0)
    row["util_gpu"] = number(obj.get("util_gpu"))
    row["util_mem"] = number(obj.get("util_mem"))
    row["mem_used"] = integer(obj.get("mem_used"))
    row["mem_total"] = integer(obj.get("mem_total"))
    power_mw = number(obj.get("power_mw"))
    row["power_w"] = None if power_mw is None else power_mw / 1000.0
    limit_mw = number(obj.get("power_limit_mw"))
    row["power_limit_w"] = None if limit_mw is None else limit_mw / 1000.0
    row["temp_c"] = number(obj.get("temp_c"))
    row["sm_clock_mhz"] = number(obj.get("sm_clock_mhz"))
    row["mem_clock_mhz"] = number(obj.get("mem_clock_mhz"))
    row["clock_event_reasons"] = reasons_text(integer(obj.get("clock_event_reasons")))
    if isinstance(obj.get("resolution"), str):
        row["resolution"] = obj["resolution"]
    return row


def trace_from_sample(sample: GpuSample) -> dict[str, Any]:
    """The gpu_trace.jsonl object of a sample (inverse of `sample_from_trace`)."""
    power_w = sample.get("power_w")
    limit_w = sample.get("power_limit_w")
    line: dict[str, Any] = {
        "ts": sample["ts"],
        "gpu": sample["gpu"],
        "util_gpu": compact(sample.get("util_gpu")),
        "util_mem": compact(sample.get("util_mem")),
        "mem_used": sample.get("mem_used"),
        "mem_total": sample.get("mem_total"),
        "power_mw": None if power_w is None else round(power_w * 1000),
        "temp_c": compact(sample.get("temp_c")),
        "sm_clock_mhz": compact(sample.get("sm_clock_mhz")),
        "mem_clock_mhz": compact(sample.get("mem_clock_mhz")),
        "clock_event_reasons": reasons_mask(sample.get("clock_event_reasons")),
        "host": sample.get("host"),
    }
    if limit_w is not None:
        line["power_limit_mw"] = round(limit_w * 1000)
    if sample.get("resolution") not in (None, "full"):
        line["resolution"] = sample["resolution"]
    return line


@dataclass(slots=True)
class ProcsLine:
    ts: float
    host: str
    gpu: int
    rows: list[GpuProcessRow]
    tick: dict[str, float | None]  # gpu_samples column -> value (GPM, PCIe)


def procs_from_line(obj: dict[str, Any], host: str) -> ProcsLine:
    """One gpu_procs.jsonl object: process rows plus its GPM/PCIe readings (percent, KB/s)."""
    host = obj["host"] if isinstance(obj.get("host"), str) else host
    ts = float(obj["ts"])
    gpu = integer(obj.get("gpu")) or 0
    rows: list[GpuProcessRow] = []
    procs = obj.get("procs")
    for proc in procs if isinstance(procs, list) else []:
        if not isinstance(proc, dict):
            continue
        pid = integer(proc.get("pid"))
        workload = Workload.parse(proc.get("job"))
        if pid is None and workload is None:
            continue
        util = proc.get("util")
        sm = number(util.get("sm")) if isinstance(util, dict) else None
        rows.append(new_process_row(
            ts, host, gpu, pid, integer(proc.get("used_mem")), sm,
            name=workload.describe() if workload and pid is None else None,
            job=workload.key() if workload else None))
    tick = {column: number(obj.get(key)) for key, column in GPM_KEYS.items()}
    return ProcsLine(ts, host, gpu, rows, tick)


def procs_line(
    ts: float, host: str, gpu: int, rows: list[GpuProcessRow], tick: dict[str, Any]
) -> dict[str, Any]:
    """The gpu_procs.jsonl object of one GPU's process tick."""
    procs = []
    for row in rows:
        entry: dict[str, Any] = {"pid": row["pid"], "used_mem": row.get("used_mem")}
        if row.get("job") is not None:
            entry["job"] = row["job"]
        if row.get("sm_util") is not None:
            entry["util"] = {"sm": compact(row["sm_util"])}
        procs.append(entry)
    line: dict[str, Any] = {"ts": ts, "gpu": gpu, "procs": procs}
    for key, column in GPM_KEYS.items():
        line[key] = tick.get(column)
    line["host"] = host
    return line


def recorded_source(folder: Path) -> dict[str, Any]:
    """What gpu_source.json says about a recording; {"source": "nvml"} when it has none."""
    try:
        data = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("source"), str):
        return {"source": "nvml"}
    return data


def find_recording(path: Path) -> Path | None:
    """The folder of a recording given as that folder or as its gpu_trace.jsonl."""
    if path.is_dir():
        return path if (path / TRACE_FILE).is_file() else None
    if path.name == TRACE_FILE and path.is_file():
        return path.parent
    return None
