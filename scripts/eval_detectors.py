"""Measure the training-health detectors on a labelled corpus; write the table to docs/detectors.md.

    .venv/bin/python scripts/eval_detectors.py            # print and update docs/detectors.md
    .venv/bin/python scripts/eval_detectors.py --no-write # print only

The corpus: the real H100 runs (tests/fixtures/h100-runs, ground truth in its README), the
real healthy public runs (tests/fixtures/public-healthy), the labelled lifecycle corpus of
real CPU runs (tests/fixtures/lifecycle-corpus, by scripts/make_lifecycle_corpus.py, labels
and final states in its ground_truth.json), sample_runs/ when it exists (labels from its
README), and the deterministic synthetic runs of cockpit.health.synthetic (3 seeds of each
scenario). Real runs go through the same path as `cockpit check`: imported into a temporary
database, then replayed and decided by cockpit.monitor.check.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cockpit.health.monitor import HealthMonitor  # noqa: E402
from cockpit.health.synthetic import FAULTY, HEALTHY, CurveRun, Label, make_run  # noqa: E402
from cockpit.model.alert import Alert, severity_rank  # noqa: E402

H100 = ROOT / "tests" / "fixtures" / "h100-runs"
PUBLIC = ROOT / "tests" / "fixtures" / "public-healthy"
LIFECYCLE = ROOT / "tests" / "fixtures" / "lifecycle-corpus"
SAMPLES = ROOT / "sample_runs"
DOC = ROOT / "docs" / "detectors.md"
BEGIN, END = "<!-- eval-table:begin -->", "<!-- eval-table:end -->"

DETECTORS = ["nan", "divergence", "grad_explosion", "no_learning", "stuck_at_chance", "plateau",
             "overfitting", "lr_zero", "stall", "crash", "throughput_drop", "input_stall",
             "memory_pressure"]

# Final lifecycle states of the H100 runs (their process.json exit codes; fp16_adam_eps_nan
# exited 0 inside its NaN episode, which is a failed run).
H100_FINAL = {"healthy_bf16": "finished", "starved_dataloader": "finished",
              "fp16_adam_eps_nan": "failed", "lr_stuck_at_zero": "finished",
              "memory_leak_oom": "failed"}

# Ground truth of tests/fixtures/h100-runs/README.md, as training-health labels.
# memory_leak_oom's allocator memory climbs from the first steps; starved_dataloader's
# problem is GPU starvation (a telemetry alert), so no training-health warning.
H100_LABELS: dict[str, tuple[list[Label], frozenset[str]]] = {
    "healthy_bf16": ([], frozenset()),
    "starved_dataloader": ([], frozenset()),
    "fp16_adam_eps_nan": ([Label("nan", 1, "critical", within=0)], frozenset()),
    "lr_stuck_at_zero": ([Label("lr_zero", 300, within=50)], frozenset({"plateau"})),
    "memory_leak_oom": ([Label("memory_pressure", 1), Label("crash", 290, "critical")],
                        frozenset()),
}


@dataclass
class Outcome:
    name: str
    source: str
    labels: list[Label]
    allowed: frozenset[str]
    alerts: list[Alert] = field(default_factory=list)
    state: str | None = None  # the lifecycle decision after the fact (real runs)
    expected_state: str | None = None

    @property
    def healthy(self) -> bool:
        return not self.labels


def run_synthetic(run: CurveRun, monitor: HealthMonitor) -> list[Alert]:
    """Replay a synthetic run, then decide its lifecycle after the fact as `check` does: an
    hour after its data ended, or, for a run whose process was seen (`stall_check`), with a
    process record of that observation."""
    from cockpit.monitor.lifecycle import ProcessRecord
    from cockpit.monitor.runlife import LifecycleTracker

    alerts = monitor.observe(run.name, run.name, run.keys, run.steps, run.ts, run.values)
    for event in run.events:
        alerts += monitor.observe_event(run.name, run.name, event)
    last_ts = max((t for t in run.ts if t is not None), default=None)
    steps = [s for s in run.steps if s is not None]
    if last_ts is not None:
        tracker = LifecycleTracker(monitor)
        life = tracker.track(run.name, run.name, "")
        life.record_read = True
        now = last_ts + 3600
        if run.stall_check is not None:
            after, alive = run.stall_check
            now = last_ts + after
            life.record = ProcessRecord(observed_at=now, alive_at_observation=alive)
        tracker.on_batch(run.name, len(run.values), max(steps, default=None), last_ts, last_ts,
                         run.events)
        alerts += tracker.settle(now).alerts
    monitor.finish(run.name)
    return alerts


def sample_labels(truth_file: Path) -> dict[str, tuple[list[Label], frozenset[str]]]:
    """Labels from sample_runs/ground_truth.json (written by scripts/make_sample_runs.py)."""
    labels: dict[str, tuple[list[Label], frozenset[str]]] = {}
    try:
        truth = json.loads(truth_file.read_text())
    except (OSError, ValueError):
        return labels
    for run in truth.get("runs", []):
        fault, onset = run.get("fault"), run.get("onset_step")
        first_nan = run.get("first_nonfinite_step")
        if fault == "nan" and first_nan is not None:
            labels[run["run"]] = ([Label("nan", first_nan, "critical", within=0)], frozenset())
        elif fault == "divergence" and onset is not None:
            labels[run["run"]] = ([Label("divergence", onset, before_step=first_nan)],
                                  frozenset({"nan", "grad_explosion"}))
        elif fault == "lr_zero" and onset is not None:
            labels[run["run"]] = ([Label("lr_zero", onset, within=50)], frozenset({"plateau"}))
        elif fault == "stall":
            labels[run["run"]] = ([Label("stall", run["last_step"], within=0)], frozenset())
        elif fault == "none":
            labels[run["run"]] = ([], frozenset())
    return labels


def corpus_labels(truth_file: Path) -> tuple[dict[str, tuple[list[Label], frozenset[str]]],
                                             dict[str, str]]:
    """Labels and final states from a ground_truth.json of make_lifecycle_corpus.py."""
    labels: dict[str, tuple[list[Label], frozenset[str]]] = {}
    finals: dict[str, str] = {}
    try:
        truth = json.loads(truth_file.read_text())
    except (OSError, ValueError):
        return labels, finals
    for run in truth.get("runs", []):
        labels[run["name"]] = (
            [Label(lab["detector"], lab["onset"], lab.get("severity", "warning"),
                   within=lab.get("within"), before_step=lab.get("before_step"))
             for lab in run.get("labels", [])], frozenset(run.get("allowed", [])))
        finals[run["name"]] = run.get("final", "finished")
    return labels, finals


def real_runs(paths: list[Path], label_of: dict[str, tuple[list[Label], frozenset[str]]],
              source: str, default_healthy: bool,
              finals: dict[str, str] | None = None) -> list[Outcome]:
    from cockpit.health.posthoc import stored_run
    from cockpit.monitor.check import check_stored_run
    from cockpit.monitor.engine import import_paths
    from cockpit.store.db import connect

    out: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "eval.duckdb"
        run_ids = import_paths(paths, db)
        con = connect(db)
        try:
            for run_id in run_ids:
                run = stored_run(con, run_id)
                if run is None:
                    continue
                leaf = Path(run.path).name
                if leaf not in label_of and not default_healthy:
                    continue
                labels, allowed = label_of.get(leaf, ([], frozenset()))
                alerts, update = check_stored_run(con, HealthMonitor(), run)
                state = update.changes[-1].state if update.changes else run.status
                out.append(Outcome(leaf, source, labels, allowed, alerts, state,
                                   (finals or {}).get(leaf)))
        finally:
            con.close()
    return out


def collect(seeds: int, samples: Path = SAMPLES) -> list[Outcome]:
    outcomes = real_runs([H100], H100_LABELS, "h100", default_healthy=False, finals=H100_FINAL)
    outcomes += real_runs([PUBLIC], {}, "public", default_healthy=True)
    if LIFECYCLE.is_dir():
        labels, finals = corpus_labels(LIFECYCLE / "ground_truth.json")
        outcomes += real_runs([LIFECYCLE], labels, "lifecycle", default_healthy=False,
                              finals=finals)
    if samples.is_dir():
        labels = sample_labels(samples / "ground_truth.json")
        dirs = [samples / name for name in sorted(labels) if (samples / name).is_dir()]
        if dirs:
            outcomes += real_runs(dirs, labels, "sample_runs", default_healthy=False)
    for scenario in [*HEALTHY, *FAULTY]:
        for seed in range(seeds):
            run = make_run(scenario, seed)
            alerts = run_synthetic(run, HealthMonitor())
            outcomes.append(Outcome(run.name, "synthetic", run.labels, run.allowed, alerts))
    return outcomes


def timely(alert: Alert, label: Label) -> bool:
    if alert.detector != label.detector:
        return False
    if severity_rank(alert.severity) < severity_rank(label.severity):
        return False
    if alert.step is None:
        return label.within is None
    if alert.step < label.onset:
        return False
    if label.within is not None and alert.step - label.onset > label.within:
        return False
    return label.before_step is None or alert.step < label.before_step


@dataclass
class Score:
    labelled: int = 0
    caught: int = 0
    false_runs: int = 0
    fired_runs: int = 0
    delays: list[int] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    false_names: list[str] = field(default_factory=list)


def score(outcomes: list[Outcome]) -> dict[str, Score]:
    scores = {d: Score() for d in DETECTORS}
    for o in outcomes:
        loud = [a for a in o.alerts if severity_rank(a.severity) >= 1]
        for d, s in scores.items():
            labels = [lab for lab in o.labels if lab.detector == d]
            fired = [a for a in loud if a.detector == d]
            for lab in labels:
                s.labelled += 1
                hits = [a for a in o.alerts if timely(a, lab)]
                if hits:
                    s.caught += 1
                    first = min(hits, key=lambda a: a.step if a.step is not None else 0)
                    s.delays.append((first.step or lab.onset) - lab.onset)
                else:
                    s.missed.append(o.name)
            if not fired:
                continue
            if labels:
                s.fired_runs += 1
                if not any(timely(a, lab) for a in fired for lab in labels):
                    s.false_runs += 1
                    s.false_names.append(o.name)
            elif d not in o.allowed:
                s.fired_runs += 1
                s.false_runs += 1
                s.false_names.append(o.name)
    return scores


def table(outcomes: list[Outcome], scores: dict[str, Score]) -> str:
    lines = [
        "| detector | faults | caught | recall | runs it fired on | false alarms | precision "
        "| delay median | delay max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d, s in scores.items():
        recall = f"{s.caught / s.labelled:.0%}" if s.labelled else "n/a"
        precision = (f"{(s.fired_runs - s.false_runs) / s.fired_runs:.0%}"
                     if s.fired_runs else "n/a")
        med = f"{statistics.median(s.delays):g}" if s.delays else "-"
        worst = f"{max(s.delays)}" if s.delays else "-"
        lines.append(f"| {d} | {s.labelled} | {s.caught} | {recall} | {s.fired_runs} | "
                     f"{s.false_runs} | {precision} | {med} | {worst} |")
    healthy = [o for o in outcomes if o.healthy]
    loud = [o.name for o in healthy if any(severity_rank(a.severity) >= 1 for a in o.alerts)]
    info = sum(1 for o in healthy for a in o.alerts if a.severity == "info")
    by_source: dict[str, int] = {}
    for o in outcomes:
        by_source[o.source] = by_source.get(o.source, 0) + 1
    corpus = ", ".join(f"{n} {src}" for src, n in by_source.items())
    lines += [
        "",
        f"Corpus: {len(outcomes)} runs ({corpus}); {len(healthy)} healthy, "
        f"{len(outcomes) - len(healthy)} with a labelled fault.",
        f"Healthy runs with an alert at warning or above: **{len(loud)}**"
        + (f" ({', '.join(loud)})" if loud else "") + f"; info alerts on healthy runs: {info}.",
        "Delay = steps from the fault's onset to the first alert of that detector at the "
        "required severity; a detection must also meet the label's deadline (nan: at the "
        "onset step; lr_zero: within 50 steps; a spike that ends in NaN: before the first NaN).",
    ]
    misses = [f"{d}: {', '.join(s.missed)}" for d, s in scores.items() if s.missed]
    falses = [f"{d}: {', '.join(s.false_names)}" for d, s in scores.items() if s.false_names]
    if misses:
        lines.append("Missed: " + "; ".join(misses) + ".")
    if falses:
        lines.append("False alarms: " + "; ".join(falses) + ".")
    return "\n".join(lines)


def real_run_rows(outcomes: list[Outcome]) -> str:
    lines = ["| run | expected | alerts (warning and above) | final state (expected) |",
             "|---|---|---|---|"]
    for o in outcomes:
        if o.source == "synthetic":
            continue
        expected = ", ".join(f"{lab.detector}@{lab.onset}" for lab in o.labels) or "none"
        got = ", ".join(f"{a.detector}@{a.step} ({a.severity})" for a in o.alerts
                        if severity_rank(a.severity) >= 1) or "none"
        state = o.state or "?"
        if o.expected_state is not None:
            state += " (ok)" if o.state == o.expected_state else f" (expected {o.expected_state})"
        lines.append(f"| {o.source}/{o.name} | {expected} | {got} | {state} |")
    return "\n".join(lines)


def wrong_states(outcomes: list[Outcome]) -> list[str]:
    return [f"{o.source}/{o.name}: {o.state} (expected {o.expected_state})" for o in outcomes
            if o.expected_state is not None and o.state != o.expected_state]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per synthetic scenario")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--samples", type=Path, default=SAMPLES,
                        help="folder of generated sample runs (default: sample_runs/)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    outcomes = collect(args.seeds, args.samples)
    scores = score(outcomes)
    samples = any(o.source == "sample_runs" for o in outcomes)
    judged = [o for o in outcomes if o.expected_state is not None]
    states = (f"Final lifecycle states after the fact: {len(judged) - len(wrong_states(outcomes))}"
              f" of {len(judged)} real runs as expected"
              + "".join(f"; wrong: {w}" for w in wrong_states(outcomes)) + ".")
    text = (f"{table(outcomes, scores)}\n{states}\n\nReal runs, one by one:\n\n"
            f"{real_run_rows(outcomes)}\n\n"
            f"Generated by `python scripts/eval_detectors.py` (seeds={args.seeds}, "
            f"{'with' if samples else 'without'} sample runs, "
            f"{time.perf_counter() - started:.0f} s).")
    print(text)
    if not args.no_write and DOC.exists():
        doc = DOC.read_text()
        if BEGIN in doc and END in doc:
            head, rest = doc.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    states = wrong_states(outcomes)
    if states:
        print("Wrong final states: " + "; ".join(states))
    ok = all(s.caught == s.labelled and not s.false_runs for s in scores.values()) and not states
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
