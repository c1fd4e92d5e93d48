"""`cockpit eval summary` / `diff` end to end on the planted sample evals, and the store."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from cockpit.cli.main import main
from cockpit.evals.loaders import load_eval
from cockpit.evals.store import load_stored_eval, store_eval

EVALS = Path(__file__).resolve().parent.parent / "sample_runs" / "evals"
A = next((EVALS / "mcqa" / "model-a-7b").glob("results_*.json"))
B = next((EVALS / "mcqa" / "model-b-7b").glob("results_*.json"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_json_reports_the_planted_weak_slice(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    code, out, err = _run(capsys, "eval", "summary", str(B), "--json", "--db",
                          str(tmp_path / "h.duckdb"))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["eval"] == "cockpit_mcqa:cockpit/model-b-7b" and doc["n"] == 1000
    assert doc["n_scored"] == 1000
    acc = doc["metrics"]["accuracy"]
    assert acc["method"] == "wilson" and acc["ci"][0] < acc["value"] < acc["ci"][1]
    es = doc["slices"]["language"]["es"]
    assert es["significantly_worse"] is True
    assert es["metrics"]["accuracy"]["value"] < acc["value"] - 0.1
    assert es["p_adjusted"] < 1e-4
    assert doc["slices"]["code_switching"]["true"]["significantly_worse"] is True
    assert doc["slices"]["language"]["en"]["significantly_worse"] is False
    assert doc["slices"]["topic"]  # every categorical field is sliced by default
    cal = doc["calibration"]
    assert cal["n"] == 1000 and 0 < cal["ece"] < 1 and 0 < cal["brier"] < 1
    assert cal["warning"] is None and len(cal["bins"]) == 10
    assert cal["mean_confidence"] > acc["value"]  # model B is over-confident


def test_model_a_has_no_spanish_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "eval", "summary", str(A), "--json", "--by", "language",
                        "--no-store")
    assert code == 0
    doc = json.loads(out)
    assert list(doc["slices"]) == ["language"]
    assert not any(v["significantly_worse"] for v in doc["slices"]["language"].values())


def test_summary_table_is_readable_and_names_the_slice(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "eval", "summary", str(B), "--by", "language,difficulty",
                        "--db", str(tmp_path / "h.duckdb"))
    assert code == 0
    assert "accuracy" in out and "wilson" in out and "95% CI" in out
    es_line = next(line for line in out.splitlines() if line.split()[:2] == ["language", "es"])
    assert "WORSE" in es_line
    assert "significantly worse: " in out and "language=es" in out
    assert "calibration: ECE" in out


def test_summary_stores_once_however_often_it_runs(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    for _ in range(2):
        assert _run(capsys, "eval", "summary", str(A), str(B), "--db", str(db), "--json")[0] == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM evals").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM eval_samples").fetchone() == (2000,)
        row = con.execute("SELECT avg(correct::INT), count(confidence) FROM eval_samples "
                          "JOIN evals USING (eval_id) WHERE model = 'cockpit/model-b-7b'").fetchone()
        assert row is not None and row[0] == pytest.approx(0.733) and row[1] == 1000
        meta = con.execute("SELECT metadata FROM eval_samples LIMIT 1").fetchone()
        assert meta is not None and "language" in json.loads(meta[0])
    finally:
        con.close()


def test_cluster_option_widens_the_interval(capsys: pytest.CaptureFixture[str]) -> None:
    _, plain, _ = _run(capsys, "eval", "summary", str(B), "--json", "--no-store")
    _, clustered, _ = _run(capsys, "eval", "summary", str(B), "--json", "--no-store",
                           "--cluster", "topic", "--by", "language")
    p, c = json.loads(plain), json.loads(clustered)
    assert c["cluster"] == {"field": "topic", "n_clusters": 5}
    assert "clustered" in c["metrics"]["accuracy"]["method"]
    width = lambda d: d["metrics"]["accuracy"]["ci"][1] - d["metrics"]["accuracy"]["ci"][0]  # noqa: E731
    assert width(c) != pytest.approx(width(p))


def test_diff_json_fields(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _run(capsys, "eval", "diff", str(A), str(B), "--json", "--db",
                          str(tmp_path / "h.duckdb"))
    assert code == 0, err
    d = json.loads(out)
    for key in ("a", "b", "n_shared", "metric", "difference", "mcnemar_p", "regressed", "fixed"):
        assert key in d
    assert d["a"].endswith("model-a-7b") and d["b"].endswith("model-b-7b")
    assert d["n_shared"] == 1000 and d["metric"] == "accuracy"
    diff = d["difference"]
    assert diff["ci"][0] < diff["value"] < diff["ci"][1]
    assert diff["value"] == pytest.approx(d["b_value"] - d["a_value"])
    assert diff["value"] == pytest.approx((len(d["fixed"]) - len(d["regressed"])) / 1000)
    assert 0 < d["mcnemar_p"] <= 1 and d["significant"] is (d["mcnemar_p"] < 0.05)
    assert d["buckets"]["regressed"] == len(d["regressed"])
    assert sum(d["buckets"].values()) == 1000
    assert 0 < d["mde"]["value"] < 0.2 and d["mde"]["power"] == 0.8
    a, b = load_eval(A), load_eval(B)
    ia = {s: i for i, s in enumerate(a.table.sample_ids)}
    for sid in d["regressed"][:20]:
        assert a.table.correct[ia[sid]] == 1.0 and b.table.correct[ia[sid]] == 0.0
    # The weak slice is where the regressions concentrate.
    weak = set(b.table.sample_ids[b.table.mask(where={"language": "es",
                                                      "code_switching": "true"})])
    share = len(weak & set(d["regressed"])) / len(d["regressed"])
    assert share > 2 * len(weak) / 1000


def test_diff_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "eval", "diff", str(A), str(B), "--no-store")
    assert code == 0
    assert "B - A" in out and "mcnemar exact" in out and "minimum detectable effect" in out
    assert "regressed (A right, B wrong)" in out


def test_user_errors_are_one_sentence(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _run(capsys, "eval", "summary", str(tmp_path / "nope.jsonl"), "--no-store")
    assert code == 2 and "nope.jsonl" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "eval", "summary", str(B), "--by", "colour", "--no-store")
    assert code == 2 and "colour" in err and "language" in err
    code, _, err = _run(capsys, "eval", "summary", str(B), "--map", "bogus=1", "--no-store")
    assert code == 2 and "unknown role" in err
    lm = EVALS / "tool_logs" / "lm_eval"
    code, _, err = _run(capsys, "eval", "diff", str(next(lm.glob("results_*.json"))), str(B),
                        "--no-store")
    assert code == 2 and "holds 2 evals" in err
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "zzz", "input": "a", "output": "b", "correct": True}))
    code, _, err = _run(capsys, "eval", "diff", str(B), str(other), "--no-store")
    assert code == 2 and "share no" in err


def test_store_round_trip(tmp_path: Path) -> None:
    from cockpit.store.writer import StoreWriter

    run = load_eval(B)
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        eid = store_eval(writer, run)
        writer.flush()
        back = load_stored_eval(writer.cursor(), eid)
    assert back is not None and back.eval_id == eid and len(back) == 1000
    assert np.array_equal(back.table.correct, run.table.correct)
    assert np.allclose(back.table.confidences, run.table.confidences)
    assert back.table.column("language").tolist() == run.table.column("language").tolist()
