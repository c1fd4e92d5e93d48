"""The synthetic corpus is deterministic and labelled, and the detectors meet the issue's
targets on it: every fault caught in time, no warning on a healthy run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import pytest

from cockpit.health.synthetic import FAULTY, HEALTHY, Label, make_run
from cockpit.model.alert import Alert


def test_runs_are_deterministic_and_labelled() -> None:
    a, b = make_run("fault_nan", 1), make_run("fault_nan", 1)
    assert len(a.values) == len(b.values)
    assert all(x == y or (math.isnan(x) and math.isnan(y))
               for x, y in zip(a.values, b.values, strict=True))
    assert a.keys == b.keys and a.steps == b.steps and a.ts == b.ts
    assert a.labels == b.labels and a.labels[0].detector == "nan"
    assert make_run("fault_nan", 2).labels != a.labels  # seeds move the onset
    for name in HEALTHY:
        assert make_run(name, 0).healthy
    for name in FAULTY:
        run = make_run(name, 0)
        assert run.labels and run.description
        last = max(s for s in run.steps if s is not None)
        assert all(0 <= lab.onset <= last for lab in run.labels)
    with pytest.raises(KeyError):
        make_run("no_such_scenario")


@pytest.mark.slow
def test_every_fault_caught_and_healthy_runs_quiet(evaluation: ModuleType) -> None:
    from cockpit.health.monitor import HealthMonitor

    outcomes = []
    for scenario in [*HEALTHY, *FAULTY]:
        run = make_run(scenario, 0)
        alerts = evaluation.run_synthetic(run, HealthMonitor())
        outcomes.append(evaluation.Outcome(run.name, "synthetic", run.labels, run.allowed, alerts))
    scores = evaluation.score(outcomes)
    missed = {d: s.missed for d, s in scores.items() if s.missed}
    false = {d: s.false_names for d, s in scores.items() if s.false_names}
    assert missed == {} and false == {}
    assert sum(s.labelled for s in scores.values()) == sum(len(make_run(f, 0).labels) for f in FAULTY)
    table = evaluation.table(outcomes, scores)
    assert "Healthy runs with an alert at warning or above: **0**" in table


def test_timeliness_rules(evaluation: ModuleType) -> None:
    def alert(detector: str, step: int | None, severity: str = "warning") -> Alert:
        return Alert("r", detector, severity, step, None, None, "m")

    nan = Label("nan", 10, "critical", within=0)
    assert evaluation.timely(alert("nan", 10, "critical"), nan)
    assert not evaluation.timely(alert("nan", 11, "critical"), nan)
    assert not evaluation.timely(alert("nan", 10, "warning"), nan)
    early = Label("divergence", 100, before_step=108)
    assert evaluation.timely(alert("divergence", 107), early)
    assert not evaluation.timely(alert("divergence", 108), early)
    assert not evaluation.timely(alert("divergence", 99), early)  # before the fault: a guess
    assert not evaluation.timely(alert("spike", 101), early)


def test_sample_run_labels_from_ground_truth(evaluation: ModuleType, tmp_path: Path) -> None:
    truth = tmp_path / "ground_truth.json"
    truth.write_text(json.dumps({"steps": 600, "runs": [
        {"run": "healthy", "fault": "none", "onset_step": None, "last_step": 599},
        {"run": "nan_collapse", "fault": "nan", "onset_step": 320, "first_nonfinite_step": 320,
         "last_step": 599},
        {"run": "spike_diverge", "fault": "divergence", "onset_step": 300,
         "first_nonfinite_step": 494, "last_step": 599},
        {"run": "stall", "fault": "stall", "onset_step": 360, "last_step": 359},
    ]}))
    labels = evaluation.sample_labels(truth)
    assert labels["healthy"] == ([], frozenset())
    assert labels["nan_collapse"][0] == [Label("nan", 320, "critical", within=0)]
    div, allowed = labels["spike_diverge"]
    assert div == [Label("divergence", 300, before_step=494)] and "nan" in allowed
    assert labels["stall"][0] == [Label("stall", 359, within=0)]
    assert evaluation.sample_labels(tmp_path / "missing.json") == {}
