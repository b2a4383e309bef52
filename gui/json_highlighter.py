"""Colours pretty-printed JSON: keys, strings, numbers, literals, punctuation."""

from __future__ import annotations

import re

from PySide6.QtCore import QObject
from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

# One pass per line. A key is a string followed by a colon; what json.dumps(indent=2)
# writes never splits a token across lines, so no multi-line state is needed.
_TOKEN = re.compile(
    r'(?P<key>"(?:[^"\\]|\\.)*"(?=\s*:))'
    r'|(?P<string>"(?:[^"\\]|\\.)*")'
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<literal>\btrue\b|\bfalse\b|\bnull\b)"
    r"|(?P<punct>[{}\[\],:])"
)

# Long lines (a 100 kB string value) are coloured no further than this.
_MAX_LINE = 4000


def _format(color: str, *, bold: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    if bold:
        fmt.setFontWeight(QFont.Weight.DemiBold)
    return fmt


class JsonHighlighter(QSyntaxHighlighter):
    def __init__(self, parent: QObject | QTextDocument | None = None) -> None:
        # A QTextDocument parent is highlighted at once; any other QObject only owns it.
        super().__init__(parent)
        # Readable on the light Fusion palette; picked for contrast, not for taste.
        self._formats = {
            "key": _format("#1f4e99", bold=True),
            "string": _format("#2f7d32"),
            "number": _format("#b35c00"),
            "literal": _format("#8e24aa"),
            "punct": _format("#6b6b6b"),
        }

    def highlightBlock(self, text: str) -> None:
        for match in _TOKEN.finditer(text, 0, min(len(text), _MAX_LINE)):
            kind = match.lastgroup
            if kind is not None:
                self.setFormat(match.start(), match.end() - match.start(), self._formats[kind])
