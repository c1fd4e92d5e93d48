"""Render the eval tab and the triage panel in the dark theme, offscreen, into
docs/screenshots/ (eval_tab.png, eval_samples.png, eval_diff.png, triage_panel.png).

    QT_QPA_PLATFORM=offscreen python scripts/screenshots_evals.py [--out DIR]

The planted sample evals (sample_runs/evals/mcqa: model B is weak on Spanish) are stored in a
temporary history database, as the app would hold them; the triage runs offline on
sample_runs/evals/planted_failures with its ground-truth fields ignored.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
EVALS = REPO / "sample_runs" / "evals"
SIZE = (1500, 860)


def wait(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("screenshots_evals: timed out waiting for the eval tab")
        QTimer.singleShot(20, loop.quit)
        loop.exec()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from PySide6.QtWidgets import QApplication

    from cockpit.store.writer import StoreWriter
    from cockpit.ui import theme
    from cockpit.ui.evals_panel import EvalsPanel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.apply(theme.DARK)
    args.out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def save(widget: object, name: str) -> None:
        QApplication.processEvents()
        path = args.out / name
        widget.grab().save(str(path))  # type: ignore[attr-defined]
        saved.append(path)

    with tempfile.TemporaryDirectory() as tmp, StoreWriter(Path(tmp) / "history.duckdb") as writer:
        panel = EvalsPanel(writer.cursor)
        panel.set_writer(writer)
        panel.resize(*SIZE)
        panel.show()
        opened: list[list[str]] = []
        panel.opened.connect(opened.append)
        panel.open_paths([next((EVALS / "mcqa" / m).glob("results_*.json"))
                          for m in ("model-a-7b", "model-b-7b")])
        wait(lambda: bool(opened))
        id_a, id_b = opened[-1]
        wait(lambda: panel.evals.count() == 2 and not panel.worker.busy)
        panel.select(id_b)
        wait(lambda: panel.view is not None and panel.view.eval_id == id_b
             and panel.view.values is not None)
        tab = panel.tab
        save(panel, "eval_tab.png")

        tab.tabs.setCurrentIndex(1)
        shown: list[int] = []
        panel.filtered.connect(shown.append)
        tab.filter_bar.select(field="language", value="es", outcome=1)
        wait(lambda: bool(shown))
        tab.samples.selectRow(0)
        save(panel, "eval_samples.png")

        panel.select(id_a)
        wait(lambda: panel.view is not None and panel.view.eval_id == id_a
             and panel.view.values is not None)
        tab.tabs.setCurrentIndex(2)
        tab.diff.select_b(id_b)
        diffs: list[object] = []
        panel.diffed.connect(diffs.append)
        tab.diff.go.click()
        wait(lambda: bool(diffs))
        first = tab.diff.models["regressed"].index(0, 0)
        tab.diff.lists["regressed"].setCurrentIndex(first)
        tab.diff.lists["regressed"].clicked.emit(first)
        save(panel, "eval_diff.png")

        opened.clear()
        panel.open_paths(list((EVALS / "planted_failures").glob("*.eval")))
        wait(lambda: bool(opened) and panel.view is not None
             and panel.view.eval_id == opened[-1][0] and panel.view.values is not None)
        tab.tabs.setCurrentIndex(3)
        done: list[object] = []
        tab.triage.finished.connect(done.append)
        tab.triage.ignore_fields.setText("planted_category,not_model_error")
        tab.triage.start()
        wait(lambda: bool(done), 120)
        if done[0] is None:
            raise SystemExit(f"screenshots_evals: triage failed: {tab.triage.stage.text()}")
        save(panel, "triage_panel.png")
        panel.close_runner()
        panel.deleteLater()
    app.processEvents()
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
