"""`cockpit triage` end to end: offline and against the local test server, consent, the
cost cap, storage, and errors as one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from llm_server import LlmTestServer, PlantedModel

from cockpit.cli.main import main
from cockpit.evals.loaders import load_eval

PLANTED = next(
    (Path(__file__).resolve().parent.parent / "sample_runs" / "evals" / "planted_failures").glob(
        "*.eval"
    )
)
KEY = "sk-test-Zx81fPq0Lm3Nv7Rt2Ws9Yb4Kc6Hd1Je5"
SPEC_KEYS = {
    "eval",
    "mode",
    "n_failures",
    "not_model_errors",
    "categories",
    "unlabelled",
    "summary",
    "tokens",
    "cost_usd",
}
CATEGORY_KEYS = {"name", "definition", "count", "share", "examples", "overrepresented"}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real endpoint, key or config dir leaks into these tests."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "COCKPIT_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COCKPIT_CONFIG_DIR", str(tmp_path / "config"))


def _truth() -> dict[str, str]:
    run = load_eval(PLANTED)
    return {
        str(s): str(m["planted_category"])
        for s, m in zip(run.table.sample_ids, run.table.metadata, strict=True)
    }


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _check_spec(doc: dict[str, object]) -> None:
    assert set(doc) >= SPEC_KEYS
    cats = doc["categories"]
    assert isinstance(cats, list) and cats
    for c in cats:
        assert set(c) >= CATEGORY_KEYS
        assert c["count"] > 0 and c["examples"]
        low, high = c["share"]["ci"]
        assert low <= c["share"]["value"] <= high
        for o in c["overrepresented"]:
            assert {"field", "value", "p_adjusted"} <= set(o)


def test_offline_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    code, out, err = _run(
        capsys,
        "triage",
        str(PLANTED),
        "--offline",
        "--json",
        "--db",
        str(db),
        "--ignore-field",
        "planted_category,not_model_error",
    )
    assert code == 0, err
    doc = json.loads(out)
    _check_spec(doc)
    assert doc["mode"] == "offline" and doc["tokens"] is None and doc["cost_usd"] is None
    assert doc["n_failures"] == 222 and doc["not_model_errors"]["refusal"] == 7
    assert doc["summary"].startswith("222 failures")
    with duckdb.connect(str(db), read_only=True) as con:
        n = con.execute(
            "SELECT count(*) FROM triage_labels WHERE eval_id = ?", [doc["eval_id"]]
        ).fetchone()
        assert n == (222,)
        assert con.execute("SELECT count(*) FROM eval_samples").fetchone() == (600,)


def test_against_the_local_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    db = tmp_path / "h.duckdb"
    with LlmTestServer(PlantedModel(_truth())) as srv:
        argv = [
            "triage",
            str(PLANTED),
            "--base-url",
            srv.base_url,
            "--model",
            "planted",
            "--json",
            "--yes",
            "--db",
            str(db),
            "--max-cost",
            "0.5",
            "--price-in",
            "0.15",
            "--price-out",
            "0.6",
            "--ignore-field",
            "planted_category",
            "--ignore-field",
            "not_model_error",
        ]
        code, out, err = _run(capsys, *argv)
        assert code == 0, err
        doc = json.loads(out)
        _check_spec(doc)
        assert doc["mode"] == "llm" and doc["tokens"]["input"] > 0
        assert 0 < doc["cost_usd"] <= 0.5
        assert {c["name"] for c in doc["categories"]} >= {
            "spanish_english_code_switching",
            "calculation_slip",
            "multi_hop_reasoning",
        }
        assert "estimate" not in out and "calls" in err and "hard cap $0.5" in err
        sent = len(srv.requests)
        assert all(r["model"] == "planted" for r in srv.requests)
        code, out2, err2 = _run(capsys, *argv)
        assert code == 0 and len(srv.requests) == sent  # the re-run is answered by the cache
        assert json.loads(out2)["cost_usd"] == 0
    consent = (tmp_path / "config" / "llm_consent.json").read_text()
    assert srv.base_url.rstrip("/") in consent and KEY not in consent
    assert KEY not in out + err + out2 + err2
    with duckdb.connect(str(db), read_only=True) as con:
        dump = json.dumps(con.execute("SELECT * FROM llm_cache").fetchall(), default=str)
        dump += json.dumps(con.execute("SELECT * FROM triage_labels").fetchall(), default=str)
    assert KEY not in dump


def test_no_consent_without_a_terminal_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with LlmTestServer(PlantedModel({})) as srv:
        code, out, err = _run(
            capsys, "triage", str(PLANTED), "--base-url", srv.base_url, "--model", "m", "--no-store"
        )
        assert srv.requests == []
    assert code == 2 and out == ""
    assert err.count("\n") == 2 and "needs your consent once" in err  # estimate + the refusal


def test_text_output_and_no_endpoint_means_offline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "triage", str(PLANTED), "--no-store")
    assert code == 0, err
    assert "categories of 182 labelled model errors (heuristic)" in out
    assert "note: no endpoint configured" in out and "95% CI" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["triage", "missing.eval", "--offline"], "does not exist"),
        (["triage", str(PLANTED), "--offline", "--max-cost", "0"], "--max-cost must be positive"),
        (["triage", str(PLANTED), "--base-url", "ftp://x", "--model", "m"], "not an http(s) URL"),
        (["triage", str(PLANTED), "--base-url", "http://127.0.0.1:9/v1"], "no model named"),
    ],
)
def test_bad_input_is_one_sentence(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and words in err and "Traceback" not in err
    assert err.strip().count("\n") == 0


def test_endpoint_refusal_is_one_sentence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with LlmTestServer(PlantedModel({}), default="unauthorized") as srv:
        code, out, err = _run(
            capsys,
            "triage",
            str(PLANTED),
            "--base-url",
            srv.base_url,
            "--model",
            "m",
            "--yes",
            "--no-store",
        )
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1].startswith("cockpit: ") and "rejected the API key" in err


def test_broken_eval_file_is_one_sentence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "broken.eval"
    bad.write_bytes(PLANTED.read_bytes()[:5000])
    code, _, err = _run(capsys, "triage", str(bad), "--offline", "--no-store")
    assert code == 2 and str(bad) in err and "Traceback" not in err
