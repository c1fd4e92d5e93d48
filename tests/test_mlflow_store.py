"""MLflow file store: run folders written by the real MLflow client, read without MLflow.

MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE=true ("maintenance mode"),
so the fixture sets it. A client bound to a `file:` URI in tmp_path is used instead of
`mlflow.set_tracking_uri`, which would change process-wide state (and an environment
variable) for every later test. Tests skip when mlflow is not installed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from cockpit.ingest.mlflow_store import (
    MAX_LINE_BYTES,
    MlflowMetricReader,
    is_mlflow_run_dir,
    mlflow_metric_files,
    parse_meta_yaml,
    read_mlflow_run_meta,
)
from cockpit.model.records import ReadResult

Point = tuple[str, int | None, float | None, str]


def norm(result: ReadResult) -> list[Point]:
    return [(key, step, ts, repr(value)) for key, step, ts, value in result.points.rows()]


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    mlflow = pytest.importorskip("mlflow")
    return mlflow.MlflowClient(tracking_uri=f"file:{tmp_path}/mlruns")


def new_run(client: Any, run_name: str = "baseline") -> tuple[str, Path]:
    experiment_id = client.create_experiment("exp")
    run = client.create_run(experiment_id, run_name=run_name)
    run_dir = Path(run.info.artifact_uri.removeprefix("file://")).parent
    assert run_dir.name == run.info.run_id
    return run.info.run_id, run_dir


LOGGED = [  # key, value, step
    ("train/loss", 2.5, 0), ("train/loss", 2.25, 1), ("acc", 0.125, 1),
    ("train/loss", float("nan"), 2), ("acc", float("inf"), 2), ("acc", float("-inf"), 3),
    ("train/loss", 1.75, 3), ("train/loss", 1.5, 10),
]


def test_real_run_metrics_read_incrementally_as_they_are_logged(client: Any) -> None:
    run_id, run_dir = new_run(client)
    readers: dict[str, tuple[MlflowMetricReader, int]] = {}
    points: list[Point] = []
    for i, (key, value, step) in enumerate(LOGGED):
        client.log_metric(run_id, key, value, timestamp=1_700_000_000_000 + i, step=step)
        for path, file_key in mlflow_metric_files(run_dir):
            reader, offset = readers.get(file_key, (MlflowMetricReader(file_key), 0))
            data = path.read_bytes()
            result = reader.feed(data[offset:])
            assert result.bad_records == 0
            points += norm(result)
            readers[file_key] = (reader, len(data) - len(reader.pending))
    assert b"nan" in (run_dir / "metrics" / "train" / "loss").read_bytes()
    assert sorted(readers) == ["acc", "train/loss"]
    expected = [(k, s, (1_700_000_000_000 + i) / 1000, repr(v)) for i, (k, v, s) in enumerate(LOGGED)]
    assert sorted(points) == sorted(expected)


def test_real_run_folder_is_recognised_and_its_neighbours_are_not(client: Any) -> None:
    _, run_dir = new_run(client)
    assert is_mlflow_run_dir(run_dir)
    assert not is_mlflow_run_dir(run_dir.parent)  # the experiment
    assert not is_mlflow_run_dir(run_dir.parent.parent)  # mlruns/
    assert not is_mlflow_run_dir(run_dir / "metrics")
    assert mlflow_metric_files(run_dir) == []  # nothing logged yet


def test_real_run_meta_params_tags_and_name(client: Any) -> None:
    run_id, run_dir = new_run(client, run_name="lr sweep: 3e-4")
    client.log_param(run_id, "lr", 3e-4)
    client.log_param(run_id, "model/layers", 12)
    client.log_param(run_id, "note", "multi\nline")
    client.set_tag(run_id, "team", "vision")
    meta = read_mlflow_run_meta(run_dir)
    assert meta["param.lr"] == "0.0003" and meta["param.model/layers"] == "12"
    assert meta["param.note"] == "multi\nline"
    assert meta["tag.team"] == "vision" and meta["tag.mlflow.runName"] == "lr sweep: 3e-4"
    assert meta["run_name"] == "lr sweep: 3e-4"
    assert meta["status"] == "RUNNING"
    assert meta["run_id"] == run_id
    run = client.get_run(run_id)
    assert meta["experiment_id"] == run.info.experiment_id
    assert meta["start_time"] == str(run.info.start_time)


@pytest.mark.parametrize("status", ["FINISHED", "FAILED", "KILLED"])
def test_real_run_status_after_termination(client: Any, status: str) -> None:
    run_id, run_dir = new_run(client)
    client.set_terminated(run_id, status=status)
    meta = read_mlflow_run_meta(run_dir)
    assert meta["status"] == status
    assert int(meta["end_time"]) == client.get_run(run_id).info.end_time


def test_run_name_from_meta_yaml_written_by_mlflow(client: Any) -> None:
    """Without the runName tag the name comes from meta.yaml, however YAML had to quote it."""
    name = "it's a 'quoted', very long run name: " + "x " * 60 + "# not a comment é"
    run_id, run_dir = new_run(client, run_name=name)
    (run_dir / "tags" / "mlflow.runName").unlink()
    assert "tag.mlflow.runName" not in read_mlflow_run_meta(run_dir)
    assert read_mlflow_run_meta(run_dir)["run_name"] == name


TRICKY = ["plain", "", "null", "123", "true", "a: b", "'quoted'", '"double"', "#hash",
          " leading space", "tab\there", "bell\x07", "é unicode ✓", "back\\slash",
          "word " * 40, "x" * 200, "line\nbreak", "two\n\n\nbreaks", "- dash", "[list]", "{map}",
          "~", "w " * 37 + "#tag " * 30, "- " * 60, "\\ " * 60, "é\x07 " * 50, "a\tb " * 40,
          "\x07" + "ab  " * 40, "\x07" + "x" * 100 + " " * 5 + "y" * 90]  # escaped line breaks


def test_meta_yaml_parser_agrees_with_pyyaml_on_what_mlflow_writes(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    pytest.importorskip("mlflow")
    from mlflow.utils.yaml_utils import write_yaml

    for i, value in enumerate(TRICKY + [" ".join(TRICKY) * 3]):
        data = {"run_id": f"r{i}", "run_name": value, "status": 3, "tags": [], "end_time": None,
                "nested": [{"key": "k", "value": "v"}], "user_id": "me"}
        write_yaml(str(tmp_path), f"meta{i}.yaml", data)
        text = (tmp_path / f"meta{i}.yaml").read_text(encoding="utf-8")
        loaded = yaml.safe_load(text)
        parsed = parse_meta_yaml(text)
        for key in ("run_id", "run_name", "status", "user_id"):
            assert parsed[key] == str(loaded[key]), (value, text)
        assert parsed["end_time"] == "" and parsed["nested"] == ""


def test_metric_lines_in_every_layout_mlflow_has_written() -> None:
    data = (b"1700000000000 0.5 1\n"
            b"1700000000001 nan 2\n"
            b"1700000000002 NaN 3\n"
            b"1700000000003 -inf 4\n"
            b"1700000000004 Infinity 5\n"
            b"1700000000005 0.25\n"  # before steps existed: step 0
            b"1700000000006 0.125 7 train_ds 1a2b3c\n"  # with dataset name and digest
            b"1700000000007 0.0625 8 0123abcd\n"  # a logged model's metric: run id
            b"\n")
    result = MlflowMetricReader("m").feed(data)
    assert result.bad_records == 0
    assert norm(result) == [
        ("m", 1, 1700000000.0, "0.5"), ("m", 2, 1700000000.001, "nan"),
        ("m", 3, 1700000000.002, "nan"), ("m", 4, 1700000000.003, "-inf"),
        ("m", 5, 1700000000.004, "inf"), ("m", 0, 1700000000.005, "0.25"),
        ("m", 7, 1700000000.006, "0.125"), ("m", 8, 1700000000.007, "0.0625")]


def test_bad_metric_lines_are_counted_and_skipped() -> None:
    data = (b"garbage\n1 2 3 4 5 6\nx 0.5 1\n1 0.5 1.5\n1 zero 1\n\xff\xfe 1 2\n"
            b"99999999999999999999999999999999999" + b"9" * 400 + b" 1 2\n"
            b"1700000000000 0.5 9\n")
    result = MlflowMetricReader("m").feed(data)
    assert result.bad_records == 7
    assert result.first_bad is not None and "garbage" in result.first_bad
    assert norm(result) == [("m", 9, 1700000000.0, "0.5")]


def test_any_chunking_gives_the_same_points() -> None:
    lines = b"".join(f"{1700000000000 + i} {i / 7!r} {i}\n".encode() for i in range(200))
    whole = norm(MlflowMetricReader("k").feed(lines))
    rng = random.Random(5)
    cuts = sorted(rng.sample(range(len(lines)), 60))
    reader = MlflowMetricReader("k")
    chunked: list[Point] = []
    for start, end in zip([0, *cuts], [*cuts, len(lines)], strict=True):
        chunked += norm(reader.feed(lines[start:end]))
    assert len(whole) == 200 and chunked == whole


def test_half_written_line_waits_and_a_cut_last_line_is_bad_at_finish() -> None:
    reader = MlflowMetricReader("m")
    assert len(reader.feed(b"1700000000000 0.5 1\n1700000000001 0.2").points) == 1
    assert reader.pending == b"1700000000001 0.2"
    assert norm(reader.feed(b"5 2\n")) == [("m", 2, 1700000000.001, "0.25")]
    reader.feed(b"17000")
    assert reader.finish().bad_records == 1
    assert reader.pending == b""


def test_huge_line_is_one_bad_record_and_memory_stays_bounded() -> None:
    reader = MlflowMetricReader("m")
    bad = 0
    for _ in range(20):
        bad += reader.feed(b"7" * 16384).bad_records
        assert len(reader.pending) <= MAX_LINE_BYTES + 16384
    result = reader.feed(b"7 1\n1700000000000 0.5 1\n")
    assert bad + result.bad_records == 1
    assert norm(result) == [("m", 1, 1700000000.0, "0.5")]
    assert reader.state() == {"discarding": False}


def test_discarding_survives_a_restart() -> None:
    reader = MlflowMetricReader("m")
    reader.feed(b"1" * (MAX_LINE_BYTES + 1))
    restored = MlflowMetricReader("m")
    restored.restore(reader.state())
    result = restored.feed(b"1 2 3\n1700000000000 1.5 4\n")
    assert norm(result) == [("m", 4, 1700000000.0, "1.5")]


def test_hand_made_run_folder_with_odd_files(tmp_path: Path) -> None:
    run = tmp_path / "mlruns" / "1" / "abc"
    (run / "metrics" / "eval" / "deep").mkdir(parents=True)
    (run / "params").mkdir()
    (run / "meta.yaml").write_text("run_uuid: abc\nstatus: 4\nrun_name: from-meta\n")
    (run / "metrics" / "eval" / "deep" / "loss").write_bytes(b"1 0.5 1\n")
    (run / "metrics" / "a").write_bytes(b"")
    (run / "params" / "bad").write_bytes(b"\xff\xfeok")
    assert is_mlflow_run_dir(run)
    assert mlflow_metric_files(run) == [(run / "metrics" / "a", "a"),
                                        (run / "metrics" / "eval" / "deep" / "loss", "eval/deep/loss")]
    meta = read_mlflow_run_meta(run)
    assert meta == {"param.bad": "\ufffd\ufffdok", "run_name": "from-meta", "status": "FAILED",
                    "run_id": "abc"}


def test_not_run_folders(tmp_path: Path) -> None:
    model = tmp_path / "models" / "m-1"
    (model / "metrics").mkdir(parents=True)
    (model / "meta.yaml").write_text("model_id: m-1\nsource_run_id: abc\nstatus: READY\n")
    assert not is_mlflow_run_dir(model)  # a logged model has metrics but is not a run
    binary = tmp_path / "binary"
    binary.mkdir()
    (binary / "meta.yaml").write_bytes(bytes(range(256)) * 4)
    assert not is_mlflow_run_dir(binary)
    assert not is_mlflow_run_dir(tmp_path / "missing")
    assert read_mlflow_run_meta(tmp_path / "missing") == {}
    assert mlflow_metric_files(tmp_path / "missing") == []


def test_non_integer_timestamp_or_step_is_bad() -> None:
    result = MlflowMetricReader("m").feed(b"nan 1 2\n1 1 nan\n1e3 1 2\n")
    assert (result.bad_records, len(result.points)) == (3, 0)


def test_complete_huge_line_in_one_feed_is_one_bad_record() -> None:
    result = MlflowMetricReader("m").feed(b"1 " * MAX_LINE_BYTES + b"\n1700000000000 0.5 1\n")
    assert result.bad_records == 1
    assert norm(result) == [("m", 1, 1700000000.0, "0.5")]
