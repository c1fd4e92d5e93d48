"""Eval loaders on logs written by the real tools (sample_runs/evals/tool_logs) and on files
built to the documented formats (OpenAI evals, generic tables), plus bad input."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cockpit.evals.errors import EvalLoadError
from cockpit.evals.loaders import detect_format, load_eval, load_evals, parse_mapping

EVALS = Path(__file__).resolve().parent.parent / "sample_runs" / "evals"
TOOL = EVALS / "tool_logs"
HAS_ZSTD = importlib.util.find_spec("zstandard") is not None or sys.version_info >= (3, 14)


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert found, f"no {pattern} in {folder}"
    return found[0]


def _by_item(run_samples: list) -> dict[str, bool | None]:
    return {s.metadata.get("item", s.sample_id): s.correct for s in run_samples}


# ---- Inspect AI (written by inspect_ai 0.3.285 with mockllm/model) ----------------------
INSPECT_EXPECTED = {"q1": True, "q2": False, "3": True, "q4": False}


def test_inspect_json_log_from_the_real_tool() -> None:
    path = _one(TOOL / "inspect" / "json", "*.json")
    assert detect_format(path) == "inspect-json"
    run = load_eval(path)
    assert run.format == "inspect-json" and run.model == "mockllm/model" and run.task == "tiny"
    assert len(run) == 4 and run.created_at and run.created_at > 1.7e9
    samples = {s.sample_id: s for s in run.samples}
    assert {k: s.correct for k, s in samples.items()} == INSPECT_EXPECTED
    assert samples["q1"].output == "The answer is 4" and samples["q1"].target == "4"
    assert samples["q1"].metadata["topic"] == "math"
    assert run.default_cluster is None


@pytest.mark.skipif(not HAS_ZSTD, reason="zstd-compressed .eval needs the zstandard package")
def test_inspect_eval_zip_per_sample_layout_from_the_real_tool() -> None:
    path = _one(TOOL / "inspect" / "eval", "*.eval")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert "samples/q1_epoch_2.json" in names  # per-sample (monolith) layout
    run = load_eval(path)
    assert run.format == "inspect-eval" and len(run) == 8  # 4 items x 2 epochs
    assert run.default_cluster == "item"
    assert _by_item(list(run.samples)) == INSPECT_EXPECTED
    assert {s.sample_id for s in run.samples} >= {"q1#1", "q1#2"}


@pytest.mark.skipif(not HAS_ZSTD, reason="zstd-compressed .eval needs the zstandard package")
def test_inspect_eval_zip_chunked_layout_from_the_real_tool() -> None:
    path = _one(TOOL / "inspect" / "chunked", "*.eval")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert "samples/q1_epoch_1/sample.json" in names  # chunked layout
    assert not any(n.endswith("_epoch_1.json") for n in names)
    run = load_eval(path)
    assert len(run) == 8 and _by_item(list(run.samples)) == INSPECT_EXPECTED
    one = next(s for s in run.samples if s.sample_id == "q2#1")
    assert one.metadata["topic"] == "geo" and one.output == "Lyon"  # metadata.json read


def test_zstd_log_without_zstandard_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.version_info >= (3, 14):
        pytest.skip("Python 3.14 reads zstd zips natively")
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(EvalLoadError, match="zstandard"):
        load_eval(_one(TOOL / "inspect" / "eval", "*.eval"))


def test_inspect_deflate_zip_built_to_format_planted_triage() -> None:
    run = load_eval(_one(EVALS / "triage", "*.eval"))
    assert len(run) == 200 and run.model == "cockpit/model-b-7b"
    cats = run.table.values("planted_category")
    assert cats["none"] == 120 and sum(cats.values()) == 200
    wrong = run.table.mask(correct=False)
    assert set(run.table.column("planted_category")[wrong]) == set(cats) - {"none"}


def test_inspect_zip_with_attachments_and_partial_status(tmp_path: Path) -> None:
    path = tmp_path / "log.eval"
    header = {"version": 2, "status": "started",
              "eval": {"task": "t", "model": "m/x", "created": "2026-01-02T03:04:05+00:00"}}
    sample = {"id": 1, "epoch": 1, "input": "attachment://abc", "target": "B",
              "output": {"completion": "B"}, "scores": {"choice": {"value": "C"}},
              "attachments": {"abc": "the long prompt"}, "metadata": {"k": "v"}}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("_journal/start.json", json.dumps(header))
        zf.writestr("samples/1_epoch_1.json", json.dumps(sample))
    run = load_eval(path)
    assert run.samples[0].input == "the long prompt" and run.samples[0].correct is True
    assert any("partial" in n for n in run.notes)


def test_truncated_inspect_zip_is_one_clear_error(tmp_path: Path) -> None:
    src = _one(EVALS / "triage", "*.eval")
    bad = tmp_path / "cut.eval"
    bad.write_bytes(src.read_bytes()[:5000])
    with pytest.raises(EvalLoadError, match="cut.eval"):
        load_eval(bad)


# ---- lm-evaluation-harness (lm_eval 0.4.13, --model dummy, local tasks) -----------------
def test_lm_eval_multiple_choice_from_the_real_tool() -> None:
    run = load_eval(_one(TOOL / "lm_eval", "samples_tiny_mc_*.jsonl"))
    assert run.format == "lm-eval" and len(run) == 12 and run.task == "tiny_mc"
    first = run.samples[0]
    assert first.input.startswith("Question: What is 0+0?")
    assert first.target == "0"  # gold index 0 -> the choice text
    assert first.choice_confidences is not None and len(first.choice_confidences) == 4
    assert sum(first.choice_confidences) == pytest.approx(1.0)
    assert first.confidence == pytest.approx(max(first.choice_confidences))
    # lm-eval's acc is argmax(loglik) == gold: our chosen answer must agree with it.
    for s in run.samples:
        assert s.correct == (s.output == s.target)
    assert run.created_at and run.created_at > 1.7e9


def test_lm_eval_one_item_per_doc_when_rows_repeat_per_filter() -> None:
    path = _one(TOOL / "lm_eval", "samples_tiny_gen_*.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 16 and len({r["doc_id"] for r in lines}) == 8
    run = load_eval(path)
    assert len(run) == 8
    assert all("score:exact_match[flexible-extract]" in s.metadata for s in run.samples)
    assert run.samples[0].output == "lol"  # the dummy model's raw generation
    assert any("filters" in n for n in run.notes)


def test_lm_eval_results_file_opens_every_task() -> None:
    runs = load_evals(_one(TOOL / "lm_eval", "results_*.json"))
    assert sorted(r.task or "" for r in runs) == ["tiny_gen", "tiny_mc"]
    with pytest.raises(EvalLoadError, match="holds 2 evals"):
        load_eval(_one(TOOL / "lm_eval", "results_*.json"))


# ---- promptfoo (promptfoo 0.120.0, echo + a local JS provider) --------------------------
def test_promptfoo_export_from_the_real_tool_one_eval_per_provider() -> None:
    runs = load_evals(_one(TOOL / "promptfoo", "*.json"))
    assert [r.model for r in runs] == ["echo", "shouty"]
    echo, shouty = runs
    assert len(echo) == len(shouty) == 3
    assert [s.correct for s in echo.samples] == [True, True, True]
    assert [s.correct for s in shouty.samples] == [False, False, True]
    assert shouty.samples[0].output == "ANSWER: PARIS"
    assert shouty.samples[0].target == "paris" and shouty.samples[0].metadata["language"] == "en"


# ---- OpenAI evals (built to the documented oaieval JSONL format) ------------------------
def _openai_log(path: Path) -> None:
    lines = [
        {"spec": {"completion_fns": ["gpt-4o-mini"], "eval_name": "capitals.dev.v0",
                  "base_eval": "capitals", "split": "dev", "run_config": {},
                  "created_by": "", "run_id": "240101abc", "created_at": "2024-01-01 10:00:00.123"}},
        {"final_report": {"accuracy": 2 / 3}},
    ]
    ev = 0
    for i, (prompt, sampled, expected, ok) in enumerate(
            [("Capital of France?", "Paris", "Paris", True),
             ("Capital of Spain?", "Lisbon", "Madrid", False),
             ("Capital of Italy?", "Rome", "Rome", True)]):
        sid = f"capitals.dev.{i}"
        for kind, data in (("sampling", {"prompt": [{"role": "user", "content": prompt}],
                                         "sampled": [sampled]}),
                           ("match", {"correct": ok, "expected": expected, "picked": sampled,
                                      "sampled": sampled})):
            lines.append({"run_id": "240101abc", "event_id": ev, "sample_id": sid, "type": kind,
                          "data": data, "created_by": "", "created_at": "2024-01-01 10:00:01"})
            ev += 1
    lines.insert(3, lines.pop())  # events arrive out of order: joining is by sample_id
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def test_openai_evals_events_joined_by_sample_id(tmp_path: Path) -> None:
    path = tmp_path / "240101abc_gpt-4o-mini_capitals.jsonl"
    _openai_log(path)
    assert detect_format(path) == "openai-evals"
    run = load_eval(path)
    assert run.model == "gpt-4o-mini" and run.task == "capitals.dev.v0"
    by_id = {s.sample_id: s for s in run.samples}
    assert list(by_id) == ["capitals.dev.0", "capitals.dev.1", "capitals.dev.2"]
    assert by_id["capitals.dev.1"].correct is False
    assert by_id["capitals.dev.1"].output == "Lisbon" and by_id["capitals.dev.1"].target == "Madrid"
    assert "Capital of Spain?" in by_id["capitals.dev.1"].input
    assert any("accuracy=0.6667" in n for n in run.notes)


def test_openai_model_graded_metrics_event(tmp_path: Path) -> None:
    path = tmp_path / "mg.jsonl"
    rows = [{"spec": {"completion_fns": ["m"], "eval_name": "fact.dev.v0", "run_id": "r"}},
            {"run_id": "r", "event_id": 0, "sample_id": "fact.dev.0", "type": "sampling",
             "data": {"prompt": "q", "sampled": ["a"]}},
            {"run_id": "r", "event_id": 1, "sample_id": "fact.dev.0", "type": "metrics",
             "data": {"choice": "Y", "score": 1.0}}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    s = load_eval(path).samples[0]
    assert s.score == 1.0 and s.correct is True and s.metadata["choice"] == "Y"


# ---- generic tables ---------------------------------------------------------------------
def _rows() -> list[dict]:
    return [{"id": f"r{i}", "question": f"q{i}", "answer": "x", "prediction": "x" if i % 3 else "y",
             "passed": bool(i % 3), "lang": "en" if i % 2 else "es", "confidence": 0.5}
            for i in range(12)]


def test_generic_jsonl_auto_mapping(tmp_path: Path) -> None:
    path = tmp_path / "res.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _rows()))
    run = load_eval(path)
    s = run.samples[1]
    assert (s.sample_id, s.input, s.target, s.output, s.correct) == ("r1", "q1", "x", "x", True)
    assert s.metadata == {"lang": "en"} and s.confidence == 0.5
    assert run.table.correct.sum() == 8


def test_generic_mapping_override_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "res.jsonl"
    rows = [{"qid": i, "prompt_text": "p", "gold": "a", "resp": "a" if i else "b"} for i in range(4)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    mapping = parse_mapping("id=qid, input=prompt_text,target=gold,output=resp")
    run = load_eval(path, mapping)
    assert [s.correct for s in run.samples] == [False, True, True, True]  # derived exact match
    assert any("exact match" in n for n in run.notes)
    with pytest.raises(EvalLoadError, match="no column 'nope'"):
        load_eval(path, {"target": "nope"})
    with pytest.raises(EvalLoadError, match="unknown role"):
        parse_mapping("answer=gold")
    with pytest.raises(EvalLoadError, match="ROLE=COLUMN"):
        parse_mapping("input")


def test_generic_csv_and_tsv(tmp_path: Path) -> None:
    path = tmp_path / "res.csv"
    path.write_text('id,prompt,expected,output,score,topic\n1,"a, b",x,x,1,math\n2,c,y,z,0,art\n')
    run = load_eval(path)
    assert [s.correct for s in run.samples] == [True, False]
    assert run.samples[0].input == "a, b" and run.samples[1].metadata == {"topic": "art"}
    tsv = tmp_path / "res.tsv"
    tsv.write_text("id\tinput\ttarget\toutput\tscore\n1\ta\tb\tb\t0.5\n")
    only = load_eval(tsv).samples[0]
    assert only.score == 0.5 and only.correct is None


def test_generic_parquet_through_duckdb(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "res.parquet"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'id' || i AS sample_id, 'q' || i AS question, 'a' AS label,
                   CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END AS completion,
                   i % 2 = 0 AS correct, {{'lang': 'es'}} AS metadata
                   FROM range(6) t(i)) TO '{path}' (FORMAT parquet)""")
    con.close()
    run = load_eval(path)
    assert len(run) == 6 and run.table.correct.sum() == 3
    assert run.samples[0].metadata == {"lang": "es"} and run.samples[0].target == "a"


def test_generic_bad_lines_nan_tokens_and_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "messy.jsonl"
    good = json.dumps({"input": "a", "output": "b", "score": 1.0})
    path.write_bytes(
        (good + "\n" + '{"input": "n", "output": "o", "score": NaN}\n' + "\n"
         + '{"input": "broken\n').encode() + b'{"input": "\xff\xfe", "output": "x", "score": 0}\n'
        + b'{"input": "trunc')
    run = load_eval(path)
    assert len(run) == 3
    assert run.samples[1].score is None  # NaN token read, not a number
    assert any("unreadable" in n for n in run.notes)


def test_empty_and_unknown_files_are_one_sentence(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(EvalLoadError, match="empty.jsonl"):
        load_eval(empty)
    unknown = tmp_path / "x.txt"
    unknown.write_text("hi")
    with pytest.raises(EvalLoadError, match="unknown eval file type"):
        load_eval(unknown)
    with pytest.raises(EvalLoadError, match="does not exist"):
        load_eval(tmp_path / "missing.eval")
    nocols = tmp_path / "nocols.jsonl"
    nocols.write_text('{"a": 1}\n')
    with pytest.raises(EvalLoadError, match="--map"):
        load_eval(nocols)
    notjson = tmp_path / "bad.json"
    notjson.write_text("{not json")
    with pytest.raises(EvalLoadError, match="bad.json"):
        load_eval(notjson)


def test_huge_line_is_handled(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"input": "x" * 5_000_000, "output": "y", "correct": True}) + "\n")
    assert len(load_eval(path).samples[0].input) == 5_000_000


def test_folder_of_evals(tmp_path: Path) -> None:
    shutil.copytree(EVALS / "mcqa", tmp_path / "mcqa")
    runs = load_evals(tmp_path)
    assert sorted(r.model or "" for r in runs) == ["cockpit/model-a-7b", "cockpit/model-b-7b"]
    assert all(len(r) == 1000 for r in runs)


def test_planted_sample_pair_has_the_planted_gap() -> None:
    a = load_eval(_one(EVALS / "mcqa" / "model-a-7b", "samples_*.jsonl"))
    b = load_eval(_one(EVALS / "mcqa" / "model-b-7b", "samples_*.jsonl"))
    assert list(a.table.sample_ids) == list(b.table.sample_ids)
    weak = {"language": "es", "code_switching": "true"}
    acc_a = np.nanmean(a.table.correct[a.table.mask(where=weak)])
    acc_b = np.nanmean(b.table.correct[b.table.mask(where=weak)])
    assert acc_a - acc_b > 0.25
    assert np.isfinite(b.table.confidences).all()


def test_inspect_stop_reason_is_kept_for_triage():
    from cockpit.evals.loaders import load_eval

    run = load_eval(next(Path("sample_runs/evals/planted_failures").glob("*.eval")))
    reasons = set(run.table.values("output:stop_reason"))
    assert "stop" in reasons


# ---- damaged files: one sentence each, never a traceback ---------------------------------
def _damage(src: Path, dst: Path, *, at: int = 0, method: int | None = None,
            version: int | None = None) -> Path:
    """A copy of the zip `src` with its first sample entry's compressed bytes flipped at
    `at`, or every central header's compression method or "version needed" rewritten."""
    import struct

    data = bytearray(src.read_bytes())
    if method is None and version is None:
        with zipfile.ZipFile(src) as zf:
            info = next(i for i in zf.infolist() if i.filename.startswith("samples/"))
        name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                        info.header_offset + 30])
        start = info.header_offset + 30 + name_len + extra_len + at
        data[start:start + 4] = bytes(b ^ 0xFF for b in data[start:start + 4])
    else:
        pos = data.find(b"PK\x01\x02")
        while pos >= 0:
            if version is not None:
                data[pos + 6:pos + 8] = struct.pack("<H", version)
            if method is not None:
                data[pos + 10:pos + 12] = struct.pack("<H", method)
            pos = data.find(b"PK\x01\x02", pos + 4)
    dst.write_bytes(bytes(data))
    return dst


def test_an_inspect_zip_needing_version_9_9_is_one_sentence(tmp_path: Path) -> None:
    bad = _damage(_one(EVALS / "triage", "*.eval"), tmp_path / "v99.eval", version=99)
    with pytest.raises(EvalLoadError, match=r"v99\.eval is not a readable .*version 9\.9"):
        load_eval(bad)


def test_an_unknown_compression_method_is_one_sentence(tmp_path: Path) -> None:
    bad = _damage(_one(EVALS / "triage", "*.eval"), tmp_path / "m99.eval", method=99)
    with pytest.raises(EvalLoadError, match=r"m99\.eval has a damaged entry"):
        load_eval(bad)


def test_a_damaged_deflate_entry_is_one_sentence(tmp_path: Path) -> None:
    bad = _damage(_one(EVALS / "triage", "*.eval"), tmp_path / "deflate.eval", at=40)
    with pytest.raises(EvalLoadError, match=r"deflate\.eval has a damaged entry"):
        load_eval(bad)


@pytest.mark.skipif(not HAS_ZSTD, reason="zstd-compressed .eval needs the zstandard package")
@pytest.mark.parametrize(("at", "why"), [(0, "Unknown frame descriptor"),
                                         (8, "Data corruption detected")])
def test_a_damaged_zstd_entry_is_one_sentence(tmp_path: Path, at: int, why: str) -> None:
    bad = _damage(_one(TOOL / "inspect" / "eval", "*.eval"), tmp_path / "zstd.eval", at=at)
    with pytest.raises(EvalLoadError, match=rf"zstd\.eval has a damaged entry .*{why}"):
        load_eval(bad)


def test_lm_eval_rows_whose_doc_id_is_not_a_scalar_do_not_stop_the_file(tmp_path: Path) -> None:
    """Rows are grouped by doc_id; a list or object there (a mutated file) once raised
    TypeError. Such a file is no longer taken for lm-eval samples; it still opens."""
    rows = [json.loads(line) for line in
            _one(TOOL / "lm_eval", "samples_tiny_mc_*.jsonl").read_text().splitlines()]
    rows[0]["doc_id"], rows[1]["doc_id"] = [1, 2], {"a": 1}
    path = tmp_path / "samples_tiny_mc_mutated.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = load_eval(path)
    assert len(run) == len(rows) and run.format != "lm-eval"
