"""`cockpit demo`'s Qt-free half: the throwaway copy of the sample runs and the run replayed
line by line, which the live engine and detectors catch going bad."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from cockpit.demo import DemoError, LineReplayer, pick_live_run, prepare

H100 = Path(__file__).parents[1] / "fixtures" / "h100-runs"


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """A small sample_runs/: a healthy run, one that goes NaN, and a GPU recording."""
    root = tmp_path / "sample_runs"
    shutil.copytree(H100 / "healthy_bf16", root / "healthy")
    shutil.copytree(H100 / "fp16_adam_eps_nan", root / "nan_collapse")
    (root / "gpu_replay").mkdir()
    for name in ("gpu_trace.jsonl", "gpu_procs.jsonl", "process.json"):
        shutil.copy(H100 / "healthy_bf16" / name, root / "gpu_replay" / name)
    return root


def test_prepare_copies_everything_but_the_live_run_and_never_writes_the_samples(
    samples: Path, tmp_path: Path
) -> None:
    before = sorted(p.name for p in samples.rglob("*"))
    plan = prepare(samples, workdir=tmp_path / "work")
    assert plan.live_source.name == "nan_collapse"  # its name says it goes bad
    assert sorted(p.name for p in plan.root.iterdir()) == ["healthy"]
    assert plan.gpu_replay == samples / "gpu_replay"
    assert not plan.db_path.exists()
    assert sorted(p.name for p in samples.rglob("*")) == before
    plan.cleanup()
    assert (tmp_path / "work").exists()  # a given workdir belongs to the caller


def test_pick_live_run_by_name_or_says_what_is_missing(samples: Path) -> None:
    assert pick_live_run(samples, "healthy").name == "healthy"
    with pytest.raises(DemoError, match="no run named 'nope'"):
        pick_live_run(samples, "nope")


def test_replayer_writes_lines_with_fresh_times_and_keeps_nan_tokens(
    samples: Path, tmp_path: Path
) -> None:
    target = tmp_path / "live"
    replayer = LineReplayer(samples / "nan_collapse", target, duration_s=0.3, tick_s=0.01)
    started = time.time()
    replayer.start()
    assert replayer.done.wait(10)
    lines = (target / "metrics.jsonl").read_text().splitlines()
    assert (
        len(lines)
        == 610
        == replayer.lines_written - len((target / "train.log").read_text().splitlines())
    )
    assert "NaN" in lines[5]  # the bare token survives
    first = json.loads(lines[0])
    assert first["time"] >= started - 1  # wall-clock fields are the moment of writing
    assert not (target / "gpu_trace.jsonl").exists()  # telemetry is replayed separately
    assert not list(target.glob("events.out.tfevents.*"))  # would reveal the end at once


@pytest.mark.slow
def test_the_live_engine_catches_the_replayed_run_going_bad(samples: Path, tmp_path: Path) -> None:
    from cockpit.cli.ingest_cmds import make_health
    from cockpit.monitor.engine import IngestEngine
    from cockpit.store.writer import StoreWriter

    plan = prepare(samples, workdir=tmp_path / "work")
    caught = threading.Event()
    got = []

    def on_alerts(alerts: list) -> None:
        for a in alerts:
            if a.run == plan.live_name and a.severity == "critical":
                got.append(a)
                caught.set()

    with StoreWriter(plan.db_path) as writer:
        engine = IngestEngine(
            writer,
            [plan.root],
            health=make_health(),
            on_alerts=on_alerts,
            poll_interval=0.05,
            rescan_interval=0.1,
        )
        replayer = LineReplayer(plan.live_source, plan.root / plan.live_name, duration_s=3.0)
        engine.start()
        replayer.start()
        try:
            assert caught.wait(30), "no critical alert for the live run"
        finally:
            replayer.stop()
            engine.stop()
    assert got[0].detector == "nan" and got[0].step is not None and got[0].step <= 5
