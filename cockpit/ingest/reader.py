"""The base every format reader derives from: pure and incremental, bytes in, points out."""

from __future__ import annotations

from typing import Any

from cockpit.model.records import ReadResult


class StreamReader:
    """Base of every reader: pure and incremental, bytes in, points out.

    The follower feeds the bytes appended to a file since the last call. A reader keeps an
    incomplete trailing record (half-written line, partial tfevents record) in `pending`
    and waits for the rest. The follower stores `offset - len(pending)` with the points, so
    after a restart the reader is rebuilt from `state()` and fed again from that offset.
    """

    format: str = "?"
    # True for files rewritten as a whole (trainer_state.json): the follower re-feeds the
    # full content on every change, after calling `on_rewrite()`.
    whole_file: bool = False

    def __init__(self) -> None:
        self.pending = b""
        self._discarding = False  # inside an over-long line: drop bytes up to its newline

    def feed(self, data: bytes) -> ReadResult:
        raise NotImplementedError

    def take_lines(self, data: bytes, max_line: int) -> tuple[list[bytes], bool]:
        """The complete lines of `pending + data`; the unfinished last line stays pending.

        A pending line longer than `max_line` is dropped, and so is the rest of it up to its
        newline in later calls; the second value says one was dropped (count it as bad).
        """
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return [], False
            data = data[end + 1 :]
            self._discarding = False
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        overlong = len(self.pending) > max_line
        if overlong:
            self.pending = b""
            self._discarding = True
        return lines, overlong

    def finish(self) -> ReadResult:
        """The file will not grow any more (import of a finished file): flush what is safe."""
        return ReadResult()

    def on_rewrite(self) -> None:
        """The file was replaced, truncated or rotated: it will be fed again from byte 0.

        The default treats the new content as new data. Readers of files that are rewritten
        with their old content plus more (Lightning's CSV, trainer_state.json) override this to
        skip what they already produced.
        """
        self.pending = b""

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state stored beside the offset (beyond `pending`)."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Rebuild from `state()` after a restart."""


class RecordLogReader(StreamReader):
    """Base of the binary record logs (tfevents, W&B): knows the file offset of `pending[0]`
    (for messages, and for W&B's block alignment) and, once the file stops growing, counts a
    partial last record as one bad record."""

    what = "record"

    def __init__(self) -> None:
        super().__init__()
        self._base = 0  # file offset of pending[0]

    def truncated(self) -> bool:
        """Whether what is left in `pending` at the end of the file is a cut-off record."""
        return bool(self.pending)

    def finish(self) -> ReadResult:
        result = ReadResult()
        if self.truncated():
            result.bad(f"{self.what} at byte {self._base} is truncated "
                       f"({len(self.pending)} bytes at end of file)")
        self._base += len(self.pending)
        self.pending = b""
        return result

    def on_rewrite(self) -> None:
        super().on_rewrite()
        self._base = 0
