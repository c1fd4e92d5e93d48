"""The one error a user can cause while loading an eval: an unreadable or unknown file."""

from __future__ import annotations


class EvalLoadError(Exception):
    """A file that is not an eval Cockpit can read, said in one sentence naming the file."""
