"""The DuckDB schema and its migrations.

Each migration is a list of statements that moves the database from version N-1 to N and
keeps every row already stored. SPEC §3 column names are the public contract: only add.
Timestamps are unix seconds as DOUBLE (what the logs carry; `to_timestamp(ts)` in SQL).
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    # v1: the core history.
    [
        """CREATE TABLE runs(
            run_id VARCHAR PRIMARY KEY, name VARCHAR, path VARCHAR, root VARCHAR,
            status VARCHAR DEFAULT 'unknown', started_at DOUBLE, updated_at DOUBLE,
            last_step BIGINT, status_reason VARCHAR)""",
        """CREATE TABLE metrics(
            run_id VARCHAR, key VARCHAR, step BIGINT, ts DOUBLE, value DOUBLE, source VARCHAR)""",
        """CREATE TABLE alerts(
            run_id VARCHAR, detector VARCHAR, severity VARCHAR, step BIGINT, ts DOUBLE,
            metric VARCHAR, message VARCHAR, evidence VARCHAR, created_at DOUBLE)""",
        # One row per followed file: where reading resumes after a restart.
        """CREATE TABLE sources(
            path VARCHAR PRIMARY KEY, run_id VARCHAR, format VARCHAR, dev BIGINT, inode BIGINT,
            "offset" BIGINT, head_sig VARCHAR, reader_state VARCHAR, updated_at DOUBLE)""",
        # Which file each series of a run comes from (the richest one wins).
        """CREATE TABLE series(
            run_id VARCHAR, canonical VARCHAR, key VARCHAR, source VARCHAR, format VARCHAR,
            PRIMARY KEY (run_id, canonical))""",
        """CREATE TABLE run_events(
            run_id VARCHAR, ts DOUBLE, step BIGINT, kind VARCHAR, message VARCHAR, source VARCHAR)""",
    ],
    # v2: telemetry, evals, triage, run parameters.
    [
        """CREATE TABLE run_params(run_id VARCHAR, key VARCHAR, value VARCHAR, source VARCHAR,
            PRIMARY KEY (run_id, key))""",
        """CREATE TABLE gpu_samples(
            ts DOUBLE, host VARCHAR, gpu INTEGER, util_gpu DOUBLE, util_mem DOUBLE,
            mem_used BIGINT, mem_total BIGINT, power_w DOUBLE, temp_c DOUBLE,
            sm_clock_mhz DOUBLE, sm_active DOUBLE, tensor_active DOUBLE, dram_active DOUBLE,
            clock_event_reasons VARCHAR, power_limit_w DOUBLE, mem_clock_mhz DOUBLE,
            sm_occupancy DOUBLE, pcie_tx_kbs DOUBLE, pcie_rx_kbs DOUBLE, resolution VARCHAR)""",
        """CREATE TABLE gpu_processes(
            ts DOUBLE, host VARCHAR, gpu INTEGER, pid BIGINT, used_mem BIGINT, sm_util DOUBLE,
            run_id VARCHAR, name VARCHAR)""",
        """CREATE TABLE evals(
            eval_id VARCHAR PRIMARY KEY, name VARCHAR, path VARCHAR, model VARCHAR,
            created_at DOUBLE, format VARCHAR, task VARCHAR, n_samples BIGINT)""",
        """CREATE TABLE eval_samples(
            eval_id VARCHAR, sample_id VARCHAR, input VARCHAR, target VARCHAR, output VARCHAR,
            score DOUBLE, correct BOOLEAN, metadata VARCHAR, confidence DOUBLE)""",
        """CREATE TABLE triage_labels(
            eval_id VARCHAR, sample_id VARCHAR, category VARCHAR, rationale VARCHAR)""",
        """CREATE TABLE llm_cache(
            key VARCHAR PRIMARY KEY, response VARCHAR, input_tokens BIGINT,
            output_tokens BIGINT, created_at DOUBLE)""",
    ],
    # v3: GPU telemetry rollups (cockpit.telemetry.rollup): old full-resolution samples are
    # replaced by per-bucket mean rows in gpu_samples (resolution 'mean_<N>s') plus their
    # min/max here; gpu_processes rows say their resolution too.
    [
        """CREATE TABLE gpu_sample_rollups(
            ts DOUBLE, bucket_s DOUBLE, host VARCHAR, gpu INTEGER, n BIGINT,
            util_gpu_min DOUBLE, util_gpu_max DOUBLE, util_mem_min DOUBLE, util_mem_max DOUBLE,
            mem_used_min BIGINT, mem_used_max BIGINT, power_w_min DOUBLE, power_w_max DOUBLE,
            temp_c_min DOUBLE, temp_c_max DOUBLE, sm_clock_mhz_min DOUBLE, sm_clock_mhz_max DOUBLE,
            sm_active_min DOUBLE, sm_active_max DOUBLE, tensor_active_min DOUBLE,
            tensor_active_max DOUBLE, dram_active_min DOUBLE, dram_active_max DOUBLE)""",
        "ALTER TABLE gpu_processes ADD COLUMN resolution VARCHAR",
    ],
    # v4: the run lifecycle's end and cost (SPEC §3 "coming"), and TensorBoard-style
    # histograms of weights and gradients (one row per key and step, TF's HistogramProto).
    [
        "ALTER TABLE runs ADD COLUMN ended_at DOUBLE",
        "ALTER TABLE runs ADD COLUMN host VARCHAR",
        "ALTER TABLE runs ADD COLUMN gpu_hours DOUBLE",
        "ALTER TABLE runs ADD COLUMN wasted_gpu_hours DOUBLE",
        """CREATE TABLE histograms(
            run_id VARCHAR, key VARCHAR, step BIGINT, ts DOUBLE, min DOUBLE, max DOUBLE,
            num DOUBLE, sum DOUBLE, sum_squares DOUBLE, bucket_limits DOUBLE[],
            bucket_counts DOUBLE[], source VARCHAR)""",
    ],
    # v5: a GPU's holder named by an exporter's labels instead of a PID (a Kubernetes pod, an
    # HPC job: cockpit.telemetry.workload), so cluster telemetry keeps who held each GPU.
    [
        "ALTER TABLE gpu_processes ADD COLUMN job VARCHAR",
    ],
    # v6: one `series` row per stored raw series (not per canonical name), each saying the
    # role it plays and the rule that chose it (cockpit.model.roles), and per-run overrides.
    [
        """CREATE TABLE series_v6(
            run_id VARCHAR, canonical VARCHAR, key VARCHAR, source VARCHAR, format VARCHAR,
            role VARCHAR, role_rule VARCHAR, PRIMARY KEY (run_id, source, key))""",
        """INSERT INTO series_v6 SELECT run_id, canonical, key, source, format, NULL, NULL
           FROM series""",
        "DROP TABLE series",
        "ALTER TABLE series_v6 RENAME TO series",
        # role -> key chosen by the user for one run; a NULL key leaves the role unwatched.
        """CREATE TABLE role_overrides(
            run_id VARCHAR, role VARCHAR, key VARCHAR, set_at DOUBLE,
            PRIMARY KEY (run_id, role))""",
        # The metrics an eval tool reported itself (JSON {name: {value, stderr, n}}), and
        # whether the file held only those (no samples).
        "ALTER TABLE evals ADD COLUMN reported VARCHAR",
        "ALTER TABLE evals ADD COLUMN results_only BOOLEAN",
    ],
    # v7: each run's lifecycle history, one row per state it entered (cockpit/monitor's
    # decision): when it hung and for how long, what ended it.
    [
        """CREATE TABLE run_states(
            run_id VARCHAR, ts DOUBLE, state VARCHAR, previous VARCHAR, reason VARCHAR,
            evidence VARCHAR)""",
    ],
    # v8: what each followed file held that could not be read (shown by check, import and
    # runs), and the signature of the bytes before the offset, which tells appended data
    # from a rewrite (cockpit.ingest.follower's generations).
    [
        "ALTER TABLE sources ADD COLUMN tail_sig VARCHAR",
        "ALTER TABLE sources ADD COLUMN bad_records BIGINT",
        "ALTER TABLE sources ADD COLUMN first_bad VARCHAR",
        "ALTER TABLE sources ADD COLUMN skipped VARCHAR",  # JSON {reason: count}
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
