"""FleetView: the state of every GPU now and the GPU-hours each one held and wasted."""

from __future__ import annotations

import pytest

from cockpit.telemetry.fleet import FleetView
from cockpit.telemetry.rows import SourceOutage, TelemetryBatch, new_process_row, new_sample

GIB = 1024**3


def _feed(view: FleetView, host: str, gpu: int, start: float, seconds: int, util: float,
          job: str | None = None, run_id: str | None = None, mem: int = 0, every: float = 1.0) -> None:
    for i in range(int(seconds / every)):
        ts = start + i * every
        batch = TelemetryBatch(ts=ts)
        batch.process_ticks[(host, gpu)] = {}
        if job is not None:
            batch.processes.append(new_process_row(ts, host, gpu, None, mem, None, run_id=run_id,
                                                   job=job))
        sample = new_sample(ts, host, gpu)
        sample.update(util_gpu=util, mem_used=mem, mem_total=80 * GIB)
        batch.samples.append(sample)
        view.observe(batch)


def test_states_holders_and_wasted_gpu_hours() -> None:
    view = FleetView(clock=lambda: 1000.0 + 3600)
    view.set_run_names({"r1": "train-starved"})
    _feed(view, "node-a", 0, 1000, 3600, 12, "pod/ml/train-starved-7c9fd/trainer", "r1", 20 * GIB)
    _feed(view, "node-a", 1, 1000, 3600, 80, "pod/ml/train-healthy-0/trainer", None, 20 * GIB)
    _feed(view, "node-b", 0, 1000, 3600, 0)  # free: nobody holds it, no memory in use
    _feed(view, "node-b", 1, 1000, 3600, 0, mem=30 * GIB)  # memory held, nothing runs
    gpus = {(g.host, g.gpu): g for g in view.snapshot()}
    starved, busy, free, stuck = (gpus[("node-a", 0)], gpus[("node-a", 1)], gpus[("node-b", 0)],
                                  gpus[("node-b", 1)])
    assert (starved.state, busy.state, free.state, stuck.state) == ("starved", "busy", "idle", "idle")
    assert starved.run == "train-starved" and starved.holder == "ml/train-starved-7c9fd"
    assert busy.run is None and busy.holder == "ml/train-healthy-0"
    assert starved.held_gpu_hours == pytest.approx(1.0, abs=0.01)
    assert starved.wasted_gpu_hours == pytest.approx(1.0, abs=0.01)
    assert busy.held_gpu_hours == pytest.approx(1.0, abs=0.01) and busy.wasted_gpu_hours == 0
    assert free.held_gpu_hours == 0 and free.wasted_gpu_hours == 0  # free capacity is not waste
    assert stuck.wasted_gpu_hours == pytest.approx(1.0, abs=0.01)
    assert {g.wasting for g in gpus.values()} == {True, False}


def test_a_silent_gpu_reads_no_data_and_a_gap_is_not_counted() -> None:
    view = FleetView(clock=lambda: 2000.0)
    job = "hpc_job/4242"
    _feed(view, "n", 0, 1000, 600, 10, job, mem=GIB)
    _feed(view, "n", 0, 1900, 60, 10, job, mem=GIB)  # 300 s without a sample in between
    (gpu,) = view.snapshot(now=1960.0)
    assert gpu.held_gpu_hours == pytest.approx((599 + 59) / 3600, abs=1e-3)
    assert gpu.state == "starved"
    (later,) = view.snapshot(now=2100.0)
    assert later.state == "no data" and later.last_ts == pytest.approx(1959)


def test_the_source_outage_is_a_fleet_state() -> None:
    view = FleetView()
    outage = SourceOutage("Prometheus at http://p:9090", 1000.0, "connection refused")
    view.observe(TelemetryBatch(ts=1000.0, outages=[outage]))
    assert view.outage is not None and "unreachable since" in view.outage
    ended = SourceOutage(outage.source, 1000.0, outage.reason, until=1060.0)
    view.observe(TelemetryBatch(ts=1060.0, outages=[ended]))
    assert view.outage is None


def test_run_evidence_for_the_lifecycle_decision() -> None:
    view = FleetView(clock=lambda: 1600.0)
    _feed(view, "node-a", 0, 1000, 600, 1, "pod/ml/train-7c9fd/trainer", "r1", 30 * GIB)
    _feed(view, "node-a", 1, 1000, 600, 90, "pod/ml/train-7c9fd/trainer", "r1", 30 * GIB)
    evidence = view.run_evidence("r1")
    assert evidence is not None
    assert evidence.gpus == (("node-a", 0), ("node-a", 1))
    assert evidence.util_gpu == pytest.approx(45.5) and evidence.mem_used == 60 * GIB
    assert evidence.gpu_hours == pytest.approx(2 * 599 / 3600)
    assert evidence.wasted_gpu_hours == pytest.approx(599 / 3600)  # the idle one of its two
    assert view.run_evidence("nobody") is None
