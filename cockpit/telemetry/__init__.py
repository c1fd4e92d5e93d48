"""GPU and host telemetry.

nvml_gateway (the only pynvml caller) -> sampler (tiered polling threads) -> sources
(TelemetrySource: LocalNvmlSource, replay.ReplaySource, prometheus.PrometheusSource) ->
pipeline (attribution, host sampling, gpu_detectors, store_sink batches) -> the store writer.
recording/recorder hold the recording format (SPEC §5), rollup downsamples old rows,
posthoc and live wire recordings into `check`, `watch` and `import`.
"""
