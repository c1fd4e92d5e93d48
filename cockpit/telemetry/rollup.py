"""Downsampling old GPU telemetry: full resolution for recent data, min/mean/max beyond an age.

Samples older than `older_than_s` are replaced by one row per (host, gpu, bucket) in
gpu_samples holding the means (resolution 'mean_<bucket>s', ts = bucket start), with the
minimum and maximum of each reading in gpu_sample_rollups (schema v3). Process rows are
replaced the same way (mean SM utilization, peak memory). Buckets are aligned to multiples
of `bucket_s`, so repeated runs never split a bucket. Run it on the writer thread:
`writer.call(lambda con: rollup_gpu_samples(con, 3600, 60))` (the writer's transaction makes
it atomic); `transaction=True` wraps it in its own transaction for a bare connection.
"""

from __future__ import annotations

import math
import time
from typing import Any

from cockpit.telemetry.rows import GPU_SAMPLE_COLUMNS

# Every numeric sample column is averaged per bucket (the key and text columns are not).
MEAN_COLUMNS = tuple(c for c in GPU_SAMPLE_COLUMNS
                     if c not in ("ts", "host", "gpu", "clock_event_reasons", "resolution"))
INTEGER_COLUMNS = frozenset({"mem_used", "mem_total"})
MINMAX_COLUMNS = (
    "util_gpu",
    "util_mem",
    "mem_used",
    "power_w",
    "temp_c",
    "sm_clock_mhz",
    "sm_active",
    "tensor_active",
    "dram_active",
)
_RAW = "coalesce(resolution, 'full') IN ('full', 'driver_buffer')"
_REASONS = (
    "CASE WHEN count(clock_event_reasons) = 0 THEN NULL ELSE trim(regexp_replace("
    "array_to_string(list_sort(list_distinct(flatten(list(string_split("
    "coalesce(clock_event_reasons, ''), ','))))), ','), ',+', ',', 'g'), ',') END"
)


def _cutoff(now: float, older_than_s: float, bucket_s: float) -> float:
    return math.floor((now - older_than_s) / bucket_s) * bucket_s


def rollup_gpu_samples(
    con: Any,
    older_than_s: float,
    bucket_s: float,
    now: float | None = None,
    transaction: bool = False,
) -> int:
    """Replace raw gpu_samples/gpu_processes rows older than `older_than_s` by bucket rows.

    Returns how many raw sample rows were replaced. `con` is a DuckDB connection.
    """
    if bucket_s <= 0 or older_than_s < 0:
        raise ValueError("bucket_s must be > 0 and older_than_s >= 0")
    cutoff = _cutoff(time.time() if now is None else now, older_than_s, bucket_s)
    label = f"mean_{bucket_s:g}s"
    if transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        replaced = _rollup_samples(con, cutoff, bucket_s, label)
        _rollup_processes(con, cutoff, bucket_s, label)
        if transaction:
            con.execute("COMMIT")
    except Exception:
        if transaction:
            con.execute("ROLLBACK")
        raise
    return replaced


def _rollup_samples(con: Any, cutoff: float, bucket_s: float, label: str) -> int:
    bucket = f"floor(ts / {bucket_s!r}) * {bucket_s!r}"
    aggregates = [f"avg({c}) AS {c}" for c in MEAN_COLUMNS]
    aggregates += [f"min({c}) AS {c}_min, max({c}) AS {c}_max" for c in MINMAX_COLUMNS]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gpu_rollup AS
            SELECT host, gpu, {bucket} AS bucket, count(*) AS n, {", ".join(aggregates)},
                   {_REASONS} AS clock_event_reasons
            FROM gpu_samples WHERE ts < ? AND {_RAW}
            GROUP BY host, gpu, bucket""",
        [cutoff],
    )
    row = con.execute("SELECT coalesce(sum(n), 0) FROM _gpu_rollup").fetchone()
    replaced = int(row[0]) if row else 0
    if replaced:
        means = [
            f"CAST(round({c}) AS BIGINT)" if c in INTEGER_COLUMNS else c for c in MEAN_COLUMNS
        ]
        con.execute(
            f"""INSERT INTO gpu_samples (ts, host, gpu, {", ".join(MEAN_COLUMNS)},
                    clock_event_reasons, resolution)
                SELECT bucket, host, gpu, {", ".join(means)}, clock_event_reasons, ?
                FROM _gpu_rollup""",
            [label],
        )
        minmax = [f"{c}_{end}" for c in MINMAX_COLUMNS for end in ("min", "max")]
        con.execute(
            f"""INSERT INTO gpu_sample_rollups (ts, bucket_s, host, gpu, n, {", ".join(minmax)})
                SELECT bucket, ?, host, gpu, n, {", ".join(minmax)} FROM _gpu_rollup""",
            [bucket_s],
        )
        con.execute(f"DELETE FROM gpu_samples WHERE ts < ? AND {_RAW}", [cutoff])
    con.execute("DROP TABLE IF EXISTS _gpu_rollup")
    return replaced


def _rollup_processes(con: Any, cutoff: float, bucket_s: float, label: str) -> None:
    bucket = f"floor(ts / {bucket_s!r}) * {bucket_s!r}"
    raw = "coalesce(resolution, 'full') = 'full'"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gpu_proc_rollup AS
            SELECT {bucket} AS bucket, host, gpu, pid, max(run_id) AS run_id,
                   max(name) AS name, max(used_mem) AS used_mem, avg(sm_util) AS sm_util
            FROM gpu_processes WHERE ts < ? AND {raw}
            GROUP BY bucket, host, gpu, pid""",
        [cutoff],
    )
    con.execute(
        """INSERT INTO gpu_processes (ts, host, gpu, pid, used_mem, sm_util, run_id, name,
               resolution)
           SELECT bucket, host, gpu, pid, used_mem, sm_util, run_id, name, ?
           FROM _gpu_proc_rollup""",
        [label],
    )
    con.execute(f"DELETE FROM gpu_processes WHERE ts < ? AND {raw}", [cutoff])
    con.execute("DROP TABLE IF EXISTS _gpu_proc_rollup")
