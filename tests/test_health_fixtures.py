"""Ground truth on real runs: the H100 recordings (README table) and the public healthy logs.

The H100 metrics are read straight from metrics.jsonl (json.loads accepts bare NaN) so the
detectors are judged on their own; the same runs also go through import + post-hoc replay,
the path `cockpit check` takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cockpit.health.monitor import HealthMonitor
from cockpit.health.posthoc import stored_run
from cockpit.model.alert import Alert
from cockpit.model.records import RunEvent
from cockpit.monitor.check import check_stored_run

FIXTURES = Path(__file__).parent / "fixtures"
H100 = FIXTURES / "h100-runs"
PUBLIC = FIXTURES / "public-healthy"
PUBLIC_RUNS = sorted(p.name for p in PUBLIC.iterdir() if p.is_dir())


def h100_alerts(name: str, events: list[RunEvent] | None = None) -> list[Alert]:
    keys: list[str] = []
    steps: list[int | None] = []
    ts: list[float | None] = []
    values: list[float] = []
    with open(H100 / name / "metrics.jsonl") as fh:
        for line in fh:
            rec = json.loads(line)
            for key, value in sorted(rec.items()):
                if key in ("step", "time"):
                    continue
                keys.append(key)
                steps.append(rec["step"])
                ts.append(rec["time"])
                values.append(float(value))
    mon = HealthMonitor()
    alerts = mon.observe(name, name, keys, steps, ts, values)
    for event in events or []:
        alerts += mon.observe_event(name, name, event)
    return alerts


def loud(alerts: list[Alert]) -> list[tuple[str, int | None, str]]:
    return [(a.detector, a.step, a.severity) for a in alerts if a.severity != "info"]


def test_fp16_adam_eps_nan_is_critical_at_step_1() -> None:
    alerts = h100_alerts("fp16_adam_eps_nan")
    assert loud(alerts) == [("nan", 1, "critical")]
    nan = alerts[0]
    assert nan.metric == "loss" and nan.evidence["also_non_finite"] == {"grad_norm": "nan"}


def test_lr_stuck_at_zero_within_50_steps_of_step_300() -> None:
    alerts = h100_alerts("lr_stuck_at_zero")
    assert [d for d, _, _ in loud(alerts)] == ["lr_zero"]
    step = alerts[0].step
    assert step is not None and 300 <= step <= 350


def test_memory_leak_warns_early_and_the_oom_is_a_crash() -> None:
    oom = RunEvent("error", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
                   "256.00 MiB.", 290, None)
    alerts = h100_alerts("memory_leak_oom", [oom])
    assert [(d, s) for d, _, s in loud(alerts)] == [("memory_pressure", "warning"),
                                                    ("crash", "critical")]
    memory, crash = (a for a in alerts if a.severity != "info")
    assert memory.step is not None and memory.step < 100  # well before the crash at 291
    assert memory.evidence["source"] == "log"
    assert crash.message.startswith("run crashed: out of memory")


@pytest.mark.parametrize("name", ["healthy_bf16", "starved_dataloader"])
def test_healthy_and_starved_have_no_training_health_warning(name: str) -> None:
    assert loud(h100_alerts(name)) == []


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    from cockpit.monitor.engine import import_paths
    from cockpit.store.db import connect

    db = tmp_path_factory.mktemp("health") / "fixtures.duckdb"
    import_paths([H100, PUBLIC], db)
    con = connect(db)
    yield con
    con.close()


def replay(con: duckdb.DuckDBPyConnection, name: str) -> list[Alert]:
    row = con.execute("SELECT run_id FROM runs WHERE name = ?", [name]).fetchone()
    assert row is not None, f"{name} was not imported"
    run = stored_run(con, row[0])
    assert run is not None
    return check_stored_run(con, HealthMonitor(), run)[0]


def test_imported_h100_runs_match_the_ground_truth(imported: duckdb.DuckDBPyConnection) -> None:
    got = {name: loud(replay(imported, name)) for name in
           ["healthy_bf16", "starved_dataloader", "fp16_adam_eps_nan", "lr_stuck_at_zero",
            "memory_leak_oom"]}
    assert got["healthy_bf16"] == [] and got["starved_dataloader"] == []
    assert got["fp16_adam_eps_nan"] == [("nan", 1, "critical")]
    assert [d for d, _, _ in got["lr_stuck_at_zero"]] == ["lr_zero"]
    assert [(d, s) for d, _, s in got["memory_leak_oom"]] == [("memory_pressure", "warning"),
                                                             ("crash", "critical")]


@pytest.mark.parametrize("name", PUBLIC_RUNS)
def test_public_healthy_runs_are_quiet(imported: duckdb.DuckDBPyConnection, name: str) -> None:
    alerts = replay(imported, name)
    assert loud(alerts) == []
    assert len(alerts) <= 5  # info too stays rare: natural spikes are not news


def test_public_runs_really_hold_a_loss(imported: duckdb.DuckDBPyConnection) -> None:
    """Quiet must mean judged: every public run but the val-only one feeds the loss detectors."""
    rows = imported.execute(
        "SELECT r.name, count(*) FROM metrics m JOIN runs r USING (run_id) "
        "WHERE m.key IN ('loss', 'train_loss', 'trl') GROUP BY r.name"
    ).fetchall()
    counts = dict(rows)
    judged = [n for n in PUBLIC_RUNS if counts.get(n, 0) > 1000]
    assert len(judged) >= len(PUBLIC_RUNS) - 1
