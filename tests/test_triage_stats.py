"""Verification (merge / drop), over-represented slices, endpoint and consent settings."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cockpit.cli.errors import CliError
from cockpit.triage.consent import endpoint_id, grant_consent, has_consent
from cockpit.triage.endpoint import EndpointError, resolve_endpoint
from cockpit.triage.propose import ProposedCategory
from cockpit.triage.quantify import enriched_p, overrepresented
from cockpit.triage.verify import verify


def _fisher_upper(k: int, n_cat: int, k_total: int, n_total: int) -> float:
    total = math.comb(n_total, n_cat)
    return (
        sum(
            math.comb(k_total, j) * math.comb(n_total - k_total, n_cat - j)
            for j in range(k, min(n_cat, k_total) + 1)
        )
        / total
    )


@pytest.mark.parametrize("args", [(5, 10, 8, 40), (1, 3, 2, 10), (12, 20, 15, 100), (0, 5, 5, 30)])
def test_enrichment_p_is_the_exact_fisher_tail(args: tuple[int, int, int, int]) -> None:
    assert enriched_p(*args) == pytest.approx(_fisher_upper(*args), rel=1e-9, abs=1e-15)


def test_overrepresented_finds_the_planted_slice_and_nothing_random() -> None:
    rng = np.random.default_rng(0)
    labels = np.array(["a"] * 40 + ["b"] * 60)
    lang = np.where(np.arange(100) < 40, "es", "en")
    lang[rng.choice(np.arange(40, 100), 6, replace=False)] = "es"
    noise = rng.choice(["x", "y", "z"], 100)
    found = overrepresented(labels, {"lang": lang, "noise": noise})
    assert [(o.field, o.value) for o in found["a"]] == [("lang", "es")]
    top = found["a"][0]
    assert top.count == 40 and top.n_category == 40 and top.share_in_category == 1.0
    assert top.share_elsewhere == pytest.approx(6 / 60) and top.p_adjusted < 1e-10
    assert all(o.field == "lang" and o.value == "en" for o in found["b"])


def _labels(spec: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {ref: (cat, "") for ref, cat in spec.items()}


def test_verify_merges_confused_categories_and_drops_unreproducible_or_small_ones() -> None:
    proposed = [
        ProposedCategory("units", "unit slips", ["u1", "u2", "u3", "u4"]),
        ProposedCategory("calc", "calculation slips", ["u5", "u6", "u7", "u8"]),
        ProposedCategory("lang", "language", ["l1", "l2", "l3"]),
        ProposedCategory("vague", "ambiguous", ["o1", "o2", "o3", "o4"]),
        ProposedCategory("tiny", "rare", ["t1"]),
        ProposedCategory("empty", "never used", []),
    ]
    spec = {
        "u1": "units",
        "u2": "calc",
        "u3": "units",
        "u4": "calc",
        "u5": "calc",
        "u6": "units",
        "u7": "calc",
        "u8": "units",
        "u9": "units",
        "l1": "lang",
        "l2": "lang",
        "l3": "lang",
        "l4": "lang",
        "o1": "other",
        "o2": "other",
        "o3": "vague",
        "o4": "other",
        "o5": "vague",
        "t1": "tiny",
        "t2": "tiny",
    }
    out = verify(proposed, _labels(spec), min_count=3)
    names = {c.name for c in out.categories}
    assert names == {"units", "lang"}
    assert out.merged == {"calc": "units"}
    assert set(out.dropped) == {"vague", "tiny", "empty"}
    assert "only 1 of its 4 own examples" in out.dropped["vague"]
    assert "only 2 failures" in out.dropped["tiny"]
    assert {ref for ref, (c, _) in out.labels.items() if c == "units"} == {
        f"u{i}" for i in range(1, 10)
    }
    assert out.labels["o3"][0] == "other" and out.labels["t1"][0] == "other"
    units = next(c for c in out.categories if c.name == "units")
    assert units.merged_from == ["calc"] and "merged with calc" in units.definition


def test_endpoint_from_flags_environment_and_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_endpoint(env={}) is None  # nothing configured: offline
    ep = resolve_endpoint(env={"OPENAI_API_KEY": "sk-abc"})
    assert ep is not None and ep.base_url == "https://api.openai.com/v1"
    assert ep.model == "gpt-4o-mini" and ep.key_source == "env" and "sk-abc" not in repr(ep)
    ep = resolve_endpoint("http://localhost:8000/v1/", None, env={"COCKPIT_LLM_MODEL": "qwen"})
    assert ep is not None and ep.base_url == "http://localhost:8000/v1" and ep.model == "qwen"
    assert ep.key_source == "none"
    with pytest.raises(EndpointError, match="no model named"):
        resolve_endpoint(None, None, env={"OPENAI_BASE_URL": "http://localhost:8000/v1"})
    with pytest.raises(EndpointError, match="not an http"):
        resolve_endpoint("localhost:8000", "m", env={})
    fake = SimpleNamespace(
        get_password=lambda service, user: (
            "sk-from-keyring" if user == "https://llm.example.com/v1" else None
        )
    )
    monkeypatch.setitem(sys.modules, "keyring", fake)
    ep = resolve_endpoint("https://LLM.example.com/v1", "m", env={})
    assert ep is not None and ep.api_key == "sk-from-keyring" and ep.key_source == "keyring"


def test_consent_is_remembered_per_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCKPIT_CONFIG_DIR", str(tmp_path))
    assert endpoint_id("HTTP://LocalHost:8000/v1/") == "http://localhost:8000/v1"
    assert not has_consent("http://localhost:8000/v1")
    path = grant_consent("http://localhost:8000/v1/")
    assert has_consent("http://LOCALHOST:8000/v1") and not has_consent("http://localhost:8001/v1")
    path.write_text("{not json")
    assert not has_consent("http://localhost:8000/v1")  # a corrupt file is no consent
    grant_consent("http://localhost:8000/v1")
    assert has_consent("http://localhost:8000/v1")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "granted"), [("y\n", True), ("\n", False)])
def test_interactive_consent_prompt(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: str,
    granted: bool,
) -> None:
    from cockpit.cli.triage_cmd import _consent

    monkeypatch.setenv("COCKPIT_CONFIG_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", _Tty(answer))
    args = SimpleNamespace(yes=False)
    if granted:
        _consent("http://localhost:1/v1", args, "estimate")  # type: ignore[arg-type]
    else:
        with pytest.raises(CliError, match="no consent"):
            _consent("http://localhost:1/v1", args, "estimate")  # type: ignore[arg-type]
    assert "[y/N]" in capsys.readouterr().err
    assert has_consent("http://localhost:1/v1") == granted
