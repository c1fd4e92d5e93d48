"""Render every panel of the app in the dark theme from real runs, offscreen, into
docs/screenshots/*.png (what the README and docs show).

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--runs sample_runs] [--out DIR]

The runs are imported (with the health detectors, so alerts are real) into a temp database
together with a replay of the H100 GPU recording; then the window opens on that database.
Nothing is written into the runs folder: it is copied first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
FALLBACK_RUNS = REPO / "tests" / "fixtures" / "h100-runs"


def _runs_folder(given: Path | None) -> Path:
    if given is not None:
        return given
    samples = REPO / "sample_runs"
    if samples.is_dir() and any((p / "metrics.jsonl").exists() for p in samples.iterdir()):
        return samples
    return FALLBACK_RUNS


def _recording(runs: Path) -> Path | None:
    for candidate in (runs / "gpu_replay", runs / "healthy_bf16", FALLBACK_RUNS / "healthy_bf16"):
        if (candidate / "gpu_trace.jsonl").is_file():
            return candidate
    return None


def prepare(runs: Path, work: Path) -> tuple[Path, Path]:
    """Copy the runs, import them with the detectors, replay GPU telemetry into the db."""
    from cockpit.cli.ingest_cmds import make_health
    from cockpit.monitor.engine import import_paths
    from cockpit.store.writer import StoreWriter
    from cockpit.telemetry.attribution import pins_from_process_json
    from cockpit.telemetry.pipeline import TelemetryPipeline
    from cockpit.telemetry.replay import ReplaySource

    copy = work / "runs"
    copy.mkdir(parents=True)
    for child in sorted(runs.iterdir()):
        if child.is_dir() and child.name not in ("gpu_replay", "evals"):
            shutil.copytree(child, copy / child.name)
    db = work / "history.duckdb"
    writer = StoreWriter(db)
    try:
        run_ids = import_paths([copy], db, health=make_health(), writer=writer)
        recording = _recording(runs)
        if recording is not None:
            pipeline = TelemetryPipeline(ReplaySource(recording, speed=0), writer=writer)
            cur = writer.cursor()
            named = cur.execute("SELECT run_id, name, path FROM runs").fetchall()
            cur.close()
            target = next((r for r in named if "healthy" in r[1]), named[0] if named else None)
            if target is not None:
                for pid in pins_from_process_json(recording, target[0]):
                    pipeline.attributor.pin(pid, target[0])
            pipeline.run()
        evals = runs / "evals" if (runs / "evals").is_dir() else REPO / "sample_runs" / "evals"
        if evals.is_dir():
            from cockpit.evals.loaders import load_evals
            from cockpit.evals.store import store_eval

            for folder in sorted(evals.iterdir()):
                try:
                    for run in load_evals(folder):
                        store_eval(writer, run)
                except Exception as err:  # a sample eval the loaders reject: skip it
                    print(f"skipping evals in {folder}: {err}", file=sys.stderr)
        writer.flush()
        print(f"imported {len(run_ids)} runs into {db}")
    finally:
        writer.close()
    return db, copy


def shoot(db: Path, copy: Path, out: Path, work: Path) -> list[Path]:
    from PySide6.QtWidgets import QApplication

    from cockpit.ui import app as ui_app

    window, backend, cache = ui_app.build(ui_app.AppOptions(
        db_path=db, roots=[copy], settings_path=work / "settings.ini", gpu="off"))
    saved: list[Path] = []
    try:
        from cockpit.ui import theme

        window.set_theme("dark")
        window.resize(1680, 1020)
        from PySide6.QtCore import Qt

        window.resizeDocks([window.docks["runs"]], [500], Qt.Orientation.Horizontal)
        ok = ui_app.wait_until(lambda: len(cache.snapshot.runs) > 0 and window.snapshot_seq > 0, 60)
        assert ok, "no runs in the database"
        runs = cache.snapshot.runs
        picked = [r.run_id for r in runs if any(w in r.name for w in
                                                 ("healthy", "nan", "diverg", "fp16", "lr"))][:4]
        window.runs.select_runs(picked or [r.run_id for r in runs[:4]])
        ui_app.wait_until(lambda: bool(window.charts.charts) and all(
            cache.loaded(r) for r in window.runs.selected), 60)
        window.charts.log_y.setChecked(True)  # diverging losses span 12 decades
        window.charts.smoothing.setValue(60)
        ui_app.wait_until(lambda: all(
            b.smoothing > 0 for _, b in cache.series_items()), 30)
        for _ in range(5):
            QApplication.processEvents()
            window.on_frame()
        window.charts.refresh_all()
        out.mkdir(parents=True, exist_ok=True)

        def save(widget: object, name: str) -> None:
            QApplication.processEvents()
            path = out / f"{name}.png"
            widget.grab().save(str(path))  # type: ignore[attr-defined]
            saved.append(path)

        save(window, "main_window")
        save(window.charts, "charts")
        window.show_dock(window.docks["runs"])
        save(window.docks["runs"], "runs")
        window.show_dock(window.docks["gpu"])
        ui_app.wait_until(lambda: bool(window.gpu.cards), 30)
        save(window.docks["gpu"], "gpu")
        window.resizeDocks([window.docks["alerts"]], [540], Qt.Orientation.Vertical)
        window.show_dock(window.docks["alerts"])
        if window.alerts.proxy.rowCount():
            row = next((r for r in range(window.alerts.proxy.rowCount())
                        if window.alerts.proxy.index(r, 1).data() == "critical"), 0)
            window.alerts.select_row(row)
        for _ in range(3):
            window.on_frame()
        save(window.docks["alerts"], "alerts")
        save(window.charts, "charts_alert_focus")
        window.show_dock(window.docks["sql"])
        window.sql.editor.setPlainText(
            "-- last loss and alert count per run\n"
            "SELECT r.name, r.status, r.last_step,\n"
            "       (SELECT count(*) FROM alerts a WHERE a.run_id = r.run_id) AS alerts\n"
            "FROM runs r ORDER BY r.name;")
        window.sql.run_query()
        ui_app.wait_until(lambda: window.sql.result is not None, 30)
        save(window.docks["sql"], "sql")
        window.show_dock(window.docks["compare"])
        window.compare.set_checked(picked[:3])
        window.compare.compare(picked[:3])
        ui_app.wait_until(lambda: window.compare.comparison is not None, 30)
        save(window.docks["compare"], "compare")
        window.show_dock(window.docks["evals"])
        window.evals.refresh()
        ui_app.wait_until(lambda: window.evals.evals.count() > 0, 15)
        if window.evals.evals.count():
            window.evals.evals.setCurrentRow(0)
            ui_app.wait_until(lambda: window.evals.view is not None, 30)
        save(window.docks["evals"], "evals")
        window.palette_dialog.open_fresh()
        window.palette_dialog.input.setText("theme")
        save(window.palette_dialog, "command_palette")
        window.palette_dialog.close()
        assert theme.current().name == "dark"
    finally:
        window.close()
        cache.stop()
        backend.close()
        ui_app._release(window)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="folder of runs (default: sample_runs/)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    runs = _runs_folder(args.runs)
    work = Path(tempfile.mkdtemp(prefix="cockpit-shots-"))
    try:
        db, copy = prepare(runs, work)
        for path in shoot(db, copy, args.out, work):
            print(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
