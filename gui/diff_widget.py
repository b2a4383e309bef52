"""Two-column diff of a message's headers and body, original against edited."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from itertools import zip_longest

from eventdesk.connectors.dead_letters import header_text
from eventdesk.connectors.model import Headers
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QSplitter, QVBoxLayout, QWidget

from .line_mark import line_mark
from .message_detail import monospace_font

_DIFF_COLORS = {
    "delete": QColor("#fde2e1"),
    "insert": QColor("#dcf5dc"),
    "replace": QColor("#fff3c4"),
    "blank": QColor("#eeeeee"),
}


@dataclass(frozen=True, slots=True)
class DiffRow:
    left: str | None  # None: nothing on this side (an inserted or deleted line)
    right: str | None
    tag: str  # "equal", "replace", "delete", "insert"


def side_by_side(old: str, new: str) -> list[DiffRow]:
    """Lines of `old` and `new` aligned for two columns (difflib's opcodes)."""
    left, right = old.splitlines(), new.splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for a, b in zip_longest(left[i1:i2], right[j1:j2]):
            rows.append(DiffRow(a, b, tag))
    return rows


def comparable_text(headers: Headers, body: str) -> str:
    """Headers and body as one text to diff; JSON bodies indented so changes get their own line."""
    try:
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        pass
    lines = ["# headers", *(f"{name}: {header_text(value)}" for name, value in headers), "# body"]
    return "\n".join(lines) + "\n" + body


class DiffWidget(QWidget):
    """Two read-only columns, original and edited, scrolled together, changes coloured."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[DiffRow] = []
        self.summary_label = QLabel(self)
        self.left_view = self._column()
        self.right_view = self._column()
        self.left_view.verticalScrollBar().valueChanged.connect(
            self.right_view.verticalScrollBar().setValue
        )
        self.right_view.verticalScrollBar().valueChanged.connect(
            self.left_view.verticalScrollBar().setValue
        )
        columns = QSplitter(Qt.Orientation.Horizontal, self)
        for title, view in (("Original", self.left_view), ("Edited", self.right_view)):
            box = QWidget(columns)
            box_layout = QVBoxLayout(box)
            box_layout.setContentsMargins(0, 0, 0, 0)
            box_layout.addWidget(QLabel(title, box))
            box_layout.addWidget(view, 1)
            columns.addWidget(box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary_label)
        layout.addWidget(columns, 1)

    def _column(self) -> QPlainTextEdit:
        view = QPlainTextEdit(self)
        view.setReadOnly(True)
        view.setFont(monospace_font())
        view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        return view

    def show_diff(self, old: str, new: str) -> None:
        self.rows = side_by_side(old, new)
        changed = sum(1 for row in self.rows if row.tag != "equal")
        self.summary_label.setText(
            f"{changed} line{'s' if changed != 1 else ''} differ" if changed else "No changes."
        )
        self._fill(self.left_view, [(r.left, r.tag) for r in self.rows], "delete")
        self._fill(self.right_view, [(r.right, r.tag) for r in self.rows], "insert")

    def _fill(self, view: QPlainTextEdit, lines: list[tuple[str | None, str]], side: str) -> None:
        view.setPlainText("\n".join(line or "" for line, _ in lines))
        marks = []
        block = view.document().firstBlock()
        for line, tag in lines:
            color = None
            if line is None:
                color = _DIFF_COLORS["blank"]
            elif tag == "replace":
                color = _DIFF_COLORS["replace"]
            elif tag in ("delete", "insert"):
                color = _DIFF_COLORS[side]
            if color is not None:
                marks.append(line_mark(block, color))
            block = block.next()
        view.setExtraSelections(marks)
