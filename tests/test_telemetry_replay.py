"""ReplaySource and RecordingWriter on the H100 recordings and on damaged copies of them."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from cockpit.telemetry.recorder import RecordingError, RecordingWriter
from cockpit.telemetry.replay import ReplaySource
from cockpit.telemetry.rows import GPU_SAMPLE_COLUMNS, TelemetryBatch
from cockpit.telemetry.sources import TelemetryUnavailable

RUNS = Path(__file__).parent / "fixtures" / "h100-runs"
HEALTHY = RUNS / "healthy_bf16"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _all(source: ReplaySource) -> list[TelemetryBatch]:
    return list(source.batches())


def test_replay_maps_the_recording_to_gpu_sample_columns() -> None:
    trace = _lines(HEALTHY / "gpu_trace.jsonl")
    procs = _lines(HEALTHY / "gpu_procs.jsonl")
    batches = _all(ReplaySource(HEALTHY, speed=0))
    samples = [s for b in batches for s in b.samples]
    assert len(samples) == len(trace)
    assert all(tuple(s) == GPU_SAMPLE_COLUMNS for s in samples)
    assert [s["ts"] for s in samples] == [t["ts"] for t in trace]
    for sample, line in zip(samples, trace, strict=True):
        assert sample["power_w"] == pytest.approx(line["power_mw"] / 1000)
        assert sample["util_gpu"] == line["util_gpu"] and sample["mem_used"] == line["mem_used"]
    # GPM (percent) from the 1 s process lines rides on the following 100 ms samples.
    busy = next(p for p in procs if p["gpm_sm_util"] > 40)
    after = next(s for s in samples if s["ts"] > busy["ts"])
    assert after["sm_active"] == busy["gpm_sm_util"]
    assert after["tensor_active"] == busy["gpm_tensor_util"]
    assert after["dram_active"] == busy["gpm_dram_bw_util"]
    assert after["sm_occupancy"] == busy["gpm_sm_occupancy"]
    assert after["pcie_tx_kbs"] == busy["pcie_tx_kbs"]
    idle = [s for s in samples if s["clock_event_reasons"] == "gpu_idle"]
    assert idle and all(t["clock_event_reasons"] in (0, 1) for t in trace)
    ticks = [b for b in batches if b.process_ticks]
    assert len(ticks) == len(procs)
    rows = [r for b in ticks for r in b.processes]
    assert {r["pid"] for r in rows} == {432}
    mean_util = sum(s["util_gpu"] for s in samples if s["util_gpu"] > 5) / len(
        [s for s in samples if s["util_gpu"] > 5])
    assert 55 < mean_util < 80


def test_record_then_replay_round_trips(tmp_path: Path) -> None:
    original = _all(ReplaySource(HEALTHY, speed=0))
    writer = RecordingWriter(tmp_path / "rec" / "gpu_trace.jsonl")
    for batch in original:
        writer.write(batch)
    writer.close()
    assert writer.folder == tmp_path / "rec"
    again = _all(ReplaySource(tmp_path / "rec", speed=0))
    assert [s for b in again for s in b.samples] == [s for b in original for s in b.samples]
    assert [(b.process_ticks, b.processes) for b in again if b.process_ticks] == [
        (b.process_ticks, b.processes) for b in original if b.process_ticks]
    # The written lines keep the original field names and units.
    line = _lines(tmp_path / "rec" / "gpu_trace.jsonl")[300]
    source = _lines(HEALTHY / "gpu_trace.jsonl")[300]
    assert {k: line[k] for k in source} == source


def test_recorder_refuses_to_overwrite_and_to_write_into_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    shutil.copytree(HEALTHY, folder)
    with pytest.raises(RecordingError, match="already holds a recording"):
        RecordingWriter(folder).open()
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    with pytest.raises(RecordingError, match="is a file"):
        RecordingWriter(plain)


def test_missing_recording_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(TelemetryUnavailable, match="no GPU recording"):
        ReplaySource(tmp_path)


def test_damaged_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "damaged"
    folder.mkdir()
    good = (HEALTHY / "gpu_trace.jsonl").read_bytes().splitlines(keepends=True)
    damaged = [
        good[0],
        b'{"ts": 1795348893.5, "gpu": 0, "util_gpu": NaN, "power_mw": Infinity}\n',
        b"\xff\xfe not utf-8\n",
        b"[1, 2, 3]\n",
        b'{"gpu": 0, "util_gpu": 5}\n',  # no ts
        b'{"ts": "yesterday"}\n',
        b"x" * (2 << 20) + b"\n",  # a 2 MiB line
        good[1],
        b'{"ts": 1795348893.9, "gpu": 0, "util_gpu": 12, "clock_event_reasons": "hot"}\n',
        good[2][:40],  # truncated last record, no newline
    ]
    (folder / "gpu_trace.jsonl").write_bytes(b"".join(damaged))
    (folder / "gpu_procs.jsonl").write_bytes(
        b'{"ts": 1795348893.45, "gpu": 0, "procs": [{"pid": "x"}, 7, {"pid": 432, "util": 3}], '
        b'"gpm_sm_util": NaN}\n{"ts": 1\n'
    )
    source = ReplaySource(folder, speed=0)
    batches = _all(source)
    samples = [s for b in batches for s in b.samples]
    assert len(samples) == 4
    nan_line = samples[1]
    assert nan_line["util_gpu"] is None and nan_line["power_w"] is None
    assert samples[3]["clock_event_reasons"] is None and samples[3]["util_gpu"] == 12
    procs = [r for b in batches for r in b.processes]
    assert [(r["pid"], r["sm_util"]) for r in procs] == [(432, None)]
    assert source.bad_lines == 7
    assert "7 bad line(s) skipped" in source.status
    assert "gpu_procs.jsonl" in source.status or "gpu_trace.jsonl" in source.status


def test_a_recording_without_process_lists_still_replays(tmp_path: Path) -> None:
    folder = tmp_path / "trace-only"
    folder.mkdir()
    shutil.copy(HEALTHY / "gpu_trace.jsonl", folder)
    samples = [s for b in _all(ReplaySource(folder / "gpu_trace.jsonl", speed=0)) for s in b.samples]
    assert len(samples) == 603 and all(s["sm_active"] is None for s in samples)


class _RecordingStop(threading.Event):
    """A stop event whose wait returns at once but remembers how long it was asked to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.delays: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.delays.append(timeout or 0.0)
        return self.is_set()


def test_speed_paces_by_recording_time(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    folder.mkdir()
    lines = [{"ts": 100.0 + i, "gpu": 0, "util_gpu": i} for i in range(5)]
    (folder / "gpu_trace.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    now = [0.0]
    stop = _RecordingStop()
    source = ReplaySource(folder, speed=4.0, clock=lambda: now[0])
    got = list(source.batches(stop))
    assert len(got) == 5
    # With the clock standing still, item i is due (i * 1 s) / 4 after the start.
    assert stop.delays == pytest.approx([0.25, 0.5, 0.75, 1.0])
    stop.set()
    assert list(ReplaySource(folder, speed=4.0, clock=lambda: now[0]).batches(stop)) == []


def test_rebased_timestamps_start_now(tmp_path: Path) -> None:
    batches = list(ReplaySource(HEALTHY, speed=0, rebase_ts=True, wall_clock=lambda: 5000.0)
                   .batches())
    first = next(b for b in batches if b.samples).samples[0]
    assert first["ts"] == pytest.approx(5000.0, abs=0.5)
    assert all(r["ts"] < 5100 for b in batches for r in b.processes)


def test_negative_speed_is_rejected() -> None:
    with pytest.raises(ValueError):
        ReplaySource(HEALTHY, speed=-1)
