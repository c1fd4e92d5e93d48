"""The ingest loop: discovers runs, polls their files, de-duplicates series across formats,
feeds detectors, and hands batches to the writer thread.

One engine thread does all file reading (small incremental reads); the writer thread does
all database writes. `import_paths` is the same engine run once to the end of every file.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import numpy as np

from cockpit.ingest.follower import HEAD, FileFollower, FollowerState, Generation, head_signature
from cockpit.ingest.formats import TELEMETRY_FILES, make_reader, priority
from cockpit.model.alert import Alert
from cockpit.model.batch import IngestBatch, RunRow, SeriesRow
from cockpit.model.keys import canonical_key
from cockpit.model.lifecycle import LifecycleChange
from cockpit.model.records import PointBuffer, ReadResult, RunEvent
from cockpit.model.roles import RoleChoice, assign_roles, roles_by_key
from cockpit.monitor.changes import FolderWatcher
from cockpit.monitor.discovery import (
    SKIP_DIRS,
    FormatCache,
    RunSpec,
    SourceSpec,
    Unread,
    discover,
    identity_of,
)
from cockpit.monitor.lifecycle import declared_state
from cockpit.monitor.report import FileProblem, Unreadable
from cockpit.monitor.runlife import LifecycleHealth, LifecycleTracker, Update
from cockpit.sources import LOCAL, ByteSource, Reachability, SourceUnavailable
from cockpit.sources.location import BadLocation, Location, parse_location
from cockpit.store.writer import StoreWriter

if TYPE_CHECKING:
    from cockpit.sources.processes import ProcessSource

log = logging.getLogger(__name__)

RECORDING_SETTLE_S = 10.0  # a run folder's GPU recording is stored once it stops growing
# With file change events a local file is read when the kernel says it changed; a file
# nobody reported is still looked at after this long (events can be dropped), and every
# folder is walked again this often. Without events (and for remote folders), an idle file is
# polled less and less often, down to once every IDLE_POLL_MAX_S, so thousands of finished
# runs cost next to nothing.
SAFETY_POLL_S = 30.0
FULL_RESCAN_S = 60.0
IDLE_POLL_MAX_S = 2.0


class IngestError(Exception):
    """A path the user named cannot be ingested (missing, unreadable): one sentence."""


class HealthSink(LifecycleHealth, Protocol):
    def observe(self, run_id: str, run_name: str, keys: list[str], steps: list[int | None],
                ts: list[float | None], values: list[float]) -> list[Alert]: ...

    def note_params(self, run_id: str, run_name: str, params: dict[str, Any]) -> None: ...

    def finish(self, run_id: str) -> list[Alert]: ...

    def set_roles(self, run_id: str, roles: dict[str, str]) -> None: ...


@dataclass
class _Source:
    spec: SourceSpec
    follower: FileFollower
    rel: str
    fmt: str
    prio: int
    polled: bool = False  # read once already by this engine: what comes next grew live
    due: float = 0.0  # monotonic time of the next look without a change event
    idle: int = 0  # looks in a row that found nothing new


@dataclass
class _Series:
    canonical: str
    format: str
    role: str | None = None
    rule: str | None = None


@dataclass
class _Run:
    spec: RunSpec
    row: RunRow
    sources: dict[str, _Source] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # canonical -> format that owns it
    series: dict[tuple[str, str], _Series] = field(default_factory=dict)  # (source, key) ->
    overrides: dict[str, str | None] = field(default_factory=dict)  # role -> key (or None)
    roles: dict[str, str] = field(default_factory=dict)  # key -> role, as the detectors see it
    meta_mtime: float = -1.0  # MLflow meta.yaml, re-read when it changes
    held: str | None = None  # why its place cannot be read now (unreachable, vanished)
    last_point_wall: float | None = None  # wall clock of the first point seen live
    # The history holds points the health monitor has not seen (stored before a restart, or
    # bulk-loaded): they are replayed into it before it judges anything new of this run.
    replay: bool = False
    replayed: bool = False  # rebuilt from the history: its alerts may repeat stored ones
    stored_status: str | None = None  # the status the history held when the run was adopted


@dataclass
class IngestStats:
    points: int = 0
    batches: int = 0
    bad_records: int = 0
    rate: float = 0.0  # points/s, smoothed
    last_error: str | None = None
    _t: float = field(default_factory=time.monotonic)

    def add(self, n: int) -> None:
        now = time.monotonic()
        dt = max(now - self._t, 1e-3)
        self._t = now
        self.points += n
        alpha = min(1.0, dt / 2.0)
        self.rate = (1 - alpha) * self.rate + alpha * (n / dt)

    def rate_at(self, now: float) -> float:
        """The rate as of `now`: what `add(0)` would leave, so it falls to 0 within 2 s
        of the last points instead of staying at the last value."""
        return self.rate * (1 - min(1.0, max(now - self._t, 0.0) / 2.0))


RootLike = Location | PurePath | str


class IngestEngine:
    def __init__(
        self,
        writer: StoreWriter,
        roots: Sequence[RootLike],
        health: HealthSink | None = None,
        on_alerts: Callable[[list[Alert]], None] | None = None,
        poll_interval: float = 0.25,
        rescan_interval: float = 2.0,
        stall_check_interval: float = 2.0,
        recordings: bool = False,
        on_reachability: Callable[[str, Reachability], None] | None = None,
        processes: ProcessSource | None = None,
        on_lifecycle: Callable[[list[LifecycleChange]], None] | None = None,
        events: bool = True,
    ) -> None:
        self.writer = writer
        self.roots: list[Location] = []
        self.on_reachability = on_reachability  # a host or bucket went down or came back
        self.health = health
        self.on_alerts = on_alerts
        self.on_lifecycle = on_lifecycle  # run discovered, hung, finished, failed... (watch, app)
        # The one lifecycle decision per run; `processes` shows who writes each local run.
        self.processes = processes
        self._remote_processes: dict[str, ProcessSource] = {}  # SSH host -> its /proc
        self.lifecycle = LifecycleTracker(health, processes)
        # Adds the GPU time burned since onset to warnings (set by watch and the app).
        self.annotate: Callable[[list[Alert]], None] | None = None
        self.cost_interval = 60.0  # runs' GPU-hours are recomputed this often
        config = getattr(health, "config", None)
        if config is not None:
            self.lifecycle.default_threshold_s = config.stall_after_s or config.stall_floor_s
        self.poll_interval = poll_interval
        self.rescan_interval = rescan_interval
        self.stall_check_interval = stall_check_interval
        self.recordings = recordings  # store run folders' GPU recordings as they are found
        self._recorded: dict[str, tuple[int, int]] = {}  # recording -> (inode, size) stored
        self.runs: dict[str, _Run] = {}
        self.unread: dict[str, Unread] = {}  # folders and files discovery could not read
        self.stats = IngestStats()
        self._last_scan = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._reach: dict[int, Reachability] = {}  # id(source) -> last state seen
        self._scheduler: dict[str, tuple[str, str]] = {}  # run_id -> (status, reason) from Slurm
        self._gone: dict[Location, float] = {}  # watched folders that vanished, since when
        # Change detection: kernel events for local folders when available (`events`), else
        # (and for remote folders) adaptive polling.
        self.events = events
        self._changes: FolderWatcher | None = None
        self._wake = threading.Event()
        self._sniff = FormatCache()
        self._by_path: dict[str, _Source] = {}  # local followers by path (what events name)
        self._rescan_wanted = False  # a path no follower reads changed: look for new files
        self._rescan_at: float | None = None  # a deferred rescan (a GPU recording settling)
        self._last_full_scan = 0.0
        self.more = False  # the last poll stopped at a read limit somewhere: poll again now
        for root in roots:
            self.add_root(root)

    # ---- roots and discovery ---------------------------------------------------------
    def add_root(self, root: RootLike) -> Location:
        """Watch a local folder, an ssh:// folder or a bucket prefix; a remote place is
        contacted now, so a wrong host, key or path is one sentence here (IngestError)."""
        try:
            loc = root if isinstance(root, Location) else parse_location(root)
        except BadLocation as err:
            raise IngestError(str(err)) from None
        connect = getattr(loc.source, "connect", None)
        try:
            if connect is not None:
                connect()
            exists = loc.source.is_dir(loc.path) or loc.source.is_file(loc.path)
        except OSError as err:  # SourceUnavailable: ssh's or the store's own reason
            raise IngestError(str(err)) from None
        if not exists:
            raise IngestError(f"{loc} does not exist")
        with self._lock:
            if loc not in self.roots:
                self.roots.append(loc)
        self._last_scan = 0.0
        if self._changes is not None:
            self._changes.set_roots(self._local_roots())
        self._wake.set()
        return loc

    def _local_roots(self) -> list[Path]:
        return [Path(r.path) for r in self.roots if r.source is LOCAL]

    def rescan(self) -> None:
        self._last_scan = time.monotonic()
        self._rescan_wanted = False
        self._rescan_at = None
        unread: list[Unread] = []
        for root in list(self.roots):
            if not root.source.reachability().ok:
                continue  # its runs say so (_check_reachability); nothing to list meanwhile
            try:
                found = discover(root.path, root.source, unread=unread,
                                 detect=self._sniff.detect)
            except SourceUnavailable:
                continue  # went down meanwhile: the next poll marks its runs
            except FileNotFoundError:
                self._root_gone(root)
                continue
            except OSError as err:
                self.stats.last_error = f"cannot scan {root}: {err}"
                continue
            if root in self._gone:
                self._gone.pop(root)
                for run in self._runs_under(root):
                    self._release(run)
            for spec in found:
                self._adopt(spec)
        self.unread = {u.path: u for u in unread}
        self._by_path = {str(src.follower.path): src for run in self.runs.values()
                         if run.spec.source is LOCAL for src in run.sources.values()}
        if any(u.unreadable for u in unread):
            first = next(u for u in unread if u.unreadable)
            self.stats.last_error = f"{first.path} {first.reason}"
        if self.recordings:
            try:
                self.ingest_recordings()
            except Exception as err:  # a damaged recording must not stop ingest
                log.exception("GPU recording import failed")
                self.stats.last_error = f"GPU recording: {err}"

    def _adopt(self, spec: RunSpec) -> None:
        run = self.runs.get(spec.run_id)
        if run is None:
            source = spec.source
            host = None if source is LOCAL else source.name.removeprefix("ssh://")
            run = _Run(spec, RunRow(spec.run_id, spec.name, source.url(spec.path),
                                    source.url(spec.root), host))
            self._load_series(run)
            self.runs[spec.run_id] = run
            self.lifecycle.track(spec.run_id, spec.name, spec.path, host or socket.gethostname(),
                                 self._processes_of(source), local=source is LOCAL)
        for src in spec.sources:
            existing = run.sources.get(src.identity)
            if existing is not None:
                existing.follower.path = src.path  # a moving file (HF checkpoints)
                continue
            kwargs: dict[str, Any] = {"key": src.key} if src.fmt_needs_key() else {}
            fresh = partial(make_reader, src.format, **kwargs)
            stored = self._stored_state(src.identity)
            follower = FileFollower(src.path, fresh(), stored, source=spec.source,
                                    fresh_reader=fresh)
            resumed = stored is not None and stored.offset > 0
            if resumed:
                run.replay = True
            rel = _relative(src.path, spec.path) if not src.key else f"metrics/{src.key}"
            # A file a previous watch was following on a live run: what it gained since is
            # live growth, judged as an unbroken watch would judge it.
            run.sources[src.identity] = _Source(
                src, follower, rel, src.format, priority(src.format),
                polled=resumed and run.stored_status in ("running", "stalled", "hung"))
        # Read the richest formats first so they claim their series before poorer copies.
        run.sources = dict(sorted(run.sources.items(), key=lambda kv: -kv[1].prio))
        if spec.mlflow:
            self._mlflow_meta(run)

    def _mlflow_meta(self, run: _Run) -> None:
        """MLflow keeps params, tags and the run's status beside the metric files."""
        from cockpit.ingest.mlflow_store import read_mlflow_run_meta

        mtime = _mtime(run.spec.path / "meta.yaml", run.spec.source)
        if mtime == run.meta_mtime:
            return
        run.meta_mtime = mtime
        meta = read_mlflow_run_meta(run.spec.path, run.spec.source)
        self.writer.put_run_meta(run.row, meta)
        if self.health is not None:
            self.health.note_params(run.row.run_id, run.row.name, meta)
        if meta.get("status"):
            self.lifecycle.declare(run.row.run_id, declared_state(meta["status"]),
                                   f"MLflow status {meta['status']}")

    def _stored_state(self, identity: str) -> FollowerState | None:
        cur = self.writer.cursor()
        try:
            row = cur.execute(
                'SELECT dev, inode, "offset", head_sig, reader_state, tail_sig, bad_records, '
                "first_bad, skipped FROM sources WHERE path = ?", [identity],
            ).fetchone()
        finally:
            cur.close()
        if row is None:
            return None
        return FollowerState(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), row[3] or "",
                             json.loads(row[4]) if row[4] else None, row[5] or "",
                             int(row[6] or 0), row[7], json.loads(row[8]) if row[8] else {})

    def _load_series(self, run: _Run) -> None:
        """The run's stored series, role overrides and status; roles recomputed (and rewritten
        where a stored row disagrees, e.g. after the schema migration or an override)."""
        cur = self.writer.cursor()
        try:
            rows = cur.execute(
                "SELECT source, key, canonical, format, role, role_rule FROM series "
                "WHERE run_id = ?", [run.row.run_id]).fetchall()
            overrides = cur.execute(
                "SELECT role, key FROM role_overrides WHERE run_id = ?", [run.row.run_id]
            ).fetchall()
            status = cur.execute("SELECT status FROM runs WHERE run_id = ?",
                                 [run.row.run_id]).fetchone()
        finally:
            cur.close()
        run.stored_status = status[0] if status else None
        for source, key, canonical, fmt, role, rule in rows:
            run.series[(source, key)] = _Series(canonical, fmt, role, rule)
            run.owners[canonical] = fmt
        run.overrides = {role: key for role, key in overrides}
        self.writer.put_series(run.row.run_id, self._update_roles(run, set()))

    def _update_roles(self, run: _Run, new: set[tuple[str, str]]) -> list[SeriesRow]:
        """Apply the role rules (cockpit.model.roles) to every series of the run; returns the
        rows that are new or whose role changed, and tells the detectors."""
        choices: dict[str, RoleChoice] = assign_roles({k for _, k in run.series}, run.overrides)
        by_key = roles_by_key(choices)
        rows: list[SeriesRow] = []
        for (source, key), info in sorted(run.series.items()):
            role = by_key.get(key)
            rule = choices[role].rule if role is not None else None
            if (source, key) in new or (role, rule) != (info.role, info.rule):
                info.role, info.rule = role, rule
                rows.append(SeriesRow(source, key, info.canonical, info.format, role, rule))
        if by_key != run.roles:
            run.roles = by_key
            if self.health is not None:
                self.health.set_roles(run.row.run_id, by_key)
        return rows

    # ---- polling -------------------------------------------------------------------
    def poll_once(self, final: bool = False) -> int:
        """Read what is new in every followed file; returns the number of points queued."""
        self._check_reachability()
        self._apply_scheduler()
        if time.monotonic() - self._last_scan >= self.rescan_interval or final:
            self.rescan()
        return self._poll(final=final)

    def _poll(self, final: bool = False, changed: set[str] | None = None,
              idle_cap: float = 0.0, only: set[str] | None = None) -> int:
        """Poll followers. With `changed` (the local paths events reported) only those, the
        ones still draining a backlog and the ones whose idle look is due; with `idle_cap`
        > 0 (no events) the ones whose backed-off poll is due; else every one (of the runs
        in `only`, when given)."""
        now = time.monotonic()
        selective = changed is not None or idle_cap > 0
        total = 0
        more = False
        for run in list(self.runs.values()):
            if run.held is not None:
                continue  # its host or bucket is unreachable: read on from here once it is back
            if only is not None and run.row.run_id not in only:
                continue
            local = run.spec.source is LOCAL
            for src in list(run.sources.values()):
                follower = src.follower
                if selective and not (follower.more or now >= src.due or (
                        changed is not None and local and str(follower.path) in changed)):
                    continue
                if final and src.fmt == "jsonl" and follower.state.offset == 0 and local:
                    total += self._try_bulk(run, src)
                seen = False  # the file changed (poll returned a result)
                while True:
                    try:
                        result = follower.poll(final=final)
                    except SourceUnavailable:
                        break  # went down mid-poll: the next poll marks its runs
                    except OSError as err:
                        self.stats.last_error = f"cannot read {src.spec.identity}: {err}"
                        break
                    except Exception as err:  # a reader bug must not stop the other files
                        log.exception("reading %s failed", src.spec.path)
                        self.stats.last_error = f"cannot read {src.spec.path}: {err!r}"
                        break
                    generation = follower.generation
                    if generation is not None:
                        seen = True
                        total += self._new_generation(run, src, generation)
                    if result is not None:
                        seen = True
                        total += self._emit(run, src, result, live=not final, regenerated=bool(
                            generation is not None and generation.replaced))
                    if not (final and follower.more):
                        break
                more = more or follower.more
                cap = idle_cap or (SAFETY_POLL_S if local else IDLE_POLL_MAX_S)
                self._schedule(src, now, seen, cap)
        self.more = more
        if not final:
            self._announce(self.lifecycle.search_pending())
        return total

    def _schedule(self, src: _Source, now: float, changed: bool, cap: float) -> None:
        """When to look at a file again if no event says it changed: soon after a change,
        then backing off while it stays idle."""
        src.idle = 0 if changed else src.idle + 1
        src.due = now + min(self.poll_interval * (1 << min(src.idle, 16)), cap)

    def _new_generation(self, run: _Run, src: _Source, generation: Generation) -> int:
        """The file became another one (follower's generations): a rotated file's points
        move to its new name with what was still unread in it; replaced points are deleted
        with the next batch, and the detectors start over from what the history then holds."""
        if generation.replaced:
            if self.health is not None:
                self.health.finish(run.row.run_id)
            run.replay = True
            for gone in [k for k in run.series if k[0] == src.rel]:
                del run.series[gone]  # claimed again by the new generation's batch
            return 0
        assert generation.rotated_to is not None and generation.old_state is not None
        drained = generation.drained
        old = generation.old_state
        points, series, deletes = self._claim(run, src, drained.points)
        self.writer.put_ingest(IngestBatch(
            run=run.row, source=_relative(generation.rotated_to, run.spec.path),
            source_path=identity_of(generation.rotated_to, run.spec.source), format=src.fmt,
            points=points,
            events=drained.events, params=drained.params, dev=old.dev, inode=old.inode,
            offset=old.offset, head_sig=old.head_sig, reader_state=old.reader_state,
            tail_sig=old.tail_sig, bad_records=old.bad_records, first_bad=old.first_bad,
            skipped=old.skipped, series=series, deletes=deletes, relabel_from=src.rel,
            histograms=drained.histograms))
        self._announce(Update(alerts=self._observe(run, points, drained.events, drained.params)))
        return len(points)

    def _emit(self, run: _Run, src: _Source, result: ReadResult, live: bool = True,
              regenerated: bool = False) -> int:
        points, series, deletes = self._claim(run, src, result.points)
        if result.bad_records:
            self.stats.bad_records += result.bad_records
            self.stats.last_error = f"{src.spec.identity}: {result.bad_records} unreadable record(s), " \
                                    f"e.g. {result.first_bad!r}"
        if run.replay and self.health is not None and (len(points) or result.events):
            self._replay(run, exclude=src.rel if regenerated else None)
        st = src.follower.state
        arrival = src.follower.mtime  # when the file last grew: the arrival time of its lines
        self.writer.put_ingest(IngestBatch(
            run=run.row, source=src.rel, source_path=src.spec.identity, format=src.fmt,
            points=points, events=result.events, params=result.params, dev=st.dev,
            inode=st.inode, offset=st.offset, head_sig=st.head_sig, reader_state=st.reader_state,
            tail_sig=st.tail_sig, bad_records=st.bad_records, first_bad=st.first_bad,
            skipped=dict(st.skipped), series=series, deletes=deletes,
            histograms=result.histograms, replace_source=regenerated,
            arrived_at=arrival if len(points) else None,
        ))
        self.stats.batches += 1
        self.stats.add(len(points))
        if len(points) and run.last_point_wall is None:
            run.last_point_wall = time.time()
        flat = points.flat() if len(points) else points
        max_step, max_ts = _newest(flat)
        alerts = self._observe(run, points, result.events, result.params,
                               arrival if live else None)
        self.lifecycle.on_batch(run.row.run_id, len(points), max_step, max_ts, arrival,
                                result.events, grew=live and src.polled)
        src.polled = True
        # Live, a batch may change the state at once (an error line, a resumed run); an
        # import decides once every file is read (settle_status).
        update = self.lifecycle.review(run.row.run_id, time.time(), True) if live else Update()
        update.alerts = alerts + self._fresh(update.alerts)
        self._announce(update)
        return len(points)

    def _observe(self, run: _Run, points: PointBuffer, events: list[RunEvent],
                 params: dict[str, Any] | None = None, arrival: float | None = None
                 ) -> list[Alert]:
        """Points in step order (as `check` replays them), then events, to the detectors;
        returns the alerts they raise. `arrival`: live, the time points without a logged
        time arrived (when their file grew), which the live checks take instead."""
        if self.health is None:
            return []
        alerts: list[Alert] = []
        if len(points):
            flat = points.flat()
            keys, steps, ts, values = _in_step_order(flat.keys, flat.steps, flat.ts, flat.values)
            if arrival is not None and None in ts:
                ts = [arrival if t is None else t for t in ts]
            alerts += self.health.observe(run.row.run_id, run.row.name, keys, steps, ts, values)
        for event in events:
            alerts += self.health.observe_event(run.row.run_id, run.row.name, event)
        if params:
            self.health.note_params(run.row.run_id, run.row.name, params)
        return self._fresh(alerts)

    def _fresh(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts minus those a run rebuilt from the history raised before a restart."""
        rebuilt = {rid for rid, r in self.runs.items() if r.replayed}
        if not alerts or not any(a.run_id in rebuilt for a in alerts):
            return alerts
        from cockpit.health.posthoc import not_stored

        cur = self.writer.cursor()
        try:
            again = not_stored(cur, [a for a in alerts if a.run_id in rebuilt])
        finally:
            cur.close()
        return [a for a in alerts if a.run_id not in rebuilt] + again

    def _replay(self, run: _Run, exclude: str | None = None, keep_alerts: bool = False) -> None:
        """Rebuild the run's detector state from its stored points (after a restart, a
        replaced file or a bulk load), so what fires next is what an unbroken watch would
        fire. Alerts the replay raises were raised before, unless `keep_alerts`."""
        from cockpit.health.posthoc import replay_stored_run

        assert self.health is not None
        run.replay = False
        run.replayed = True
        self.writer.flush()
        self.health.finish(run.row.run_id)
        cur = self.writer.cursor()
        try:
            alerts = replay_stored_run(cur, self.health, run.row.run_id,  # type: ignore[arg-type]
                                       run.row.name, exclude_source=exclude).alerts
        finally:
            cur.close()
        if keep_alerts:
            self._announce(Update(alerts=self._fresh(alerts)))

    def _announce(self, update: Update) -> None:
        """Store and hand on what the lifecycle decided and the alerts raised with it. The
        alerts are queued first: the writer commits in queue order, so a reader that sees a
        run's new state (hung, failed) also sees the alert that state raised."""
        if update.alerts:
            if self.annotate is not None:
                self.annotate(update.alerts)
            self.writer.put_alerts(update.alerts)
        for change in update.changes:
            self.writer.put_lifecycle(change, update.ended.get(change.run_id))
        ended = [c.run_id for c in update.changes if c.state in ("finished", "failed", "unknown")]
        if ended:
            self.store_gpu_cost(ended)
        if update.changes and self.on_lifecycle is not None:
            self.on_lifecycle(update.changes)
        if update.alerts and self.on_alerts is not None:
            self.on_alerts(update.alerts)

    def _try_bulk(self, run: _Run, src: _Source) -> int:
        """Import a big finished JSONL file with DuckDB's parallel reader (see bulk_jsonl)."""
        from cockpit.ingest import bulk_jsonl

        plan = bulk_jsonl.plan(Path(src.spec.path))
        if plan is None:
            return 0
        saved = (dict(run.owners), {k: replace(v) for k, v in run.series.items()},
                 dict(run.roles))
        probe = PointBuffer()
        for key in plan.metric_keys:
            probe.add(key, None, None, 0.0)
        claimed, series, deletes = self._claim(run, src, probe)
        keys = list(claimed.keys)
        if not keys:
            run.owners, run.series, run.roles = saved
            return 0
        src.follower.reader.restore({"row": plan.lines})
        batch = IngestBatch(
            run=run.row, source=src.rel, source_path=src.spec.identity, format=src.fmt,
            points=PointBuffer(), dev=os.stat(plan.path).st_dev, inode=plan.inode,
            offset=plan.size, reader_state=src.follower.reader.state(), series=series,
            deletes=deletes, head_sig=head_signature(plan.head[: min(HEAD, plan.size)]),
            tail_sig=head_signature(plan.tail))
        ok = self.writer.bulk(batch, partial(bulk_jsonl.load, p=plan, run_id=run.row.run_id,
                                             source=src.rel, keys=keys))
        if not ok:
            run.owners, run.series, run.roles = saved
            if self.health is not None:
                self.health.set_roles(run.row.run_id, run.roles)
            src.follower.reader.restore({"row": 0})
            return 0
        src.follower.skip_to(plan.size, batch.dev, plan.inode, batch.head_sig, batch.tail_sig)
        if self.health is not None:  # the detectors see the bulk-loaded points too
            self._replay(run, keep_alerts=True)
        n = plan.lines * len(keys)
        max_step, max_ts = self._stored_newest(run.row.run_id, src.rel)
        self.lifecycle.on_batch(run.row.run_id, n, max_step, max_ts, _mtime(plan.path), [])
        src.polled = True
        self.stats.batches += 1
        self.stats.add(n)
        return n

    def _claim(self, run: _Run, src: _Source, points: PointBuffer
               ) -> tuple[PointBuffer, list[SeriesRow], list[tuple[str, list[str]]]]:
        """Keep every series of this file unless a richer format holds the same series
        (same canonical name) for this run (SPEC §2); a richer file that appears later takes
        the series over and the poorer copy's points are deleted."""
        deletes: list[tuple[str, list[str]]] = []
        if not len(points):
            return points, [], deletes
        keys_in = points.key_set()
        allowed: set[str] = set()
        new: set[tuple[str, str]] = set()
        for key in sorted(keys_in):
            canonical = canonical_key(key)
            owner = run.owners.get(canonical)
            if owner is not None and owner != src.fmt:
                if priority(owner) >= src.prio:
                    continue  # a copy of a series a richer (or equal) format already holds
                deletes += self._give_up(run, canonical, owner)
            run.owners[canonical] = src.fmt
            allowed.add(key)
            if (src.rel, key) not in run.series:
                run.series[(src.rel, key)] = _Series(canonical, src.fmt)
                new.add((src.rel, key))
        series = self._update_roles(run, new) if new or deletes else []
        if allowed == keys_in:
            return points, series, deletes
        return points.only(allowed), series, deletes

    def _give_up(self, run: _Run, canonical: str, fmt: str) -> list[tuple[str, list[str]]]:
        """Forget the series `fmt` held under `canonical`: (key, its sources) to delete."""
        rels = {s.rel for s in run.sources.values() if s.fmt == fmt}
        keys: dict[str, set[str]] = {}
        for (rel, key), info in list(run.series.items()):
            if info.canonical == canonical and info.format == fmt:
                keys.setdefault(key, set()).add(rel)
                del run.series[(rel, key)]
        return [(key, sorted(found | rels)) for key, found in sorted(keys.items())]

    def _stored_newest(self, run_id: str, source: str) -> tuple[int | None, float | None]:
        cur = self.writer.cursor()
        try:
            row = cur.execute("SELECT max(step), max(ts) FROM metrics WHERE run_id = ? AND source = ?",
                              [run_id, source]).fetchone()
        finally:
            cur.close()
        return (row[0], row[1]) if row else (None, None)

    def settle_status(self, now: float | None = None) -> None:
        """After an import: every run gets its final decision (lifecycle.decide, post hoc),
        from its markers, its process record and whether a process still writes it."""
        self._announce(self.lifecycle.settle(now))

    def ingest_recordings(self, store_alerts: bool = True) -> int:
        """Store the GPU recording a run folder holds (SPEC §5) once; returns how many were new.

        Rows of a recording carry host `recording:<run name>`, so an interrupted import is
        redone cleanly: its old rows are deleted first, and the recording is marked stored
        (in `sources`) only after its rows were queued.
        """
        from cockpit.telemetry.attribution import RunRef
        from cockpit.telemetry.live import replay_into_store

        stored = 0
        for run in list(self.runs.values()):
            if run.spec.source is not LOCAL:
                continue  # a recording on a remote host is not replayed (docs/remote.md)
            trace = Path(run.spec.path) / "gpu_trace.jsonl"
            try:
                st = trace.stat()
            except OSError:
                continue
            if self.recordings and time.time() - st.st_mtime < RECORDING_SETTLE_S:
                continue  # still being written: store it once it has settled
            identity = str(trace)
            if self._recorded.get(identity) == (st.st_ino, st.st_size):
                continue  # known stored: no database lookup on every rescan
            known = self._stored_state(identity)
            if known is not None and (known.inode, known.offset) == (st.st_ino, st.st_size):
                self._recorded[identity] = (st.st_ino, st.st_size)
                continue
            host = f"recording:{run.row.name}"
            self.writer.call(partial(_forget_recording, host=host))
            replay_into_store(Path(run.spec.path), self.writer,
                              RunRef(run.row.run_id, run.row.name, Path(run.spec.path)),
                              self.on_alerts if store_alerts else None, host=host,
                              store_alerts=store_alerts)
            self.writer.call(partial(_mark_recording, identity=identity, run_id=run.row.run_id,
                                     st=st))
            self._recorded[identity] = (st.st_ino, st.st_size)
            stored += 1
        return stored

    # ---- what was not read ----------------------------------------------------------
    def stored_runs(self) -> set[str]:
        """The ids of the engine's runs the history holds (a run needs a readable point)."""
        cur = self.writer.cursor()
        try:
            rows = cur.execute("SELECT run_id FROM runs WHERE list_contains(?, run_id)",
                               [list(self.runs)]).fetchall()
        finally:
            cur.close()
        return {r[0] for r in rows}

    def problems(self, stored: set[str] | None = None) -> list[FileProblem]:
        """Every folder and file that could not be read, or only in part. `stored`: the runs
        the history holds; a followed file of any other run held no readable point."""
        out = [FileProblem(u.path, u.reason, u.unreadable) for u in self.unread.values()]
        for run in self.runs.values():
            for src in run.sources.values():
                follower = src.follower
                if follower.unreadable:
                    out.append(FileProblem(str(src.spec.path), follower.unreadable, True))
                    continue
                st = follower.state
                counts = Unreadable(st.bad_records, st.first_bad, st.skipped)
                reasons = [counts.sentence()] if counts.total else []
                if stored is not None and run.row.run_id not in stored:
                    reasons.insert(0, "holds no readable point")
                if reasons:
                    out.append(FileProblem(str(src.spec.path), "; ".join(reasons)))
        return sorted(out, key=lambda p: p.path)

    # ---- background thread -----------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="cockpit-ingest", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._changes is not None:
            self._changes.stop()
            self._changes = None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.store_gpu_cost()  # every run's GPU-hours as the telemetry stored so far says
        for run in self.runs.values():
            for src in run.sources.values():
                src.follower.close()

    def attach_gpu(self, pipeline: Any | None, price: float | None) -> None:
        """Use a telemetry pipeline's view of the GPUs: hang evidence for the lifecycle, and
        the GPU time each warning burned since its onset (priced when `price` is set). Called
        with None where there is no GPU telemetry: warnings still say so."""
        from cockpit.monitor.gpu_cost import LiveCost

        cost = LiveCost(pipeline.gpus_held if pipeline is not None else None, price,
                        self.writer.cursor)
        self.annotate = cost
        if pipeline is not None:
            self.lifecycle.gpu_view = pipeline.run_gpu_view
            pipeline.annotate = cost

    def store_gpu_cost(self, run_ids: list[str] | None = None) -> None:
        """Recompute runs' GPU-hours and wasted GPU-hours from stored telemetry (writer thread)."""
        from cockpit.monitor.gpu_cost import store_gpu_cost

        ids = list(self.runs) if run_ids is None else run_ids
        if ids:
            self.writer.call(partial(store_gpu_cost, run_ids=ids))

    def check_lifecycle(self, now: float | None = None) -> Update:
        """Look at every run's writers and re-decide its state (on the engine thread, which
        owns the health monitor); hung and stalled runs raise their `stall` alert here. A
        watch restarted over a run stored as live first rebuilds its detectors from the
        history, so it keeps judging that run's silence as an unbroken watch would."""
        if self.health is not None:
            for run in self.runs.values():
                if (run.replay and run.held is None
                        and run.stored_status in ("running", "stalled", "hung")):
                    self._replay(run)
        # Read what live runs' files hold before judging them: a traceback written just
        # before the writer exited decides how it ended, whatever an event still has queued.
        live = {rid for rid, life in self.lifecycle.runs.items()
                if life.state in ("running", "hung", "stalled")}
        if live:
            self._poll(only=live)
        update = self.lifecycle.check(now)
        update.alerts = self._fresh(update.alerts)
        self._announce(update)
        return update

    # ---- a scheduler's word (cockpit/monitor/scheduler.py) ---------------------------------
    def set_scheduler_states(self, states: dict[str, tuple[str, str]]) -> None:
        """The job states a scheduler reports for runs (from its watcher thread)."""
        with self._lock:
            self._scheduler.update(states)

    def _apply_scheduler(self) -> None:
        """A scheduler's word on each run goes to the lifecycle decision: a job that ended
        decides its run's state, a running job is a live writer (silent: hung, not stalled).
        Applied on the engine thread."""
        with self._lock:
            states, self._scheduler = self._scheduler, {}
        now = time.time()
        for run_id, (status, reason) in states.items():
            run = self.runs.get(run_id)
            if run is None:
                continue
            self.lifecycle.schedule(run_id, status, reason)
            self._announce(self.lifecycle.review(run_id, now, True))

    # ---- remote places going down and coming back -------------------------------------------
    def _check_reachability(self) -> None:
        """Runs on a host or bucket that became unreachable say so ("remote unreachable since
        14:02 (why)") and are not polled; when it is back they take their status again and
        reading resumes at the stored offsets. One line per change, never one per poll."""
        sources: dict[int, ByteSource] = {}
        for root in self.roots:
            if root.source is not LOCAL:
                sources.setdefault(id(root.source), root.source)
        for key, source in sources.items():
            state = source.reachability()
            before = self._reach.get(key)
            if before is not None and before.ok == state.ok:
                continue
            if before is None and state.ok:
                self._reach[key] = state
                continue
            self._reach[key] = state
            for run in self.runs.values():
                if run.spec.source is source:
                    self._hold(run, state) if not state.ok else self._release(run)
            if self.on_reachability is not None:
                self.on_reachability(source.name, state)

    def _hold(self, run: _Run, state: Reachability) -> None:
        since = time.strftime("%H:%M", time.localtime(state.since))
        self._hold_as(run, f"remote unreachable since {since} ({state.reason})")

    def _hold_as(self, run: _Run, reason: str) -> None:
        """Its place cannot be read: `unknown` with the reason, not polled, not stalled."""
        if run.held is not None:
            return
        run.held = reason
        self.lifecycle.hold(run.row.run_id, reason)
        self._announce(self.lifecycle.review(run.row.run_id, time.time(), True))

    def _runs_under(self, root: Location) -> list[_Run]:
        return [r for r in self.runs.values()
                if r.spec.source is root.source and r.spec.root == root.path]

    def _root_gone(self, root: Location) -> None:
        """A watched folder that vanished (deleted, unmounted, renamed): its runs say so once;
        their history stays, and reading resumes if it comes back."""
        if root in self._gone:
            return
        self._gone[root] = time.time()
        since = time.strftime("%H:%M", time.localtime(self._gone[root]))
        for run in self._runs_under(root):
            self._hold_as(run, f"{root} vanished at {since}")

    def _release(self, run: _Run) -> None:
        if run.held is None:
            return
        run.held = None
        self.lifecycle.hold(run.row.run_id, None)  # decided afresh from its evidence
        self._announce(self.lifecycle.review(run.row.run_id, time.time(), True))

    def _processes_of(self, source: ByteSource) -> ProcessSource | None:
        """Who writes a run on `source`: this machine's processes for local runs, the host's
        /proc over its SSH connection for a remote one, nobody's for a bucket."""
        if source is LOCAL or self.processes is None:
            return self.processes
        host = getattr(source, "host", None)
        if host is None or not hasattr(host, "request"):
            return None
        remote = self._remote_processes.get(source.name)
        if remote is None:
            from cockpit.sources.ssh.processes import RemoteProcesses

            remote = self._remote_processes[source.name] = RemoteProcesses(host)
        return remote

    def _loop(self) -> None:
        last_stall_check = last_cost = time.monotonic()
        if self.events and self._changes is None:
            self._changes = FolderWatcher(self._local_roots(), on_change=self._wake.set,
                                          batch_ms=int(self.poll_interval * 1000))
            self._changes.start()
        while not self._stop.is_set():
            self._wake.clear()  # before taking the changes: a later event wakes the next wait
            now = time.monotonic()
            if now - last_cost >= self.cost_interval:
                last_cost = now
                live = [r for r, life in self.lifecycle.runs.items()
                        if life.state in ("running", "hung", "stalled")]
                self.store_gpu_cost(live)
            if now - last_stall_check >= self.stall_check_interval:
                last_stall_check = now
                try:
                    self.check_lifecycle()
                except Exception:
                    log.exception("lifecycle check failed")
            try:
                busy = self._poll_changes(now)
            except Exception as err:  # keep watching; the status bar shows the problem
                log.exception("ingest poll failed")
                self.stats.last_error = str(err)
                busy = 0
            wait = 0.0 if (busy and self.more) else self.poll_interval
            if self._using_events():
                # Nothing to do until the kernel reports a change, a lifecycle check is due,
                # a remote folder is due for a look or a file's idle look is due.
                wait = max(wait, min(self.stall_check_interval, SAFETY_POLL_S,
                                     self._next_due() - time.monotonic()))
            if wait > 0:
                self._wake.wait(wait)
            if self._using_events() and not self._stop.is_set():
                self._stop.wait(self._min_spacing(now))

    def _using_events(self) -> bool:
        return self._changes is not None and self._changes.failed is None

    def _min_spacing(self, since: float) -> float:
        """Events can arrive faster than polls are useful: at most one poll per interval."""
        return max(0.0, since + self.poll_interval - time.monotonic())

    def _next_due(self) -> float:
        due = [src.due for run in self.runs.values() for src in run.sources.values()]
        if self._rescan_wanted or any(r.source is not LOCAL for r in self.roots):
            due.append(self._last_scan + self.rescan_interval)  # a deferred look for new files
        if self._rescan_at is not None:
            due.append(self._rescan_at)
        return min(due, default=time.monotonic() + SAFETY_POLL_S)

    def _poll_changes(self, now: float) -> int:
        """One turn of the live loop: find new files if needed, then read what changed."""
        self._check_reachability()
        self._apply_scheduler()
        if not self._using_events():
            if now - self._last_scan >= self.rescan_interval:
                self.rescan()
            return self._poll(idle_cap=IDLE_POLL_MAX_S)
        assert self._changes is not None
        changed = self._changes.take()
        if changed is None:  # events were missed: look at everything once
            self.rescan()
            self._last_full_scan = now
            return self._poll()
        self._note_unknown(changed, now)
        if self._rescan_at is not None and now >= self._rescan_at:
            self._rescan_wanted = True
        remote = any(r.source is not LOCAL for r in self.roots)  # no events there: look
        full = now - self._last_full_scan >= FULL_RESCAN_S
        if (full or (self._rescan_wanted or remote)
                and now - self._last_scan >= self.rescan_interval):
            if full:
                self._last_full_scan = now
            self.rescan()
        return self._poll(changed=changed)

    def _note_unknown(self, changed: set[str], now: float) -> None:
        """A changed path that no follower reads may be a new log: rescan (a GPU recording
        being written: once it has settled)."""
        roots = [str(r) for r in self._local_roots()]
        for path in changed:
            if path in self._by_path:
                continue
            parts = Path(_below(path, roots)).parts
            if any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
                continue  # inside a folder discovery never enters (.git, checkpoints, ...)
            if parts and parts[-1] in TELEMETRY_FILES:
                if self.recordings:
                    self._rescan_at = now + RECORDING_SETTLE_S + 1.0
                continue
            self._rescan_wanted = True


def _below(path: str, roots: list[str]) -> str:
    """`path` relative to the watched root that holds it (as is when none does)."""
    for root in roots:
        if path.startswith(root.rstrip("/") + "/"):
            return path[len(root.rstrip("/")) + 1:]
    return path


def _in_step_order(keys: list[str], steps: list[int | None], ts: list[float | None],
                   values: list[float]) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """A batch's points ordered by step, keys of one step in logging order (a reader hands
    them over key by key): the lr of a step is known before its loss is judged."""
    if len(steps) < 2 or None in steps:
        return keys, steps, ts, values
    if len(steps) <= 64:  # a poll of a live tail: plain Python is cheaper than numpy
        if all(a <= b for a, b in zip(steps, steps[1:], strict=False)):  # type: ignore[operator]
            return keys, steps, ts, values
        pick = sorted(range(len(steps)), key=lambda i: steps[i] or 0)  # stable; no None here
    else:
        order = np.argsort(np.asarray(steps, dtype=np.int64), kind="stable")
        if not (np.diff(order) < 0).any():
            return keys, steps, ts, values
        pick = order.tolist()
    return ([keys[i] for i in pick], [steps[i] for i in pick], [ts[i] for i in pick],
            [values[i] for i in pick])


def _forget_recording(con: duckdb.DuckDBPyConnection, host: str) -> None:
    for table in ("gpu_samples", "gpu_processes"):
        con.execute(f"DELETE FROM {table} WHERE host = ?", [host])


def _mark_recording(con: duckdb.DuckDBPyConnection, identity: str, run_id: str,
                    st: os.stat_result) -> None:
    con.execute(
        'INSERT OR REPLACE INTO sources (path, run_id, format, dev, inode, "offset", updated_at) '
        "VALUES (?, ?, 'gpu_recording', ?, ?, ?, ?)",
        [identity, run_id, st.st_dev, st.st_ino, st.st_size, time.time()],
    )


def _relative(path: PurePath, run_dir: PurePath) -> str:
    try:
        return path.relative_to(run_dir).as_posix()
    except ValueError:
        return path.name


def _mtime(path: PurePath, source: ByteSource = LOCAL) -> float:
    try:
        return source.stat(path).mtime_ns / 1e9
    except OSError:
        return 0.0


def _newest(points: PointBuffer) -> tuple[int | None, float | None]:
    """The highest step and the newest timestamp of a (flat) batch."""
    steps = [x for x in points.steps if x is not None]
    times = [x for x in points.ts if x is not None]
    return (max(steps) if steps else None, max(times) if times else None)


@dataclass(slots=True)
class ImportResult:
    run_ids: list[str]  # the runs stored (a folder whose files held no readable point is none)
    problems: list[FileProblem]  # what could not be read, per folder or file


def import_paths(
    paths: Sequence[RootLike],
    db_path: str | Path,
    on_batch: Callable[[list[Alert]], None] | None = None,
    health: HealthSink | None = None,
    writer: StoreWriter | None = None,
    processes: ProcessSource | None = None,
    on_lifecycle: Callable[[list[LifecycleChange]], None] | None = None,
) -> list[str]:
    """Ingest every run under `paths` (local folders, ssh:// folders, bucket prefixes) to the
    end of its files; returns the run ids.

    Running it again adds nothing: offsets are stored with the points. Each run then gets its
    final lifecycle decision; a run some local process still writes stays `running`.
    """
    return import_report(paths, db_path, on_batch, health, writer, processes=processes,
                         on_lifecycle=on_lifecycle).run_ids


def import_report(
    paths: Sequence[RootLike],
    db_path: str | Path,
    on_batch: Callable[[list[Alert]], None] | None = None,
    health: HealthSink | None = None,
    writer: StoreWriter | None = None,
    serve: bool = False,
    processes: ProcessSource | None = None,
    on_lifecycle: Callable[[list[LifecycleChange]], None] | None = None,
) -> ImportResult:
    """`import_paths`, also saying what could not be read. `serve`: answer live reads."""
    roots = []
    for path in paths:
        try:
            loc = path if isinstance(path, Location) else parse_location(path)
        except BadLocation as err:
            raise IngestError(str(err)) from None
        if loc.is_local and not Path(loc.path).exists():
            raise IngestError(f"{path} does not exist")
        roots.append(loc)
    own = writer is None
    w = writer or StoreWriter(db_path, serve=serve)
    try:
        if processes is None:
            from cockpit.sources.processes import LocalProcesses

            processes = LocalProcesses()
        engine = IngestEngine(w, list(roots), health=health, on_alerts=on_batch,
                              processes=processes, on_lifecycle=on_lifecycle)
        engine.poll_once(final=True)
        engine.settle_status()
        engine.ingest_recordings(store_alerts=False)
        engine.store_gpu_cost()
        for run in engine.runs.values():
            for src in run.sources.values():
                src.follower.close()
        w.flush()
        stored = engine.stored_runs()
        return ImportResult([r for r in engine.runs if r in stored], engine.problems(stored))
    finally:
        if own:
            w.close()
