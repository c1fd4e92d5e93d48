"""Loud about what was not read: per-file counts of skipped lines and values with their reason
in `check` and `import` output and in `cockpit runs`; unreadable named input exits 2;
unreadable folders and files are listed and `check` does not exit 0; a file with no
readable point is not a run; a folder of garbage says so; a config header does not hide a
JSONL log; list values never stop ingest."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.cli.main import main
from tests.conftest import H100

TFEVENTS = sorted((H100 / "healthy_bf16").glob("events.out.tfevents.*"))[0]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def jsonl(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def healthy(n: int = 40) -> str:
    return jsonl([{"step": i, "loss": 2.0 - i / 100, "lr": 1e-3} for i in range(n)])


def test_a_folder_of_garbage_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs" / "x"
    runs.mkdir(parents=True)
    (runs / "metrics.jsonl").write_bytes(b"\x00\x01 not json\n{broken\n")
    (runs / "events.out.tfevents.1.host").write_bytes(os.urandom(4096))
    (runs / "log.csv").write_bytes(b"\xff\xfe\x00\x00garbage")
    for command in ("check", "import"):
        code, out, err = run_cli(capsys, command, str(tmp_path / "runs"), "--db",
                                 str(tmp_path / f"{command}.duckdb"))
        assert code == 2 and out == "", (command, out, err)
        assert err.startswith("cockpit: no training logs found in") and err.count("\n") == 1
        assert "metrics.jsonl: holds no metrics" in err
        assert "events.out.tfevents.1.host: holds no readable point" in err
        assert "unreadable line(s) or record(s)" in err


def test_a_garbage_tfevents_file_is_not_a_run(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "runs" / "good"
    bad = tmp_path / "runs" / "bad"
    good.mkdir(parents=True)
    bad.mkdir()
    (good / "metrics.jsonl").write_text(healthy())
    (bad / "events.out.tfevents.1.host").write_bytes(b"\x17" * 5000)
    db = str(tmp_path / "h.duckdb")
    code, out, err = run_cli(capsys, "import", str(tmp_path / "runs"), "--db", db)
    assert code == 0 and "imported 1 run(s)" in out, err
    assert "not read: " in err and "bad/events.out.tfevents.1.host: holds no readable point" in err
    code, out, _ = run_cli(capsys, "runs", "--db", db, "--json")
    assert [r["name"] for r in json.loads(out)] == ["good"]


def test_skipped_lines_and_values_are_counted_per_file_everywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    rows = healthy().splitlines(keepends=True)
    rows.insert(5, "{this is not json\n")
    rows.insert(9, json.dumps({"step": 100, "loss": 1.0, "tags": ["a", "b"]}) + "\n")
    rows.insert(12, '{"step": 101, "loss": ' + "9" * 400 + "}\n")
    (run / "metrics.jsonl").write_text("".join(rows))
    db = str(tmp_path / "h.duckdb")
    code, out, err = run_cli(capsys, "check", str(tmp_path / "runs"), "--db", db)
    assert code == 0, err
    line = next(ln for ln in err.splitlines() if ln.startswith("not read: "))
    assert line.endswith(
        "metrics.jsonl: 1 unreadable line(s) or record(s), e.g. '{this is not json'; "
        "2 value(s) skipped: a list that is not all numbers (1), a number beyond the "
        "range of a double (1)")
    assert "1 folder(s) or file(s) not read in full" in out
    code, out, err = run_cli(capsys, "import", str(tmp_path / "runs"), "--db", db)
    assert code == 0 and "not read: " in err
    code, out, _ = run_cli(capsys, "runs", "--db", db, "--json")
    (row,) = json.loads(out)
    assert row["skipped"] == 3 and row["not_read"].startswith("metrics.jsonl: 1 unreadable")


def test_a_config_header_does_not_hide_a_jsonl_log(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    header = json.dumps({"config": {"model": "gpt2", "lr": "cosine"}, "seed": "7"}) + "\n"
    (run / "metrics.jsonl").write_text(header + healthy())
    db = str(tmp_path / "h.duckdb")
    code, out, err = run_cli(capsys, "import", str(tmp_path / "runs"), "--db", db)
    assert code == 0 and "imported 1 run(s), 80 new point(s)" in out, (out, err)


def test_list_values_never_stop_ingest_and_siblings_are_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    for name in ("a", "b"):
        (runs / name).mkdir(parents=True)
    (runs / "a" / "metrics.jsonl").write_text(jsonl(
        [{"step": i, "loss": 1.0, "lr": [1e-3, 1e-4][: 1 + i % 2]} for i in range(30)]))
    (runs / "b" / "metrics.jsonl").write_text(healthy(30))
    for command in ("import", "check", "watch"):
        db = str(tmp_path / f"{command}.duckdb")
        extra = ["--once"] if command == "watch" else []
        code, _, err = run_cli(capsys, command, str(runs), "--db", db, *extra)
        assert code in (0, 1) and "Traceback" not in err, (command, err)
        code, out, _ = run_cli(capsys, "query", "--db", db, "--format", "json",
                               "SELECT key, count(*) AS n FROM metrics GROUP BY key ORDER BY key")
        assert json.loads(out) == [{"key": "loss", "n": 60}, {"key": "lr", "n": 30},
                                   {"key": "lr/0", "n": 30}, {"key": "lr/1", "n": 15}], command


def test_unreadable_named_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A socket named like a log cannot be opened, even by root (ENXIO)."""
    path = tmp_path / "metrics.jsonl"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    try:
        for command in ("check", "import", "watch"):
            code, out, err = run_cli(capsys, command, str(path), "--db", str(tmp_path / "h.db"))
            assert code == 2 and out == "", (command, err)
            assert err.startswith(f"cockpit: cannot read {path}") and err.count("\n") == 1
    finally:
        server.close()


@contextlib.contextmanager
def as_nobody() -> Iterator[None]:
    """Run as user `nobody` for a moment (root reads everything, whatever the mode)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder `nobody` can use (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="cockpit-not-read-"))
    folder.chmod(0o777)
    yield folder
    for p in folder.rglob("*"):
        with contextlib.suppress(OSError):
            p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(folder, ignore_errors=True)


def test_unreadable_folders_and_files_are_listed_and_check_does_not_exit_0(
        shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = shared_dir / "runs"
    for name in ("ok", "locked", "half"):
        (runs / name).mkdir(parents=True)
    (runs / "ok" / "metrics.jsonl").write_text(healthy())
    (runs / "locked" / "metrics.jsonl").write_text(healthy())
    (runs / "half" / "metrics.jsonl").write_text(healthy())
    shutil.copy(TFEVENTS, runs / "half" / TFEVENTS.name)
    db = shared_dir / "h.duckdb"
    warm = run_cli(capsys, "check", str(runs), "--db", str(shared_dir / "warm.duckdb"))
    assert warm[0] == 0, warm  # every module is imported before dropping to `nobody`
    run_cli(capsys, "import", str(runs), "--db", str(shared_dir / "warm2.duckdb"))
    (runs / "locked").chmod(0o000)
    (runs / "half" / TFEVENTS.name).chmod(0o000)
    with as_nobody():
        code, out, err = run_cli(capsys, "check", str(runs), "--db", str(db))
        assert code == 2, (out, err)
        assert f"not read: {runs / 'locked'}: cannot be listed" in err
        assert f"not read: {runs / 'half' / TFEVENTS.name}: cannot be read" in err
        assert "2 run" in out  # ok and half were checked
        assert err.splitlines()[-1].startswith("cockpit: 2 folder(s) or file(s) could not be read")
        code, out, err = run_cli(capsys, "import", str(runs), "--db", str(shared_dir / "i.db"))
        assert code == 2 and "imported 2 run(s)" in out and "could not be read" in err
    (runs / "ok").chmod(0o000)
    with as_nobody():
        code, out, err = run_cli(capsys, "check", str(runs / "ok"), "--db", str(db))
        assert code == 2 and err.startswith(f"cockpit: cannot read {runs / 'ok'}"), err
