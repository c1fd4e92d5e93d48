"""PrometheusSource: GPU telemetry of a cluster from the Prometheus that scrapes dcgm-exporter.

No agent of ours runs on the GPU nodes: this asks Prometheus's HTTP API (stdlib urllib) for
the DCGM series. Every read is an instant query of a range-vector selector
(`{__name__=~"DCGM_..."}[Ns]`), which returns the raw scraped points with their scrape
timestamps, so live polling and `--since` history give the same samples. Polling is
incremental: each poll asks only for the time since the previous one (plus `overlap_s` for a
scrape still being written), and a point at or before the last one seen of its GPU is
dropped, so each scrape becomes one sample exactly once and time never runs backwards.

Labels vary between exporter versions: Hostname/hostname (else the scrape `instance`), gpu
(else `device` nvidiaN), UUID/uuid; a MIG instance (GPU_I_ID) becomes host "<host>/gi<id>" so
its rows stay apart. The workload labels (Kubernetes pod, HPC job) become gpu_processes rows
with `job` set and no PID (cockpit.telemetry.workload): the GPU's holder. Where the same
Prometheus scrapes node-exporter, each poll also carries the hosts' CPU and disk load. A Prometheus that
stops answering is a state: one batch says so when it starts, one when it ends.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from cockpit.telemetry import node_exporter
from cockpit.telemetry.clock_reasons import reasons_text
from cockpit.telemetry.recording import number
from cockpit.telemetry.rows import (
    PROCESS_TICK_KEYS,
    GpuEvent,
    GpuProcessRow,
    GpuSample,
    HostLoad,
    SourceOutage,
    TelemetryBatch,
    clock_text,
    new_process_row,
    new_sample,
)
from cockpit.telemetry.sources import TelemetryUnavailable
from cockpit.telemetry.workload import Workload
from cockpit.telemetry.xid import describe_event

MIB = 1024 * 1024

# DCGM field -> (gpu_samples column, factor). DCGM_FI_PROF_* are ratios 0-1 -> percent.
FIELDS: dict[str, tuple[str, float]] = {
    "DCGM_FI_DEV_GPU_UTIL": ("util_gpu", 1.0),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("util_mem", 1.0),
    "DCGM_FI_DEV_POWER_USAGE": ("power_w", 1.0),
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": ("power_limit_w", 1.0),
    "DCGM_FI_DEV_GPU_TEMP": ("temp_c", 1.0),
    "DCGM_FI_DEV_SM_CLOCK": ("sm_clock_mhz", 1.0),
    "DCGM_FI_DEV_MEM_CLOCK": ("mem_clock_mhz", 1.0),
    "DCGM_FI_PROF_SM_ACTIVE": ("sm_active", 100.0),
    "DCGM_FI_PROF_SM_OCCUPANCY": ("sm_occupancy", 100.0),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": ("tensor_active", 100.0),
    "DCGM_FI_PROF_DRAM_ACTIVE": ("dram_active", 100.0),
    "DCGM_FI_PROF_PCIE_TX_BYTES": ("pcie_tx_kbs", 1 / 1024),
    "DCGM_FI_PROF_PCIE_RX_BYTES": ("pcie_rx_kbs", 1 / 1024),
}
FB_USED = "DCGM_FI_DEV_FB_USED"
FB_FREE = "DCGM_FI_DEV_FB_FREE"
FB_RESERVED = "DCGM_FI_DEV_FB_RESERVED"
REASONS = ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS")
XID = "DCGM_FI_DEV_XID_ERRORS"
ALL_METRICS = (*FIELDS, FB_USED, FB_FREE, FB_RESERVED, *REASONS, XID)

SeriesKey = tuple[str, int]  # (host, gpu)
Cell = tuple[str, int, float]  # (host, gpu, scrape ts)


class PrometheusError(TelemetryUnavailable):
    """Prometheus unreachable, refusing us, or not speaking its API: one sentence."""


def _label(labels: dict[str, str], *names: str) -> str | None:
    for name in names:
        value = labels.get(name)
        if value:
            return value
    return None


def source_url(spec: str) -> str:
    """`prometheus://host:9090[/path]` (http) or `prometheus+https://…` -> the server's URL."""
    for prefix, scheme in (("prometheus+https://", "https://"), ("prometheus+http://", "http://"),
                           ("prometheus://", "http://")):
        if spec.startswith(prefix):
            return scheme + spec[len(prefix):]
    return spec


class PrometheusSource:
    kind = "prometheus"

    def __init__(
        self,
        url: str,
        interval_s: float = 5.0,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 5.0,
        lookback_s: float = 60.0,
        selector: str = "",
        overlap_s: float = 3.0,
        chunk_s: float = 600.0,
        max_catchup_s: float = 3600.0,
        fail_first: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urllib.parse.urlsplit(source_url(url) if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PrometheusError(f"{url} is not an http(s) URL of a Prometheus server")
        if parts.username and username is None:
            username = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        if ":" in parts.hostname:  # IPv6 literal
            netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.name = f"Prometheus at {self.base}"
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.lookback_s = lookback_s
        self.overlap_s = overlap_s
        self.chunk_s = chunk_s
        self.max_catchup_s = max_catchup_s
        self.fail_first = fail_first
        self.clock = clock
        self.selector = selector.strip().strip("{}")
        self._headers = {"Accept": "application/json", "User-Agent": "cockpit"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif username is not None:
            raw = f"{username}:{password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        self._last_ts: dict[SeriesKey, float] = {}
        self._last_xid: dict[SeriesKey, int] = {}
        self._uuid_index: dict[str, int] = {}
        self._read_until: float | None = None  # evaluation time of the last successful read
        self.node = node_exporter.NodeLoadReader()  # host CPU/disk, where node-exporter is
        self._outage: SourceOutage | None = None
        self._answered_at: float | None = None  # answering again, no sample yet
        self._gap_from: float | None = None  # newest sample before the outage, if any
        self.status = f"{self.name}: not queried yet"
        # What the last read cost: for benchmarks and the status line.
        self.points_read = 0
        self.bytes_read = 0
        self.queries = 0

    @classmethod
    def from_env(cls, url: str, **options: Any) -> PrometheusSource:
        """Credentials from the environment, never from settings or the database:
        COCKPIT_PROMETHEUS_TOKEN (bearer), or COCKPIT_PROMETHEUS_USER and _PASSWORD (basic)."""
        return cls(
            url,
            token=os.environ.get("COCKPIT_PROMETHEUS_TOKEN") or None,
            username=os.environ.get("COCKPIT_PROMETHEUS_USER") or None,
            password=os.environ.get("COCKPIT_PROMETHEUS_PASSWORD"),
            **options,
        )

    @property
    def outage(self) -> SourceOutage | None:
        """The outage in progress, or None while Prometheus answers."""
        return self._outage

    # -- HTTP ------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            raise self._http_error(err) from None
        except TimeoutError:
            raise PrometheusError(
                f"{self.name} did not answer within {self.timeout_s:g} s"
            ) from None
        except urllib.error.URLError as err:
            reason = getattr(err.reason, "strerror", None) or str(err.reason)
            raise PrometheusError(f"cannot reach {self.name}: {reason}") from None
        except OSError as err:
            raise PrometheusError(f"cannot reach {self.name}: {err}") from None
        self.queries += 1
        self.bytes_read += len(body)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise PrometheusError(
                f"{self.base} does not speak the Prometheus HTTP API (the answer is not JSON)"
            ) from None
        if not isinstance(payload, dict) or payload.get("status") != "success":
            error = payload.get("error") if isinstance(payload, dict) else None
            raise PrometheusError(f"{self.name} returned an error: {error}")
        return payload.get("data")

    def _http_error(self, err: urllib.error.HTTPError) -> PrometheusError:
        if err.code in (401, 403):
            return PrometheusError(
                f"{self.name} refused our credentials (HTTP {err.code}); "
                "check the token or user name and password"
            )
        detail = ""
        try:
            payload = json.loads(err.read())
            detail = f": {payload.get('error')}" if isinstance(payload, dict) else ""
        except (ValueError, OSError, UnicodeDecodeError):
            pass
        return PrometheusError(f"{self.name} answered HTTP {err.code}{detail}")

    def _selector(self) -> str:
        names = "|".join(ALL_METRICS)
        extra = f", {self.selector}" if self.selector else ""
        return f'{{__name__=~"{names}"{extra}}}'

    def _raw(self, start: float, end: float, selector: str | None = None) -> list[dict[str, Any]]:
        """Every scraped point in [start, end], in windows of at most `chunk_s`."""
        selector = selector or self._selector()
        series: list[dict[str, Any]] = []
        at = start
        while at < end:
            upto = min(end, at + self.chunk_s)
            window_ms = max(1, int(round((upto - at) * 1000)))
            data = self._get("/api/v1/query", {"query": f"{selector}[{window_ms}ms]",
                                               "time": f"{upto:.3f}"})
            got = data.get("result", []) if isinstance(data, dict) else []
            series.extend(entry for entry in got if isinstance(entry, dict))
            at = upto
        return series

    # -- series -> samples -------------------------------------------------------------------

    def _key(self, labels: dict[str, str]) -> SeriesKey:
        host = _label(labels, "Hostname", "hostname", "host", "node") or re.sub(
            r":\d+$", "", labels.get("instance", "prometheus")
        )
        instance = _label(labels, "GPU_I_ID", "gpu_i_id")
        if instance is not None:
            host = f"{host}/gi{instance}"
        gpu_text = _label(labels, "gpu", "GPU", "minor_number")
        if gpu_text is None:
            device = labels.get("device", "")
            match = re.fullmatch(r"nvidia(\d+)", device)
            gpu_text = match.group(1) if match else None
        if gpu_text is not None and gpu_text.isdigit():
            return host, int(gpu_text)
        uuid = _label(labels, "UUID", "uuid") or ""
        return host, self._uuid_index.setdefault(uuid, len(self._uuid_index))

    def _cells(
        self, series: list[dict[str, Any]]
    ) -> tuple[dict[Cell, dict[str, float | None]], dict[Cell, set[str]]]:
        """Points of all series grouped by (host, gpu, scrape ts), and each cell's workloads."""
        cells: dict[Cell, dict[str, float | None]] = {}
        jobs: dict[Cell, set[str]] = {}
        points_read = 0
        for entry in series:
            labels = entry.get("metric") or {}
            name = labels.get("__name__")
            if name not in ALL_METRICS:
                continue
            host, gpu = self._key(labels)
            workload = Workload.from_labels(labels)
            points = entry.get("values") or ([entry["value"]] if "value" in entry else [])
            points_read += len(points)
            for point in points:
                try:
                    ts, text = float(point[0]), point[1]
                    value = number(float(text))
                except (TypeError, ValueError, IndexError):
                    continue
                cell = (host, gpu, round(ts, 3))
                cells.setdefault(cell, {})[name] = value
                if workload is not None:
                    jobs.setdefault(cell, set()).add(workload.key())
        self.points_read = points_read
        return cells, jobs

    def _assemble(self, series: list[dict[str, Any]], newest_only: bool,
                  last_ts: dict[SeriesKey, float]) -> list[TelemetryBatch]:
        """Cells newer than the last sample of their GPU (`last_ts`, updated) -> batches in
        time order."""
        cells, jobs = self._cells(series)
        newest: dict[SeriesKey, float] = {}
        if newest_only:  # a first look: the current state, not the whole lookback
            for host, gpu, ts in cells:
                newest[(host, gpu)] = max(newest.get((host, gpu), ts), ts)
        by_ts: dict[float, TelemetryBatch] = {}
        for (host, gpu, ts), values in sorted(cells.items(), key=lambda item: item[0][2]):
            key = (host, gpu)
            if newest_only and ts < newest[key]:
                continue
            if ts <= last_ts.get(key, float("-inf")):
                continue  # already emitted: the overlap of two reads
            last_ts[key] = ts
            batch = by_ts.setdefault(ts, TelemetryBatch(ts=ts))
            sample = self._sample(host, gpu, ts, values)
            batch.samples.append(sample)
            batch.process_ticks[key] = {k: sample.get(k) for k in PROCESS_TICK_KEYS}
            batch.processes.extend(self._holders(sample, sorted(jobs.get((host, gpu, ts), ()))))
            event = self._xid_event(host, gpu, ts, values.get(XID))
            if event is not None:
                batch.events.append(event)
        return [by_ts[ts] for ts in sorted(by_ts)]

    @staticmethod
    def _holders(sample: GpuSample, jobs: list[str]) -> list[GpuProcessRow]:
        """The workloads the labels name; a GPU's memory is theirs when only one holds it."""
        used = sample.get("mem_used") if len(jobs) == 1 else None
        rows = []
        for job in jobs:
            workload = Workload.parse(job)
            rows.append(new_process_row(
                sample["ts"], sample["host"], sample["gpu"], None, used, None,
                name=workload.describe() if workload else None, job=job))
        return rows

    def _sample(self, host: str, gpu: int, ts: float, values: dict[str, float | None]) -> GpuSample:
        row = new_sample(ts, host, gpu)
        for name, (column, factor) in FIELDS.items():
            value = values.get(name)
            if value is not None:
                row[column] = value * factor
        used, free = values.get(FB_USED), values.get(FB_FREE)
        if used is not None:
            row["mem_used"] = int(used * MIB)
            if free is not None:
                row["mem_total"] = int((used + free + (values.get(FB_RESERVED) or 0.0)) * MIB)
        for name in REASONS:
            if values.get(name) is not None:
                row["clock_event_reasons"] = reasons_text(int(values[name] or 0))
        return row

    def _xid_event(self, host: str, gpu: int, ts: float, value: float | None) -> GpuEvent | None:
        if value is None:
            return None
        code = int(value)
        previous = self._last_xid.get((host, gpu))
        self._last_xid[(host, gpu)] = code
        if previous is None or code == 0 or code == previous:
            return None
        return GpuEvent(ts, host, gpu, "xid", code, describe_event("xid", code))

    # -- the source interface ---------------------------------------------------------------

    def poll(self) -> list[TelemetryBatch]:
        """Every scrape since the last read (the newest one only, the first time)."""
        now = self.clock()
        first = self._read_until is None
        if first:
            start = now - self.lookback_s
        else:
            assert self._read_until is not None
            start = max(self._read_until - self.overlap_s, now - self.max_catchup_s)
        series = self._raw(start, now)
        loads = self._host_loads(start, now) if self.node.wanted() else {}
        # Assembling marks scrapes as seen: only once every query of this poll has answered.
        batches = self._assemble(series, newest_only=first, last_ts=self._last_ts)
        if loads:
            if not batches:
                batches.append(TelemetryBatch(ts=now))
            batches[-1].host_loads.update(loads)
        self._read_until = now
        self._say_ok(batches)
        return batches

    def _host_loads(self, start: float, end: float) -> dict[str, HostLoad]:
        """node-exporter's loads; it is optional, so its failure never fails a poll."""
        try:
            return self.node.update(self._raw(start, end, node_exporter.SELECTOR))
        except PrometheusError:
            return {}

    def history_batches(self, start: float, end: float) -> Iterator[TelemetryBatch]:
        """Every scrape between `start` and `end` with its own timestamp; live polling then
        continues right after `end`, so the two make one timeline."""
        seen: dict[SeriesKey, float] = {}
        batches = self._assemble(self._raw(start, end), newest_only=False, last_ts=seen)
        for key, ts in seen.items():
            self._last_ts[key] = max(ts, self._last_ts.get(key, ts))
        self._read_until = end if self._read_until is None else max(self._read_until, end)
        samples = sum(len(b.samples) for b in batches)
        self.status = f"{self.name}: {samples} samples from {clock_text(start)} to {clock_text(end)}"
        yield from batches

    def _say_ok(self, batches: list[TelemetryBatch]) -> None:
        gpus = len(self._last_ts)
        hosts = len({host for host, _ in self._last_ts})
        last = max(self._last_ts.values(), default=None)
        newest = f", newest scrape {clock_text(last)}" if last is not None else ""
        self.status = (f"{self.name}: {gpus} GPU(s) on {hosts} host(s) from dcgm-exporter"
                       f"{newest}")

    def batches(self, stop: threading.Event | None = None) -> Iterator[TelemetryBatch]:
        """Poll every `interval_s`. A failure raises the first time (unless `fail_first` is
        off); later ones are an outage: one batch when it starts, one when it ends."""
        stop = stop or threading.Event()
        first = True
        while not stop.is_set():
            try:
                got = self.poll()
            except PrometheusError as err:
                if first and self.fail_first:
                    raise
                got = []
                started = self._outage_started(str(err))
                if started is not None:
                    yield started
            else:
                ended = self._outage_ended(got)
                if ended is not None:
                    yield ended
            first = False
            yield from got
            stop.wait(self.interval_s)

    def _outage_started(self, reason: str) -> TelemetryBatch | None:
        now = self.clock()
        new = self._outage is None
        self._answered_at = None  # failing again before any sample: the same outage
        if new:
            self._outage = SourceOutage(self.name, now, reason)
            self._gap_from = max(self._last_ts.values(), default=None)
        assert self._outage is not None
        self.status = f"{self._outage.message()}; retrying every {self.interval_s:g} s"
        return TelemetryBatch(ts=now, outages=[self._outage]) if new else None

    def _outage_ended(self, got: list[TelemetryBatch]) -> TelemetryBatch | None:
        """Said once the first samples after the outage arrived (a restarted Prometheus
        answers before its first scrape), so the message can bound the gap."""
        if self._outage is None:
            return None
        outage = self._outage
        if self._answered_at is None:
            self._answered_at = self.clock()
        if not any(b.samples for b in got):
            self.status = (f"{self.name} answers again since {clock_text(self._answered_at)}; "
                           "no new samples yet")
            return None
        ended = SourceOutage(outage.source, outage.since, outage.reason, until=self._answered_at)
        ended.gap_from, ended.gap_to = _widest_gap(self._gap_from, got)
        self._outage = self._answered_at = None
        self.status = ended.message()
        return TelemetryBatch(ts=ended.until or outage.since, outages=[ended])

    def close(self) -> None:
        """Nothing to release: each query opens and closes its own connection."""


def _widest_gap(before: float | None, got: list[TelemetryBatch]) -> tuple[float | None, float | None]:
    """The longest stretch without a sample, from the last one before an outage through the
    ones read after it (a restarted Prometheus has nothing for the time it was down)."""
    times = sorted({b.ts for b in got if b.samples})
    if before is not None:
        times = [before, *[t for t in times if t > before]]
    if len(times) < 2:
        return before, None
    widest = max(range(1, len(times)), key=lambda i: times[i] - times[i - 1])
    return times[widest - 1], times[widest]
