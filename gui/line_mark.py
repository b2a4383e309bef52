"""A full-width background colour on one line of a text view (diff changes, error lines)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QTextBlock, QTextCursor, QTextFormat
from PySide6.QtWidgets import QTextEdit


def line_mark(block: QTextBlock, color: QColor) -> QTextEdit.ExtraSelection:
    mark = QTextEdit.ExtraSelection()
    mark.format.setBackground(color)
    mark.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
    mark.cursor = QTextCursor(block)
    return mark
