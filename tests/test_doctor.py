"""`cockpit doctor`: findings for NVML/GPUs (fake and real), display, database, LLM endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.cli.doctor_cmd import check_database, check_display, check_llm, check_nvml
from cockpit.cli.main import main
from cockpit.store.db import connect
from cockpit.telemetry.fake_nvml import FakeGpu, FakeNvml


def test_doctor_always_exits_0_and_names_each_subsystem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-key-123")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://user:pa55@llm.example.com:8443/v1?key=abc")
    assert main(["doctor", "--db", str(tmp_path / "h.duckdb")]) == 0
    out, err = capsys.readouterr()
    for name in ("NVML", "GPUs", "Host", "Display", "Database", "LLM"):
        assert name in out
    assert "sk-very-secret" not in out and "pa55" not in out and "key=abc" not in out
    assert "https://llm.example.com:8443/v1" in out and "OPENAI_API_KEY set (not shown)" in out
    assert main(["doctor", "--json", "--db", str(tmp_path / "h.duckdb")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"nvml", "gpus", "host", "display", "database", "llm"}
    assert data["llm"]["api_key_set"] is True and "sk-very" not in json.dumps(data)
    assert not (tmp_path / "h.duckdb").exists()  # doctor never creates the database


def test_gpus_with_mig_and_gpm(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(), FakeGpu(name="NVIDIA A100-SXM4-40GB", mig_enabled=True,
                                        gpm_supported=False, mem_total=40 * 10**9)])
    monkeypatch.setitem(sys.modules, "pynvml", fake.module())
    nvml, gpus = check_nvml()
    assert nvml.ok and "driver 580.159.04" in nvml.summary and "cuda 13.0" in nvml.summary
    assert gpus.summary == "2 visible"
    assert "NVIDIA H100 80GB HBM3, 85.5 GB, power limit 700 W, MIG off, GPM" in gpus.details[0]
    assert "yes" in gpus.details[0]
    assert "MIG on" in gpus.details[1] and gpus.details[1].endswith("no")


def test_no_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(init_error=9).module())
    nvml, gpus = check_nvml()
    assert nvml.ok is False and "not loaded" in nvml.summary and gpus.summary == "none visible"


@pytest.mark.parametrize(("env", "platform", "ok", "words"), [
    ({}, "linux", False, "needs a desktop session"),
    ({"DISPLAY": ":0"}, "linux", True, "DISPLAY=:0: Qt opens it (xcb 1920x1080)"),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True, "WAYLAND_DISPLAY=wayland-0"),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", None, "off screen"),
    ({}, "darwin", True, "native desktop"),
])
def test_display(env: dict[str, str], platform: str, ok: bool | None, words: str) -> None:
    # The probe (a child opening Qt's plugin) is exercised for real in tests/test_qt_xcb.py.
    finding = check_display(env, platform, probe=lambda _env: (True, "xcb 1920x1080"))
    assert finding.ok is ok and words in finding.summary


def test_display_set_but_plugin_fails() -> None:
    finding = check_display({"DISPLAY": ":0"}, "linux",
                            probe=lambda _env: (False, "no X server answers on DISPLAY=:0"))
    assert finding.ok is False and finding.data["plugin_loads"] is False
    assert finding.summary == "DISPLAY=:0: no X server answers on DISPLAY=:0"


def test_llm_not_configured() -> None:
    finding = check_llm({})
    assert finding.ok is False and "--offline" in finding.summary


def test_database_states(tmp_path: Path) -> None:
    missing = check_database(tmp_path / "sub" / "h.duckdb")
    assert missing.ok and "not created yet" in missing.summary
    db = tmp_path / "h.duckdb"
    connect(db).close()
    fine = check_database(db)
    assert fine.ok and "schema v" in fine.summary and "not locked" in fine.summary
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        locked = check_database(db)
        assert locked.ok is False and "in use by another process" in locked.summary
        assert f"PID {holder.pid}" in locked.summary
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
