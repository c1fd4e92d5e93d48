"""Fuzzing: mutations of real files of every format (tests/fuzzing.py) never make a reader,
discovery, the engine or an eval loader raise. Readers and loaders return counted problems
or one-sentence `EvalLoadError`s; an import of fuzzed run folders finishes, stores no point
twice and says what it could not read.

CI runs a bounded number of cases; `COCKPIT_FUZZ_CASES=7000` runs more (each case is
reproducible from its number: `tests.fuzzing.case(n)`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from cockpit.evals.errors import EvalLoadError
from cockpit.evals.loaders import load_evals
from cockpit.ingest.formats import detect_format, make_reader
from cockpit.monitor.engine import import_report
from cockpit.store.reading import query
from tests.fuzzing import Case, case, seeds

CASES = int(os.environ.get("COCKPIT_FUZZ_CASES", "600"))
POOL = seeds()
METRIC = [n for n in range(CASES * 3) if POOL[n % len(POOL)].kind == "metric"][:CASES]
EVAL = [n for n in range(CASES * 4) if POOL[n % len(POOL)].kind == "eval"][:CASES // 3]


def _format(c: Case) -> str:
    name = c.name
    if name.startswith("mlflow:"):
        return "mlflow"
    if name.startswith("events.out"):
        return "tfevents"
    if name.endswith(".wandb"):
        return "wandb"
    if name == "trainer_state.json":
        return "hf_state"
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return "text"


def _feed(c: Case) -> int:
    """Feed a case to its reader in random pieces, then finish; the points it gave."""
    fmt = _format(c)
    reader = make_reader(fmt, **({"key": "loss"} if fmt == "mlflow" else {}))
    rng = random.Random(c.number)
    points = 0
    if reader.whole_file:
        points += len(reader.feed(c.data).points)
    else:
        i = 0
        while i < len(c.data):
            n = rng.randint(1, 9000)
            points += len(reader.feed(c.data[i:i + n]).points)
            i += n
    return points + len(reader.finish().points)


def test_metric_readers_never_raise(tmp_path: Path) -> None:
    failures = []
    for n in METRIC:
        c = case(n, POOL)
        try:
            _feed(c)
            if not c.name.startswith("mlflow:"):
                path = tmp_path / c.name
                path.write_bytes(c.data)
                detect_format(path)
        except Exception as err:  # a reader must not raise on any data  # noqa: BLE001
            failures.append(f"case {n} ({c.name}, {c.mutation}): {type(err).__name__}: {err}")
    assert not failures, f"{len(failures)} of {len(METRIC)} cases raised:\n" + "\n".join(
        failures[:20])


def test_eval_loaders_raise_only_one_sentence_errors(tmp_path: Path) -> None:
    failures = []
    for n in EVAL:
        c = case(n, POOL)
        path = tmp_path / f"{n}-{c.name}"
        path.write_bytes(c.data)
        try:
            load_evals(path)
        except EvalLoadError as err:
            if "\n" in str(err).strip() or str(path) not in str(err):
                failures.append(f"case {n}: not one sentence naming the file: {err}")
            elif "unexpected shape" in str(err):  # load_evals' last guard: a loader to fix
                failures.append(f"case {n} ({c.name}, {c.mutation}): {err}")
        except Exception as err:  # noqa: BLE001
            failures.append(f"case {n} ({c.name}, {c.mutation}): {type(err).__name__}: {err}")
        path.unlink()
    assert not failures, f"{len(failures)} of {len(EVAL)} cases raised:\n" + "\n".join(
        failures[:20])


@pytest.mark.slow
def test_importing_fuzzed_run_folders_finishes_and_stores_no_point_twice(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    metric = [n for n in METRIC if not case(n, POOL).name.startswith("mlflow:")]
    folders = 12
    for f in range(folders):
        run = root / f"run{f}"
        run.mkdir(parents=True)
        for n in metric[f::folders][:6]:
            c = case(n, POOL)
            (run / f"{n}-{c.name}" if not c.name.startswith("events.out") else
             run / f"{c.name}.{n}").write_bytes(c.data)
    db = tmp_path / "h.duckdb"
    first = import_report([root], db)
    stored = query(db, "SELECT count(*) FROM metrics").rows()[0][0]
    assert stored > 0
    second = import_report([root], db)  # a second import adds nothing and says the same
    assert query(db, "SELECT count(*) FROM metrics").rows()[0][0] == stored
    assert (second.run_ids, second.problems) == (first.run_ids, first.problems)


def test_a_loader_tripping_over_a_field_is_one_sentence(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """load_evals' last guard: a loader that meets a field of a shape it did not expect."""
    import cockpit.evals.loaders as loaders

    def trips(path: Path, doc: object) -> object:
        return int([1, 2])  # type: ignore[call-overload]

    monkeypatch.setattr(loaders, "load_promptfoo", trips)
    src = next(s for s in POOL if s.name.startswith("promptfoo"))
    path = tmp_path / src.name
    path.write_bytes(src.data)
    with pytest.raises(EvalLoadError, match="unexpected shape") as got:
        load_evals(path)
    assert str(path) in str(got.value) and "\n" not in str(got.value)
