"""What the GPU panel and its sparkline cards show, shared by both (no widget code)."""

from __future__ import annotations

GIB = 1024**3
# (field, title, unit, fixed y max or None)
SPARKS = (
    ("util_gpu", "Util", "%", 100.0),
    ("sm_active", "SM active", "%", 100.0),
    ("tensor_active", "Tensor active", "%", 100.0),
    ("mem_used", "Memory", "GiB", None),
    ("power_w", "Power", "W", None),
    ("temp_c", "Temp", "°C", None),
)
