"""Remote tailing: 20 runs on 4 SSH hosts, each run appending 10 JSONL lines a second.

Targets (issue 14): append-to-queryable p95 <= 1 s, Cockpit's CPU <= 5 % of one core, one
SSH connection per host. The 4 hosts are 4 real sshd instances on 127.0.0.1 (4 ports, each
with its own ssh_config alias, tests/sshd_server.py); the reference is the same 20 runs
tailed from local folders by the same engine in the same process.

How it is measured: writer threads (the benchmark's own) append one line per run every
100 ms and note when; a probe thread asks the store every 50 ms for each run's newest step (runs.last_step)
and notes when each step first became queryable; latency = queryable - appended. Cockpit's
CPU is the CPU time of Cockpit's own threads (engine, writer, SSH reader and poll threads,
by name) plus its `ssh` client processes, over the wall time; the remote side (sshd and the
helper, which would run on the GPU servers) is reported beside it. Connections are counted
as ESTABLISHED sockets on each sshd's port.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.run_all import row as _row
from cockpit.monitor.engine import IngestEngine
from cockpit.sources.location import close_sources
from cockpit.store.writer import StoreWriter
from tests.sshd_server import SshServer, sshd_unavailable

HOSTS = 4
RUNS_PER_HOST = 5
LINES_PER_S = 10.0
TARGET_P95_S = 1.0
TARGET_CPU_PCT = 5.0



def _cockpit_cpu(proc: psutil.Process) -> dict[str, float]:
    """CPU seconds by part: the store writer thread, the read path (engine thread, SSH reader
    and poll threads, the local ssh clients) and DuckDB's own worker threads (not Python
    threads: they run the writer's and the probe's queries). The benchmark's appender and
    probe threads are not counted."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    parts = {"writer": 0.0, "read": 0.0, "duckdb": 0.0}
    for t in proc.threads():
        name = names.get(t.id)
        cpu = t.user_time + t.system_time
        if name == "cockpit-writer":
            parts["writer"] += cpu
        elif name is not None and name.startswith("cockpit-"):
            parts["read"] += cpu
        elif name is None and t.id != proc.pid:
            parts["duckdb"] += cpu
    for child in proc.children(recursive=True):
        try:
            times = child.cpu_times()
            parts["read"] += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return parts


def _remote_cpu(servers: list[SshServer]) -> float:
    total = 0.0
    for server in servers:
        for pid in server.session_pids():
            try:
                p = psutil.Process(pid)
                for q in [p, *p.children(recursive=True)]:
                    times = q.cpu_times()
                    total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
    return total


def _tail(roots: list[str], run_dirs: list[Path], db: Path, seconds: float,
          servers: list[SshServer]) -> dict[str, Any]:
    proc = psutil.Process()
    appended: dict[tuple[int, int], float] = {}
    seen: dict[tuple[int, int], float] = {}
    stop = threading.Event()
    for d in run_dirs:
        (d / "metrics.jsonl").write_text(json.dumps({"step": 0, "loss": 1.0}) + "\n")
    with StoreWriter(db) as writer:
        engine = IngestEngine(writer, roots, poll_interval=0.25)
        engine.start()
        names = {}

        def append(i: int, d: Path) -> None:
            step = 1
            with open(d / "metrics.jsonl", "a") as f:
                nxt = time.monotonic()
                while not stop.is_set():
                    f.write(json.dumps({"step": step, "loss": 1.0 / step}) + "\n")
                    f.flush()
                    appended[(i, step)] = time.monotonic()
                    step += 1
                    nxt += 1.0 / LINES_PER_S
                    stop.wait(max(0.0, nxt - time.monotonic()))

        def probe() -> None:
            cur = writer.cursor()
            while not stop.is_set():
                now = time.monotonic()
                # runs.last_step is committed with the points: a cheap probe (a scan of
                # metrics 50 times a second would load DuckDB more than Cockpit does).
                for name, top in cur.execute("SELECT name, last_step FROM runs").fetchall():
                    i = names.get(name)
                    if i is None or top is None:
                        continue
                    for step in range(int(top), 0, -1):
                        if (i, step) in seen:
                            break
                        seen[(i, step)] = now
                stop.wait(0.05)
            cur.close()

        for i, d in enumerate(run_dirs):
            names[d.name] = i
        deadline = time.monotonic() + 15
        while len(engine.runs) < len(run_dirs) and time.monotonic() < deadline:
            time.sleep(0.05)
        threads = [threading.Thread(target=append, args=(i, d), daemon=True)
                   for i, d in enumerate(run_dirs)]
        threads.append(threading.Thread(target=probe, daemon=True))
        cpu0, remote0, t0 = _cockpit_cpu(proc), _remote_cpu(servers), time.monotonic()
        for t in threads:
            t.start()
        time.sleep(seconds)
        cpu1, remote1, t1 = _cockpit_cpu(proc), _remote_cpu(servers), time.monotonic()
        connections = [s.connections() for s in servers]
        stop.set()
        for t in threads:
            t.join(5)
        engine.stop()
    lat = sorted(seen[k] - appended[k] for k in seen if k in appended)
    missing = sum(1 for k in appended if k not in seen and appended[k] < t1 - 2.0)
    pct = {k: 100.0 * (cpu1[k] - cpu0[k]) / (t1 - t0) for k in cpu0}
    return {
        "p50": statistics.median(lat) if lat else None,
        "p95": lat[int(0.95 * (len(lat) - 1))] if lat else None,
        "n": len(lat), "missing": missing,
        "cpu_pct": sum(pct.values()), "read_pct": pct["read"], "writer_pct": pct["writer"],
        "duckdb_pct": pct["duckdb"],
        "remote_cpu_pct": 100.0 * (remote1 - remote0) / (t1 - t0),
        "connections": connections,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    why = sshd_unavailable()
    if why:
        return [_row("remote tailing", None, note=f"skipped: {why}")]
    seconds = 10.0 if quick else 30.0
    work = Path(tempfile.mkdtemp(prefix="cockpit-bench-remote-"))
    servers = [SshServer(work / f"sshd{k}", alias=f"gpuhost{k}") for k in range(HOSTS)]
    config = work / "ssh_config"
    config.write_text("\n".join(s.ssh_config.read_text() for s in servers))
    os.environ["COCKPIT_SSH_CONFIG"] = str(config)
    run_dirs: list[Path] = []
    roots = []
    for k, server in enumerate(servers):
        server.start()
        for j in range(RUNS_PER_HOST):
            d = work / f"host{k}" / f"run{k}_{j}"
            d.mkdir(parents=True)
            run_dirs.append(d)
        roots.append(f"ssh://{server.alias}{work / f'host{k}'}")
    try:
        remote = _tail(roots, run_dirs, work / "remote.duckdb", seconds, servers)
        close_sources()
        for d in run_dirs:
            (d / "metrics.jsonl").unlink()
        local = _tail([str(work / f"host{k}") for k in range(HOSTS)], run_dirs,
                      work / "local.duckdb", seconds, [])
    finally:
        close_sources()
        for server in servers:
            server.stop()
    n = len(run_dirs)
    return [
        _row(f"append-to-queryable p95, {n} runs on {HOSTS} ssh hosts at {LINES_PER_S:g} lines/s (s)",
             round(remote["p95"], 3), round(local["p95"], 3), TARGET_P95_S,
             f"p50 {remote['p50']:.3f} s (local {local['p50']:.3f} s); {remote['n']} lines seen, "
             f"{remote['missing']} never seen"),
        _row("Cockpit CPU while tailing them (% of one core)", round(remote["cpu_pct"], 2),
             round(local["cpu_pct"], 2), TARGET_CPU_PCT,
             f"store writer {remote['writer_pct']:.1f} + DuckDB workers "
             f"{remote['duckdb_pct']:.1f} (local: {local['writer_pct']:.1f} + "
             f"{local['duckdb_pct']:.1f}); the remote side (sshd + helper, on the GPU servers) "
             f"{remote['remote_cpu_pct']:.2f}"),
        _row("of which the read path: engine + SSH threads + ssh clients (% of one core)",
             round(remote["read_pct"], 2), round(local["read_pct"], 2), None,
             "what reading over SSH adds; the rest is the store's, the same for local runs"),
        _row("SSH connections per host", max(remote["connections"]), None, 1,
             f"ESTABLISHED per sshd: {remote['connections']}"),
    ]


if __name__ == "__main__":
    from benchmarks.run_all import print_table

    print_table(run(quick=bool(os.environ.get("QUICK"))))
