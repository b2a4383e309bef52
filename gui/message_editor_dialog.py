"""Edit one dead letter before replaying it: body with live validation, headers, and a diff.

The body is edited as the text it is, never reformatted behind the operator's back: an
unchanged body is sent byte for byte. Bodies that are not text (binary, Avro, not UTF-8, or
text the editor would alter) are shown as hex and refused for text editing.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest

from eventdesk.connectors.dead_letters import header_text
from eventdesk.connectors.decoding import Decoded, DecodedKind, decode
from eventdesk.connectors.model import Headers, HeaderValue, Message
from eventdesk.connectors.replay import MessageEdit
from eventdesk.connectors.schemas import Schema, SchemaError, validate
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence, QTextCursor, QTextFormat, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from .body_rendering import hex_dump
from .display_format import human_size
from .json_highlighter import JsonHighlighter
from .message_detail import monospace_font

# Past this the editor (and its highlighter and diff) would make typing lag.
EDIT_LIMIT = 1024 * 1024
_HEX_LIMIT = 64 * 1024
_VALIDATE_DELAY_MS = 200
_VALID_STYLE = "color: #1a7f37;"
_INVALID_STYLE = "color: #b3261e;"
_REFUSED_STYLE = "color: #8a5300;"
_MARK_COLOR = QColor("#fde2e1")
_DIFF_COLORS = {
    "delete": QColor("#fde2e1"),
    "insert": QColor("#dcf5dc"),
    "replace": QColor("#fff3c4"),
    "blank": QColor("#eeeeee"),
}


# -- what can be edited ------------------------------------------------------------------


def refusal(message: Message, decoded: Decoded) -> str:
    """Why this body cannot be edited as text, or "" when it can."""
    if len(message.body) > EDIT_LIMIT:
        return (
            f"The body is {human_size(len(message.body))}; bodies over "
            f"{human_size(EDIT_LIMIT)} are not edited here. Shown as hex."
        )
    if decoded.kind is DecodedKind.AVRO or decoded.tried == "Avro":
        return (
            f"{decoded.title} is binary on the wire; editing it as text would change its "
            "bytes. Shown as hex; headers can still be edited."
        )
    if decoded.kind is DecodedKind.BINARY or (
        decoded.kind is DecodedKind.INVALID and not _utf8(message.body)
    ):
        return (
            "Binary body (not UTF-8 text): editing it as text would corrupt its bytes. "
            "Shown as hex; headers can still be edited."
        )
    return ""


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- checking the edited text -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextCheck:
    ok: bool
    text: str  # what the validity line says
    line: int | None = None  # 1-based line to mark, when the problem has a place


def check_text(text: str, schema: Schema | None) -> TextCheck:
    """Well-formed JSON (when it looks like JSON or a schema is mapped), then the schema."""
    looks_json = text.lstrip()[:1] in ("{", "[")
    if not looks_json and schema is None:
        return TextCheck(True, "Text (no schema mapped to this endpoint)")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return TextCheck(False, f"Line {exc.lineno}: not valid JSON: {exc.msg}", exc.lineno)
    except RecursionError:
        return TextCheck(False, "Not usable as JSON: nesting too deep")
    if schema is None:
        return TextCheck(True, "Well-formed JSON (no schema mapped to this endpoint)")
    decoded = Decoded(DecodedKind.JSON, text.encode("utf-8"), value=value)
    try:
        checked = validate(decoded, schema)
    except SchemaError as exc:
        return TextCheck(False, f"Schema not usable: {exc}")
    if checked.valid:
        return TextCheck(True, f"Valid against {schema.name}")
    path, reason = checked.errors[0]
    line = line_of_path(text, path)
    where = f"Line {line}: " if line is not None else ""
    more = checked.error_count - 1
    suffix = f" (and {more} more)" if more > 0 else ""
    return TextCheck(False, f"{where}{path}: {reason}{suffix}", line)


_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")
_DECODER = json.JSONDecoder()


def path_segments(path: str) -> list[str | int] | None:
    """ "$.lines[0].quantity" -> ["lines", 0, "quantity"]; None if it is not such a path."""
    if not path.startswith("$"):
        return None
    segments: list[str | int] = []
    at = 1
    while at < len(path):
        match = _SEGMENT.match(path, at)
        if match is None:
            return None
        name, index, quoted = match.groups()
        segments.append(int(index) if index is not None else (name if name is not None else quoted))
        at = match.end()
    return segments


def line_of_path(text: str, path: str) -> int | None:
    """The 1-based line where the value at a JSON path starts in `text`, as written."""
    segments = path_segments(path)
    if segments is None:
        return None
    try:
        offset = _value_offset(text, _skip_space(text, 0), segments)
    except (ValueError, IndexError, RecursionError):
        return None
    return None if offset is None else text.count("\n", 0, offset) + 1


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _value_offset(text: str, at: int, segments: Sequence[str | int]) -> int | None:
    if not segments:
        return at
    want, rest = segments[0], segments[1:]
    if text[at] == "{" and isinstance(want, str):
        at = _skip_space(text, at + 1)
        while text[at] != "}":
            key, at = _DECODER.raw_decode(text, at)
            at = _skip_space(text, _skip_space(text, at) + 1)  # past the colon
            if key == want:
                return _value_offset(text, at, rest)
            at = _skip_space(text, _DECODER.raw_decode(text, at)[1])
            if text[at] == ",":
                at = _skip_space(text, at + 1)
        return None
    if text[at] == "[" and isinstance(want, int):
        at = _skip_space(text, at + 1)
        index = 0
        while text[at] != "]":
            if index == want:
                return _value_offset(text, at, rest)
            at = _skip_space(text, _DECODER.raw_decode(text, at)[1])
            if text[at] == ",":
                at = _skip_space(text, at + 1)
            index += 1
    return None


# -- the diff -----------------------------------------------------------------------------


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
                marks.append(_line_mark(block, color))
            block = block.next()
        view.setExtraSelections(marks)


def _line_mark(block, color: QColor) -> QTextEdit.ExtraSelection:
    mark = QTextEdit.ExtraSelection()
    mark.format.setBackground(color)
    mark.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
    mark.cursor = QTextCursor(block)
    return mark


# -- headers ------------------------------------------------------------------------------


class _HeadersChange(QUndoCommand):
    """One change to the headers, undone by showing the headers as they were before it."""

    def __init__(self, editor: HeadersEditor, before: Headers, after: Headers) -> None:
        super().__init__("header change")
        self._editor, self._before, self._after = editor, before, after
        self._done = True  # pushed after the table already changed

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self._editor.show_headers(self._after)

    def undo(self) -> None:
        self._editor.show_headers(self._before)


class HeadersEditor(QWidget):
    """Headers as an editable table; values that are not plain text stay as they were."""

    # The headers changed (typed, added, removed, undone or redone).
    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._original: Headers = ()
        # The headers as last shown or committed: what the next change is undone to.
        self._shown: Headers = ()
        self.undo_stack = QUndoStack(self)
        # Row key -> the value the row started with (kept by type: bytes, ints, AMQP tables).
        self._values: dict[int, HeaderValue] = {}
        self._next_key = 0
        self.table = QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["Header", "Value"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(0, 220)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.add_button = QPushButton("&Add header", self)
        self.remove_button = QPushButton("Re&move header", self)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.table.itemChanged.connect(self._on_table_item_changed)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def load(self, headers: Headers) -> None:
        self._original = tuple(headers)
        self.undo_stack.clear()
        self.show_headers(self._original)

    def show_headers(self, headers: Headers) -> None:
        """Fills the table with these headers (no undo step of its own)."""
        with QSignalBlocker(self.table):
            self._values.clear()
            self.table.setRowCount(0)
            for name, value in headers:
                self._insert_row(name, value)
        self._shown = tuple(headers)
        self.table.viewport().update()
        self.edited.emit()

    def add_row(self, name: str = "", value: HeaderValue = "") -> int:
        """Adds a row as the operator would (an undo step once it has a name)."""
        with QSignalBlocker(self.table):
            row = self._insert_row(name, value)
        self._commit()
        return row

    def _insert_row(self, name: str, value: HeaderValue) -> int:
        row = self.table.rowCount()
        self.table.insertRow(row)
        key = self._next_key
        self._next_key += 1
        self._values[key] = value
        name_item = QTableWidgetItem(name)
        name_item.setData(Qt.ItemDataRole.UserRole, key)
        value_item = QTableWidgetItem(header_text(value))
        if not _text_editable(value):
            value_item.setFlags(value_item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            value_item.setToolTip("Not plain text: kept as it is (the row can be removed)")
        self.table.setItem(row, 0, name_item)
        self.table.setItem(row, 1, value_item)
        return row

    def headers(self) -> Headers:
        """The headers as they stand: unchanged values keep their type, edited ones are text."""
        pairs: list[tuple[str, HeaderValue]] = []
        for row in range(self.table.rowCount()):
            name_item, value_item = self.table.item(row, 0), self.table.item(row, 1)
            name = name_item.text().strip() if name_item is not None else ""
            if name_item is None or not name:
                continue
            original = self._values[name_item.data(Qt.ItemDataRole.UserRole)]
            text = value_item.text() if value_item is not None else ""
            pairs.append((name, original if text == header_text(original) else text))
        return tuple(pairs)

    def changed(self) -> bool:
        return self.headers() != self._original

    def _commit(self) -> None:
        """Records the table's current headers as one undoable change, if they changed."""
        after = self.headers()
        if after != self._shown:
            self.undo_stack.push(_HeadersChange(self, self._shown, after))
            self._shown = after
        self.edited.emit()

    def _on_table_item_changed(self, _item: QTableWidgetItem) -> None:
        self._commit()

    def _on_add_button_clicked(self) -> None:
        row = self.add_row()
        self.table.setCurrentCell(row, 0)
        item = self.table.item(row, 0)
        if item is not None:
            self.table.editItem(item)

    def _on_remove_button_clicked(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True)
        with QSignalBlocker(self.table):
            for row in rows:
                self.table.removeRow(row)
        self._commit()


def _text_editable(value: HeaderValue) -> bool:
    if isinstance(value, bytes | bytearray):
        return _utf8(bytes(value))
    return isinstance(value, str | int | float) and not isinstance(value, bool)


# -- the dialog ---------------------------------------------------------------------------


class MessageEditorDialog(QDialog):
    """Edits one message; "Replay edited…" hands the edit to the replay wizard."""

    # (messages, {message id: MessageEdit}): what the replay wizard is to send.
    replay_requested = Signal(object, object)

    def __init__(
        self,
        message: Message,
        *,
        schema: Schema | None = None,
        can_replay: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.message = message
        self.schema = schema
        self._can_replay = can_replay
        self.check: TextCheck | None = None
        decoded = decode(message.body)
        self.original_text = message.body.decode("utf-8") if _utf8(message.body) else ""
        self.refused = refusal(message, decoded)
        self.setWindowTitle(f"Edit message {message.id}")
        self.resize(900, 640)

        self.title_label = QLabel(
            f"<b>{message.id}</b> on {message.endpoint} · {decoded.title} · "
            f"{human_size(len(message.body))}",
            self,
        )
        self.refusal_label = QLabel(self)
        self.refusal_label.setWordWrap(True)
        self.refusal_label.setStyleSheet(_REFUSED_STYLE)
        self.validity_label = QLabel(self)
        self.validity_label.setWordWrap(True)
        self.validity_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.editor = QPlainTextEdit(self)
        self.editor.setFont(monospace_font())
        self.editor.setTabChangesFocus(False)
        self._highlighter = JsonHighlighter(self)
        self.headers_editor = HeadersEditor(self)
        self.headers_editor.load(message.headers)
        self.diff = DiffWidget(self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.editor, "Body")
        self.tabs.addTab(self.headers_editor, f"Headers ({len(message.headers)})")
        self.tabs.addTab(self.diff, "Diff")
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)

        self.undo_button = QPushButton("&Undo", self)
        self.redo_button = QPushButton("&Redo", self)
        self.format_button = QPushButton("&Format JSON", self)
        self.format_button.setToolTip("Indent the JSON body (an edit you can undo)")
        self.replay_button = QPushButton("Replay &edited…", self)
        self.close_button = QPushButton("Close", self)
        self.undo_button.setToolTip("Undo the last change to the body or headers (tab shown)")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        self.format_button.clicked.connect(self.format_json)
        self.replay_button.clicked.connect(self._on_replay_button_clicked)
        self.close_button.clicked.connect(self.reject)
        self.editor.undoAvailable.connect(self._update_undo_buttons)
        self.editor.redoAvailable.connect(self._update_undo_buttons)
        self.headers_editor.undo_stack.indexChanged.connect(self._update_undo_buttons)
        self.headers_editor.edited.connect(self._update_replay_button)

        buttons = QHBoxLayout()
        for button in (self.undo_button, self.redo_button, self.format_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.replay_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title_label)
        layout.addWidget(self.refusal_label)
        layout.addWidget(self.validity_label)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)

        self._validate_timer = QTimer(self)
        self._validate_timer.setSingleShot(True)
        self._validate_timer.setInterval(_VALIDATE_DELAY_MS)
        self._validate_timer.timeout.connect(self.validate_now)
        self._load_body(decoded)
        self._update_undo_buttons()
        self.undo_button.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_button.setShortcut(QKeySequence.StandardKey.Redo)

    def _load_body(self, decoded: Decoded) -> None:
        if not self.refused:
            self.editor.setPlainText(self.original_text)
            if self.editor.toPlainText() != self.original_text:
                self.refused = (
                    "The body holds characters a text editor would change (carriage returns, "
                    "non-breaking spaces or Unicode line separators). Shown as hex; headers "
                    "can still be edited."
                )
        self.refusal_label.setText(self.refused)
        self.refusal_label.setVisible(bool(self.refused))
        if self.refused:
            self.editor.setPlainText(hex_dump(self.message.body[:_HEX_LIMIT]))
            self.editor.setReadOnly(True)
            self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            self.tabs.setTabText(0, "Body (hex, read-only)")
            self.format_button.setEnabled(False)
            self.validity_label.hide()
        else:
            if decoded.kind is DecodedKind.JSON or self.original_text.lstrip()[:1] in ("{", "["):
                self._highlighter.setDocument(self.editor.document())
            self.editor.document().setModified(False)
            self.editor.textChanged.connect(self._on_editor_text_changed)
            self.validate_now()
        self._update_replay_button()

    # -- state ---------------------------------------------------------------------------

    def body_text(self) -> str:
        return self.editor.toPlainText()

    def body_changed(self) -> bool:
        return not self.refused and self.body_text() != self.original_text

    def edited_body(self) -> bytes:
        """What would be sent: the typed text as UTF-8, or the original bytes if untouched."""
        return self.body_text().encode("utf-8") if self.body_changed() else self.message.body

    def edit(self) -> MessageEdit | None:
        """The edit to replay, or None when nothing changed."""
        headers_changed = self.headers_editor.changed()
        if not self.body_changed() and not headers_changed:
            return None
        return MessageEdit(
            self.edited_body(), self.headers_editor.headers() if headers_changed else None
        )

    def _undo_target(self) -> QPlainTextEdit | QUndoStack:
        """What Undo and Redo act on: the headers on their tab, else the body."""
        if self.tabs.currentWidget() is self.headers_editor:
            return self.headers_editor.undo_stack
        return self.editor

    def undo(self) -> None:
        self._undo_target().undo()

    def redo(self) -> None:
        self._undo_target().redo()

    def _update_undo_buttons(self, *_args: object) -> None:
        target = self._undo_target()
        if isinstance(target, QUndoStack):
            can_undo, can_redo = target.canUndo(), target.canRedo()
        else:
            document = self.editor.document()
            can_undo = document.isUndoAvailable() and not self.editor.isReadOnly()
            can_redo = document.isRedoAvailable() and not self.editor.isReadOnly()
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)

    def format_json(self) -> None:
        try:
            value = json.loads(self.body_text())
        except (ValueError, RecursionError):
            self.validate_now()
            return
        cursor = self.editor.textCursor()
        # One undoable step, unlike setPlainText, which clears the undo history.
        cursor.beginEditBlock()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(json.dumps(value, indent=2, ensure_ascii=False))
        cursor.endEditBlock()

    def validate_now(self) -> TextCheck | None:
        self._validate_timer.stop()
        if self.refused:
            return None
        self.check = check_text(self.body_text(), self.schema)
        self.validity_label.setText(self.check.text)
        self.validity_label.setStyleSheet(_VALID_STYLE if self.check.ok else _INVALID_STYLE)
        self._mark_line(self.check.line)
        self._update_replay_button()
        return self.check

    @property
    def marked_line(self) -> int | None:
        """The 1-based line the error marker is on, or None."""
        marks = self.editor.extraSelections()
        return marks[0].cursor.blockNumber() + 1 if marks else None

    def _mark_line(self, line: int | None) -> None:
        if line is None:
            self.editor.setExtraSelections([])
            return
        block = self.editor.document().findBlockByNumber(line - 1)
        self.editor.setExtraSelections([_line_mark(block, _MARK_COLOR)] if block.isValid() else [])

    def refresh_diff(self) -> None:
        old = comparable_text(self.message.headers, self.original_text if not self.refused else "")
        body = self.body_text() if not self.refused else ""
        self.diff.show_diff(old, comparable_text(self.headers_editor.headers(), body))

    def _why_not_replay(self) -> str:
        if not self._can_replay:
            return "Replay is not possible here (read-only connection, or nothing open)."
        if self.edit() is None:
            return "Nothing changed yet: edit the body or headers first (or use Replay)."
        if self.body_changed() and self.check is not None and not self.check.ok:
            return f"Fix the body first: {self.check.text}"
        return ""

    def _update_replay_button(self, *_args: object) -> None:
        why = self._why_not_replay()
        self.replay_button.setEnabled(not why)
        self.replay_button.setToolTip(why or "Open the replay wizard with the edited message")
        self.tabs.setTabText(1, f"Headers ({self.headers_editor.table.rowCount()})")

    # -- handlers ------------------------------------------------------------------------

    def _on_editor_text_changed(self) -> None:
        self._update_replay_button()
        self._validate_timer.start()

    def _on_tabs_current_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.diff:
            self.refresh_diff()
        self._update_undo_buttons()

    def _on_replay_button_clicked(self) -> None:
        self.validate_now()
        edit = self.edit()
        if self._why_not_replay() or edit is None:
            return
        self.accept()
        self.replay_requested.emit([self.message], {self.message.id: edit})
