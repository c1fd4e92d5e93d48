"""HfTrainerStateReader on trainer_state.json written by transformers' own TrainerState.

The real-library tests skip when transformers is not installed; the others build the
document the way TrainerState.save_to_json does (`json.dumps(..., indent=2, sort_keys=True)`,
which writes NaN as a bare `NaN` token).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from cockpit.ingest.hf_state import HfTrainerStateReader
from cockpit.model.records import ReadResult

Point = tuple[str, int | None, str]


def norm(result: ReadResult) -> list[Point]:
    return [(key, step, repr(value)) for key, step, _, value in result.points.rows()]


def expected_from(entries: list[dict[str, Any]]) -> list[Point]:
    return [(k, e["step"], repr(float(v))) for e in entries for k, v in e.items()
            if k != "step" and isinstance(v, int | float) and not isinstance(v, bool)]


def rewrite(reader: HfTrainerStateReader, content: bytes) -> ReadResult:
    """What the follower does for a whole-file format at each change."""
    reader.on_rewrite()
    return reader.feed(content)


def trainer_log(max_steps: int) -> list[dict[str, Any]]:
    """log_history as Trainer fills it: a train entry per step, eval every 4, a final summary."""
    entries: list[dict[str, Any]] = []
    for step in range(1, max_steps + 1):
        entries.append({"epoch": step / max_steps, "grad_norm": float("nan") if step == 3 else 1.5,
                        "learning_rate": 1e-4 * (1 - step / max_steps), "loss": 3.0 / step,
                        "step": step})
        if step % 4 == 0:
            entries.append({"epoch": step / max_steps, "eval_loss": 2.5 / step,
                            "eval_runtime": 0.25, "step": step})
    entries.append({"epoch": 1.0, "step": max_steps, "total_flos": 123456789012345,
                    "train_loss": 1.0, "train_runtime": 12.5})
    return entries


def document(entries: list[dict[str, Any]], global_step: int, max_steps: int) -> bytes:
    state: dict[str, Any] = {
        "best_metric": None, "epoch": global_step / max(max_steps, 1), "global_step": global_step,
        "is_hyper_param_search": False, "log_history": entries, "logging_steps": 1,
        "max_steps": max_steps, "num_train_epochs": 1, "stateful_callbacks": {},
        "train_batch_size": 8, "trial_name": None}
    return (json.dumps(state, indent=2, sort_keys=True) + "\n").encode()


# -- real transformers.TrainerState ----------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], list[dict[str, Any]]]:
    """trainer_state.json as a real TrainerState saves it at checkpoints 5, 10, 15 and the end."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("hf")
    entries = trainer_log(16)
    state = transformers.TrainerState(max_steps=16, num_train_epochs=1, train_batch_size=8,
                                      logging_steps=1, save_steps=5)
    snapshots = []
    for entry in entries:
        state.log_history.append(dict(entry))
        state.global_step = entry["step"]
        if (entry["step"] % 5 == 0 and "loss" in entry) or "train_runtime" in entry:
            path = folder / f"checkpoint-{state.global_step}" / "trainer_state.json"
            path.parent.mkdir(exist_ok=True)
            state.save_to_json(str(path))
            snapshots.append(path.read_bytes())
    return snapshots, entries


@pytest.mark.slow  # importing transformers (and torch) takes seconds
def test_real_checkpoints_give_each_entry_once_and_finish_once(
    checkpoints: tuple[list[bytes], list[dict[str, Any]]],
) -> None:
    snapshots, entries = checkpoints
    assert b'"grad_norm": NaN' in snapshots[0]  # Python's json writes a bare NaN token
    reader = HfTrainerStateReader()
    points: list[Point] = []
    events = []
    for content in snapshots + [snapshots[-1]]:  # the last one twice: a touch, nothing new
        result = rewrite(reader, content)
        assert result.bad_records == 0
        points += norm(result)
        events += result.events
        assert result.params["max_steps"] == 16 and result.params["train_batch_size"] == 8
    assert points == expected_from(entries)
    assert [(e.kind, e.step) for e in events] == [("finished", 16)]


@pytest.mark.slow
def test_real_checkpoints_read_half_written_and_across_restarts(
    checkpoints: tuple[list[bytes], list[dict[str, Any]]],
) -> None:
    snapshots, entries = checkpoints
    reader = HfTrainerStateReader()
    points: list[Point] = []
    for content in snapshots:
        for cut in range(0, len(content.rstrip()), 97):  # seen while TrainerState is still writing
            partial = rewrite(reader, content[:cut])
            assert len(partial.points) == 0 and partial.bad_records == 0 and not partial.events
        points += norm(rewrite(reader, content))
        restored = HfTrainerStateReader()
        restored.restore(json.loads(json.dumps(reader.state())))
        reader = restored
    assert points == expected_from(entries)


# -- documents built like TrainerState.save_to_json ----------------------------------------


def test_only_new_entries_are_emitted_and_keys_are_kept_as_written() -> None:
    entries = trainer_log(8)
    reader = HfTrainerStateReader()
    first = rewrite(reader, document(entries[:3], 3, 8))
    assert sorted({k for k, _, _ in norm(first)}) == ["epoch", "grad_norm", "learning_rate", "loss"]
    second = rewrite(reader, document(entries[:6], 5, 8))
    assert norm(second) == expected_from(entries[3:6])
    grad_norm_3 = [v for k, s, v in norm(first) if k == "grad_norm" and s == 3]
    assert grad_norm_3 == ["nan"]


def test_every_truncation_waits_without_bad_records() -> None:
    content = document(trainer_log(4), 4, 4)
    reader = HfTrainerStateReader()
    for cut in range(len(content.rstrip())):  # every prefix short of the closing brace
        result = rewrite(reader, content[:cut])
        assert (len(result.points), result.bad_records, result.events) == (0, 0, [])
    assert norm(rewrite(reader, content)) == expected_from(trainer_log(4))


def test_content_fed_in_chunks_without_a_rewrite_call_is_read_once_complete() -> None:
    content = document(trainer_log(4), 2, 4)
    reader = HfTrainerStateReader()
    points: list[Point] = []
    for i in range(0, len(content), 50):
        points += norm(reader.feed(content[i:i + 50]))
    assert points == expected_from(trainer_log(4))
    assert reader.pending == b""
    assert norm(reader.feed(content)) == []  # fed again without on_rewrite: nothing new


def test_shorter_or_different_history_is_another_run_read_from_the_start() -> None:
    entries = trainer_log(8)
    reader = HfTrainerStateReader()
    rewrite(reader, document(entries, 8, 8))
    shorter = rewrite(reader, document(entries[:2], 2, 8))
    assert norm(shorter) == expected_from(entries[:2])
    other = [dict(e, loss=9.0) if "loss" in e else e for e in entries[:2]]
    assert norm(rewrite(reader, document(other, 2, 8))) == expected_from(other)


def test_finished_only_when_global_step_reaches_max_steps_and_again_for_a_new_run() -> None:
    entries = trainer_log(4)
    reader = HfTrainerStateReader()
    assert rewrite(reader, document(entries[:2], 2, 4)).events == []
    done = rewrite(reader, document(entries, 4, 4)).events
    assert [(e.kind, e.step) for e in done] == [("finished", 4)]
    assert "max_steps 4" in done[0].message
    assert rewrite(reader, document(entries, 4, 4)).events == []
    assert rewrite(reader, document(entries[:1], 1, 4)).events == []  # a new run began
    assert len(rewrite(reader, document(entries, 4, 4)).events) == 1
    no_max = HfTrainerStateReader()
    assert rewrite(no_max, document(entries, 4, 0)).events == []


def test_params_are_the_top_level_scalars() -> None:
    params = rewrite(HfTrainerStateReader(), document(trainer_log(2), 2, 2)).params
    assert params["max_steps"] == 2 and params["num_train_epochs"] == 1
    assert params["train_batch_size"] == 8 and params["global_step"] == 2
    assert "log_history" not in params and "stateful_callbacks" not in params


def test_complete_but_invalid_documents_are_one_bad_record() -> None:
    good = document(trainer_log(2), 2, 2)
    cases = [good.replace(b'"global_step":', b'"global_step";', 1),  # corrupted in the middle
             good + b"{}",  # two documents
             b"[1, 2]",  # valid JSON, not a trainer state
             good.replace(b'"max_steps"', b'"max_\xff\xfesteps"')]  # invalid UTF-8
    for content in cases:
        reader = HfTrainerStateReader()
        result = rewrite(reader, content)
        assert (len(result.points), result.bad_records) == (0, 1), content[-40:]
        assert result.first_bad and result.first_bad.startswith("trainer_state.json")
        assert reader.pending == b""


def test_truncated_multibyte_character_waits() -> None:
    result = rewrite(HfTrainerStateReader(), '{"trial_name": "é'.encode()[:-1])
    assert result.bad_records == 0


def test_finish_reports_a_document_that_never_completed() -> None:
    reader = HfTrainerStateReader()
    rewrite(reader, document(trainer_log(2), 2, 2)[:100])
    assert reader.finish().bad_records == 1
    assert reader.finish().bad_records == 0


def test_odd_entries_and_values() -> None:
    history = [{"step": 1, "loss": 1.0, "flag": True, "note": "hi", "nested": {"a": 1},
                "huge": 10 ** 400, "neg_inf": float("-inf")},
               "not an entry",
               {"loss": 0.5},  # no step
               {"step": 2.0, "loss": float("inf")}]
    content = json.dumps({"log_history": history, "global_step": "2"}).encode()
    result = rewrite(HfTrainerStateReader(), content)
    assert result.bad_records == 1
    assert norm(result) == [("loss", 1, "1.0"), ("neg_inf", 1, "-inf"), ("loss", None, "0.5"),
                            ("loss", 2, "inf")]
    assert result.events == []


def test_bare_nan_and_infinity_tokens_are_accepted() -> None:
    content = b'{"log_history": [{"step": 1, "loss": NaN, "grad_norm": Infinity, "x": -Infinity}]}'
    values = rewrite(HfTrainerStateReader(), content).points.values
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf


def test_log_history_that_is_not_a_list_is_bad_but_params_still_read() -> None:
    entries = trainer_log(3)
    reader = HfTrainerStateReader()
    rewrite(reader, document(entries[:2], 2, 3))
    content = json.dumps({"log_history": {"step": 1}, "max_steps": 3, "global_step": 3}).encode()
    result = rewrite(reader, content)
    assert result.bad_records == 1 and result.params["max_steps"] == 3
    assert [e.kind for e in result.events] == ["finished"]
    assert norm(rewrite(reader, document(entries, 3, 3))) == expected_from(entries[2:])
