"""Detectors across restarts and imports: a restarted watch rebuilds each run's detector
state from the stored points, so a restart never changes what fires; a batch is judged in
step order, so the lr of a step is known before its loss; `import` stores the alerts `check`
finds."""

from __future__ import annotations

import json
import math
from pathlib import Path

from cockpit.health.config import health_config
from cockpit.health.monitor import HealthMonitor
from cockpit.model.alert import Alert
from cockpit.monitor.engine import IngestEngine
from cockpit.store.writer import StoreWriter
from tests.conftest import H100
from tests.livewatch import cockpit


def _line(step: int, loss: float, lr: float) -> str:
    return json.dumps({"step": step, "loss": loss, "lr": lr}) + "\n"


def learns_then_slows(steps: range) -> str:
    """Warmup, a fast drop from 4.0, then a slow crawl: healthy, but any 100 logs of the
    crawl alone improve by well under 2 %."""
    out = []
    for s in steps:
        lr = 1e-3 * min(1.0, (s + 1) / 50) * (0.5 + 0.5 * math.cos(math.pi * s / 4000))
        loss = 1.5 + 2.5 * math.exp(-s / 60) - 0.00002 * s + 0.003 * math.sin(s * 1.7)
        out.append(_line(s, loss, lr))
    return "".join(out)


def _watch(root: Path, db: Path) -> tuple[StoreWriter, IngestEngine, list[Alert]]:
    alerts: list[Alert] = []
    writer = StoreWriter(db)
    engine = IngestEngine(writer, [root], health=HealthMonitor(health_config()),
                          on_alerts=alerts.extend)
    return writer, engine, alerts


def _fired(alerts: list[Alert]) -> list[tuple[str, int | None, str | None]]:
    return sorted((a.detector, a.step, a.metric) for a in alerts if a.severity != "info")


def test_a_watch_restart_never_changes_what_fires(tmp_path: Path) -> None:
    data = learns_then_slows(range(1600)).splitlines(keepends=True)
    results = {}
    for restart in (False, True):
        root = tmp_path / f"restart-{restart}" / "runs"
        (root / "a").mkdir(parents=True)
        path = root / "a" / "metrics.jsonl"
        path.write_text("".join(data[:600]))
        writer, engine, alerts = _watch(root, root.parent / "h.duckdb")
        engine.poll_once()
        if restart:  # stop the watch and start a fresh one over the same history
            engine.stop()
            writer.flush()
            writer.close()
            writer, engine, later = _watch(root, root.parent / "h.duckdb")
        else:
            later = alerts
        with open(path, "a") as fh:
            fh.write("".join(data[600:]))
        engine.poll_once()
        engine.check_lifecycle(now=1e12)  # and both judge the silence alike
        engine.stop()
        writer.flush()
        writer.close()
        results[restart] = _fired(alerts + (later if restart else []))
    assert "no_learning" not in {d for d, _, _ in results[True]}
    assert results[True] == results[False]


def test_no_learning_names_the_lr_that_was_logged(tmp_path: Path) -> None:
    """One batch holds every key of every step; the loss of a step is judged once its lr
    is known (the old key-by-key order judged all losses first: "no lr logged")."""
    root = tmp_path / "runs"
    (root / "stuck").mkdir(parents=True)
    lines = [_line(s, 2.3 + 0.01 * math.sin(s), 1e-3 * min(1.0, (s + 1) / 20))
             for s in range(600)]
    (root / "stuck" / "metrics.jsonl").write_text("".join(lines))
    writer, engine, alerts = _watch(root, tmp_path / "h.duckdb")
    engine.poll_once(final=True)
    engine.stop()
    writer.close()
    found = [a for a in alerts if a.detector == "no_learning"]
    assert len(found) == 1
    assert "no lr logged" not in found[0].message and "lr 0.001 (peak 0.001)" in found[0].message


def test_import_stores_the_alerts_check_finds(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    out = cockpit("import", str(H100), "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert "alert(s) of warning or worse" in out.stdout
    runs = {r["name"]: r["alerts"] for r in json.loads(
        cockpit("runs", "--db", str(db), "--json").stdout)}
    checked = cockpit("check", str(H100), "--json")
    expected: dict[str, int] = {}
    for line in checked.stdout.splitlines():
        alert = json.loads(line)
        if alert["severity"] != "info":
            expected[alert["run"]] = expected.get(alert["run"], 0) + 1
    assert runs == {name: expected.get(name, 0) for name in runs}
    assert runs["fp16_adam_eps_nan"] > 0 and runs["memory_leak_oom"] > 0
    again = cockpit("import", str(H100), "--db", str(db))
    assert "(0 new stored" in again.stdout  # importing twice stores no alert twice
