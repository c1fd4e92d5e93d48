"""Showing eval names and untrusted text (eval samples, metadata, names a model chose) in Qt safely.

Item views and plain-text labels show text as written, but Qt treats a tooltip that looks
like HTML as rich text. Tooltips built from eval or model text go through `plain_tooltip`,
which escapes it so markup shows literally and nothing is fetched or rendered."""

from __future__ import annotations

import html

TOOLTIP_CHARS = 1500


def plain_tooltip(text: str, limit: int = TOOLTIP_CHARS) -> str:
    """Rich text that displays `text` exactly (escaped, line breaks kept, clipped)."""
    clipped = text if len(text) <= limit else text[:limit] + "…"
    return f"<p style='white-space:pre-wrap'>{html.escape(clipped)}</p>"


def display_name(name: str, model: str | None) -> tuple[str, str]:
    """(task, model) for showing an eval: loaders often name it `task:model`."""
    if model and name.endswith(f":{model}"):
        return name[: -len(model) - 1], model
    return name, model or ""
