"""`make run`'s check of Qt's xcb plugin and `cockpit doctor`'s display probe, on real ELF
files read by the real `ldd`, and a real Qt child process against a real Xvfb."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.cli import qt_xcb
from cockpit.cli.doctor_cmd import check_display, probe_display

ROOT = Path(__file__).resolve().parents[1]


def _gcc(*args: str | Path) -> None:
    subprocess.run(["gcc", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def plugins_missing_lib(tmp_path: Path) -> Path:
    """A plugins folder whose platforms/libqxcb.so links libxcb-nothere.so.1, which the
    loader cannot find: the stub it was linked against is deleted afterwards."""
    if shutil.which("gcc") is None or shutil.which("ldd") is None:
        pytest.skip("no C compiler or ldd: apt-get install gcc libc6-dev")
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir()
    (tmp_path / "stub.c").write_text("int xcb_icccm_stub(void) { return 1; }\n")
    _gcc("-shared", "-fPIC", "-Wl,-soname,libxcb-nothere.so.1", "-o",
         stub_dir / "libxcb-nothere.so.1", tmp_path / "stub.c")
    (tmp_path / "plugin.c").write_text(
        "int xcb_icccm_stub(void);\nint qt_plugin_probe(void) { return xcb_icccm_stub(); }\n")
    platforms = tmp_path / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    _gcc("-shared", "-fPIC", "-o", platforms / "libqxcb.so", tmp_path / "plugin.c",
         f"-L{stub_dir}", "-l:libxcb-nothere.so.1")
    shutil.rmtree(stub_dir)
    return tmp_path / "plugins"


def test_a_missing_library_is_found_with_ldd_and_named_by_its_package(
    plugins_missing_lib: Path,
) -> None:
    missing = qt_xcb.missing_libraries(plugins_missing_lib)
    assert missing == ["libxcb-nothere.so.1"]
    assert qt_xcb.packages_for(missing) == ["libxcb-nothere1"]  # Debian's naming rule
    assert qt_xcb.packages_for(["libxcb-icccm.so.4", "libxkbcommon-x11.so.0",
                                "libX11-xcb.so.1", "libglib-2.0.so.0"]) == [
        "libglib2.0-0", "libx11-xcb1", "libxcb-icccm4", "libxkbcommon-x11-0"]
    assert qt_xcb.install_line(["libxcb-icccm4", "libxcb-keysyms1"]) == (
        "sudo apt install libxcb-icccm4 libxcb-keysyms1")


def test_make_run_stops_with_the_one_apt_line_when_it_cannot_install(
    plugins_missing_lib: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(qt_xcb, "qt_plugins_dir", lambda: plugins_missing_lib)
    monkeypatch.setattr(qt_xcb, "_can_install", lambda: False)  # as a user without root
    assert qt_xcb.main(["--install"]) == 1
    err = capsys.readouterr().err
    assert "needs libxcb-nothere.so.1" in err
    assert err.strip().splitlines()[-1].strip() == "sudo apt install libxcb-nothere1"


def test_the_makefile_runs_the_check_before_the_app() -> None:
    makefile = (ROOT / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:"):].strip().split("\n\n")[0]
    lines = [ln.strip() for ln in run.splitlines()[1:]]
    assert lines[0] == "$(BIN)/python -m cockpit.cli.qt_xcb --install"
    assert lines[1].startswith("$(BIN)/cockpit demo")


def test_this_machine_has_what_the_xcb_plugin_loads() -> None:
    listed = [ln.split()[0] for ln in (ROOT / "packaging/apt/xcb.txt").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    status = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\\n", *listed],
                            capture_output=True, text=True, check=False).stdout
    if status.count("install ok installed") < len(listed):
        pytest.skip("packaging/apt/xcb.txt is not installed: `make test` installs it as root")
    assert qt_xcb.missing_libraries() == []
    assert set(qt_xcb.packages_for(list(qt_xcb.PACKAGE_OF))) <= set(
        qt_xcb.PACKAGE_OF.values())


@pytest.fixture
def xvfb() -> Iterator[str]:
    if shutil.which("Xvfb") is None:
        pytest.skip("no Xvfb: apt-get install xvfb (packaging/apt/xcb.txt)")
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()  # Xvfb writes its display number once it is ready
    try:
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY",
                                                               "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_doctor_opens_the_xcb_plugin_on_a_real_x_server(xvfb: str) -> None:
    if qt_xcb.missing_libraries():
        pytest.skip("the xcb plugin's libraries are missing: `make run` installs them")
    finding = check_display(_env(DISPLAY=xvfb), "linux")
    assert finding.ok is True, finding.summary
    assert "xcb 1280x800" in finding.summary and finding.data["plugin_loads"] is True


def test_doctor_says_when_no_x_server_answers(xvfb: str) -> None:
    if qt_xcb.missing_libraries():
        pytest.skip("the xcb plugin's libraries are missing: `make run` installs them")
    dead = f":{int(xvfb[1:]) + 50}"
    ok, said = probe_display(_env(DISPLAY=dead, QT_QPA_PLATFORM="xcb"))
    assert not ok and said == f"no X server answers on DISPLAY={dead}"


def test_doctor_explains_a_plugin_that_does_not_load(
    plugins_missing_lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qt_xcb, "qt_plugins_dir", lambda: plugins_missing_lib)
    stderr = ('qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though '
              "it was found.\nThis application failed to start because no Qt platform plugin "
              "could be initialized.\n")
    from cockpit.cli.doctor_cmd import explain_probe_failure

    said = explain_probe_failure(stderr, {"DISPLAY": ":0"})
    assert said == ("Qt's xcb plugin does not load: libxcb-nothere.so.1 missing; "
                    "run `sudo apt install libxcb-nothere1`")
    assert sys.platform.startswith("linux")
