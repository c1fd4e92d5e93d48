"""The triage panel in the eval tab on sample_runs/evals/planted_failures: offline by default
(heuristic categories), LLM mode only after consent, with the estimate shown and the run
against the local OpenAI-compatible test server (tests/llm_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from llm_server import LlmTestServer, PlantedModel
from pytestqt.qtbot import QtBot

from cockpit.evals.loaders import load_eval
from cockpit.triage.consent import has_consent
from cockpit.ui import theme
from cockpit.ui.evals_panel import EvalsPanel
from cockpit.ui.triage_panel import LLM, NAME

PLANTED = next((Path(__file__).resolve().parents[2] / "sample_runs" / "evals" /
                "planted_failures").glob("*.eval"))
GROUND_TRUTH = "planted_category,not_model_error"
WAIT = 60_000


@pytest.fixture
def panel(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EvalsPanel]:
    monkeypatch.setenv("COCKPIT_CONFIG_DIR", str(tmp_path / "config"))  # consent file
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "COCKPIT_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    theme.apply(theme.DARK)
    p = EvalsPanel(None)
    qtbot.addWidget(p)
    p.resize(1400, 800)
    p.show()
    with qtbot.waitSignal(p.indexed, timeout=WAIT):
        p.open_paths([PLANTED])
    yield p
    p.close_runner()


def test_offline_triage_lists_heuristic_categories(qtbot: QtBot, panel: EvalsPanel) -> None:
    triage = panel.tab.triage
    assert triage.mode.currentIndex() == 0  # offline by default
    triage.ignore_fields.setText(GROUND_TRUTH)
    with qtbot.waitSignal(triage.finished, timeout=WAIT) as got:
        assert triage.start()
    result = got.args[0]
    assert result is not None and result.mode == "offline"
    names = [triage.model.index(r, NAME).data() for r in range(triage.model.rowCount())]
    assert names == [c.name for c in result.categories] and len(names) >= 3
    assert not any(n.startswith("planted_category") for n in names)  # ignored field
    assert all(c.heuristic for c in result.categories)
    assert "HEURISTIC" in triage.banner.text()
    assert triage.model.index(0, 3).data().startswith("heuristic")
    assert triage.summary.text().startswith(result.summary)
    first = result.categories[0]
    assert f"{first.count:,}" == triage.model.index(0, 1).data()
    assert triage.examples_model.stringList() == first.examples
    assert triage.progress.value() == triage.progress.maximum()
    # An example id opens that sample in the sample detail.
    triage.examples.clicked.emit(triage.examples_model.index(0, 0))
    assert panel.tab.detail.sample_id == first.examples[0]
    assert panel.tab.tabs.currentIndex() == 1


def test_llm_mode_asks_consent_first_and_sends_nothing_without_it(qtbot: QtBot, panel: EvalsPanel) -> None:
    triage = panel.tab.triage
    asked: list[str] = []

    def refuse(title: str, text: str) -> bool:
        asked.append(text)
        return False

    triage.ask = refuse
    with LlmTestServer(PlantedModel({})) as srv:
        triage.mode.setCurrentIndex(LLM)
        triage.base_url.setText(srv.base_url)
        triage.model_name.setText("planted-test-model")
        assert not triage.start()
        assert len(asked) == 1 and srv.base_url in asked[0]
        assert srv.requests == [] and not has_consent(srv.base_url)
        assert "no consent" in triage.stage.text()


def test_llm_mode_shows_the_estimate_then_runs_against_the_endpoint(qtbot: QtBot, panel: EvalsPanel,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghijklmnop")
    run = load_eval(PLANTED)
    truth = {str(s): str(m["planted_category"])
             for s, m in zip(run.table.sample_ids, run.table.metadata, strict=True)}
    triage = panel.tab.triage
    asked: list[str] = []

    def agree(title: str, text: str) -> bool:
        asked.append(text)
        return True

    triage.ask = agree
    with LlmTestServer(PlantedModel(truth)) as srv:
        triage.mode.setCurrentIndex(LLM)
        triage.base_url.setText(srv.base_url)
        triage.model_name.setText("planted-test-model")
        triage.ignore_fields.setText(GROUND_TRUTH)
        triage.max_cost.setValue(0.50)
        assert triage.key_label.text() == "key: OPENAI_API_KEY"  # where it is from, not it
        with qtbot.waitSignal(triage.estimated, timeout=WAIT) as est:
            assert triage.request_estimate()
        assert "input" in est.args[0] and "$0.50" in est.args[0] and srv.requests == []
        with qtbot.waitSignal(triage.finished, timeout=WAIT) as got:
            assert triage.start()
        result = got.args[0]
        assert result is not None and result.mode == "llm"
        assert asked[0].startswith("Triage sends") and "$0.50" in asked[1]  # consent, estimate
        assert has_consent(srv.base_url) and srv.requests
        names = [triage.model.index(r, NAME).data() for r in range(triage.model.rowCount())]
        assert "spanish_english_code_switching" in names
        assert "LLM: planted-test-model" in triage.banner.text()
        shown = "\n".join(w.text() for w in (triage.banner, triage.summary, triage.key_label,
                                             triage.estimate_label, triage.stage))
        assert "sk-test" not in shown + triage.details.toPlainText()
        assert "planted_category" not in srv.sent_text()


def test_cancel_keeps_nothing(qtbot: QtBot, panel: EvalsPanel) -> None:
    triage = panel.tab.triage
    with qtbot.waitSignal(triage.finished, timeout=WAIT) as got:
        assert triage.start()
        assert triage.cancel_button.isEnabled() and not triage.run_button.isEnabled()
        triage.cancel_button.click()
    assert got.args == [None] and triage.result is None
    assert triage.stage.text().startswith("cancelled") and triage.run_button.isEnabled()
    assert triage.model.rowCount() == 0
