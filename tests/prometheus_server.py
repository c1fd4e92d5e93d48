"""A real Prometheus (Debian's `prometheus` package) on 127.0.0.1 for tests and benchmarks.

Started with a temp config and data dir and a free port; `stop()` and `start()` again keep
both, as a restarted server would. Tests skip with the exact reason when the binary is absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

SKIP_REASON = "no prometheus binary: apt-get install prometheus (packaging/apt/prometheus.txt)"


def need_prometheus() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip(SKIP_REASON)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: object, timeout: float, pause_s: float = 0.1) -> object:
    """Poll `check()` (an external process: there is nothing to wait on) until truthy."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        got = check()  # type: ignore[operator]
        if got:
            return got
        pause.wait(pause_s)
    return None


class PrometheusServer:
    def __init__(self, folder: Path, targets: list[str], scrape_interval: str = "1s",
                 binary: str | None = None, labelled: dict[str, dict[str, str]] | None = None,
                 ) -> None:
        """`targets` are scraped as they are; `labelled` maps more targets to the labels a
        user's relabeling would give them (a node-exporter's `nodename`, say)."""
        self.binary = binary or need_prometheus()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "prometheus.yml"
        listed = ", ".join(f"'{t}'" for t in targets)
        groups = [f"{{targets: [{listed}]}}"]
        for target, labels in (labelled or {}).items():
            pairs = ", ".join(f"{k}: '{v}'" for k, v in labels.items())
            groups.append(f"{{targets: ['{target}'], labels: {{{pairs}}}}}")
        self.config.write_text(
            f"global: {{scrape_interval: {scrape_interval}, scrape_timeout: {scrape_interval}}}\n"
            "scrape_configs:\n"
            "  - job_name: dcgm\n"
            f"    static_configs: [{', '.join(groups)}]\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "prometheus.log"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"--config.file={self.config}",
                 f"--storage.tsdb.path={self.folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=log,
            )
        if not wait_until(self.ready, timeout):
            self.stop()
            raise RuntimeError(f"prometheus did not become ready: {self.log.read_text()[-2000:]}")
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
