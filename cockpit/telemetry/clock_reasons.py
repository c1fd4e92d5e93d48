"""Clock-event reason bits (nvmlDeviceGetCurrentClocksEventReasons, DCGM's CLOCKS_EVENT_REASONS).

The bitmask is stored and printed as comma-separated names so SQL can say
`clock_event_reasons LIKE '%thermal%'`; "" means "no reason active", None "not read".
"""

from __future__ import annotations

CLOCK_EVENT_REASONS: tuple[tuple[int, str], ...] = (
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal"),
    (0x40, "hw_thermal"),
    (0x80, "hw_power_brake"),
    (0x100, "display_clock_setting"),
)

_BIT_BY_NAME = {name: bit for bit, name in CLOCK_EVENT_REASONS}
_KNOWN_MASK = sum(bit for bit, _ in CLOCK_EVENT_REASONS)

# Reasons that mean the GPU runs slower than it could because of heat or hardware protection.
THERMAL_OR_HW_REASONS = frozenset({"sw_thermal", "hw_thermal", "hw_slowdown", "hw_power_brake"})
POWER_CAP_REASONS = frozenset({"sw_power_cap"})


def decode_reasons(mask: int) -> list[str]:
    """Names of the set bits; an unknown bit becomes `bit_<n>` so nothing is lost."""
    names = [name for bit, name in CLOCK_EVENT_REASONS if mask & bit]
    unknown = mask & ~_KNOWN_MASK
    n = 0
    while unknown:
        if unknown & 1:
            names.append(f"bit_{n}")
        unknown >>= 1
        n += 1
    return names


def reasons_text(mask: int | None) -> str | None:
    if mask is None:
        return None
    return ",".join(decode_reasons(int(mask)))


def reasons_mask(text: str | None) -> int | None:
    """The bitmask of a names string (inverse of `reasons_text`); None stays None."""
    if text is None:
        return None
    mask = 0
    for name in text.split(","):
        name = name.strip()
        if not name:
            continue
        if name in _BIT_BY_NAME:
            mask |= _BIT_BY_NAME[name]
        elif name.startswith("bit_") and name[4:].isdigit():
            mask |= 1 << int(name[4:])
    return mask


def reason_set(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    return frozenset(part for part in text.split(",") if part)
