"""`cockpit gpu`: stream GPU telemetry from local NVML, a recording, or Prometheus + DCGM.

On a terminal the GPUs are redrawn in place, one line each (like nvitop); piped or
redirected, one line per sample is printed. `--json` prints one object per GPU sample with
the gpu_samples columns. `--record DIR` writes
the recording format (gpu_trace.jsonl + gpu_procs.jsonl) into DIR, created if missing; a path
ending in gpu_trace.jsonl means its folder. `--db FILE` also stores the samples in that history
database (off by default: this command is a viewer); SIGTERM stops it like Ctrl+C, with every
sample printed stored. `--gpu-source prometheus://HOST:PORT` is `--prometheus http://HOST:PORT`.
Prometheus credentials come from the environment (COCKPIT_PROMETHEUS_TOKEN for a bearer token,
COCKPIT_PROMETHEUS_USER and COCKPIT_PROMETHEUS_PASSWORD for basic auth) or, visible to `ps`,
from the URL (http://user:pass@host:9090). A Prometheus that stops answering is said on stderr
once ("unreachable since 14:02:05"), and once more when it answers again, with the gap.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from cockpit.cli.common import interrupt_on_sigterm, prometheus_url
from cockpit.cli.errors import CliError

DEFAULT_INTERVAL_S = 1.0
DEFAULT_PROMETHEUS_INTERVAL_S = 5.0
GB = 1e9


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gpu",
        help="stream GPU telemetry (local NVML, a replayed recording, or Prometheus + dcgm-exporter)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="one JSON object per GPU sample")
    p.add_argument("--interval", type=float, metavar="SEC",
                   help="seconds between samples (default 1; 0.1 = focus mode; Prometheus: 5)")
    p.add_argument("--record", type=Path, metavar="DIR",
                   help="also write a recording (gpu_trace.jsonl + gpu_procs.jsonl) into DIR")
    p.add_argument("--replay", type=Path, metavar="DIR", help="replay a recording instead of NVML")
    p.add_argument("--speed", type=float, metavar="N",
                   help="with --replay: N x real time (default 1; 0 = as fast as possible)")
    p.add_argument("--prometheus", metavar="URL",
                   help="read dcgm-exporter metrics from the Prometheus server at URL")
    p.add_argument("--gpu-source", metavar="SOURCE",
                   help="nvml (default) or prometheus://HOST:PORT, as for watch and check")
    p.add_argument("--since", type=float, metavar="SEC",
                   help="with --prometheus: first print the last SEC seconds of history")
    p.add_argument("--count", type=int, metavar="N", help="stop after N samples")
    p.add_argument("--db", type=Path, metavar="FILE",
                   help="also store the samples in this history database")
    p.set_defaults(func=cmd_gpu)


def _check_args(args: argparse.Namespace) -> None:
    url = prometheus_url(args.gpu_source)
    if args.gpu_source == "off":
        raise CliError("--gpu-source off leaves `cockpit gpu` nothing to show")
    if url and args.prometheus and url != args.prometheus:
        raise CliError("choose one: --prometheus URL or --gpu-source prometheus://…, not both")
    args.prometheus = args.prometheus or url
    if args.replay is not None and args.prometheus:
        raise CliError("choose one source: --replay DIR or --prometheus URL, not both")
    if args.speed is not None and args.replay is None:
        raise CliError("--speed only applies to --replay")
    if args.speed is not None and args.speed < 0:
        raise CliError("--speed must be 0 (as fast as possible) or a positive factor")
    if args.interval is not None and not args.interval >= 0.1:
        raise CliError("--interval must be at least 0.1 seconds")
    if args.count is not None and args.count < 1:
        raise CliError("--count must be at least 1")
    if args.since is not None and (not args.prometheus or not args.since > 0):
        raise CliError("--since takes a positive number of seconds and only applies to --prometheus")


def _make_source(args: argparse.Namespace) -> Any:
    from cockpit.telemetry.sources import TelemetryUnavailable

    try:
        if args.replay is not None:
            from cockpit.telemetry.replay import ReplaySource

            speed = 1.0 if args.speed is None else args.speed
            return ReplaySource(args.replay, speed=speed)
        if args.prometheus:
            from cockpit.telemetry.prometheus import PrometheusSource

            return PrometheusSource.from_env(
                args.prometheus, interval_s=args.interval or DEFAULT_PROMETHEUS_INTERVAL_S)
        from cockpit.telemetry.sampler import SamplerConfig
        from cockpit.telemetry.sources import LocalNvmlSource

        source = LocalNvmlSource(config=SamplerConfig(interval_s=args.interval or DEFAULT_INTERVAL_S))
        source.open()
        return source
    except TelemetryUnavailable as err:
        raise CliError(str(err), code=2) from None


def _fmt(value: Any, unit: str, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def format_sample(sample: dict[str, Any]) -> str:
    """One human line per sample."""
    clock = time.strftime("%H:%M:%S", time.localtime(sample["ts"]))
    clock += f".{int(sample['ts'] * 10) % 10}"
    used, total = sample.get("mem_used"), sample.get("mem_total")
    memory = "-" if used is None else f"{used / GB:.1f}" + ("" if not total else f"/{total / GB:.1f}")
    reasons = sample.get("clock_event_reasons")
    parts = [
        clock,
        f"{sample['host']}:{sample['gpu']}",
        f"util {_fmt(sample.get('util_gpu'), '%')}",
        f"mem {memory} GB",
        _fmt(sample.get("power_w"), " W"),
        _fmt(sample.get("temp_c"), " C"),
        _fmt(sample.get("sm_clock_mhz"), " MHz"),
        f"SM {_fmt(sample.get('sm_active'), '%')}",
        f"tensor {_fmt(sample.get('tensor_active'), '%')}",
        f"dram {_fmt(sample.get('dram_active'), '%')}",
        reasons if reasons else "-",
    ]
    return "  ".join(parts)


def _format_processes(key: tuple[str, int], rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"    {key[0]}:{key[1]} no processes"
    procs = []
    for row in rows:
        who = f"pid {row['pid']}" if row.get("pid") is not None else ""
        name = f" {row['name']}" if row.get("name") else ""
        used = row.get("used_mem")
        memory = "" if used is None else f" {used / GB:.1f} GB"
        sm = "" if row.get("sm_util") is None else f" SM {row['sm_util']:.0f}%"
        procs.append(f"{who}{name}{memory}{sm}".strip())
    return f"    {key[0]}:{key[1]} " + "; ".join(procs)


class _Output:
    """Prints samples (and, for humans, process changes and GPU events): one line per sample,
    what a pipe or a log file wants."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._procs: dict[tuple[str, int], tuple[str, ...]] = {}

    def batch(self, batch: Any) -> None:
        for sample in batch.samples:
            line = json.dumps(sample) if self.as_json else format_sample(sample)
            print(line, flush=True)
        if self.as_json:
            return
        for key in batch.process_ticks:
            rows = [r for r in batch.processes if (r["host"], r["gpu"]) == key]
            pids = tuple(sorted(str(r.get("pid") if r.get("pid") is not None else r.get("job"))
                                for r in rows))
            if self._procs.get(key) != pids:
                self._procs[key] = pids
                print(_format_processes(key, rows), flush=True)
        for event in batch.events:
            print(f"!!  {event.host}:{event.gpu} {event.message or event.kind}", flush=True)

    @staticmethod
    def outages(batch: Any) -> None:
        """A source outage is a state said once on stderr (stdout stays samples only)."""
        for outage in batch.outages:
            print(f"# {outage.message()}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


class _LiveScreen:
    """On a terminal: one line per GPU (and its processes) redrawn in place, like nvitop,
    instead of a scrolling stream. The block is rewritten from its first line each time
    (cursor up, clear to end of line), so the scrollback keeps what was above it."""

    MAX_EVENTS = 5
    MIN_FRAME_S = 0.1

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.latest: dict[tuple[str, int], dict[str, Any]] = {}
        self.procs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.events: list[str] = []
        self.frames = 0
        self._height = 0
        self._drawn_at = -1e9

    def batch(self, batch: Any) -> None:
        for sample in batch.samples:
            self.latest[(str(sample["host"]), int(sample["gpu"]))] = sample
        for key in batch.process_ticks:
            self.procs[key] = [r for r in batch.processes if (r["host"], r["gpu"]) == key]
        for event in batch.events:
            self.events.append(f"!!  {event.host}:{event.gpu} {event.message or event.kind}")
        del self.events[:-self.MAX_EVENTS]
        now = time.monotonic()
        if now - self._drawn_at >= self.MIN_FRAME_S:  # a replay at full speed: 10 frames/s
            self.draw()
            self._drawn_at = now

    def lines(self) -> list[str]:
        width = shutil.get_terminal_size((120, 24)).columns
        out = [f"cockpit gpu  {time.strftime('%H:%M:%S')}  {len(self.latest)} GPU(s)  "
               "(Ctrl+C to stop)"]
        for key in sorted(self.latest):
            out.append(format_sample(self.latest[key]))
            if key in self.procs:
                out.append(_format_processes(key, self.procs[key]))
        out.extend(self.events)
        return [line[:width - 1] for line in out]

    def draw(self) -> None:
        lines = self.lines()
        up = f"\x1b[{self._height}F" if self._height else ""
        body = "".join(f"{line}\x1b[K\n" for line in lines)
        self.stream.write(f"{up}{body}\x1b[J")
        self.stream.flush()
        self._height = len(lines)
        self.frames += 1

    def outages(self, batch: Any) -> None:
        """A source outage joins the events inside the block (a line on stderr would break
        the redraw)."""
        for outage in batch.outages:
            self.events.append(f"#  {outage.message()}")
        del self.events[:-self.MAX_EVENTS]

    def close(self) -> None:
        if self.latest:
            self.draw()  # the last state, whatever the frame rate let through


def cmd_gpu(args: argparse.Namespace) -> int:
    _check_args(args)
    from cockpit.telemetry.sources import TelemetryUnavailable

    interrupt_on_sigterm()
    recorder = None
    if args.record is not None:  # a bad destination is said before any source starts
        from cockpit.telemetry.recorder import RecordingError, RecordingWriter

        try:
            recorder = RecordingWriter(args.record)
            recorder.check()
        except RecordingError as err:
            raise CliError(str(err)) from None
    source = None
    writer = batcher = None
    try:
        source = _make_source(args)
        if recorder is not None:  # the recording says where its telemetry came from
            recorder.source = getattr(source, "kind", "nvml")
            recorder.origin = getattr(source, "base", None)
            try:
                recorder.open()
            except RecordingError as err:
                raise CliError(str(err)) from None
        if args.db is not None:
            from cockpit.store.writer import StoreWriter
            from cockpit.telemetry.store_sink import GpuStoreBatcher

            writer = StoreWriter(args.db)
            batcher = GpuStoreBatcher(writer)
        out: _Output | _LiveScreen = (
            _LiveScreen(sys.stdout) if not args.json and sys.stdout.isatty() else
            _Output(args.json))
        replaying = args.replay is not None
        if not args.json and not replaying and not args.prometheus:
            print(f"# {source.status}", file=sys.stderr, flush=True)  # NVML, MIG, lost GPUs
        try:
            _stream(args, source, out, recorder, batcher)
        finally:
            out.close()
        if replaying and (not args.json or source.bad_lines):
            print(f"# {source.status}", file=sys.stderr, flush=True)
    except TelemetryUnavailable as err:
        raise CliError(str(err), code=2) from None
    finally:
        if recorder is not None:
            recorder.close()
        if source is not None:
            source.close()
        if batcher is not None:
            batcher.flush()
        if writer is not None:
            writer.close()
    return 0


def _stream(args: argparse.Namespace, source: Any, out: _Output | _LiveScreen, recorder: Any,
            batcher: Any) -> None:
    stop = threading.Event()
    remaining = args.count
    batches = source.batches(stop)
    if args.since:
        now = time.time()
        history = source.history_batches(now - args.since, now)
        batches = _chain(history, batches)
    for batch in batches:
        out.outages(batch)
        if remaining is not None and len(batch.samples) >= remaining:
            batch.samples = batch.samples[:remaining]
            stop.set()
        if remaining is not None:
            remaining -= len(batch.samples)
        if recorder is not None:
            recorder.write(batch)
        if batcher is not None:
            batcher.add(batch)
        out.batch(batch)
        if stop.is_set():
            break


def _chain(first: Any, second: Any) -> Any:
    yield from first
    yield from second
