#!/usr/bin/env python3
"""A stand-in for `nvidia-smi` on the tests' "remote" host (copied into the sshd's PATH).

It replays a real H100 recording (tests/fixtures/h100-runs/<run>/gpu_trace.jsonl and
gpu_procs.jsonl) in nvidia-smi's own output format for the two queries Cockpit sends:

    nvidia-smi --query-gpu=FIELDS --format=csv,noheader,nounits -lms N
    nvidia-smi --query-compute-apps=FIELDS --format=csv,noheader,nounits

one line per GPU per tick, values in nvidia-smi's units (MiB, W, MHz, %; the clock-event
reasons as a 0x bitmask; timestamps as `YYYY/MM/DD HH:MM:SS.mmm` in local time). The loop
samples the recording every N ms of recorded time, `speed` times faster than real time, with
timestamps moved to start now; after the recording it repeats its last (idle) sample, as a
driver keeps reporting an idle GPU. The running loop writes its position to a state file so
a compute-apps query answers with the processes recorded at that moment; the recorded
training PID is replaced by `pid` (a real process on the "remote" that has the run's log
open), so Cockpit can attribute it through /proc.

Configuration: nvidia-smi.json beside this script: {"recording": DIR, "speed": X, "pid": N}.
A test double by design: everything it prints comes from the recording.
"""

import datetime
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1024 * 1024
UUID = "GPU-5ec444e1-0000-4c3b-9b2e-00000000000{}"
GPU_FIELDS = {
    "timestamp", "index", "uuid", "utilization.gpu", "utilization.memory", "memory.used",
    "memory.total", "power.draw", "power.limit", "temperature.gpu", "clocks.sm", "clocks.mem",
    "clocks_event_reasons.active", "clocks_throttle_reasons.active", "name", "pci.bus_id",
}
APP_FIELDS = {"timestamp", "gpu_uuid", "pid", "used_memory", "used_gpu_memory",
              "process_name", "gpu_bus_id", "gpu_name"}


def stamp(ts):
    return datetime.datetime.fromtimestamp(ts).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]


def load(path):
    with open(path) as f:
        return [json.loads(line.replace("NaN", "null")) for line in f if line.strip()]


def option(args, name):
    for i, arg in enumerate(args):
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(args):
            return args[i + 1]
    return None


def check_fields(fields, known):
    for field in fields:
        if field not in known:
            print(f'Field "{field}" is not a valid field to query.', file=sys.stderr)
            sys.exit(2)


def gpu_line(row, fields, ts):
    values = {
        "timestamp": stamp(ts), "index": str(row["gpu"]), "uuid": UUID.format(row["gpu"]),
        "name": "NVIDIA H100 80GB HBM3", "pci.bus_id": f"00000000:{0x18 + row['gpu']:02X}:00.0",
        "utilization.gpu": str(row["util_gpu"]), "utilization.memory": str(row["util_mem"]),
        "memory.used": str(row["mem_used"] // MIB), "memory.total": str(row["mem_total"] // MIB),
        "power.draw": f"{row['power_mw'] / 1000:.2f}", "power.limit": "700.00",
        "temperature.gpu": str(row["temp_c"]), "clocks.sm": str(row["sm_clock_mhz"]),
        "clocks.mem": str(row["mem_clock_mhz"]),
        "clocks_event_reasons.active": f"0x{row['clock_event_reasons']:016x}",
    }
    values["clocks_throttle_reasons.active"] = values["clocks_event_reasons.active"]
    return ", ".join(values[f] for f in fields)


def main():
    with open(os.path.join(HERE, "nvidia-smi.json")) as f:
        cfg = json.load(f)
    state = os.path.join(HERE, "nvidia-smi.state")
    args = sys.argv[1:]
    fmt = option(args, "--format") or ""
    if "noheader" not in fmt or "nounits" not in fmt:
        print("this fake answers only --format=csv,noheader,nounits", file=sys.stderr)
        return 2
    trace = load(os.path.join(cfg["recording"], "gpu_trace.jsonl"))
    t0 = trace[0]["ts"]
    query = option(args, "--query-gpu")
    if query is not None:
        fields = query.split(",")
        check_fields(fields, GPU_FIELDS)
        step = int(option(args, "-lms") or 0) / 1000.0 or 1.0
        start, speed, i, k = time.time(), float(cfg.get("speed", 1.0)), 0, 0
        while True:
            now = t0 + k * step  # recorded time of this tick
            while i + 1 < len(trace) and trace[i + 1]["ts"] <= now:
                i += 1
            rows = [r for r in trace[max(0, i - 8):i + 1] if r["ts"] <= now] or [trace[0]]
            latest = {r["gpu"]: r for r in rows}
            ts = start + (now - t0)
            for gpu in sorted(latest):
                print(gpu_line(latest[gpu], fields, ts), flush=True)
            with open(state + ".tmp", "w") as f:
                json.dump({"recorded": now, "ts": ts}, f)
            os.replace(state + ".tmp", state)
            k += 1
            time.sleep(step / speed)
    query = option(args, "--query-compute-apps")
    if query is not None:
        fields = query.split(",")
        check_fields(fields, APP_FIELDS)
        try:
            with open(state) as f:
                where = json.load(f)
        except OSError:
            return 0  # no loop running yet: nothing on the GPUs
        procs = [r for r in load(os.path.join(cfg["recording"], "gpu_procs.jsonl"))
                 if r["ts"] <= where["recorded"]]
        if not procs:
            return 0
        for proc in procs[-1].get("procs") or []:
            values = {"timestamp": stamp(where["ts"]), "gpu_uuid": UUID.format(procs[-1]["gpu"]),
                      "pid": str(cfg.get("pid") or proc["pid"]),
                      "used_memory": str(proc["used_mem"] // MIB),
                      "used_gpu_memory": str(proc["used_mem"] // MIB),
                      "process_name": "python", "gpu_bus_id": "00000000:18:00.0",
                      "gpu_name": "NVIDIA H100 80GB HBM3"}
            print(", ".join(values[f] for f in fields), flush=True)
        return 0
    print("this fake answers only --query-gpu and --query-compute-apps", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
