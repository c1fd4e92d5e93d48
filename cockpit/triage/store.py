"""Triage labels in the `triage_labels` table: a new triage of an eval replaces the old one."""

from __future__ import annotations

from typing import Any, Protocol


class LabelSink(Protocol):
    def call(self, fn: Any) -> None: ...

    def put_rows(self, table: str, rows: list[dict[str, Any]]) -> None: ...


def store_labels(sink: LabelSink, eval_id: str, rows: list[dict[str, Any]]) -> None:
    """Queue the delete of the eval's old labels, then the new rows (same writer, in order)."""

    def delete(con: Any) -> None:
        con.execute("DELETE FROM triage_labels WHERE eval_id = ?", [eval_id])

    sink.call(delete)
    sink.put_rows("triage_labels", rows)
