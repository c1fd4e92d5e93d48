"""What the engine reads when nothing or little changes: file change events (inotify through
watchfiles) instead of polling every file, adaptive polling when events are off, discovery
that never re-reads a file it has sniffed, and writer waits that measure progress."""

import json
import threading
import time
from pathlib import Path

import pytest

from cockpit.ingest.follower import FileFollower
from cockpit.monitor import engine as engine_mod
from cockpit.monitor.changes import FolderWatcher
from cockpit.monitor.discovery import FormatCache, discover
from cockpit.monitor.engine import IngestEngine, import_paths
from cockpit.sources import LOCAL
from cockpit.store import writer as writer_mod
from cockpit.store.db import connect
from cockpit.store.writer import StoreWriter


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def make_runs(root: Path, n: int, lines: int = 3) -> list[Path]:
    logs = []
    for i in range(n):
        run = root / f"run{i:03d}"
        run.mkdir(parents=True)
        log = run / "metrics.jsonl"
        log.write_text("".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}) + "\n"
                               for s in range(lines)))
        logs.append(log)
    return logs


class PollCounter:
    """Counts FileFollower.poll calls per file (the real poll still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        real = FileFollower.poll

        def counting(follower: FileFollower, final: bool = False):
            with self._lock:
                key = str(follower.path)
                self.counts[key] = self.counts.get(key, 0) + 1
            return real(follower, final=final)

        monkeypatch.setattr(FileFollower, "poll", counting)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def test_events_read_the_file_that_changed_and_leave_idle_ones_alone(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    logs = make_runs(root, 30)
    polls = PollCounter(monkeypatch)
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        engine = IngestEngine(writer, [root], poll_interval=0.02, rescan_interval=0.05)
        engine.start()
        cur = writer.cursor()
        try:
            wait_for(lambda: cur.execute("SELECT count(*) FROM metrics").fetchone()[0] == 90)
            wait_for(lambda: engine._changes is not None and engine._changes.ready.is_set())
            assert engine._using_events(), engine._changes.failed
            before = polls.snapshot()
            live = logs[7]
            with open(live, "a") as f:
                for step in range(3, 23):
                    f.write(json.dumps({"step": step, "loss": 0.1}) + "\n")
                    f.flush()
                    wait_for(lambda s=step: cur.execute(
                        "SELECT max(step) FROM metrics WHERE source = 'metrics.jsonl' "
                        "AND run_id = (SELECT run_id FROM runs WHERE name = 'run007')"
                    ).fetchone()[0] == s)
            after = polls.snapshot()
        finally:
            engine.stop()
    assert after[str(live)] - before[str(live)] >= 5  # read as it grew, on events
    idle = [after[str(p)] - before[str(p)] for p in logs if p != live]
    # 20 appends answered by events: the 29 idle files were not polled on every turn (a
    # look at an idle file backs off to once every 30 s; a rescan may touch each once).
    assert sum(idle) <= 2 * len(idle), idle


def test_without_events_idle_files_are_polled_less_and_less(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    logs = make_runs(root, 3)
    clock = [1000.0]
    monkeypatch.setattr(engine_mod.time, "monotonic", lambda: clock[0])
    polls = PollCounter(monkeypatch)
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        engine = IngestEngine(writer, [root], poll_interval=0.25, events=False)
        engine.rescan()
        for _ in range(400):  # 100 s of engine turns, 0.25 s apart
            engine._poll(idle_cap=engine_mod.IDLE_POLL_MAX_S)
            clock[0] += 0.25
        writer.flush()
    counts = polls.snapshot()
    # every 0.25 s would be 400 polls; backing off to every 2 s gives ~50 + the ramp
    assert all(10 <= counts[str(p)] <= 70 for p in logs), counts


def test_a_file_that_grows_again_is_polled_at_full_rate(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    (log,) = make_runs(root, 1)
    clock = [1000.0]
    monkeypatch.setattr(engine_mod.time, "monotonic", lambda: clock[0])
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        engine = IngestEngine(writer, [root], poll_interval=0.25, events=False)
        engine.rescan()
        for _ in range(40):
            engine._poll(idle_cap=engine_mod.IDLE_POLL_MAX_S)
            clock[0] += 0.25
        src = next(iter(engine.runs.values())).sources[str(log)]
        assert src.due - clock[0] > 0.5  # backed off
        with open(log, "a") as f:
            f.write(json.dumps({"step": 3, "loss": 0.2}) + "\n")
        clock[0] = src.due
        assert engine._poll(idle_cap=engine_mod.IDLE_POLL_MAX_S) == 1
        assert src.due - clock[0] == pytest.approx(0.25)  # active again: next look soon
        writer.flush()


def test_folder_watcher_reports_changed_paths_and_new_roots(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    woke = threading.Event()
    watcher = FolderWatcher([a], on_change=woke.set, batch_ms=20)
    watcher.start()
    try:
        assert watcher.ready.wait(10)
        assert watcher.take() is None  # before the first take: "anything may have changed"
        (a / "x.log").write_text("1\n")
        wait_for(lambda: str(a / "x.log") in (watcher._changed | set()))
        assert woke.is_set()
        assert str(a / "x.log") in watcher.take()
        watcher.set_roots([a, b])
        assert watcher.ready.wait(10)
        assert watcher.take() is None  # the watches were replaced: anything may have changed
        (b / "y.log").write_text("1\n")
        wait_for(lambda: str(b / "y.log") in (watcher._changed | set()))
    finally:
        watcher.stop()
    assert watcher.failed is None


def test_folder_watcher_spells_paths_under_a_symlinked_root_as_given(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    watcher = FolderWatcher([link], batch_ms=20)
    watcher.start()
    try:
        assert watcher.ready.wait(10)
        watcher.take()
        (real / "m.jsonl").write_text("{}\n")
        wait_for(lambda: bool(watcher._changed))
        assert str(link / "m.jsonl") in watcher.take()
    finally:
        watcher.stop()


class CountingSource:
    """The local source, counting head reads (the sniffing of a file's format)."""

    def __init__(self) -> None:
        self.heads = 0

    def __getattr__(self, name):
        return getattr(LOCAL, name)

    def read_head(self, path, n):
        self.heads += 1
        return LOCAL.read_head(path, n)


def test_repeated_discovery_sniffs_each_unchanged_file_once(tmp_path):
    root = tmp_path / "runs"
    make_runs(root, 5)
    (root / "run000" / "notes.txt").write_text("no metrics here\n")
    source = CountingSource()
    cache = FormatCache()
    first = discover(root, source, detect=cache.detect)  # type: ignore[arg-type]
    heads = source.heads
    assert heads == 6 and len(first) == 5
    for _ in range(3):
        assert [r.run_id for r in discover(root, source, detect=cache.detect)] == [  # type: ignore[arg-type]
            r.run_id for r in first]
    assert source.heads == heads
    (root / "run000" / "notes.txt").write_text("step 1 loss 2.0\nstep 2 loss 1.9\nstep 3 loss 1.8\n")
    found = discover(root, source, detect=cache.detect)  # type: ignore[arg-type]
    assert source.heads == heads + 1  # a changed non-log is sniffed again
    assert any(s.format == "text" for r in found for s in r.sources)


def test_flush_waits_while_the_writer_progresses_and_fails_when_it_is_stuck(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(writer_mod, "MAX_GROUP_OPS", 1)  # one queued item per transaction
    with StoreWriter(tmp_path / "h.duckdb") as writer:
        slow = threading.Event()
        for _ in range(8):  # 8 transactions of ~0.15 s: longer than the timeout in total
            writer.call(lambda con: slow.wait(0.15))
        writer.flush(timeout=0.6)
        stuck = threading.Event()
        writer.call(lambda con: stuck.wait(30))
        with pytest.raises(TimeoutError, match="no transaction finished"):
            writer.flush(timeout=0.3)
        stuck.set()
        writer.flush()


@pytest.mark.slow
def test_import_of_thousands_of_run_folders_commits_and_exits_cleanly(tmp_path):
    root = tmp_path / "runs"
    for i in range(3000):
        run = root / f"r{i:04d}"
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text('{"step": 0, "loss": 1.0}\n{"step": 1, "loss": 0.5}\n')
    ids = import_paths([root], tmp_path / "h.duckdb")
    assert len(ids) == 3000
    con = connect(tmp_path / "h.duckdb", read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM metrics").fetchone() == (
            6000, 3000)
        assert con.execute("SELECT count(*) FROM sources").fetchone()[0] == 3000
    finally:
        con.close()
