"""PrometheusSource against a local server speaking Prometheus's HTTP API, and (when the
`prometheus` binary is installed, e.g. Debian's package) against the real thing scraping a
tiny dcgm-exporter look-alike."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cockpit.model.alert import Alert
from cockpit.telemetry.pipeline import TelemetryPipeline
from cockpit.telemetry.prometheus import PrometheusError, PrometheusSource
from cockpit.telemetry.recorder import RecordingWriter
from cockpit.telemetry.replay import ReplaySource
from tests.dcgm_exporter import serve_metrics
from tests.prometheus_server import PrometheusServer, wait_until

SERIES_LABELS: list[dict[str, str]] = [
    {"gpu": "0", "UUID": "GPU-a0", "Hostname": "node-a", "instance": "10.0.0.1:9400"},
    {"gpu": "1", "uuid": "GPU-b1", "hostname": "node-b", "instance": "10.0.0.2:9400"},
    {"gpu": "2", "UUID": "GPU-a2", "Hostname": "node-a", "GPU_I_ID": "3", "GPU_I_PROFILE": "1g.10gb"},
    {"UUID": "GPU-c5", "device": "nvidia5", "instance": "10.0.0.9:9400"},
]
VALUES = {
    "DCGM_FI_DEV_GPU_UTIL": "62",
    "DCGM_FI_DEV_FB_USED": "1024",
    "DCGM_FI_DEV_FB_FREE": "80000",
    "DCGM_FI_DEV_POWER_USAGE": "300.5",
    "DCGM_FI_DEV_GPU_TEMP": "55",
    "DCGM_FI_DEV_SM_CLOCK": "1980",
    "DCGM_FI_PROF_SM_ACTIVE": "0.46",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "0.11",
    "DCGM_FI_PROF_DRAM_ACTIVE": "0.3",
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": "4",
    "DCGM_FI_DEV_XID_ERRORS": "0",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "NaN",
}


class FakePrometheus:
    """A ThreadingHTTPServer answering /api/v1/query(_range) from `scrapes`."""

    def __init__(self, token: str | None = None, mode: str = "ok") -> None:
        self.token = token
        self.mode = mode
        self.t0 = float(int(time.time()) - 40)  # the first scrape, in the recent past
        self.scrapes: list[tuple[float, dict[str, str]]] = [(self.t0, VALUES),
                                                            (self.t0 + 15, VALUES)]
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.release = threading.Event()
        self.third_request = threading.Event()
        self.before: Callable[[int], None] | None = None  # called with each request's number
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _matrix(self, start: float, end: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        for labels in SERIES_LABELS:
            for name in VALUES:
                points = [[ts, values[name]] for ts, values in self.scrapes if start <= ts <= end]
                if points:
                    metric = dict(labels, __name__=name)
                    result.append({"metric": metric, "values": points})
        return result

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(request.path)
        params = urllib.parse.parse_qs(parts.query)
        self.requests.append((parts.path, params, dict(request.headers)))
        if len(self.requests) >= 3:
            self.third_request.set()
        if self.before is not None:
            self.before(len(self.requests))
        if self.mode == "slow":
            self.release.wait(10)
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(request, 401, {"status": "error", "error": "unauthorized"})
        if self.mode == "html":
            request.send_response(200)
            request.send_header("Content-Type", "text/html")
            request.end_headers()
            request.wfile.write(b"<html>grafana login</html>")
            return
        if self.mode == "bad_query":
            return self._send(request, 400, {"status": "error", "errorType": "bad_data",
                                             "error": "parse error at char 3"})
        if parts.path == "/api/v1/query":
            query = params["query"][0]
            if query.startswith('{__name__=~"node_'):  # no node-exporter behind this one
                return self._send(request, 200, {"status": "success",
                                                 "data": {"resultType": "matrix", "result": []}})
            match = re.fullmatch(r'(\{__name__=~"DCGM_FI_DEV_GPU_UTIL\|.*\})\[(\d+)ms\]', query)
            assert match, query
            now = float(params["time"][0])
            matrix = self._matrix(now - int(match.group(2)) / 1000, now)
            return self._send(request, 200, {"status": "success",
                                             "data": {"resultType": "matrix", "result": matrix}})
        if parts.path == "/api/v1/query_range":
            start, end = float(params["start"][0]), float(params["end"][0])
            return self._send(request, 200, {"status": "success", "data": {
                "resultType": "matrix", "result": self._matrix(start, end)}})
        self._send(request, 404, {"status": "error", "error": "not found"})

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, code: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        try:
            request.send_response(code)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client under test gave up first (the timeout case): expected


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    yield server
    server.close()


def _samples(batches: Iterable[Any]) -> list[dict[str, Any]]:
    return [s for b in batches for s in b.samples]


def test_poll_maps_dcgm_fields_and_label_variants(prom: FakePrometheus) -> None:
    source = PrometheusSource(prom.url)
    samples = _samples(source.poll())
    keys = sorted((s["host"], s["gpu"]) for s in samples)
    assert keys == [("10.0.0.9", 5), ("node-a", 0), ("node-a/gi3", 2), ("node-b", 1)]
    assert all(s["ts"] == prom.t0 + 15 for s in samples)  # first poll: only the newest scrape
    sample = next(s for s in samples if s["host"] == "node-a")
    assert sample["util_gpu"] == 62 and sample["power_w"] == 300.5 and sample["temp_c"] == 55
    assert sample["mem_used"] == 1024 * 1024 * 1024
    assert sample["mem_total"] == (1024 + 80000) * 1024 * 1024
    assert sample["sm_active"] == pytest.approx(46.0)
    assert sample["tensor_active"] == pytest.approx(11.0)
    assert sample["dram_active"] == pytest.approx(30.0)
    assert sample["clock_event_reasons"] == "sw_power_cap"
    assert sample["util_mem"] is None  # NaN from the exporter
    assert "4 GPU(s)" in source.status


def test_each_scrape_is_emitted_once_and_xid_changes_become_events(prom: FakePrometheus) -> None:
    source = PrometheusSource(prom.url)
    source.poll()
    assert source.poll() == []  # nothing new was scraped
    scraped = round(time.time(), 3)  # a new scrape, visible right after it was taken
    prom.scrapes.append((scraped, {**VALUES, "DCGM_FI_DEV_XID_ERRORS": "79"}))
    batches = source.poll()
    assert {s["ts"] for s in _samples(batches)} == {scraped}
    events = [e for b in batches for e in b.events]
    assert len(events) == 4 and all(e.kind == "xid" and e.code == 79 for e in events)
    assert "fallen off the bus" in events[0].message


def test_history_is_raw_scrapes(prom: FakePrometheus) -> None:
    source = PrometheusSource(prom.url)
    t0 = prom.t0
    samples = _samples(source.history_batches(t0 - 10, t0 + 20))
    assert sorted({s["ts"] for s in samples}) == [t0, t0 + 15]
    assert len(samples) == 8
    path, params, _ = prom.requests[-1]  # raw scrapes with their own timestamps, not steps
    assert path == "/api/v1/query" and params["query"][0].endswith("[30000ms]")
    assert float(params["time"][0]) == t0 + 20


def test_bearer_token_and_basic_auth() -> None:
    server = FakePrometheus(token="s3cret")
    try:
        assert _samples(PrometheusSource(server.url, token="s3cret").poll())
        with pytest.raises(PrometheusError, match="refused our credentials"):
            PrometheusSource(server.url, token="wrong").poll()
        with pytest.raises(PrometheusError, match="HTTP 401"):
            PrometheusSource(server.url.replace("http://", "http://bob:pw@")).poll()
        basic = server.requests[-1][2]["Authorization"]
        assert basic == "Basic Ym9iOnB3"  # bob:pw, taken from the URL
    finally:
        server.close()


def test_unreachable_server_is_one_sentence() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = PrometheusSource(f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(PrometheusError, match=f"cannot reach Prometheus at http://127.0.0.1:{port}"):
        next(iter(source.batches()))


@pytest.mark.parametrize(("mode", "words"), [
    ("html", "does not speak the Prometheus HTTP API"),
    ("bad_query", "HTTP 400: parse error"),
])
def test_wrong_answers_are_one_sentence(mode: str, words: str) -> None:
    server = FakePrometheus(mode=mode)
    try:
        with pytest.raises(PrometheusError, match=words):
            PrometheusSource(server.url).poll()
    finally:
        server.close()


def test_timeout_is_one_sentence() -> None:
    server = FakePrometheus(mode="slow")
    try:
        with pytest.raises(PrometheusError, match="did not answer within 0.3 s"):
            PrometheusSource(server.url, timeout_s=0.3).poll()
    finally:
        server.close()


def test_not_a_url() -> None:
    with pytest.raises(PrometheusError, match="not an http"):
        PrometheusSource("ftp://example")


def test_later_failures_are_retried_not_raised(prom: FakePrometheus) -> None:
    source = PrometheusSource(prom.url, interval_s=0.01)
    stop = threading.Event()
    def stop_after_three_requests() -> None:
        prom.third_request.wait(10)
        stop.set()

    stopper = threading.Thread(target=stop_after_three_requests)
    stopper.start()
    seen = 0
    for batch in source.batches(stop):
        seen += len(batch.samples)
        prom.mode = "html"  # the server breaks after the first answer
    stopper.join()
    assert seen == 4 and "retrying" in source.status
    assert len(prom.requests) >= 3


def test_polling_reads_only_the_time_since_the_last_read(prom: FakePrometheus) -> None:
    """Work per poll follows the new points, not the lookback window."""
    now = [prom.t0 + 19]
    source = PrometheusSource(prom.url, clock=lambda: now[0])
    assert _samples(source.poll())
    first = source.points_read  # both scrapes of the 60 s lookback
    now[0] += 5
    prom.scrapes.append((prom.t0 + 22, VALUES))
    assert {s["ts"] for s in _samples(source.poll())} == {prom.t0 + 22}
    windows = [p["query"][0].rsplit("[", 1)[1] for path, p, _ in prom.requests
               if "DCGM" in p["query"][0]]
    assert windows == ["60000ms]", "8000ms]"]  # 5 s since the last read + 3 s overlap
    assert source.points_read == len(VALUES) * len(SERIES_LABELS) < first


def test_an_outage_is_one_alert_each_way_and_the_fleet_says_so(prom: FakePrometheus) -> None:
    def script(n: int) -> None:  # answers, fails 4 polls, answers with a new scrape
        prom.mode = "html" if 3 <= n <= 6 else "ok"
        if n == 7:
            prom.scrapes.append((round(time.time(), 3), VALUES))

    prom.before = script
    alerts: list[Alert] = []
    back = threading.Event()

    def on_alerts(new: list[Alert]) -> None:
        alerts.extend(new)
        if any(a.detector == "telemetry_outage" and a.severity == "info" for a in new):
            back.set()

    source = PrometheusSource(prom.url, interval_s=0.01, fail_first=False)
    pipeline = TelemetryPipeline(source, on_alerts=on_alerts)
    seen_down: list[str | None] = []
    pipeline.on_batch = lambda batch: seen_down.append(pipeline.fleet.outage)
    pipeline.start()
    try:
        assert back.wait(10), alerts
    finally:
        pipeline.stop()
    outage = [a for a in alerts if a.detector == "telemetry_outage"]
    assert [a.severity for a in outage] == ["warning", "info"]
    assert "unreachable since" in outage[0].message and outage[0].run == f"Prometheus at {prom.url}"
    assert outage[0].evidence["reason"].endswith("(the answer is not JSON)")
    assert "answers again" in outage[1].message and "no GPU samples from" in outage[1].message
    assert any(seen_down) and seen_down[-1] is None and pipeline.outage is None
    assert pipeline.monitor.source == "prometheus"


def test_a_recording_from_prometheus_keeps_profiling_fields_pods_and_its_source(
        prom: FakePrometheus, tmp_path: Path) -> None:
    labels = SERIES_LABELS[0]
    SERIES_LABELS[0] = dict(labels, pod="train-7c9fd", namespace="ml", container="trainer")
    try:
        batches = PrometheusSource(prom.url).poll()
    finally:
        SERIES_LABELS[0] = labels
    writer = RecordingWriter(tmp_path / "rec", source="prometheus", origin=prom.url)
    for batch in batches:
        writer.write(batch)
    writer.close()
    replay = ReplaySource(tmp_path / "rec", speed=0)
    assert replay.kind == "prometheus"
    replayed = list(replay.batches())
    samples = {(s["host"], s["gpu"]): s for b in replayed for s in b.samples}
    assert len(samples) == 4
    node_a = samples[("node-a", 0)]
    assert node_a["sm_active"] == pytest.approx(46) and node_a["tensor_active"] == pytest.approx(11)
    assert node_a["dram_active"] == pytest.approx(30)
    rows = [r for b in replayed for r in b.processes]
    assert [(r["host"], r["pid"], r["job"]) for r in rows] == [
        ("node-a", None, "pod/ml/train-7c9fd/trainer")]


# -- the real Prometheus ----------------------------------------------------------------------

EXPORTER_TEXT = """# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-053f7d59",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-node"} 62
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-1111",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-node",GPU_I_PROFILE="3g.40gb",GPU_I_ID="1"} 16
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-053f7d59",device="nvidia0",Hostname="h100-node"} 7134
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-053f7d59",device="nvidia0",Hostname="h100-node"} 74307
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-053f7d59",device="nvidia0",Hostname="h100-node"} 421.5
# TYPE DCGM_FI_PROF_SM_ACTIVE gauge
DCGM_FI_PROF_SM_ACTIVE{gpu="0",UUID="GPU-053f7d59",device="nvidia0",Hostname="h100-node"} 0.46
# TYPE DCGM_FI_PROF_PIPE_TENSOR_ACTIVE gauge
DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{gpu="0",UUID="GPU-053f7d59",device="nvidia0",Hostname="h100-node"} 0.11
"""


@pytest.mark.slow
def test_against_a_real_prometheus_scraping_dcgm_exporter_text(tmp_path: Path) -> None:
    exporter = serve_metrics(lambda: EXPORTER_TEXT)
    server = PrometheusServer(tmp_path, [f"127.0.0.1:{exporter.server_port}"]).start()
    try:
        source = PrometheusSource(server.url, timeout_s=2)

        def both_gpus() -> list[dict[str, Any]]:
            samples = _samples(source.poll())
            return samples if {s["gpu"] for s in samples} == {0, 1} else []

        samples = wait_until(both_gpus, 15)
        assert isinstance(samples, list) and samples, "no samples of both GPUs came through"
        gpu0 = next(s for s in samples if s["gpu"] == 0)
        assert gpu0["host"] == "h100-node" and gpu0["util_gpu"] == 62
        assert gpu0["mem_used"] == 7134 * 1024 * 1024
        assert gpu0["mem_total"] == (7134 + 74307) * 1024 * 1024
        assert gpu0["power_w"] == 421.5
        assert gpu0["sm_active"] == pytest.approx(46.0)
        assert gpu0["tensor_active"] == pytest.approx(11.0)
        mig = next(s for s in samples if s["gpu"] == 1)
        assert mig["host"] == "h100-node/gi1" and mig["util_gpu"] == 16
        now = time.time()
        history = _samples(source.history_batches(now - 30, now))
        assert any(s["gpu"] == 0 and s["util_gpu"] == 62 for s in history)
    finally:
        server.stop()
        exporter.shutdown()
        exporter.server_close()


def test_the_apps_status_line_says_the_outage(tmp_path: Path) -> None:
    from cockpit.monitor.backend import Backend, BackendOptions

    server = FakePrometheus(mode="html")  # answering, but not as Prometheus: down for us
    down = threading.Event()
    server.before = lambda n: down.set() if n >= 2 else None
    backend = Backend(BackendOptions(db_path=tmp_path / "h.duckdb", gpu="prometheus",
                                     gpu_url=server.url))
    try:
        backend.start()
        assert down.wait(10)
        gpus, outage = backend.fleet()
        text = backend.gpu_status_text()
    finally:
        backend.close()
        server.close()
    assert text.startswith(f"GPU: Prometheus at {server.url} unreachable since ")
    assert outage is not None and "unreachable since" in outage and gpus == []
