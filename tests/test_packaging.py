"""Static checks of the installer sources (packaging/, resources/): fast, no build, no Qt.

The real build and install test is `make package && make package-test` (packaging/README.md
says why CI does not run it on every push); these catch the mistakes that would only show
there: torch or a dev tool reaching the bundle, a lazily imported module missing from it,
a Qt module the UI starts using but the spec excludes, a broken desktop entry or icon.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
LINUX = PACKAGING / "linux"


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pkgtest_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rules = load(PACKAGING / "bundle_rules.py")
check_bundle = load(LINUX / "check_bundle.py")
allowlist = load(LINUX / "stderr_allowlist.py")
elf_deps = load(PACKAGING / "elf_deps.py")
requirements = load(PACKAGING / "runtime_requirements.py")


def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def spec_calls(name: str) -> list[ast.Call]:
    tree = ast.parse((PACKAGING / "cockpit.spec").read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]


# --- the spec -------------------------------------------------------------------------


def test_spec_builds_onedir_never_onefile() -> None:
    exes = spec_calls("EXE")
    assert exes, "the spec defines no EXE"
    for exe in exes:
        keywords = {k.arg: k.value for k in exe.keywords}
        flag = keywords.get("exclude_binaries")
        assert isinstance(flag, ast.Constant) and flag.value is True, (
            "EXE must leave binaries to COLLECT"
        )
        positional = [ast.unparse(arg) for arg in exe.args]
        assert "a.binaries" not in positional and "a.datas" not in positional
    assert len(spec_calls("COLLECT")) == 1, "onedir needs one COLLECT"


def test_spec_takes_its_rules_from_bundle_rules() -> None:
    (analysis,) = spec_calls("Analysis")
    keywords = {k.arg: ast.unparse(k.value) for k in analysis.keywords}
    assert keywords["excludes"] == "rules.excludes()"
    assert "rules.cockpit_modules(ROOT)" in keywords["hiddenimports"]
    assert "rules.runtime_modules(ROOT)" in keywords["hiddenimports"]
    assert "plugin_modules" in keywords["hiddenimports"]


def test_packages_that_list_their_plugin_folder_ship_it() -> None:
    """Apprise learns its URL schemes by listing apprise/plugins/ at run time."""
    spec = (PACKAGING / "cockpit.spec").read_text(encoding="utf-8")
    assert "for package in rules.PLUGIN_PACKAGES:" in spec
    assert "collect_data_files(package, include_py_files=True)" in spec
    assert "collect_submodules(package)" in spec
    assert set(rules.PLUGIN_PACKAGES) <= set(rules.runtime_modules(ROOT))


@pytest.mark.parametrize(
    "module",
    [
        "torch",
        "tensorboard",
        "mlflow",
        "lightning",
        "keras",
        "transformers",
        "inspect_ai",
        "pytest",
        "mypy",
    ],
)
def test_training_stack_and_dev_tools_are_excluded(module: str) -> None:
    assert module in rules.excludes()


def test_every_optional_extra_is_mapped_and_excluded() -> None:
    extras = pyproject()["project"].get("optional-dependencies", {})
    excluded = set(rules.excludes())
    for group, reqs in extras.items():
        for req in reqs:
            name = rules.requirement_name(req)
            assert name in rules.EXTRA_MODULES, (
                f"[{group}] dependency {name} is not in EXTRA_MODULES of packaging/bundle_rules.py"
            )
            for module in rules.EXTRA_MODULES[name]:
                assert module in excluded, f"{module} (from {name}) is not excluded"


def test_runtime_dependencies_are_bundled_not_excluded() -> None:
    modules = rules.runtime_modules(ROOT)
    assert len(modules) == len(set(modules)) >= 10
    for module in modules:
        # The distribution -> module mapping is right: the dev venv has every runtime dep.
        assert importlib.util.find_spec(module) is not None, f"no module {module}"
    assert "pynvml" in modules  # imported by name in cockpit/telemetry/nvml_gateway.py
    assert not set(modules) & set(rules.excludes())
    assert "torch" not in modules


def test_packages_with_data_are_runtime_dependencies_with_data() -> None:
    modules = rules.runtime_modules(ROOT)
    for package in rules.DATA_PACKAGES:
        assert package in modules
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None
        folder = Path(spec.origin).parent
        assert any(p.suffix not in (".py", ".pyc") for p in folder.rglob("*") if p.is_file()), (
            f"{package} has no data files: drop it from DATA_PACKAGES")


def test_requirement_name_strips_versions_and_markers() -> None:
    assert (
        rules.requirement_name("PySide6-Essentials>=6.11.3,<6.12; python_version == '3.11'")
        == "pyside6-essentials"
    )
    assert rules.requirement_name("nvidia_ml_py>=12.535") == "nvidia-ml-py"
    assert rules.requirement_name("mlflow-skinny[extras] >= 2") == "mlflow-skinny"


def test_an_unmapped_runtime_dependency_stops_the_build(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["numpy>=1", "somethingnew>=2"]\n'
    )
    with pytest.raises(ValueError, match="somethingnew"):
        rules.runtime_modules(tmp_path)


def test_build_venv_installs_only_project_dependencies() -> None:
    assert requirements.runtime_requirements() == pyproject()["project"]["dependencies"]
    script = (PACKAGING / "build.sh").read_text(encoding="utf-8")
    assert "build/pkg-venv" in script and "runtime_requirements.py" in script
    installs = [line for line in script.splitlines() if "pip install" in line]
    assert installs and all(
        "-r build/pkg-requirements.txt" in line or "--upgrade pip" in line for line in installs
    ), installs
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^package:\n((?:\t.*\n?)+)", makefile, re.MULTILINE)
    assert recipe is not None and "packaging/build.sh" in recipe.group(1)


def test_hidden_imports_cover_every_module_imported_by_name() -> None:
    hidden = set(rules.cockpit_modules(ROOT)) | set(rules.runtime_modules(ROOT))
    from cockpit.cli.main import COMMANDS
    from cockpit.ingest.formats import FORMATS

    for name in COMMANDS + [module for module, _, _ in FORMATS.values()]:
        if (ROOT / Path(*name.split("."))).with_suffix(".py").exists():
            assert name in hidden, f"{name} is imported by name but not a hidden import"
    literal = re.compile(r"""import_module\(\s*["']([\w.]+)["']""")
    for path in (ROOT / "cockpit").rglob("*.py"):
        for name in literal.findall(path.read_text(encoding="utf-8")):
            assert name in hidden or name.split(".")[0] == "cockpit", (
                f"{path.relative_to(ROOT)} imports {name} by name: it must be a hidden import"
            )


def test_cockpit_modules_lists_packages_and_modules() -> None:
    modules = rules.cockpit_modules(ROOT)
    assert "cockpit" in modules and "cockpit.cli.main" in modules
    assert "cockpit.ingest.formats" in modules
    assert not any("__pycache__" in m or m.endswith("__init__") for m in modules)


def test_qt_modules_the_ui_uses_are_kept() -> None:
    used: set[str] = set()
    for path in (ROOT / "cockpit").rglob("*.py"):
        used |= set(re.findall(r"PySide6\.(Qt\w+)", path.read_text(encoding="utf-8")))
        used |= {
            m
            for line in re.findall(
                r"from PySide6 import ([\w ,]+)", path.read_text(encoding="utf-8")
            )
            for m in re.split(r"[ ,]+", line)
            if m.startswith("Qt")
        }
    assert {"QtCore", "QtGui", "QtWidgets"} <= used
    for module in used:
        assert module in rules.QT_KEPT and module not in rules.QT_EXCLUDED, (
            f"cockpit uses PySide6.{module}: keep it in QT_KEPT (packaging/bundle_rules.py)"
        )
    assert {"QtOpenGL", "QtOpenGLWidgets"} <= set(rules.QT_KEPT)  # pyqtgraph imports them
    for heavy in ("QtWebEngineCore", "Qt3DCore", "QtMultimedia", "QtQuick", "QtQml"):
        assert f"PySide6.{heavy}" in rules.excludes()


@pytest.mark.parametrize(
    ("dest", "dropped"),
    [
        ("PySide6/Qt/translations/qtbase_de.qm", True),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", True),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", True),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", False),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", False),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", False),
        ("PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so", False),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", False),
        ("PySide6\\Qt\\translations\\qt_fr.qm", True),
        ("PySide6/Qt/lib/libQt6EglFsKmsSupport.so.6", True),
        ("libQt6EglFSDeviceIntegration.so.6", True),
        ("PySide6/Qt/lib/libQt6XcbQpa.so.6", False),
        ("libQt6Core.so.6", False),
    ],
)
def test_dropped_paths(dest: str, dropped: bool) -> None:
    assert rules.is_dropped(dest) is dropped


def test_openssl_is_left_to_the_system() -> None:
    assert rules.is_system_provided("libssl.so.3") and rules.is_system_provided("libcrypto.so.3")
    assert not rules.is_system_provided("libpython3.11.so.1.0")
    assert "libssl3" in check_bundle.control_depends(LINUX / "control.in")


def test_sample_runs_ship_where_the_demo_looks_for_them() -> None:
    assert "sample_runs" in rules.DATA_DIRS
    # In the bundle, cockpit/ sits in _internal/ next to the data folders, and
    # find_sample_runs looks in the folder above the cockpit package.
    source = (ROOT / "cockpit" / "demo.py").read_text(encoding="utf-8")
    assert 'Path(__file__).resolve().parent.parent / "sample_runs"' in source


def test_version_is_read_from_the_package() -> None:
    import cockpit

    assert rules.version(ROOT) == cockpit.__version__


# --- Linux: launcher, desktop entry, control file --------------------------------------


def desktop_entry() -> dict[str, str]:
    entry: dict[str, str] = {}
    group = ""
    for line in (LINUX / "cockpit.desktop").read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            group = line.strip("[]")
        elif "=" in line and group == "Desktop Entry":
            key, _, value = line.partition("=")
            entry[key] = value
    return entry


def test_desktop_entry_starts_the_app_with_the_installed_icon() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application" and entry["Name"] == "Cockpit"
    assert entry["Exec"].split()[:2] == ["cockpit", "app"]
    assert entry["Terminal"] == "false"
    script = (LINUX / "build_deb.sh").read_text(encoding="utf-8")
    assert f"NAME={entry['Icon']} " in script or f"NAME={entry['Icon']}\n" in script, (
        "the desktop entry's Icon must be the name build_deb.sh installs the icon under"
    )


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="desktop-file-validate not installed (apt-get install desktop-file-utils)",
)
def test_desktop_entry_validates() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(LINUX / "cockpit.desktop")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_launcher_execs_the_installed_bundle() -> None:
    launcher = LINUX / "cockpit-launcher.sh"
    text = launcher.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/sh\n")
    assert 'exec /opt/cockpit/cockpit "$@"' in text
    assert launcher.stat().st_mode & 0o111


XCB_PACKAGES = [
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-shape0",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-image0",
    "libxkbcommon-x11-0",
    "libegl1",
    "libgl1",
]


def test_deb_depends_on_what_qt_xcb_needs() -> None:
    depends = check_bundle.control_depends(LINUX / "control.in")
    for package in XCB_PACKAGES:
        assert package in depends
    control = (LINUX / "control.in").read_text(encoding="utf-8")
    name = re.search(r"^Package: (\S+)$", control, re.MULTILINE)
    # Debian's own "cockpit" package is the unrelated server web console.
    assert name is not None and name.group(1) != "cockpit"


def test_control_depends_parses_continuations_alternatives_and_versions(tmp_path: Path) -> None:
    control = tmp_path / "control"
    control.write_text(
        "Package: x\nDepends: liba (>= 1.2), libb | libc,\n libd\nDescription: y\n z\n"
    )
    assert check_bundle.control_depends(control) == ["liba", "libb", "libc", "libd"]
    control.write_text("Package: x\n")
    assert check_bundle.control_depends(control) == []


def test_apt_depends_output_parsing() -> None:
    text = (
        "libgl1\n  Depends: libc6\n |Depends: libglx0\n  Depends: <libglx-vendor>\n"
        "  Recommends: ignored\nlibc6\n  PreDepends: libgcc-s1\n"
    )
    assert check_bundle.parse_apt_depends(text) == {
        "libgl1",
        "libc6",
        "libglx0",
        "libglx-vendor",
        "libgcc-s1",
    }


def test_parse_ldd_reports_missing_libraries() -> None:
    text = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibQt6XcbQpa.so.6 => /opt/cockpit/_internal/libQt6XcbQpa.so.6 (0x7f00)\n"
        "\tlibxcb-cursor.so.0 => not found\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x7f01)\n"
    )
    assert elf_deps.parse_ldd(text) == {
        "libQt6XcbQpa.so.6": "/opt/cockpit/_internal/libQt6XcbQpa.so.6",
        "libxcb-cursor.so.0": None,
        "ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2",
    }


def test_forbidden_check_finds_torch_in_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "cockpit").write_bytes(b"")
    internal = tmp_path / "_internal"
    (internal / "numpy").mkdir(parents=True)
    assert check_bundle.check_forbidden(tmp_path) == []
    (internal / "torch").mkdir()
    (internal / "pytest-8.3.dist-info").mkdir()
    problems = check_bundle.check_forbidden(tmp_path)
    assert len(problems) == 2 and any("torch" in p for p in problems)


def test_shell_scripts_parse() -> None:
    scripts = [
        PACKAGING / "build.sh",
        LINUX / "build_deb.sh",
        LINUX / "package_test.sh",
        LINUX / "cockpit-launcher.sh",
        LINUX / "postinst",
        LINUX / "postrm",
        LINUX / "fresh_root_test.sh",
        PACKAGING / "macos" / "build_dmg.sh",
    ]
    for script in scripts:
        result = subprocess.run(
            ["bash", "-n", str(script)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{script.name}: {result.stderr}"


# --- stderr allowlist ------------------------------------------------------------------


def test_clean_stderr_passes() -> None:
    assert allowlist.unexpected_lines("") == []
    assert allowlist.unexpected_lines("\n\n") == []


def test_demo_banner_is_allowed() -> None:
    line = (
        "cockpit demo: watching /tmp/cockpit-demo-x/runs; live-spike replays live over 5 s "
        "(database /tmp/cockpit-demo-x/demo.duckdb, removed on exit)"
    )
    assert allowlist.unexpected_lines(line + "\n") == []


@pytest.mark.parametrize(
    "line",
    [
        'qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.',
        "qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb "
        "platform plugin.",
        "This application failed to start because no Qt platform plugin could be initialized.",
        "Traceback (most recent call last):",
        "QPainter::begin: Paint device returned engine == 0, type: 2",
        "cockpit demo: watching /x; Traceback (most recent call last): (database",
    ],
)
def test_plugin_errors_and_unknown_lines_fail(line: str) -> None:
    assert allowlist.unexpected_lines(f"{line}\n") == [line]


def test_every_allowlist_entry_says_why() -> None:
    for pattern, why in allowlist.ALLOWED:
        assert pattern.pattern and len(why.split()) >= 5


# --- icons ------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("size", [48, 128, 256])
def test_png_icons_have_their_size(size: int) -> None:
    assert png_size(ROOT / "resources" / f"cockpit-{size}.png") == (size, size)


def test_svg_icon_is_square_svg() -> None:
    root = ET.parse(ROOT / "resources" / "cockpit.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["viewBox"].split() == ["0", "0", "256", "256"]


def test_ico_and_icns_hold_png_images() -> None:
    ico = (ROOT / "resources" / "cockpit.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1) and count >= 4
    _, _, _, _, _, _, length, offset = struct.unpack("<BBBBHHII", ico[6:22])
    assert ico[offset : offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + length <= len(ico)
    icns = (ROOT / "resources" / "cockpit.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)


def test_windows_and_macos_scripts_use_the_same_bundle() -> None:
    iss = (PACKAGING / "windows" / "cockpit.iss").read_text(encoding="utf-8")
    assert r"dist\cockpit\*" in iss and "cockpitw.exe" in iss
    dmg = (PACKAGING / "macos" / "build_dmg.sh").read_text(encoding="utf-8")
    assert "packaging/cockpit.spec" in dmg and "hdiutil" in dmg


def test_files_read_as_text_at_run_time_are_shipped_as_data() -> None:
    from cockpit.sources.ssh.session import helper_source

    assert "cockpit/sources/ssh/helper_script.py" in rules.DATA_FILES
    for file in rules.DATA_FILES:
        assert (ROOT / file).is_file()
    assert helper_source().startswith(b'"""The program Cockpit runs on an SSH host')
