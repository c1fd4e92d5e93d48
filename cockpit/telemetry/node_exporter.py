"""Host CPU and disk load from node-exporter, where the Prometheus that scrapes dcgm-exporter
scrapes it too: what tells a starved input pipeline from a job waiting on I/O in a cluster.

Cluster telemetry has no training PID whose CPU could be sampled, so the busiest CPU core of
the GPU's host stands in (`node_cpu_seconds_total{mode="idle"}` per core), with the busiest
disk's share of time busy (`node_disk_io_time_seconds_total`). Both are counters: a load is
the rate between the previous point of a series and its newest one. Hosts are named by the
`nodename`/`node`/`Hostname`/`hostname`/`host` label, else the scrape `instance` without its
port, shortened like dcgm-exporter's host names (node-a.cluster.local -> node-a).
"""

from __future__ import annotations

import re
from typing import Any

from cockpit.telemetry.rows import HostLoad
from cockpit.telemetry.workload import short_host

CPU_IDLE = "node_cpu_seconds_total"
DISK_BUSY = "node_disk_io_time_seconds_total"
SELECTOR = f'{{__name__=~"{CPU_IDLE}|{DISK_BUSY}", mode=~"idle|"}}'
HOST_LABELS = ("nodename", "node", "Hostname", "hostname", "host")


def host_of(labels: dict[str, str]) -> str:
    for name in HOST_LABELS:
        if labels.get(name):
            return short_host(labels[name])
    return short_host(re.sub(r":\d+$", "", labels.get("instance", "")))


class NodeLoadReader:
    """Turns node-exporter counter points into per-host loads, poll after poll."""

    def __init__(self, reprobe_polls: int = 12, first_probes: int = 6) -> None:
        self.present: bool | None = None  # None: not asked yet
        self.reprobe_polls = reprobe_polls
        self._since_probe = 0
        self._first_probes = first_probes  # a fresh Prometheus may not have scraped it yet
        self._last: dict[tuple[str, str, str], tuple[float, float]] = {}  # series -> (ts, value)

    def wanted(self) -> bool:
        """Query every poll once found; otherwise only now and then (it may appear later)."""
        if self.present:
            return True
        if self._first_probes > 0:
            self._first_probes -= 1
            return True
        self._since_probe += 1
        if self._since_probe >= self.reprobe_polls:
            self._since_probe = 0
            return True
        return False

    def update(self, series: list[dict[str, Any]]) -> dict[str, HostLoad]:
        rates: dict[str, dict[str, list[float]]] = {}
        newest: dict[str, float] = {}
        for entry in series:
            labels = entry.get("metric") or {}
            name = labels.get("__name__")
            if name not in (CPU_IDLE, DISK_BUSY) or (name == CPU_IDLE and labels.get("mode") != "idle"):
                continue
            points = _points(entry.get("values") or [])
            if not points:
                continue
            host = host_of(labels)
            key = (host, name, labels.get("cpu") or labels.get("device") or "")
            first = self._last.get(key) or points[0]
            last = points[-1]
            self._last[key] = last
            if last[0] <= first[0]:
                continue
            share = (last[1] - first[1]) / (last[0] - first[0])  # seconds per second
            rates.setdefault(host, {}).setdefault(name, []).append(share)
            newest[host] = max(newest.get(host, last[0]), last[0])
        self.present = bool(series) or bool(self.present)
        out = {}
        for host, by_name in rates.items():
            idle = by_name.get(CPU_IDLE, [])
            busy = [min(100.0, max(0.0, 100.0 * (1.0 - share))) for share in idle]
            disks = by_name.get(DISK_BUSY, [])
            out[host] = HostLoad(
                newest[host], max(busy) if busy else None,
                sum(busy) / len(busy) if busy else None,
                min(100.0, 100.0 * max(disks)) if disks else None)
        return out


def _points(values: list[Any]) -> list[tuple[float, float]]:
    out = []
    for point in values:
        try:
            out.append((float(point[0]), float(point[1])))
        except (TypeError, ValueError, IndexError):
            continue
    return out
