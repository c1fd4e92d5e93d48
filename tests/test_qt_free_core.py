"""The core never imports Qt: every module outside cockpit.ui imports with PySide6,
shiboken6 and pyqtgraph blocked, and the CLI answers without them (napari's habit)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[1]

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys

    BLOCKED = ("PySide6", "shiboken6", "pyqtgraph")

    class QtBlocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked: the core must stay Qt-free")
            return None

    sys.meta_path.insert(0, QtBlocker())
""")


def _core_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "cockpit").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[:2] == ["cockpit", "ui"] or parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("QT_QPA_PLATFORM", None)
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def test_every_core_module_imports_without_qt() -> None:
    modules = _core_modules()
    assert "cockpit.cli.app_cmd" in modules and "cockpit.demo" in modules
    code = textwrap.dedent(f"""
        import importlib
        for name in {modules!r}:
            importlib.import_module(name)
        leaked = [m for m in sys.modules if m.split(".")[0] in BLOCKED]
        assert not leaked, leaked
        print("imported", len({modules!r}))
    """)
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert f"imported {len(modules)}" in done.stdout


def test_the_blocker_really_blocks() -> None:
    done = _run("import cockpit.ui.chart")
    assert done.returncode != 0 and "blocked" in done.stderr


def test_cli_help_and_app_without_qt_say_one_sentence() -> None:
    done = _run("from cockpit.cli.main import main\nraise SystemExit(main(['--help']))")
    assert done.returncode == 0 and "demo" in done.stdout
    code = (
        "import os\nos.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from cockpit.cli.main import main\nraise SystemExit(main(['app']))"
    )
    done = _run(code)
    assert done.returncode == 2
    assert done.stderr.startswith("cockpit: the desktop app cannot start")
    assert "Traceback" not in done.stderr
