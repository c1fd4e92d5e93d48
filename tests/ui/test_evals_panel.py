"""The eval tab on the planted sample evals (sample_runs/evals/mcqa: model B is weak on
language=es), a generated 100k-sample eval, the two-run diff and bad files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from pytestqt.qtbot import QtBot

from cockpit.evals.loaders import load_eval
from cockpit.evals.stats.paired import paired_diff
from cockpit.evals.summary import summarize
from cockpit.store.writer import StoreWriter
from cockpit.ui import theme
from cockpit.ui.eval_detail import word_diff
from cockpit.ui.eval_diff import diff_lines
from cockpit.ui.eval_samples import CORRECT, SAMPLE, SampleTableModel
from cockpit.ui.eval_slices import FLAG, GAP, VALUE, WORSE_ROLE
from cockpit.ui.evals_panel import EvalsPanel, EvalView

REPO = Path(__file__).resolve().parents[2]
MCQA = REPO / "sample_runs" / "evals" / "mcqa"
MODEL_A = next((MCQA / "model-a-7b").glob("results_*.json"))
MODEL_B = next((MCQA / "model-b-7b").glob("results_*.json"))
WAIT = 20_000


@pytest.fixture
def panel(qtbot: QtBot) -> Iterator[EvalsPanel]:
    theme.apply(theme.DARK)
    p = EvalsPanel(None)
    qtbot.addWidget(p)
    p.resize(1400, 800)
    p.show()
    yield p
    p.close_runner()


def open_evals(qtbot: QtBot, panel: EvalsPanel, *paths: Path) -> list[str]:
    """Open files, wait until the first is summarized and indexed; returns their eval ids."""
    with qtbot.waitSignal(panel.indexed, timeout=WAIT), qtbot.waitSignal(
            panel.opened, timeout=WAIT) as opened:
        panel.open_paths(list(paths))
    return list(opened.args[0])


def show(qtbot: QtBot, panel: EvalsPanel, eval_id: str) -> None:
    with qtbot.waitSignal(panel.indexed, timeout=WAIT):
        assert panel.select(eval_id)


def current(panel: EvalsPanel) -> EvalView:
    assert panel.view is not None
    return panel.view


def slice_rows(panel: EvalsPanel) -> list[dict[str, object]]:
    proxy = panel.tab.slice_proxy
    rows = []
    for r in range(proxy.rowCount()):
        rows.append({"field": proxy.index(r, 0).data(), "value": proxy.index(r, VALUE).data(),
                     "gap": proxy.index(r, GAP).data(), "flag": proxy.index(r, FLAG).data(),
                     "worse": proxy.index(r, 0).data(WORSE_ROLE)})
    return rows


def test_planted_weak_slice_is_flagged_in_model_b_only(qtbot: QtBot, panel: EvalsPanel) -> None:
    id_a, id_b = open_evals(qtbot, panel, MODEL_A, MODEL_B)
    assert panel.evals.count() == 2
    show(qtbot, panel, id_b)
    rows = slice_rows(panel)
    es = next(r for r in rows if r["field"] == "language" and r["value"] == "es")
    assert es["worse"] and es["flag"] == "▼ worse"
    # Sorted by gap, worst first: the flagged slices lead the table.
    gaps = [float(str(r["gap"])) for r in rows]
    assert gaps == sorted(gaps)
    assert rows[0]["worse"]
    expected = summarize(load_eval(MODEL_B))
    flagged = {(r["field"], r["value"]) for r in rows if r["worse"]}
    assert flagged == {(s.field, s.value) for s in expected.worse_slices}
    acc = expected.metrics["accuracy"]
    cards = panel.summary.toPlainText()
    assert f"accuracy: {acc.value:.3f} 95% CI [{acc.low:.3f}, {acc.high:.3f}]" in cards
    assert "wilson" in cards and "n=1,000" in cards
    cal = panel.tab.calibration
    assert expected.calibration is not None and len(cal.calibration.bins) == 10
    assert f"ECE {expected.calibration.ece:.3f}" in cal.header.text()
    assert not cal.warning.isVisible()  # 1,000 samples: no small-sample warning

    show(qtbot, panel, id_a)
    rows = slice_rows(panel)
    es = next(r for r in rows if r["field"] == "language" and r["value"] == "es")
    assert not es["worse"] and es["flag"] == ""


def test_filter_by_metadata_value_outcome_and_text(qtbot: QtBot, panel: EvalsPanel) -> None:
    open_evals(qtbot, panel, MODEL_B)
    table = current(panel).run.table
    bar = panel.tab.filter_bar
    assert bar.field.isEnabled() and bar.field.findText("language") > 0
    with qtbot.waitSignal(panel.filtered, timeout=WAIT) as got:
        bar.select(field="language", value="es")
    n_es = int(table.mask(where={"language": "es"}).sum())
    assert got.args == [n_es] and panel.model.rowCount() == n_es
    assert "(257)" in bar.value.currentText()  # the combo shows each value's count
    positions = panel.model.positions
    assert all(table.metadata[p]["language"] == "es" for p in positions)
    with qtbot.waitSignal(panel.filtered, timeout=WAIT) as got:
        bar.select(outcome=1)  # wrong only
    expected = table.mask(where={"language": "es"}, correct=False)
    assert got.args == [int(expected.sum())]
    assert panel.model.index(0, CORRECT).data() == "no"
    with qtbot.waitSignal(panel.filtered, timeout=WAIT) as got:
        bar.search.setText("Paris")  # debounced typing
    expected = table.mask(where={"language": "es"}, correct=False, text="paris")
    assert got.args == [int(expected.sum())] and 0 < got.args[0] < n_es
    assert set(panel.model.positions.tolist()) == set(np.flatnonzero(expected).tolist())
    # Picking a row shows the whole sample.
    panel.tab.samples.selectRow(0)
    sample = table.row(panel.model.position(0))
    text = panel.tab.detail.text.toPlainText()
    assert sample.sample_id == panel.tab.detail.sample_id
    assert sample.input.strip() in text and "Target → output" in text
    bar.reset()
    with qtbot.waitSignal(panel.filtered, timeout=WAIT) as got:
        panel.apply_filter(bar.current())
    assert got.args == [len(table)]


def test_double_clicked_slice_filters_the_samples(qtbot: QtBot, panel: EvalsPanel) -> None:
    open_evals(qtbot, panel, MODEL_B)
    proxy = panel.tab.slice_proxy
    row = next(r for r in range(proxy.rowCount())
               if proxy.index(r, 0).data() == "code_switching"
               and proxy.index(r, VALUE).data() == "true")
    with qtbot.waitSignal(panel.filtered, timeout=WAIT) as got:
        panel.tab.slices.doubleClicked.emit(proxy.index(row, 0))
    assert panel.tab.tabs.currentIndex() == 1
    assert got.args == [int(current(panel).run.table.mask(where={"code_switching": "true"}).sum())]


def write_big_jsonl(path: Path, n: int) -> None:
    langs = ("en", "es", "de", "fr")
    rows = [orjson.dumps({"id": f"s{i}", "question": f"What is {i} plus {i % 7}?",
                          "answer": str(i + i % 7),
                          "prediction": str(i + i % 7) if i % 3 else str(i),
                          "language": langs[i % 4], "topic": f"t{i % 5}"}) for i in range(n)]
    path.write_bytes(b"\n".join(rows) + b"\n")


def test_100k_samples_model_is_fast_and_filters(qtbot: QtBot, panel: EvalsPanel,
                                                tmp_path: Path) -> None:
    n = 100_000
    path = tmp_path / "big.jsonl"
    write_big_jsonl(path, n)
    open_evals(qtbot, panel, path)
    table = current(panel).run.table
    assert len(table) == n

    model = SampleTableModel()
    start = time.perf_counter()
    model.set_table(table)  # an index array, no per-row objects
    assert time.perf_counter() - start < 0.2
    assert model.rowCount() == n
    indexes = [model.index(r, c) for r in range(0, n, 97) for c in range(model.columnCount())]
    start = time.perf_counter()
    cells = [model.data(i) for i in indexes]
    per_cell = (time.perf_counter() - start) / len(indexes)
    assert per_cell < 100e-6, f"{per_cell * 1e6:.1f} us per cell"
    assert cells[0] == str(table.sample_ids[model.position(0)])
    assert model.index(0, CORRECT).data() == "no"  # failures first: i % 3 == 0 are wrong
    assert model.index(n - 1, CORRECT).data() == "yes"

    bar = panel.tab.filter_bar
    with qtbot.waitSignal(panel.filtered, timeout=WAIT) as got:
        bar.select(field="language", value="es")
    assert got.args == [n // 4] and panel.model.rowCount() == n // 4
    assert bar.count.text() == f"{n // 4:,} of {n:,}"
    with qtbot.waitSignal(panel.filtered, timeout=WAIT) as got:
        bar.select(text="plus 3?")
    expected = int(table.mask(where={"language": "es"}, text="plus 3?").sum())
    assert got.args == [expected] and 0 < expected < n // 4
    assert panel.model.index(0, SAMPLE).data() in {str(s) for s in table.sample_ids[
        table.mask(where={"language": "es"}, text="plus 3?")]}


def test_diff_view_shows_paired_diff_numbers(qtbot: QtBot, panel: EvalsPanel) -> None:
    id_a, id_b = open_evals(qtbot, panel, MODEL_A, MODEL_B)
    assert current(panel).eval_id == id_a
    view = panel.tab.diff
    assert view.pick.findData(id_b) >= 0
    assert view.select_b(id_b)
    with qtbot.waitSignal(panel.diffed, timeout=WAIT) as got:
        view.go.click()
    shown = got.args[0]
    expected = paired_diff(load_eval(MODEL_A), load_eval(MODEL_B))
    assert shown.n_shared == expected.n_shared == 1000
    assert shown.difference.value == expected.difference.value
    assert (shown.difference.low, shown.difference.high) == (expected.difference.low,
                                                              expected.difference.high)
    assert shown.p_value == expected.p_value and shown.mde == expected.mde
    assert view.stats.text() == "\n".join(diff_lines(expected))
    assert f"p = {expected.p_value:.3f}" in view.stats.text()
    for key, title in (("regressed", "Regressed"), ("fixed", "Fixed"),
                       ("both_wrong", "Both wrong")):
        ids = getattr(expected, key)
        assert view.counts[key].text() == f"{title}: {len(ids):,}"
        assert view.models[key].stringList() == [str(i) for i in ids]
    # An item shows both outputs.
    first = view.models["regressed"].index(0, 0)
    view.lists["regressed"].clicked.emit(first)
    text = view.detail.text.toPlainText()
    assert view.detail.sample_id == expected.regressed[0]
    assert "Output A" in text and "Output B" in text


def test_calibration_warns_under_300_samples_and_is_absent_without_confidences(
        qtbot: QtBot, panel: EvalsPanel, tmp_path: Path) -> None:
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"\n".join(orjson.dumps(
        {"id": f"q{i}", "input": "q", "target": "a", "output": "a" if i % 3 else "b",
         "confidence": 0.5 + (i % 50) / 100}) for i in range(120)) + b"\n")
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"id": "p1", "input": "q", "target": "a", "output": "a"}\n')
    id_small, id_plain = open_evals(qtbot, panel, small, plain)
    cal = panel.tab.calibration
    assert cal.calibration is not None and cal.calibration.n == 120
    assert not cal.warning.isHidden() and "only 120 samples" in cal.warning.text()
    assert "n=120" in cal.header.text()
    show(qtbot, panel, id_plain)
    assert cal.calibration is None and cal.header.text().startswith("No confidences")
    assert cal.warning.isHidden()


def test_sample_text_is_shown_as_plain_text_with_a_word_diff(qtbot: QtBot, panel: EvalsPanel,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "html.jsonl"
    path.write_text('{"id": "x1", "input": "Say <b>hi</b>", "target": "the cat sat", '
                    '"output": "<img src=x onerror=alert(1)> the dog sat"}\n'
                    '{"id": "x2", "input": "q", "target": "a", "output": "a"}\n')
    open_evals(qtbot, panel, path)
    panel.show_sample("x1")
    text = panel.tab.detail.text.toPlainText()
    assert "Say <b>hi</b>" in text and "<img src=x onerror=alert(1)>" in text
    assert word_diff("the cat sat", "the dog sat") == [
        ("equal", "the "), ("delete", "cat"), ("insert", "dog"), ("equal", " sat")]
    assert ("delete", "cat") in (panel.tab.detail.diff_ops or [])
    row = panel.model.row_of(current(panel).position("x1") or 0)
    assert row is not None
    tip = panel.model.index(row, 4).data(Qt.ItemDataRole.ToolTipRole)
    assert "&lt;b&gt;hi&lt;/b&gt;" in tip and "<b>" not in tip  # escaped: shown as written


def test_bad_files_are_one_sentence_and_the_rest_opens(qtbot: QtBot, panel: EvalsPanel,
                                                       tmp_path: Path) -> None:
    bad = tmp_path / "broken.eval"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    with qtbot.waitSignal(panel.opened, timeout=WAIT) as got:
        panel.open_paths([bad])
    assert got.args == [[]]
    assert "broken.eval" in panel.status.text() and "\n" not in panel.status.text()
    assert "Traceback" not in panel.status.text()
    with qtbot.waitSignal(panel.opened, timeout=WAIT) as got:
        panel.open_paths([bad, MODEL_B])
    assert len(got.args[0]) == 1 and panel.evals.count() == 1


def test_dropped_file_opens_and_is_stored(qtbot: QtBot, tmp_path: Path) -> None:
    theme.apply(theme.DARK)
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        p = EvalsPanel(writer.cursor)
        p.set_writer(writer)
        qtbot.addWidget(p)
        try:
            mime = QMimeData()
            mime.setUrls([QUrl.fromLocalFile(str(MODEL_B))])
            drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                              Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
            with qtbot.waitSignal(p.bridge.listed, timeout=WAIT), qtbot.waitSignal(
                    p.opened, timeout=WAIT) as got:
                p.dropEvent(drop)
            eval_id = got.args[0][0]
            stored = writer.cursor().execute(
                "SELECT count(*) FROM eval_samples WHERE eval_id = ?", [eval_id]).fetchone()
            assert stored == (1000,)
            labels = [p.evals.item(i).text() for i in range(p.evals.count())]
            assert labels == ["cockpit_mcqa\ncockpit/model-b-7b · 1,000 samples"]  # no "file"
        finally:
            p.close_runner()


def test_the_panel_imports_no_eval_or_triage_code_until_used() -> None:
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from cockpit.ui.evals_panel import EvalsPanel, EvalView\n"
        "p = EvalsPanel(None)\n"
        "p.show(); app.processEvents()\n"
        "bad = [m for m in sys.modules if m.startswith(('cockpit.evals', 'cockpit.triage', "
        "'openai', 'cockpit.ui.eval_tab'))]\n"
        "p.close_runner()\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=REPO, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
