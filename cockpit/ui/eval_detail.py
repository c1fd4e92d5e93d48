"""One sample in full: input, target and output, its metadata, and a word-level diff of target
against output with what only the target has struck out in red and what only the output has
in green.

Eval text and model output are untrusted: the document is built with `QTextCursor.insertText`
(plain text in a character format), never as HTML, so markup in a sample shows as written.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextEdit, QVBoxLayout, QWidget

from cockpit.ui import theme

MAX_DIFF_TOKENS = 4000  # difflib is quadratic at worst: longer texts are not diffed
MAX_SECTION_CHARS = 20_000
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)

Op = tuple[str, str]  # ("equal" | "delete" | "insert", text)


def word_diff(a: str, b: str) -> list[Op] | None:
    """Word-level diff of `a` to `b`: runs of equal, deleted (only in a) and inserted (only in
    b) text. None when either side is too long to diff quickly."""
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    if len(ta) > MAX_DIFF_TOKENS or len(tb) > MAX_DIFF_TOKENS:
        return None
    ops: list[Op] = []
    matcher = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.append(("equal", "".join(ta[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            ops.append(("delete", "".join(ta[i1:i2])))
        if tag in ("insert", "replace"):
            ops.append(("insert", "".join(tb[j1:j2])))
    return ops


def _num(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


class SampleDetail(QWidget):
    """A read-only document of one sample (or one item in two runs)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QTextEdit()
        self.text.setReadOnly(True)
        self.text.setAcceptRichText(False)
        self.text.setPlaceholderText("Select a sample to see its input, target and output.")
        self.sample_id: str | None = None
        self.diff_ops: list[Op] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)

    # ---- formats ---------------------------------------------------------------------
    def _formats(self) -> dict[str, QTextCharFormat]:
        t = theme.current()
        plain = QTextCharFormat()
        plain.setForeground(QColor(t.text))
        heading = QTextCharFormat()
        heading.setFontWeight(QFont.Weight.Bold)
        heading.setForeground(QColor(t.accent))
        dim = QTextCharFormat()
        dim.setForeground(QColor(t.dim_text))
        deleted = QTextCharFormat()
        red = QColor(t.severity["critical"])
        deleted.setForeground(red)
        bg = QColor(red)
        bg.setAlpha(50)
        deleted.setBackground(bg)
        deleted.setFontStrikeOut(True)
        inserted = QTextCharFormat()
        green = QColor(t.status["running"])
        inserted.setForeground(green)
        bg = QColor(green)
        bg.setAlpha(50)
        inserted.setBackground(bg)
        return {"plain": plain, "heading": heading, "dim": dim, "delete": deleted,
                "insert": inserted, "equal": plain}

    # ---- content ---------------------------------------------------------------------
    def clear(self) -> None:
        self.sample_id = None
        self.diff_ops = None
        self.text.clear()

    def show_sample(self, sample: Any, extra: list[tuple[str, str]] | None = None) -> None:
        """An `EvalSample`: header, input, target, output, diff, metadata (+ `extra` sections)."""
        f = self._formats()
        self.text.clear()
        cur = QTextCursor(self.text.document())
        self.sample_id = sample.sample_id
        verdict = {True: "right", False: "wrong", None: "not graded"}[sample.correct]
        cur.insertText(f"{sample.sample_id}", f["heading"])
        conf = f" · confidence {_num(sample.confidence)}" if sample.confidence is not None else ""
        cur.insertText(f"   {verdict} · score {_num(sample.score)}{conf}\n", f["dim"])
        for title, body in (("Input", sample.input), ("Target", sample.target),
                            ("Output", sample.output)):
            self._section(cur, f, title, body)
        self.diff_ops = word_diff(sample.target, sample.output)
        self._diff(cur, f, "Target → output", self.diff_ops,
                   "struck out: only in the target · highlighted: only in the output")
        for title, body in extra or []:
            self._section(cur, f, title, body)
        if sample.metadata:
            cur.insertText("\nMetadata\n", f["heading"])
            for key, value in sample.metadata.items():
                cur.insertText(f"{key}", f["dim"])
                cur.insertText(f" = {_clip(str(value), 500)}\n", f["plain"])
        self.text.moveCursor(QTextCursor.MoveOperation.Start)

    def show_pair(self, a: Any, b: Any, name_a: str, name_b: str) -> None:
        """One item in two runs: input, target, both outputs, and the diff A → B."""
        f = self._formats()
        self.text.clear()
        cur = QTextCursor(self.text.document())
        self.sample_id = a.sample_id

        def verdict(s: Any) -> str:
            return {True: "right", False: "wrong", None: "not graded"}[s.correct]

        cur.insertText(f"{a.sample_id}", f["heading"])
        cur.insertText(f"   A {verdict(a)} · B {verdict(b)}\n", f["dim"])
        self._section(cur, f, "Input", a.input)
        self._section(cur, f, "Target", a.target)
        self._section(cur, f, f"Output A ({name_a})", a.output)
        self._section(cur, f, f"Output B ({name_b})", b.output)
        self.diff_ops = word_diff(a.output, b.output)
        self._diff(cur, f, "Output A → output B", self.diff_ops,
                   "struck out: only in A · highlighted: only in B")
        self.text.moveCursor(QTextCursor.MoveOperation.Start)

    def _section(self, cur: QTextCursor, f: dict[str, QTextCharFormat], title: str,
                 body: str) -> None:
        cur.insertText(f"\n{title}\n", f["heading"])
        cur.insertText(_clip(body, MAX_SECTION_CHARS) or "(empty)",
                       f["plain"] if body else f["dim"])
        cur.insertText("\n", f["plain"])

    def _diff(self, cur: QTextCursor, f: dict[str, QTextCharFormat], title: str,
              ops: list[Op] | None, legend: str) -> None:
        cur.insertText(f"\n{title}", f["heading"])
        cur.insertText(f"   {legend}\n", f["dim"])
        if ops is None:
            cur.insertText("(too long to diff)\n", f["dim"])
            return
        if all(kind == "equal" for kind, _ in ops):
            cur.insertText("(identical)\n", f["dim"])
            return
        previous = "equal"
        for kind, text in ops:
            if kind == "insert" and previous == "delete":
                cur.insertText(" ", f["plain"])  # keep a replaced word apart from its replacement
            cur.insertText(text, f[kind])
            previous = kind
        cur.insertText("\n", f["plain"])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit:,} more characters)"
