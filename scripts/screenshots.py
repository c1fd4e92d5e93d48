"""Render every panel of the app in the dark theme from real runs into docs/screenshots/*.png
(what the README and docs show), on a real X server: the script starts Xvfb and uses Qt's
xcb platform, as a user's desktop would (`--offscreen` for Qt's offscreen platform instead).

    python scripts/screenshots.py [--runs sample_runs] [--out DIR] [--offscreen]

The runs are imported (with the health detectors, so alerts are real) into a temp database
together with a replay of the H100 GPU recording; a small sweep trained here with torch (if
installed) adds hyper-parameters and weight histograms; then the window opens on that
database. Nothing is written into the runs folder: it is copied first. Top-level windows are
captured from the X server's screen; panels are rendered by Qt on that display.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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


def start_display(offscreen: bool) -> subprocess.Popen[bytes] | None:
    """Xvfb on a free display, and Qt told to use xcb on it (unless offscreen is asked)."""
    if offscreen or shutil.which("Xvfb") is None:
        if not offscreen:
            print("no Xvfb (apt-get install xvfb): rendering offscreen", file=sys.stderr)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return None
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1200x24",
                             "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    os.environ["DISPLAY"] = f":{number}"
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    print(f"Xvfb on :{number}, Qt platform xcb")
    return proc


def add_sweep(db: Path, steps: int = 300) -> int:
    """Six small MLPs trained here (two optimizers x three learning rates) on one synthetic
    task: their losses, hyper-parameters and the histograms of the first layer's weights
    every 10 steps, as the torch integration and TensorBoard would store them."""
    try:
        import torch
    except ImportError:
        print("no torch: the HParams and Histograms screenshots stay empty", file=sys.stderr)
        return 0
    import duckdb
    import numpy as np

    torch.manual_seed(0)
    x = torch.randn(512, 16)
    y = (x[:, :4].sum(dim=1, keepdim=True) > 0).float()
    con = duckdb.connect(str(db))
    made = 0
    try:
        for opt_name in ("adam", "sgd"):
            for lr in (0.3, 0.03, 0.003):
                run_id = f"sweep-{opt_name}-{lr}"
                model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                            torch.nn.Linear(32, 1))
                opt = (torch.optim.Adam if opt_name == "adam" else torch.optim.SGD)(
                    model.parameters(), lr=lr)
                losses = []
                for step in range(steps):
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    losses.append(float(loss))
                    if step % 10 == 0:
                        w = model[0].weight.detach().numpy().ravel()
                        counts, edges = np.histogram(w, bins=40)
                        con.execute(
                            "INSERT INTO histograms VALUES (?, 'layer0/weight', ?, ?, ?, ?, ?, "
                            "?, ?, ?, ?, 'torch')",
                            [run_id, step, 1.795e9 + step, float(w.min()), float(w.max()),
                             float(w.size), float(w.sum()), float((w**2).sum()),
                             edges[1:].tolist(), counts.astype(float).tolist()])
                name = f"sweep/{opt_name}-lr{lr:g}"
                con.execute("INSERT INTO runs (run_id, name, path, root, status, started_at, "
                            "updated_at, last_step) VALUES (?, ?, ?, 'sweep', 'finished', "
                            "1.795e9, 1.795e9 + 300, ?)", [run_id, name, f"/sweep/{name}",
                                                             steps - 1])
                for key, value in (("optimizer", opt_name), ("lr", f"{lr:g}"),
                                   ("hidden", "32"), ("batch_size", "512")):
                    con.execute("INSERT INTO run_params VALUES (?, ?, ?, 'config')",
                                [run_id, key, value])
                con.execute("INSERT INTO metrics SELECT ?, 'loss', s, 1.795e9 + s, v, 'sweep' "
                            "FROM (SELECT unnest(range(?)) AS s, unnest(?::DOUBLE[]) AS v)",
                            [run_id, steps, losses])
                made += 1
    finally:
        con.close()
    return made


def fidelity_figure(out: Path) -> Path:
    """One noisy 200k-step loss at three zooms, as the charts draw it: each pixel column's
    true min and max when many points share it, the raw points when zoomed in."""
    import numpy as np
    from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

    from cockpit.ui import theme
    from cockpit.ui.chart import MetricChart
    from cockpit.ui.series import SeriesBuffer

    class Source:
        def __init__(self, buf: SeriesBuffer) -> None:
            self.buf = buf

        def series(self, run_id: str, key: str) -> SeriesBuffer:
            return self.buf

    rng = np.random.default_rng(1)
    n = 200_000
    steps = np.arange(n, dtype=np.float64)
    y = 3.0 * np.exp(-steps / 40_000) + 1.0 + rng.normal(0, 0.12, n)
    y[rng.integers(0, n, 8)] += rng.uniform(1.5, 3.0, 8)  # one-step spikes
    buf = SeriesBuffer()
    buf.append(steps, steps, y)
    host = QWidget()
    host.setStyleSheet(f"background: {theme.current().window}; color: {theme.current().text}")
    layout = QVBoxLayout(host)
    host.resize(1200, 980)
    charts = []
    for title, window in (("all 200,000 steps: each pixel column's min and max", None),
                          ("steps 120,000-127,000: about 7 points per pixel column", 7_000),
                          ("steps 120,000-120,110: every raw point", 110)):
        layout.addWidget(QLabel(title))
        chart = MetricChart("loss", Source(buf))  # type: ignore[arg-type]
        chart.set_runs([("r", "noisy-200k", theme.series_color(0))])
        layout.addWidget(chart, 1)
        charts.append((chart, window))
    host.show()
    for _ in range(3):  # the layout settles; each chart redraws for its final width
        QApplication.processEvents()
        for chart, window in charts:
            if window and chart.follow_x:
                chart.view.setXRange(120_000, 120_000 + window, padding=0)
            chart.refresh()
    QApplication.processEvents()
    path = out / "chart_fidelity.png"
    host.grab().save(str(path))
    host.close()
    return path


def terminal_figure(out: Path, runs: Path) -> Path | None:
    """`cockpit gpu` in tmux (a real terminal): the screen as tmux shows it, drawn to PNG."""
    if shutil.which("tmux") is None:
        return None
    import time

    from PySide6.QtGui import QColor, QFont, QFontDatabase, QImage, QPainter

    recording = _recording(runs)
    if recording is None:
        return None
    session = f"cockpit-shot-{os.getpid()}"
    env = f"PYTHONPATH={REPO}"
    command = f"{env} {sys.executable} -m cockpit gpu --replay {recording} --speed 5; sleep 60"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "14",
                    command], check=True)
    try:
        time.sleep(4)  # let the replay run a few seconds, as a user would watch it
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    lines = screen.rstrip("\n").splitlines() or [""]
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(10)
    from PySide6.QtGui import QFontMetrics

    fm = QFontMetrics(font)
    image = QImage(fm.horizontalAdvance("M") * 150 + 20, fm.lineSpacing() * len(lines) + 20,
                   QImage.Format.Format_RGB32)
    image.fill(QColor("#101216"))
    painter = QPainter(image)
    painter.setFont(QFont(font))
    painter.setPen(QColor("#d0d4da"))
    for i, line in enumerate(lines):
        painter.drawText(10, 10 + fm.ascent() + i * fm.lineSpacing(), line)
    painter.end()
    path = out / "cockpit_gpu_terminal.png"
    image.save(str(path))
    return path


def shoot(db: Path, copy: Path, out: Path, work: Path) -> list[Path]:
    from PySide6.QtWidgets import QApplication, QWidget

    from cockpit.ui import app as ui_app
    from cockpit.ui import theme

    window, backend, cache = ui_app.build(ui_app.AppOptions(
        db_path=db, roots=[copy], settings_path=work / "settings.ini", gpu="off"))
    saved: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)

    def settle(frames: int = 4) -> None:
        for _ in range(frames):
            QApplication.processEvents()
            window.on_frame()
        QApplication.processEvents()

    def save(widget: QWidget, name: str) -> None:
        """A top-level window from the display's own pixels; a panel as Qt renders it."""
        settle(2)
        path = out / f"{name}.png"
        screen = widget.screen() if widget.isWindow() else None
        pix = (screen.grabWindow(widget.winId()) if screen is not None
               and os.environ.get("QT_QPA_PLATFORM") == "xcb" else widget.grab())
        pix.save(str(path))
        saved.append(path)

    try:
        window.set_theme("dark")
        window.resize(1680, 1020)
        ok = ui_app.wait_until(lambda: len(cache.snapshot.runs) > 0 and window.snapshot_seq > 0, 60)
        assert ok, "no runs in the database"
        runs = cache.snapshot.runs
        picked = [r.run_id for r in runs if any(w in r.name for w in
                                                 ("healthy", "nan", "diverg", "lr_bug"))][:4]
        window.runs.select_runs(picked or [r.run_id for r in runs[:4]])
        ui_app.wait_until(lambda: bool(window.charts.charts) and all(
            cache.loaded(r) for r in window.runs.selected), 60)
        ui_app.wait_until(lambda: bool(window.gpu.cards), 30)
        settle(6)
        window.charts.refresh_all()
        save(window, "main_window")
        save(window.charts, "charts")  # linear y: the diverged run clipped and marked
        window.charts.log_y.setChecked(True)
        settle()
        save(window.charts, "charts_log")  # log ticks
        window.charts.log_y.setChecked(False)
        save(window.docks["runs"], "runs")
        save(window.docks["gpu"], "gpu")
        window.show_dock(window.docks["alerts"])
        if window.alerts.proxy.rowCount():
            rows = range(window.alerts.proxy.rowCount())
            index = window.alerts.proxy.index
            row = next((r for r in rows if index(r, 1).data() == "critical"
                        and index(r, 3).data() == "divergence"),
                       next((r for r in rows if index(r, 1).data() == "critical"), 0))
            window.alerts.select_row(row)
        settle()
        save(window.docks["alerts"], "alerts")
        save(window.charts, "charts_alert_focus")
        window.charts.follow_all()
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
        window.show_dock(window.docks["histograms"])
        ui_app.wait_until(lambda: window.histograms.series is not None, 30)
        save(window.docks["histograms"], "histograms")
        window.histograms.mode.setCurrentIndex(1)
        save(window.docks["histograms"], "histograms_density")
        window.show_dock(window.docks["hparams"])
        ui_app.wait_until(lambda: window.hparams.table is not None, 30)
        save(window.docks["hparams"], "hparams")
        window.hparams.tabs.setCurrentIndex(1)
        window.hparams.scatter_param.setCurrentText("lr")
        save(window.docks["hparams"], "hparams_scatter")
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
        saved.append(fidelity_figure(out))
        assert theme.current().name == "dark"
    finally:
        window.close()
        cache.stop()
        backend.close()
        ui_app._release(window)
    saved.append(shoot_without_gpu(db, copy, out, work))
    return saved


def shoot_without_gpu(db: Path, copy: Path, out: Path, work: Path) -> Path:
    """The same history on a machine without GPU telemetry: the GPU panel is one line."""
    import duckdb
    from PySide6.QtWidgets import QApplication

    from cockpit.ui import app as ui_app

    bare = work / "no_gpu.duckdb"
    shutil.copy(db, bare)
    con = duckdb.connect(str(bare))
    con.execute("DELETE FROM gpu_samples; DELETE FROM gpu_processes")
    con.close()
    window, backend, cache = ui_app.build(ui_app.AppOptions(
        db_path=bare, roots=[copy], settings_path=work / "settings_no_gpu.ini", gpu="off"))
    try:
        window.set_theme("dark")
        window.resize(1680, 1020)
        ui_app.wait_until(lambda: bool(cache.snapshot.runs) and bool(window.charts.charts), 60)
        for _ in range(6):
            QApplication.processEvents()
            window.on_frame()
        path = out / "main_window_no_gpu.png"
        screen = window.screen()
        pix = (screen.grabWindow(window.winId()) if screen is not None
               and os.environ.get("QT_QPA_PLATFORM") == "xcb" else window.grab())
        pix.save(str(path))
    finally:
        window.close()
        cache.stop()
        backend.close()
        ui_app._release(window)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="folder of runs (default: sample_runs/)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--offscreen", action="store_true",
                        help="Qt's offscreen platform instead of xcb on a private Xvfb")
    args = parser.parse_args(argv)
    runs = _runs_folder(args.runs)
    work = Path(tempfile.mkdtemp(prefix="cockpit-shots-"))
    display = start_display(args.offscreen)
    try:
        db, copy = prepare(runs, work)
        print(f"sweep runs trained for HParams and Histograms: {add_sweep(db)}")
        for path in shoot(db, copy, args.out, work):
            print(path)
        shot = terminal_figure(args.out, runs)
        if shot is not None:
            print(shot)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if display is not None:
            display.terminate()
            display.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
