import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import H100


def cockpit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cockpit", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_import_then_query_json_shows_the_acceptance_counts(tmp_path):
    db = str(tmp_path / "h.duckdb")
    out = cockpit("import", str(H100), "--db", db)
    assert out.returncode == 0, out.stderr
    assert "imported 5 run(s)" in out.stdout
    res = cockpit("query", "--db", db, "--format", "json",
                  "SELECT count(*) AS n FROM metrics JOIN runs USING (run_id) "
                  "WHERE name = 'healthy_bf16' AND key = 'loss'")
    assert json.loads(res.stdout) == [{"n": 857}]
    res = cockpit("query", "--db", db, "--format", "json",
                  "SELECT step, value FROM metrics JOIN runs USING (run_id) "
                  "WHERE name = 'fp16_adam_eps_nan' AND key = 'loss' ORDER BY step LIMIT 3")
    rows = json.loads(res.stdout)  # Python's json reads the bare NaN token back as NaN
    assert rows[0]["step"] == 0 and math.isfinite(rows[0]["value"])
    assert [r["step"] for r in rows[1:]] == [1, 2] and all(math.isnan(r["value"]) for r in rows[1:])
    again = cockpit("import", str(H100), "--db", db)
    assert "0 new point(s)" in again.stdout


def test_runs_and_query_formats(tmp_path):
    db = str(tmp_path / "h.duckdb")
    cockpit("import", str(H100 / "memory_leak_oom"), "--db", db)
    runs = json.loads(cockpit("runs", "--db", db, "--json").stdout)
    assert runs[0]["name"] == "memory_leak_oom" and runs[0]["status"] == "failed"
    assert runs[0]["last_step"] == 290
    table = cockpit("query", "--db", db, "SELECT key, count(*) n FROM metrics GROUP BY 1 ORDER BY 1").stdout
    assert table.splitlines()[0].split() == ["key", "n"]
    csv_out = cockpit("query", "--db", db, "--format", "csv", "SELECT 1 AS a, 'x' AS b").stdout
    assert csv_out.splitlines() == ["a,b", "1,x"]


def test_expected_failures_are_one_sentence_and_exit_2(tmp_path):
    db = str(tmp_path / "h.duckdb")
    cases = [
        ("import", str(tmp_path / "missing"), "--db", db),
        ("query", "--db", str(tmp_path / "nothing.duckdb"), "SELECT 1"),
    ]
    cockpit("import", str(H100 / "healthy_bf16"), "--db", db)
    cases.append(("query", "--db", db, "SELEC nonsense"))
    cases.append(("query", "--db", db, "DELETE FROM metrics"))  # read-only
    for args in cases:
        out = cockpit(*args)
        assert out.returncode == 2, (args, out)
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("cockpit: "), out.stderr
        assert "Traceback" not in out.stderr
    assert cockpit("query", "--db", db, "--format", "json", "SELECT count(*) n FROM metrics").stdout.strip() != "[]"


def test_watch_once_prints_no_alert_for_a_healthy_run_only_its_final_state(tmp_path):
    db = str(tmp_path / "h.duckdb")
    out = cockpit("watch", str(H100 / "healthy_bf16"), "--db", db, "--once", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    alerts = [a for a in lines if "detector" in a]
    assert all(a["severity"] == "info" for a in alerts)
    states = [(c["run"], c["lifecycle"], c["previous"]) for c in lines if "lifecycle" in c]
    assert states == [("healthy_bf16", "finished", None)]
    assert [c["reason"] for c in lines if "lifecycle" in c] == ["process exit code 0"]
    res = cockpit("query", "--db", db, "--format", "json", "SELECT count(*) n FROM metrics WHERE key = 'loss'")
    assert json.loads(res.stdout) == [{"n": 857}]


def test_kill_9_during_import_then_reimport_gives_exact_counts(tmp_path):
    """Points and file offsets commit together, so a killed import loses and repeats nothing."""
    run = tmp_path / "runs" / "big"
    run.mkdir(parents=True)
    lines = 60_000
    with open(run / "metrics.jsonl", "w") as f:
        for i in range(lines):
            f.write(f'{{"step": {i}, "loss": {1 / (i + 1)}, "lr": 0.001}}\n')
    db = tmp_path / "h.duckdb"
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from cockpit.ingest import follower
        from cockpit.monitor import engine
        from cockpit.store import writer
        follower.CHUNK = 64 * 1024   # many small transactions
        writer.MAX_GROUP_POINTS = 1
        original = writer.StoreWriter._apply
        count = 0
        def apply(self, ops):
            global count
            original(self, ops)
            count += 1
            if count == 5:
                print("committed", flush=True)
                sys.stdin.readline()   # wait here to be killed
        writer.StoreWriter._apply = apply
        engine.import_paths([Path({str(tmp_path / 'runs')!r})], {str(db)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "committed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = cockpit("query", "--db", str(db), "--format", "json", "SELECT count(*) n FROM metrics")
    n_partial = json.loads(partial.stdout)[0]["n"]
    assert 0 < n_partial < 2 * lines
    out = cockpit("import", str(tmp_path / "runs"), "--db", str(db))
    assert out.returncode == 0, out.stderr
    res = cockpit("query", "--db", str(db), "--format", "json",
                  "SELECT count(*) n, count(DISTINCT (key, step)) d FROM metrics")
    assert json.loads(res.stdout) == [{"n": 2 * lines, "d": 2 * lines}]
    assert Path(db).exists()
