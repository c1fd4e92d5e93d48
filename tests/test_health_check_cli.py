"""`cockpit check`: alerts per SPEC §4, exit codes 0 / 1 / 2, and bad input without tracebacks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pytest

from cockpit.cli.main import main

H100 = Path(__file__).parent / "fixtures" / "h100-runs"
SPEC_KEYS = {"run", "detector", "severity", "step", "ts", "metric", "message", "evidence"}


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_run(folder: Path, n: int = 400, gap_at: int | None = None, gap: float = 0.0,
              nan_at: int | None = None) -> Path:
    folder.mkdir(parents=True)
    t = 1.7e9
    lines = []
    for step in range(n):
        t += 0.5 + (gap if step == gap_at else 0.0)
        loss = math.nan if nan_at is not None and step >= nan_at else 3.0 + 5.0 / (1 + step)
        lines.append(json.dumps({"step": step, "time": t, "loss": loss, "lr": 3e-4}))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_healthy_run_exits_0_with_spec_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(capsys, str(H100 / "healthy_bf16"), "--json")
    assert code == 0, err
    for obj in json_lines(out):
        assert set(obj) == SPEC_KEYS
        assert obj["severity"] == "info" and obj["run"] == "healthy_bf16"


def test_nan_run_exits_1_with_a_critical_at_step_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(capsys, str(H100 / "fp16_adam_eps_nan"), "--json")
    assert code == 1
    alerts = json_lines(out)
    assert {"detector": "nan", "severity": "critical", "step": 1, "metric": "loss"}.items() <= \
        alerts[0].items()
    assert [a for a in alerts if a["severity"] != "info"] == alerts[:1]


def test_memory_leak_reports_memory_pressure_then_the_crash(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(capsys, str(H100 / "memory_leak_oom"), "--json")
    assert code == 1
    alerts = json_lines(out)
    log_memory = [a for a in alerts if a["detector"] == "memory_pressure"
                  and a["evidence"]["source"] == "log"]  # type: ignore[index]
    crash = [a for a in alerts if a["detector"] == "crash"]
    assert len(log_memory) == 1 and len(crash) == 1
    assert str(crash[0]["message"]).startswith("run crashed: out of memory")
    assert log_memory[0]["step"] < crash[0]["step"]  # type: ignore[operator]


def test_human_output_and_stored_alerts_are_not_duplicated(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "history.duckdb"
    code, out, _ = check(capsys, str(H100 / "lr_stuck_at_zero"), "--db", str(db))
    assert code == 1
    line = next(x for x in out.splitlines() if "lr_zero" in x)
    assert line.startswith("WARNING") and "lr_stuck_at_zero" in line and "step 30" in line
    assert out.splitlines()[-1].startswith("1 run checked:")
    code, _, _ = check(capsys, str(H100 / "lr_stuck_at_zero"), "--db", str(db))
    assert code == 1
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT detector, count(*) FROM alerts WHERE detector = 'lr_zero' "
                           "GROUP BY detector").fetchall()
    finally:
        con.close()
    assert rows == [("lr_zero", 1)]


def test_stall_after_overrides_the_adaptive_threshold(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = write_run(tmp_path / "runs" / "paused", gap_at=200, gap=200.0)
    code, out, _ = check(capsys, str(run), "--json")
    assert code == 0  # 200 s is under the 300 s floor
    assert not [a for a in json_lines(out) if a["severity"] != "info"]
    code, out, _ = check(capsys, str(run), "--json", "--stall-after", "60")
    assert code == 1
    stall = [a for a in json_lines(out) if a["detector"] == "stall" and a["severity"] == "warning"]
    assert len(stall) == 1 and stall[0]["step"] == 199


def test_a_run_that_just_ends_is_not_a_stall(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    run = write_run(tmp_path / "old-run")  # ends in 2023, no finished marker
    code, out, _ = check(capsys, str(run), "--json")
    assert code == 0
    assert [(a["detector"], a["severity"]) for a in json_lines(out)] == [("stall", "info")]


def test_bad_input_is_handled_without_traceback(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    run = write_run(tmp_path / "messy", n=120, nan_at=100)
    with open(run / "metrics.jsonl", "ab") as fh:
        fh.write(b'{"step": 120, "loss": \xff\xfe garbage\n{"step": 121, "lo')  # bad + truncated
    code, out, err = check(capsys, str(run), "--json")
    assert code == 1 and "Traceback" not in err
    assert json_lines(out)[0]["detector"] == "nan"


@pytest.mark.parametrize("make", ["missing", "empty", "not-a-log"])
def test_unusable_paths_exit_2_with_one_sentence(make: str, capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    path = tmp_path / make
    if make == "empty":
        path.mkdir()
    elif make == "not-a-log":
        path.write_bytes(b"\x00\x01binary")
    code, out, err = check(capsys, str(path))
    assert code == 2 and out == ""
    assert err.startswith("cockpit: ") and str(path) in err and err.count("\n") == 1


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", str(tmp_path), "--stall-after", "soon"])
    assert exc.value.code == 2
    code, _, err = check(capsys, str(H100 / "healthy_bf16"), "--replay-gpu", str(tmp_path / "x"))
    assert code == 2 and "--replay-gpu" in err


def test_process_record_classifies_a_silent_run(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    hung = write_run(tmp_path / "runs" / "hung", n=200)
    last = 1.7e9 + 0.5 * 200
    (hung / "process.json").write_text(json.dumps({
        "pid": 4242, "process_start": 1.7e9, "process_end": None, "exit_code": None,
        "observed_at": last + 1800, "alive_at_observation": True}))
    code, out, _ = check(capsys, str(hung), "--json")
    assert code == 1
    stall = json_lines(out)
    assert [(a["detector"], a["severity"]) for a in stall] == [("stall", "warning")]
    assert stall[0]["evidence"]["classification"] == "hung"  # type: ignore[index]
    assert "30 min" in str(stall[0]["message"])

    failed = write_run(tmp_path / "runs" / "failed", n=200)
    (failed / "process.json").write_text(json.dumps({
        "pid": 4243, "process_start": 1.7e9, "process_end": last + 1, "exit_code": 1}))
    code, out, _ = check(capsys, str(failed), "--json")
    assert code == 1
    crash = json_lines(out)
    assert [(a["detector"], a["severity"], a["step"]) for a in crash] == [("crash", "critical", 199)]
    assert "exit code 1" in str(crash[0]["message"])


@pytest.mark.parametrize(("args", "words"), [
    (["--gpu-source", "nvml"], "check reads past telemetry"),
    (["--gpu-source", "prometheus://127.0.0.1:9", "--replay-gpu", "."], "choose one GPU source"),
])
def test_gpu_source_misuse_is_one_sentence(args: list[str], words: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(capsys, str(H100 / "healthy_bf16"), *args)
    assert code == 2 and out == "" and words in err and err.count("\n") == 1


def test_an_unreachable_prometheus_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = check(capsys, str(H100 / "healthy_bf16"), "--gpu-source",
                           f"prometheus://127.0.0.1:{port}")
    assert code == 2 and out == ""
    assert err.startswith(f"cockpit: cannot reach Prometheus at http://127.0.0.1:{port}")
    assert err.count("\n") == 1


def test_replay_gpu_attaches_only_the_runs_own_gpu_alerts(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    """A recording of a session with two jobs (healthy_bf16's PID 432, then the starved
    dataloader's PID 481): each run gets the GPU alerts of the process whose lifetime matches
    its logging window, never the other job's."""
    session = tmp_path / "session"
    session.mkdir()
    for name in ("gpu_trace.jsonl", "gpu_procs.jsonl"):
        (session / name).write_bytes((H100 / "healthy_bf16" / name).read_bytes()
                                     + (H100 / "starved_dataloader" / name).read_bytes())
    runs = {}
    for name in ("healthy_bf16", "starved_dataloader"):
        runs[name] = tmp_path / "runs" / name
        runs[name].mkdir(parents=True)
        (runs[name] / "metrics.jsonl").write_bytes((H100 / name / "metrics.jsonl").read_bytes())

    code, out, _ = check(capsys, str(runs["healthy_bf16"]), "--json", "--replay-gpu", str(session))
    assert [a for a in json_lines(out) if a["severity"] != "info"] == []
    assert code == 0
    code, out, _ = check(capsys, str(runs["starved_dataloader"]), "--json", "--replay-gpu",
                         str(session))
    low = [a for a in json_lines(out) if a["detector"] == "low_gpu_util"]
    assert code == 1 and len(low) == 1
    assert low[0]["run"] == "starved_dataloader" and low[0]["evidence"]["pid"] == 481  # type: ignore[index]
    # A run logged at another time than the whole recording: nothing in it is the run's.
    code, out, _ = check(capsys, str(write_run(tmp_path / "runs" / "other")), "--json",
                         "--replay-gpu", str(session))
    assert code == 0 and not [a for a in json_lines(out) if a.get("evidence", {}).get("source") == "nvml"]  # type: ignore[union-attr]
