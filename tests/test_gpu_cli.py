"""`cockpit gpu`: replay, record, local NVML (fake), Prometheus, and every user error."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from cockpit.cli.main import main
from cockpit.store.db import connect
from cockpit.telemetry.fake_nvml import FakeGpu, FakeNvml
from cockpit.telemetry.rows import GPU_SAMPLE_COLUMNS

RUNS = Path(__file__).parent / "fixtures" / "h100-runs"
STARVED = RUNS / "starved_dataloader"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["gpu", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _objects(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_json_replay_prints_gpu_sample_objects(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--replay", str(STARVED), "--speed", "0", "--json", "--count", "5")
    assert code == 0 and err == ""
    rows = _objects(out)
    assert len(rows) == 5 and all(tuple(r) == GPU_SAMPLE_COLUMNS for r in rows)
    assert rows[0]["power_w"] == pytest.approx(122.72)
    code, out, _ = _run(capsys, "--replay", str(STARVED), "--speed", "0", "--json")
    rows = _objects(out)
    assert len(rows) == 531
    busy = [r for r in rows if r["sm_active"] is not None and r["util_gpu"] > 5]
    assert busy and all(r["sm_active"] < 30 for r in busy)


def test_record_then_replay_the_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = tmp_path / "rec"
    code, original, _ = _run(capsys, "--replay", str(STARVED), "--speed", "0", "--json",
                             "--record", str(rec))
    assert code == 0
    assert len((rec / "gpu_trace.jsonl").read_text().splitlines()) == 531
    assert len((rec / "gpu_procs.jsonl").read_text().splitlines()) == 53
    code, again, _ = _run(capsys, "--replay", str(rec / "gpu_trace.jsonl"), "--speed", "0", "--json")
    assert code == 0 and again == original
    code, _, err = _run(capsys, "--replay", str(STARVED), "--speed", "0", "--record", str(rec))
    assert code == 2 and "already holds a recording" in err and err.count("\n") == 1


def test_human_output_shows_samples_processes_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--replay", str(STARVED), "--speed", "0", "--count", "250")
    assert code == 0
    lines = out.splitlines()
    assert sum("util " in line for line in lines) == 250
    assert any("pid 481" in line for line in lines)
    assert err.startswith("# replaying") and "samples" in err


def test_no_gpu_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(init_error=12).module())
    code, out, err = _run(capsys)
    assert code == 2 and out == ""
    assert err.startswith("cockpit: no NVIDIA driver") and err.count("\n") == 1
    assert "Traceback" not in err


def test_local_nvml_stream_record_and_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeNvml([FakeGpu(util_gpu=33, procs=[(4321, 10**9)]), FakeGpu(util_gpu=44)])
    monkeypatch.setitem(sys.modules, "pynvml", fake.module())
    db = tmp_path / "h.duckdb"
    code, out, _ = _run(capsys, "--json", "--interval", "0.1", "--count", "6",
                        "--record", str(tmp_path / "rec"), "--db", str(db))
    assert code == 0
    rows = _objects(out)
    assert len(rows) == 6 and {r["gpu"]: r["util_gpu"] for r in rows} == {0: 33, 1: 44}
    procs = [json.loads(x) for x in (tmp_path / "rec" / "gpu_procs.jsonl").read_text().splitlines()]
    assert procs and procs[0]["procs"][0]["pid"] == 4321
    con = connect(db, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM gpu_samples").fetchone() == (6,)
        assert con.execute("SELECT DISTINCT pid FROM gpu_processes").fetchall() == [(4321,)]
    finally:
        con.close()


def test_prometheus_source(capsys: pytest.CaptureFixture[str]) -> None:
    from test_telemetry_prometheus import FakePrometheus

    server = FakePrometheus(token="tok")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("COCKPIT_PROMETHEUS_TOKEN", "tok")
            code, out, _ = _run(capsys, "--prometheus", server.url, "--json", "--count", "4")
        assert code == 0
        assert sorted(r["gpu"] for r in _objects(out)) == [0, 1, 2, 5]
        code, out, err = _run(capsys, "--prometheus", server.url, "--count", "1")
        assert code == 2 and "refused our credentials" in err and err.count("\n") == 1
    finally:
        server.close()


def test_unreachable_prometheus(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = _run(capsys, "--prometheus", f"http://127.0.0.1:{port}")
    assert code == 2 and out == ""
    assert err.startswith("cockpit: cannot reach Prometheus") and err.count("\n") == 1


@pytest.mark.parametrize(("argv", "words"), [
    (["--speed", "2"], "--speed only applies to --replay"),
    (["--replay", "x", "--prometheus", "http://h"], "choose one source"),
    (["--interval", "0.01"], "at least 0.1"),
    (["--replay", str(STARVED), "--speed", "-1"], "--speed must be"),
    (["--count", "0"], "--count must be"),
    (["--since", "60"], "--since"),
    (["--replay", "/nonexistent/recording"], "no GPU recording"),
    (["--gpu-source", "ftp://x"], "--gpu-source ftp://x is not a GPU source"),
    (["--gpu-source", "prometheus://"], "names no server"),
    (["--gpu-source", "off"], "nothing to show"),
    (["--gpu-source", "prometheus://a:1", "--prometheus", "http://b:2"], "choose one"),
])
def test_user_errors_are_one_sentence(argv: list[str], words: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_record_into_a_file_path_is_refused(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    code, _, err = _run(capsys, "--replay", str(STARVED), "--speed", "0", "--record", str(target))
    assert code == 2 and "is a file" in err and target.read_text() == "keep me"


def test_damaged_replay_reports_skipped_lines(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "rec"
    shutil.copytree(STARVED, folder)
    with (folder / "gpu_trace.jsonl").open("ab") as handle:
        handle.write(b"\x00\xff garbage\n{\"ts\": 1")
    code, out, err = _run(capsys, "--replay", str(folder), "--speed", "0", "--json")
    assert code == 0 and len(out.splitlines()) == 531
    assert "2 bad line(s) skipped" in err


def _screen(raw: str) -> list[str]:
    """What a terminal shows after `raw`: just the control sequences the live view uses
    (cursor to the start of a line N up, clear to end of line, clear below)."""
    import re

    lines: list[str] = [""]
    row = 0
    for token in re.split(r"(\x1b\[\d*[FKJ]|\r?\n)", raw):
        if not token:
            continue
        if token.startswith("\x1b["):
            kind, count = token[-1], token[2:-1]
            if kind == "F":
                row = max(row - int(count or 1), 0)
            elif kind == "K":
                lines[row] = lines[row]
            elif kind == "J":
                del lines[row + 1:]
                lines[row] = ""
        elif token in ("\n", "\r\n"):
            row += 1
            if row == len(lines):
                lines.append("")
        else:
            lines[row] = token
    return [ln for ln in lines if ln]


def test_on_a_terminal_the_gpus_refresh_in_place(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               COLUMNS="200", LINES="40")
    proc = subprocess.Popen([sys.executable, "-m", "cockpit", "gpu", "--replay", str(STARVED),
                             "--speed", "0", "--count", "400"],
                            stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(30) == 0
    raw = b"".join(chunks).decode()
    assert "\x1b[" in raw and "F" in raw  # redrawn from the top of its block
    shown = _screen(raw.replace("\r\n", "\n"))
    samples = [ln for ln in shown if "util" in ln]
    assert shown[0].startswith("cockpit gpu") and len(samples) == 1  # one line per GPU
    assert raw.count("util ") > 1  # and it was drawn more than once, in the same place


def test_piped_it_prints_one_line_per_sample() -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-m", "cockpit", "gpu", "--replay", str(STARVED),
                          "--speed", "0", "--count", "30"], capture_output=True, text=True,
                         env=env, timeout=60, check=True).stdout
    assert "\x1b[" not in out
    assert sum(1 for ln in out.splitlines() if "util" in ln) == 30
