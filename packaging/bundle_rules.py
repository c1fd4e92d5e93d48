"""What goes into the frozen bundle and what never does: one place for the spec and the tests.

The PyInstaller spec (cockpit.spec) executes this file; tests/test_packaging.py loads it by
path. It imports nothing beyond the standard library, so both can read it without PyInstaller.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

# Python packages that must never be frozen in: training stacks, test and lint tools, and
# libraries only the dev extra or optional integrations use. The build venv does not even
# install them (packaging/build.sh installs only [project.dependencies]); excluding them too
# means a build from a fuller venv still cannot pick them up through an optional import.
NEVER_BUNDLED: tuple[str, ...] = (
    "torch", "torchvision", "torchaudio", "torchmetrics", "functorch", "triton",
    "tensorboard", "tensorflow", "tensorboardX",
    "mlflow", "lightning", "lightning_fabric", "lightning_utilities", "pytorch_lightning",
    "keras", "transformers", "tokenizers", "safetensors", "huggingface_hub", "accelerate",
    "inspect_ai", "datasets", "wandb",
    "pytest", "_pytest", "pytestqt", "pytest_timeout", "pluggy", "hypothesis",
    "mypy", "mypyc", "ruff",
    "IPython", "jupyter", "notebook", "matplotlib", "scipy", "pandas", "h5py", "numba",
    "cupy", "OpenGL", "tkinter", "_tkinter", "setuptools", "pip", "nvitop",
    # Optional (secrets from the OS keyring; its Linux backend pulls cryptography, ~10 MB)
    # and a test-only SMTP server: the bundled app reads {env:NAME} secrets.
    "keyring", "aiosmtpd",
    "s3fs", "aiobotocore", "botocore", "boto3", "gcsfs", "adlfs", "moto",
)

# The dev and optional extras of pyproject.toml, by distribution name, mapped to the modules
# they install. tests/test_packaging.py checks every extra is listed here and excluded above,
# so a new dev dependency cannot slip into the bundle unnoticed.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "pytest": ("pytest", "_pytest"),
    "pytest-qt": ("pytestqt",),
    "pytest-timeout": ("pytest_timeout",),
    "ruff": ("ruff",),
    "mypy": ("mypy",),
    "tensorboard": ("tensorboard",),
    "mlflow-skinny": ("mlflow",),
    "mlflow": ("mlflow",),
    "lightning": ("lightning",),
    "keras": ("keras",),
    "transformers": ("transformers",),
    "accelerate": ("accelerate",),
    "wandb": ("wandb",),
    "inspect-ai": ("inspect_ai",),
    "keyring": ("keyring",),
    "aiosmtpd": ("aiosmtpd",),
    # Buckets (pip install cockpit[cloud]): botocore and the Google/Azure SDKs would add
    # ~100 MB to a bundle kept under 250 MB; the packaged app says which package to install.
    "s3fs": ("s3fs", "aiobotocore", "botocore", "boto3"),
    "gcsfs": ("gcsfs",),
    "adlfs": ("adlfs",),
    "moto": ("moto",),
    "nvitop": ("nvitop",),
    "py-spy": (),  # a profiler binary, no module
}

# Qt modules the app uses: QtCore/QtGui/QtWidgets everywhere, QtSvg for chart export
# (QSvgGenerator), QtOpenGL/QtOpenGLWidgets because pyqtgraph imports them (QtOpenGL by name,
# through importlib in PColorMeshItem, so they are hidden imports too).
QT_KEPT: tuple[str, ...] = (
    "QtCore", "QtGui", "QtWidgets", "QtSvg", "QtOpenGL", "QtOpenGLWidgets",
)

# Every other PySide6 module: excluded so no optional import (pyqtgraph tries QtTest) and no
# hook drags it in with its plugins. QtNetwork's *library* stays (libpyside6 links it) but not
# its Python module, TLS backends or network-information plugins.
QT_EXCLUDED: tuple[str, ...] = (
    "Qt3DAnimation", "Qt3DCore", "Qt3DExtras", "Qt3DInput", "Qt3DLogic", "Qt3DRender",
    "QtAxContainer", "QtBluetooth", "QtCharts", "QtConcurrent", "QtDataVisualization",
    "QtDBus", "QtDesigner", "QtGraphs", "QtGraphsWidgets", "QtHelp", "QtHttpServer",
    "QtLocation", "QtMultimedia", "QtMultimediaWidgets", "QtNetwork", "QtNetworkAuth", "QtNfc",
    "QtPdf", "QtPdfWidgets", "QtPositioning", "QtPrintSupport", "QtQml", "QtQuick",
    "QtQuick3D", "QtQuickControls2", "QtQuickTest", "QtQuickWidgets", "QtRemoteObjects",
    "QtScxml", "QtSensors", "QtSerialBus", "QtSerialPort", "QtSpatialAudio", "QtSql",
    "QtStateMachine", "QtSvgWidgets", "QtTest", "QtTextToSpeech", "QtUiTools", "QtWebChannel",
    "QtWebEngineCore", "QtWebEngineQuick", "QtWebEngineWidgets", "QtWebSockets", "QtWebView",
    "QtXml",
)


# Optional parts of runtime dependencies that Cockpit never loads: zstandard's CFFI backend
# (12 MB; the C backend is the one imported), pyqtgraph's 3D (needs PyOpenGL), Jupyter and
# example modules, NumPy's Fortran wrapper generator, and the interactive-shell helpers.
UNUSED_MODULES: tuple[str, ...] = (
    "zstandard._cffi", "pyqtgraph.opengl", "pyqtgraph.jupyter", "pyqtgraph.examples",
    "numpy.f2py", "readline", "pydoc_data",
)


def excludes() -> list[str]:
    """Module names for PyInstaller's `excludes`."""
    return [*NEVER_BUNDLED, *UNUSED_MODULES, *(f"PySide6.{name}" for name in QT_EXCLUDED)]


# Files the Qt hooks collect that Cockpit does not need, as path fragments inside the bundle
# (forward slashes). Translations: the UI is English only, and Qt's own dialogs fall back to
# English. Platform plugins other than xcb (X11, XWayland), wayland, offscreen and minimal
# serve kiosks and embedded boards. The GTK platform theme links GTK, which a workstation
# may not have; Qt falls back to its own theme.
DROPPED_PATHS: tuple[str, ...] = (
    "PySide6/Qt/translations/",
    "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/egldeviceintegrations/",
    "PySide6/Qt/plugins/generic/",
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    "PySide6/Qt/plugins/designer/",
    "PySide6/Qt/plugins/qmltooling/",
    "PySide6/Qt/plugins/qmllint/",
    "PySide6/Qt/plugins/sqldrivers/",
    "PySide6/Qt/plugins/wayland-graphics-integration-server/",
    "PySide6/Qt/plugins/vectorimageformats/",
    # Image formats the app never reads (PNG is built into QtGui; SVG, ICO and GIF stay).
    "PySide6/Qt/plugins/imageformats/libqpdf.so",
    # Collected by the Qt hooks but linked by nothing kept (no QtNetwork import, no TLS or
    # network-information plugin): checked with readelf over the whole bundle.
    "PySide6/Qt/lib/libQt6Network.so",
    # East Asian legacy codecs: Cockpit decodes logs as UTF-8 (invalid bytes replaced).
    "python3.11/lib-dynload/_codecs_",
    "python3.11/lib-dynload/_multibytecodec.",
    "PySide6/Qt/plugins/imageformats/libqjpeg.so",
    "PySide6/Qt/plugins/imageformats/libqtiff.so",
    "PySide6/Qt/plugins/imageformats/libqwebp.so",
    "PySide6/Qt/plugins/imageformats/libqicns.so",
    "PySide6/Qt/plugins/imageformats/libqtga.so",
    "PySide6/Qt/plugins/imageformats/libqwbmp.so",
    # Libraries only the dropped eglfs platform loads (and their links beside the executable).
    "PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so",
    "PySide6/Qt/lib/libQt6EglFsKmsSupport.so",
    "libQt6EglFSDeviceIntegration.so",
    "libQt6EglFsKmsSupport.so",
)

# OS libraries never bundled even though PyInstaller copies them for Python's own modules:
# OpenSSL (_ssl, _hashlib) gets its security fixes from the distribution, and the .deb
# depends on libssl3. Matched by file-name prefix.
SYSTEM_PROVIDED: tuple[str, ...] = ("libssl.so", "libcrypto.so")


def is_system_provided(dest: str) -> bool:
    name = dest.replace("\\", "/").rsplit("/", 1)[-1]
    return name.startswith(SYSTEM_PROVIDED)


def is_dropped(dest: str) -> bool:
    """True for a bundle entry (its destination path) that the spec filters out. An entry
    without a trailing slash also matches versioned names (libfoo.so -> libfoo.so.6)."""
    path = dest.replace("\\", "/")
    return any(path.startswith(fragment) for fragment in DROPPED_PATHS)


def hidden_qt_modules() -> list[str]:
    return [f"PySide6.{name}" for name in QT_KEPT]


def cockpit_modules(source_root: Path) -> list[str]:
    """Every module of the cockpit package, from its source files.

    The CLI imports command modules by name (cockpit/cli/main.py) and the ingest engine
    imports readers by name (cockpit/ingest/formats.py), so static analysis misses them;
    listing all of cockpit as hidden imports keeps every command and reader in the bundle.
    """
    package = source_root / "cockpit"
    names: list[str] = []
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(source_root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


# Runtime dependencies (pyproject [project.dependencies], by distribution name) and the
# module each installs. All are hidden imports: Cockpit imports some by name at run time
# (pynvml, through importlib in cockpit/telemetry/nvml_gateway.py), which static analysis
# cannot see. A dependency missing here stops the build (runtime_modules raises).
DIST_MODULES: dict[str, str] = {
    "duckdb": "duckdb",
    "numpy": "numpy",
    "orjson": "orjson",
    "psutil": "psutil",
    "platformdirs": "platformdirs",
    "nvidia-ml-py": "pynvml",
    "crc32c": "crc32c",
    "zstandard": "zstandard",
    "py3langid": "py3langid",
    "openai": "openai",
    "pyside6-essentials": "PySide6",
    "pyqtgraph": "pyqtgraph",
    "apprise": "apprise",
    "watchfiles": "watchfiles",
}


def requirement_name(requirement: str) -> str:
    """'PySide6-Essentials>=6.11.3,<6.12; python_version == "3.11"' -> 'pyside6-essentials'."""
    name = re.split(r"[\s;<>=!~\[(@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_modules(source_root: Path) -> list[str]:
    """The import names of pyproject's [project.dependencies]."""
    with open(source_root / "pyproject.toml", "rb") as f:
        requirements = tomllib.load(f)["project"]["dependencies"]
    modules = []
    for requirement in requirements:
        name = requirement_name(requirement)
        if name not in DIST_MODULES:
            raise ValueError(f"pyproject.toml depends on {name}: add its module to "
                             "DIST_MODULES in packaging/bundle_rules.py")
        if DIST_MODULES[name] not in modules:
            modules.append(DIST_MODULES[name])
    return modules


# Runtime dependencies whose package data no PyInstaller hook collects: py3langid's model
# (cockpit/triage/language.py loads it from the package folder and reads the version from
# its metadata).
DATA_PACKAGES: tuple[str, ...] = ("py3langid",)

# Runtime dependencies that find their plugins by listing their own folder at run time
# (Apprise lists apprise/plugins/ to learn its URL schemes): their source files ship as data
# too and every submodule is a hidden import, or a frozen Apprise would know no scheme.
PLUGIN_PACKAGES: tuple[str, ...] = ("apprise",)

# Folders shipped as data beside the code, so `cockpit demo` and the app's icon work frozen:
# cockpit.demo.find_sample_runs() looks in the folder above the cockpit package, which in the
# bundle is its _internal/ folder.
DATA_DIRS: tuple[str, ...] = ("sample_runs", "resources")

# Source files read as text at run time, shipped beside the compiled code: the helper Cockpit
# sends to an SSH host (cockpit/sources/ssh/session.py reads it with importlib.resources).
DATA_FILES: tuple[str, ...] = ("cockpit/sources/ssh/helper_script.py",)


def version(source_root: Path) -> str:
    """cockpit.__version__, read from the source without importing it."""
    text = (source_root / "cockpit" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if found is None:
        raise ValueError("cockpit/__init__.py does not set __version__")
    return found.group(1)
