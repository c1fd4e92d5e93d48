"""What an XID or ECC event means, in one phrase (NVIDIA's XID catalogue, the common ones)."""

from __future__ import annotations

XID_MESSAGES = {
    13: "graphics engine exception (usually the application: out-of-range access, illegal instruction)",
    31: "GPU memory page fault (usually the application: illegal address)",
    43: "GPU stopped processing (the application was killed or faulted)",
    45: "preemptive cleanup after an earlier fault",
    48: "double-bit ECC error: the memory holds a corrupted value",
    63: "ECC page retirement / row remapping event",
    64: "ECC page retirement / row remapping failure",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    92: "high single-bit ECC error rate",
    94: "contained ECC error (the affected application must restart)",
    95: "uncontained ECC error (reset the GPU)",
    119: "GSP RPC timeout",
    120: "GSP error",
}


def describe_event(kind: str, code: int | None) -> str:
    if kind == "xid":
        detail = XID_MESSAGES.get(code or -1, "see NVIDIA's XID catalogue")
        return f"XID {code}: {detail}"
    if kind == "ecc_double_bit":
        return "double-bit (uncorrectable) ECC error"
    if kind == "ecc_single_bit":
        return "single-bit (corrected) ECC error"
    return kind
