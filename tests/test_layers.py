"""The house's rooms and which way imports may run between them (DEVELOPERS.md, Layout).

model (shared value types) is the bottom room and imports nothing of the project; the
core rooms sit on it; the monitor (engine, discovery, lifecycle, the app's backend) sits
on the core; the CLI and the UI are the top. An import, at module level or inside a
function, may only go down or sideways where the table below allows it. An AST check,
like the Qt-free test: it reads every module, so a lazy import inside a function counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PKG = ROOT / "cockpit"

CORE = {"sources", "ingest", "store", "health", "telemetry", "evals", "triage", "integrations",
        "notify"}

# room -> the rooms it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "sources": {"model"},
    "ingest": {"model", "sources"},
    "store": {"model"},
    "health": {"model"},
    "telemetry": {"model", "sources"},
    "evals": {"model"},
    "triage": {"model", "evals"},
    "integrations": {"model"},
    "notify": {"model"},
    "monitor": {"model"} | CORE,
    "demo": set(),
    "cli": {"model", "monitor", "demo", "ui", "__init__"} | CORE,
    "ui": {"model", "monitor", "demo", "__init__"} | CORE,
    "__init__": {"model", "monitor", "store"},
    "__main__": {"cli"},
}


def _room(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def _is_room(name: str) -> bool:
    return (PKG / name).is_dir() or (PKG / f"{name}.py").exists()


def _imported_rooms(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "cockpit":  # `from cockpit import x`: x a room or a name
                names = [f"cockpit.{a.name}" if _is_room(a.name) else "cockpit.__init__"
                         for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "cockpit" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_every_room_is_known() -> None:
    rooms = {_room(p) for p in _modules()}
    assert rooms <= set(ALLOWED), f"rooms without a rule: {rooms - set(ALLOWED)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_imports_run_down_the_layers(path: Path) -> None:
    room = _room(path)
    bad = [f"line {line}: cockpit.{target}" for line, target in _imported_rooms(path)
           if target != room and target not in ALLOWED[room]]
    assert not bad, f"{path.relative_to(ROOT)} ({room}) imports a room above or beside it: {bad}"


def test_model_imports_nothing_of_the_project() -> None:
    for path in (PKG / "model").rglob("*.py"):
        others = [t for _, t in _imported_rooms(path) if t != "model"]
        assert not others, f"{path.relative_to(ROOT)} imports {others}"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from cockpit.store.writer import StoreWriter\n")
    assert _imported_rooms(fake) == [(2, "store")]
    assert "store" not in ALLOWED["ingest"] and "monitor" not in ALLOWED["health"]


def _ui_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in (PKG / "ui").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("cockpit.ui."):
                    deps.add(node.module.split(".")[2])
                elif node.module == "cockpit.ui":
                    deps.update(a.name for a in node.names)
        graph[path.stem] = deps - {path.stem}
    return graph


def test_ui_modules_have_no_import_cycles() -> None:
    graph = _ui_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle in cockpit/ui: " + " -> ".join(cycle))
            if dep in graph and not state.get(dep):
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if not state.get(node):
            visit(node)
