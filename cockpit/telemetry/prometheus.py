"""PrometheusSource: GPU telemetry of a cluster from the Prometheus that scrapes dcgm-exporter.

No agent of ours runs on the GPU nodes: this asks Prometheus's HTTP API (stdlib urllib) for
the DCGM series. Live polling sends one instant query for a range-vector selector
(`{__name__=~"DCGM_..."}[60s]`), which returns the raw scraped points with their scrape
timestamps, so each scrape becomes one sample per GPU exactly once however often we poll.
`range_batches` reads history through /api/v1/query_range. Labels vary between exporter
versions: Hostname/hostname (else the scrape `instance`), gpu (else `device` nvidiaN), UUID/uuid;
a MIG instance (GPU_I_ID, GPU_I_PROFILE) becomes host "<host>/gi<id>" so its rows stay apart.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from cockpit.telemetry.clock_reasons import reasons_text
from cockpit.telemetry.recording import number
from cockpit.telemetry.rows import GpuEvent, GpuSample, TelemetryBatch, new_sample
from cockpit.telemetry.sources import TelemetryUnavailable
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


class PrometheusError(TelemetryUnavailable):
    """Prometheus unreachable, refusing us, or not speaking its API: one sentence."""


def _label(labels: dict[str, str], *names: str) -> str | None:
    for name in names:
        value = labels.get(name)
        if value:
            return value
    return None


class PrometheusSource:
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
    ) -> None:
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PrometheusError(f"{url} is not an http(s) URL of a Prometheus server")
        if parts.username and username is None:
            username = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        if ":" in parts.hostname:  # IPv6 literal
            netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.lookback_s = lookback_s
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
        self.status = f"Prometheus at {self.base}: not queried yet"

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
                f"Prometheus at {self.base} did not answer within {self.timeout_s:g} s"
            ) from None
        except urllib.error.URLError as err:
            reason = getattr(err.reason, "strerror", None) or str(err.reason)
            raise PrometheusError(f"cannot reach Prometheus at {self.base}: {reason}") from None
        except OSError as err:
            raise PrometheusError(f"cannot reach Prometheus at {self.base}: {err}") from None
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise PrometheusError(
                f"{self.base} does not speak the Prometheus HTTP API (the answer is not JSON)"
            ) from None
        if not isinstance(payload, dict) or payload.get("status") != "success":
            error = payload.get("error") if isinstance(payload, dict) else None
            raise PrometheusError(f"Prometheus at {self.base} returned an error: {error}")
        return payload.get("data")

    def _http_error(self, err: urllib.error.HTTPError) -> PrometheusError:
        if err.code in (401, 403):
            return PrometheusError(
                f"Prometheus at {self.base} refused our credentials (HTTP {err.code}); "
                "check the token or user name and password"
            )
        detail = ""
        try:
            payload = json.loads(err.read())
            detail = f": {payload.get('error')}" if isinstance(payload, dict) else ""
        except (ValueError, OSError, UnicodeDecodeError):
            pass
        return PrometheusError(f"Prometheus at {self.base} answered HTTP {err.code}{detail}")

    def _selector(self) -> str:
        names = "|".join(ALL_METRICS)
        extra = f", {self.selector}" if self.selector else ""
        return f'{{__name__=~"{names}"{extra}}}'

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

    def _assemble(
        self, series: list[dict[str, Any]], newer_only: bool
    ) -> tuple[list[GpuSample], list[GpuEvent]]:
        """Points of all series -> one sample per (host, gpu, timestamp), in time order."""
        cells: dict[tuple[str, int, float], dict[str, float | None]] = {}
        for entry in series:
            labels = entry.get("metric") or {}
            name = labels.get("__name__")
            if name not in ALL_METRICS:
                continue
            host, gpu = self._key(labels)
            points = entry.get("values") or ([entry["value"]] if "value" in entry else [])
            for point in points:
                try:
                    ts, text = float(point[0]), point[1]
                    value = number(float(text))
                except (TypeError, ValueError, IndexError):
                    continue
                cells.setdefault((host, gpu, round(ts, 3)), {})[name] = value
        samples: list[GpuSample] = []
        events: list[GpuEvent] = []
        first_poll: dict[SeriesKey, float] = {}
        if newer_only:
            for host, gpu, ts in cells:
                if (host, gpu) not in self._last_ts:
                    first_poll[(host, gpu)] = max(first_poll.get((host, gpu), ts), ts)
        for (host, gpu, ts), values in sorted(cells.items(), key=lambda item: item[0][2]):
            key = (host, gpu)
            if newer_only:
                if key in first_poll and ts < first_poll[key]:
                    continue  # first poll: only the newest scrape, not the whole lookback
                if ts <= self._last_ts.get(key, float("-inf")):
                    continue
                self._last_ts[key] = ts
            samples.append(self._sample(host, gpu, ts, values))
            event = self._xid_event(host, gpu, ts, values.get(XID))
            if event is not None:
                events.append(event)
        return samples, events

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

    @staticmethod
    def _batches(samples: list[GpuSample], events: list[GpuEvent]) -> Iterator[TelemetryBatch]:
        by_ts: dict[float, TelemetryBatch] = {}
        for sample in samples:
            batch = by_ts.setdefault(sample["ts"], TelemetryBatch(ts=sample["ts"]))
            batch.samples.append(sample)
        for event in events:
            batch = by_ts.setdefault(event.ts, TelemetryBatch(ts=event.ts))
            batch.events.append(event)
        for ts in sorted(by_ts):
            yield by_ts[ts]

    # -- the source interface ---------------------------------------------------------------

    def poll(self) -> list[TelemetryBatch]:
        """One instant query: every scrape newer than the last poll, as batches."""
        data = self._get(
            "/api/v1/query",
            {"query": f"{self._selector()}[{int(self.lookback_s)}s]", "time": f"{time.time():.3f}"},
        )
        series = data.get("result", []) if isinstance(data, dict) else []
        samples, events = self._assemble(series, newer_only=True)
        gpus = len({(s["host"], s["gpu"]) for s in samples} | set(self._last_ts))
        self.status = f"Prometheus at {self.base}: {gpus} GPU(s) from dcgm-exporter"
        return list(self._batches(samples, events))

    def batches(self, stop: threading.Event | None = None) -> Iterator[TelemetryBatch]:
        """Poll every `interval_s`. The first failure raises; later ones retry, noted in status."""
        stop = stop or threading.Event()
        first = True
        while not stop.is_set():
            try:
                got = self.poll()
            except PrometheusError as err:
                if first:
                    raise
                self.status = f"{err} (retrying every {self.interval_s:g} s)"
                got = []
            first = False
            yield from got
            stop.wait(self.interval_s)

    def range_batches(self, start: float, end: float, step_s: float) -> Iterator[TelemetryBatch]:
        """History between `start` and `end` at `step_s` resolution (/api/v1/query_range)."""
        data = self._get(
            "/api/v1/query_range",
            {"query": self._selector(), "start": f"{start:.3f}", "end": f"{end:.3f}",
             "step": f"{step_s:g}"},
        )
        series = data.get("result", []) if isinstance(data, dict) else []
        samples, events = self._assemble(series, newer_only=False)
        self.status = f"Prometheus at {self.base}: {len(samples)} samples from {start:.0f} to {end:.0f}"
        yield from self._batches(samples, events)

    def close(self) -> None:
        """Nothing to release: each query opens and closes its own connection."""
