"""GPU telemetry of an SSH host from its own `nvidia-smi`, over the host's one connection.

Nothing is installed remotely: `nvidia-smi` is present wherever the NVIDIA driver is.
`--query-gpu=... --format=csv,noheader,nounits -lms N` is streamed (one line per GPU per
tick) and `--query-compute-apps` is run every `process_interval_s` for the processes, so
batches look like the local sampler's: samples with `host` filled in, and a complete process
list per GPU per process tick. nvidia-smi prints its timestamps in the remote's local time;
the helper reports the remote's UTC offset, so `ts` is unix seconds on the remote's clock.
When the connection drops the stream is started again once the host is back.
"""

from __future__ import annotations

import calendar
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from cockpit.sources import SourceUnavailable
from cockpit.sources.ssh.host import SshHost
from cockpit.telemetry.clock_reasons import reasons_text
from cockpit.telemetry.rows import GpuSample, TelemetryBatch, new_process_row, new_sample
from cockpit.telemetry.sources import TelemetryUnavailable

MIB = 1024 * 1024
GPU_FIELDS = ("timestamp", "index", "uuid", "utilization.gpu", "utilization.memory",
              "memory.used", "memory.total", "power.draw", "power.limit", "temperature.gpu",
              "clocks.sm", "clocks.mem", "clocks_event_reasons.active")
APP_FIELDS = ("timestamp", "gpu_uuid", "pid", "used_memory", "process_name")
# Drivers older than R535 call the clock reasons `clocks_throttle_reasons.active`.
LEGACY_REASONS = "clocks_throttle_reasons.active"


def parse_timestamp(text: str, utc_offset: float) -> float | None:
    """`2026/12/04 16:52:18.123` in the remote's local time -> unix seconds."""
    try:
        date, clock = text.strip().split(" ")
        y, mo, d = (int(v) for v in date.split("/"))
        hms, _, frac = clock.partition(".")
        h, mi, s = (int(v) for v in hms.split(":"))
    except ValueError:
        return None
    whole = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    return whole + (float(f"0.{frac}") if frac else 0.0) - utc_offset


def _number(text: str) -> float | None:
    text = text.strip()
    if not text or text.startswith("[") or text in ("N/A", "Not Supported"):
        return None  # [N/A], [Not Supported], [Unknown Error]
    try:
        return float(text)
    except ValueError:
        return None


def parse_gpu_line(line: str, fields: tuple[str, ...], host: str, utc_offset: float,
                   now: float) -> tuple[GpuSample, str] | None:
    """One `--query-gpu` CSV line -> (gpu_samples row, GPU uuid); None for a line that is not
    one (an error message)."""
    values = [v.strip() for v in line.split(",")]
    if len(values) != len(fields):
        return None
    got = dict(zip(fields, values, strict=True))
    index = _number(got["index"])
    if index is None:
        return None
    ts = parse_timestamp(got["timestamp"], utc_offset) or now
    row = new_sample(ts, host, int(index))
    row["util_gpu"] = _number(got["utilization.gpu"])
    row["util_mem"] = _number(got["utilization.memory"])
    for column, field in (("mem_used", "memory.used"), ("mem_total", "memory.total")):
        mib = _number(got[field])
        row[column] = int(mib * MIB) if mib is not None else None
    row["power_w"] = _number(got["power.draw"])
    row["power_limit_w"] = _number(got["power.limit"])
    row["temp_c"] = _number(got["temperature.gpu"])
    row["sm_clock_mhz"] = _number(got["clocks.sm"])
    row["mem_clock_mhz"] = _number(got["clocks.mem"])
    reasons = got.get("clocks_event_reasons.active", got.get(LEGACY_REASONS))
    if reasons and reasons.startswith("0x"):
        row["clock_event_reasons"] = reasons_text(int(reasons, 16))
    return row, got["uuid"]


class NvidiaSmiSource:
    """A TelemetrySource for one SSH host's GPUs (gpu_samples.host = the host as typed)."""

    kind = "nvidia-smi"

    def __init__(self, host: SshHost, interval_s: float = 1.0,
                 process_interval_s: float = 2.0) -> None:
        self.host = host
        self.host_name = host.target.host
        self.interval_s = interval_s
        self.process_interval_s = process_interval_s
        self.fields: tuple[str, ...] = GPU_FIELDS
        self._status = f"GPU ({self.host_name}): starting nvidia-smi"
        self._lines: queue.Queue[tuple[dict[str, Any], bytes]] = queue.Queue()
        self._uuids: dict[str, int] = {}  # GPU uuid -> index
        self._stream: tuple[Any, int] | None = None
        self._utc = 0.0  # the remote's UTC offset: nvidia-smi prints local time
        self.samples_read = 0

    @property
    def status(self) -> str:
        return self._status

    def _start_stream(self) -> None:
        argv = ["nvidia-smi", f"--query-gpu={','.join(self.fields)}",
                "--format=csv,noheader,nounits", "-lms", str(max(int(self.interval_s * 1000), 50))]
        self._lines = queue.Queue()
        lines = self._lines
        self._stream = self.host.stream(argv, lambda msg, blob: lines.put((msg, blob)))
        self._utc = float(self._stream[0].hello.get("utc_offset", 0))
        self._status = f"GPU ({self.host_name}): nvidia-smi every {self.interval_s:g} s"

    def _stop_stream(self) -> None:
        if self._stream is not None:
            session, rid = self._stream
            session.cancel(rid)
            self._stream = None

    def batches(self, stop: threading.Event | None = None) -> Iterator[TelemetryBatch]:
        stop = stop or threading.Event()
        pending: list[GpuSample] = []
        next_procs = 0.0
        try:
            while not stop.is_set():
                if self._stream is None:
                    if not self.host.reachability().ok:
                        self._status = f"GPU ({self.host_name}): host unreachable"
                        stop.wait(1.0)
                        continue
                    try:
                        self._start_stream()
                    except SourceUnavailable:
                        stop.wait(1.0)
                        continue
                try:
                    msg, blob = self._lines.get(timeout=0.05)
                except queue.Empty:
                    msg, blob = {}, b""
                if msg and not msg.get("more"):
                    self._stream = None
                    self._ended(msg)
                    continue
                parsed = parse_gpu_line(blob.decode("utf-8", "replace"), self.fields,
                                        self.host_name, self._utc, time.time()) if msg else None
                if parsed is not None:
                    sample, uuid = parsed
                    self._uuids[uuid] = sample["gpu"]
                    if pending and sample["gpu"] <= pending[-1]["gpu"]:
                        yield self._batch(pending)  # a new tick starts with the first GPU again
                        pending = []
                    pending.append(sample)
                    self.samples_read += 1
                elif pending:  # the tick's lines have all arrived
                    batch = self._batch(pending)
                    pending = []
                    if time.monotonic() >= next_procs:
                        next_procs = time.monotonic() + self.process_interval_s
                        self._add_processes(batch, self._utc)
                    yield batch
        finally:
            self._stop_stream()

    def _batch(self, samples: list[GpuSample]) -> TelemetryBatch:
        return TelemetryBatch(ts=max(s["ts"] for s in samples), samples=list(samples))

    def _ended(self, msg: dict[str, Any]) -> None:
        """The stream stopped: the connection dropped (start again when back), an old driver
        (drop the field it does not know), or no nvidia-smi at all."""
        if msg.get("lost"):
            self._status = f"GPU ({self.host_name}): connection lost; restarting when back"
            return
        err = msg.get("err")
        if err and int(err[0]) == 2:
            raise TelemetryUnavailable(f"no nvidia-smi on {self.host_name} (no NVIDIA driver "
                                       "there, or not on the remote PATH)")
        stderr = str(msg.get("stderr", ""))
        if "clocks_event_reasons" in stderr and "clocks_event_reasons.active" in self.fields:
            self.fields = tuple(LEGACY_REASONS if f == "clocks_event_reasons.active" else f
                                for f in self.fields)
            return
        first = stderr.strip().splitlines()[0] if stderr.strip() else f"exit status {msg.get('rc')}"
        raise TelemetryUnavailable(f"nvidia-smi on {self.host_name} stopped: {first}")

    def _add_processes(self, batch: TelemetryBatch, utc: float) -> None:
        """One `--query-compute-apps` look: a complete process list for every GPU."""
        try:
            rc, out, _ = self.host.run(["nvidia-smi", f"--query-compute-apps={','.join(APP_FIELDS)}",
                                        "--format=csv,noheader,nounits"], timeout=10.0)
        except OSError:
            return  # unreachable or slow: this tick has no process list, the next may
        if rc != 0:
            return
        for index in set(self._uuids.values()):
            batch.process_ticks[(self.host_name, index)] = {}
        for line in out.decode("utf-8", "replace").splitlines():
            values = [v.strip() for v in line.split(",")]
            if len(values) < 4:
                continue
            gpu = self._uuids.get(values[1])
            pid = _number(values[2])
            if gpu is None or pid is None:
                continue
            used = _number(values[3])
            ts = parse_timestamp(values[0], utc) or batch.ts
            batch.processes.append(new_process_row(
                ts, self.host_name, gpu, int(pid), int(used * MIB) if used is not None else None,
                None, name=values[4] if len(values) > 4 and values[4] else None))

    def close(self) -> None:
        self._stop_stream()
