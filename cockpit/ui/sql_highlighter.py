"""Syntax colouring for the SQL console: keywords, functions, strings, numbers, comments."""

from __future__ import annotations

import re

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from cockpit.ui import theme

KEYWORDS = ["select", "from", "where", "group", "by", "order", "having", "limit", "offset", "join", "left", "right", "inner", "outer", "full", "cross", "on", "using", "as", "and", "or", "not", "in", "is", "null", "like", "ilike", "between", "case", "when", "then", "else", "end", "distinct", "union", "all", "except", "intersect", "with", "recursive", "asc", "desc", "nulls", "first", "last", "over", "partition", "window", "rows", "range", "qualify", "pivot", "unpivot", "describe", "summarize", "show", "explain", "insert", "into", "values", "update", "set", "delete", "create", "table", "view", "drop", "alter", "copy", "to", "true", "false", "filter", "within", "exists", "any", "cast", "try_cast", "interval"]
FUNCTIONS = ["count", "sum", "avg", "min", "max", "arg_max", "arg_min", "median", "quantile_cont", "stddev", "first", "last", "list", "string_agg", "coalesce", "round", "abs", "log", "ln", "exp", "sqrt", "isnan", "isinf", "isfinite", "epoch", "to_timestamp", "date_trunc", "strftime", "lag", "lead", "row_number", "rank", "dense_rank", "ntile", "regexp_matches", "contains", "lower", "upper", "length", "greatest", "least", "histogram"]


def _fmt(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    f = QTextCharFormat()
    f.setForeground(QColor(color))
    if bold:
        f.setFontWeight(QFont.Weight.Bold)
    f.setFontItalic(italic)
    return f


class SqlHighlighter(QSyntaxHighlighter):
    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.rules: list[tuple[re.Pattern[str], QTextCharFormat]] = []
        self.restyle()

    def restyle(self) -> None:
        t = theme.current()
        dark = t.name == "dark"
        self.rules = [
            (re.compile(r"\b(" + "|".join(KEYWORDS) + r")\b", re.IGNORECASE),
             _fmt("#c792ea" if dark else "#7c3aed", bold=True)),
            (re.compile(r"\b(" + "|".join(FUNCTIONS) + r")(?=\s*\()", re.IGNORECASE),
             _fmt("#82aaff" if dark else "#1d4ed8")),
            (re.compile(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b"), _fmt("#f78c6c" if dark else "#b45309")),
            (re.compile(r'"[^"]*"'), _fmt("#ffcb6b" if dark else "#92400e")),
            (re.compile(r"'(?:[^']|'')*'"), _fmt("#c3e88d" if dark else "#047857")),
            (re.compile(r"--[^\n]*"), _fmt(t.dim_text, italic=True)),
        ]
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        for pattern, fmt in self.rules:
            for m in pattern.finditer(text):
                self.setFormat(m.start(), m.end() - m.start(), fmt)
