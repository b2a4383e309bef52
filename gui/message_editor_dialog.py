"""Edit one dead letter before replaying it: body with live validation, headers, and a diff.

The body is edited as the text it is, never reformatted behind the operator's back: an
unchanged body is sent byte for byte. Bodies that are not text (binary, Avro, not UTF-8, or
text the editor would alter) are shown as hex and refused for text editing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from eventdesk.connectors.decoding import Decoded, DecodedKind, decode
from eventdesk.connectors.model import Message
from eventdesk.connectors.replay import MessageEdit
from eventdesk.connectors.schemas import Schema, SchemaError, validate
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence, QTextCursor, QUndoStack
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .body_rendering import hex_dump
from .diff_widget import DiffWidget, comparable_text
from .display_format import human_size, key_text
from .headers_editor import HeadersEditor
from .json_highlighter import JsonHighlighter
from .json_path_locator import line_of_path
from .line_mark import line_mark
from .message_detail import monospace_font
from .utf8 import is_utf8

# Past this the editor (and its highlighter and diff) would make typing lag.
EDIT_LIMIT = 1024 * 1024
_HEX_LIMIT = 64 * 1024
_VALIDATE_DELAY_MS = 200
_VALID_STYLE = "color: #1a7f37;"
_INVALID_STYLE = "color: #b3261e;"
_REFUSED_STYLE = "color: #8a5300;"
_MARK_COLOR = QColor("#fde2e1")
_KEY_LIMIT = 10_000


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
        decoded.kind is DecodedKind.INVALID and not is_utf8(message.body)
    ):
        return (
            "Binary body (not UTF-8 text): editing it as text would corrupt its bytes. "
            "Shown as hex; headers can still be edited."
        )
    return ""


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
        key_editable: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.message = message
        self.schema = schema
        self._can_replay = can_replay
        self.check: TextCheck | None = None
        decoded = decode(message.body)
        self.original_text = message.body.decode("utf-8") if is_utf8(message.body) else ""
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

        self._key_editable = key_editable
        self.key_label = QLabel("&Key:", self)
        self.key_edit = _key_edit(message.key, self)
        self.key_label.setBuddy(self.key_edit)
        # Kafka keys pick the partition and the compaction slot; other brokers have none.
        self.key_label.setVisible(key_editable)
        self.key_edit.setVisible(key_editable)
        self.key_edit.textChanged.connect(self._update_replay_button)

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
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_label)
        key_row.addWidget(self.key_edit, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title_label)
        layout.addLayout(key_row)
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

    def edited_key(self) -> bytes | None:
        """The key as it stands: the original (bytes kept as they were) unless retyped."""
        if not self.key_changed():
            return self.message.key
        text = self.key_edit.text()
        return text.encode("utf-8") if text or self.message.key is not None else None

    def key_changed(self) -> bool:
        return self._key_editable and self.key_edit.text() != key_text(
            self.message.key, limit=_KEY_LIMIT
        )

    def edit(self) -> MessageEdit | None:
        """The edit to replay, or None when nothing changed."""
        headers_changed = self.headers_editor.changed()
        key_changed = self.key_changed() and self.edited_key() != self.message.key
        if not self.body_changed() and not headers_changed and not key_changed:
            return None
        headers = self.headers_editor.headers() if headers_changed else None
        if key_changed:
            return MessageEdit(self.edited_body(), headers, key=self.edited_key())
        return MessageEdit(self.edited_body(), headers)

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
        self.editor.setExtraSelections([line_mark(block, _MARK_COLOR)] if block.isValid() else [])

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


def _key_edit(key: bytes | None, parent: QWidget) -> QLineEdit:
    """The key as text; a key that is not printable UTF-8 is shown as hex and kept as it is."""
    edit = QLineEdit(parent)
    edit.setPlaceholderText("(no key)")
    shown = key_text(key, limit=_KEY_LIMIT)
    edit.setText(shown)
    if key is not None and shown != key.decode("utf-8", "replace"):
        edit.setReadOnly(True)
        edit.setToolTip("Not printable text: kept byte for byte")
    else:
        edit.setToolTip("The record key the replay sends (Kafka partitions by it)")
    return edit
