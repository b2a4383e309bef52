"""One message in full: body, headers, dead-letter facts and broker attributes, as tabs."""

from __future__ import annotations

from collections.abc import Iterable

from eventdesk.connectors.dead_letters import header_text
from eventdesk.connectors.decoding import Decoded, decode
from eventdesk.connectors.model import DeadLetterFacts, Message
from eventdesk.connectors.schemas import (
    SCHEMAS_DIR,
    SchemaError,
    SchemaRegistry,
    Validation,
    validate,
)
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .body_rendering import BodyKind, RenderedBody, render_decoded
from .display_format import human_size, key_text, time_text
from .json_highlighter import JsonHighlighter

NO_MESSAGE_TEXT = "Select a message to see its body, headers and dead-letter facts."
NO_DEAD_LETTER_TEXT = "No dead-letter metadata on this message."
_MISSING = "—"
# A header value in a table cell: long enough to recognise, short enough to stay one line.
_CELL_LIMIT = 300
_WRAP_LIMIT = 10_000

_FACT_ROWS = (
    ("convention", "Convention"),
    ("original_destination", "Original destination"),
    ("reason", "Reason"),
    ("exception_type", "Exception type"),
    ("exception_message", "Exception message"),
    ("attempts", "Attempts"),
    ("first_failure", "First failure"),
    ("last_failure", "Last failure"),
    ("failed_service", "Failed service"),
)


_VALID_STYLE = "color: #1a7f37;"
_INVALID_STYLE = "color: #b3261e;"


def _longest_line(text: str) -> int:
    return max(map(len, text.split("\n")), default=0)


def monospace_font() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def _one_line(text: str) -> str:
    flat = " ⏎ ".join(text.splitlines()) if "\n" in text else text
    return flat if len(flat) <= _CELL_LIMIT else flat[: _CELL_LIMIT - 1] + "…"


def _empty_label(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setEnabled(False)
    return label


def _name_value_table(parent: QWidget, name_title: str) -> QTableWidget:
    table = QTableWidget(0, 2, parent)
    table.setHorizontalHeaderLabels([name_title, "Value"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setWordWrap(False)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    table.setColumnWidth(0, 240)
    table.horizontalHeader().setDefaultAlignment(
        Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
    )
    rows = table.verticalHeader()
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(table.fontMetrics().height() + 8)
    return table


def _fill_table(table: QTableWidget, rows: Iterable[tuple[str, str]]) -> None:
    rows = list(rows)
    table.setRowCount(len(rows))
    for row, (name, value) in enumerate(rows):
        name_item = QTableWidgetItem(name)
        value_item = QTableWidgetItem(_one_line(value))
        value_item.setData(Qt.ItemDataRole.UserRole, value)
        value_item.setToolTip(value[:3000])
        table.setItem(row, 0, name_item)
        table.setItem(row, 1, value_item)


class _BodyTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._body = b""
        self._rendered = RenderedBody(BodyKind.EMPTY, "")
        self.kind_label = QLabel(self)
        self.note_label = QLabel(self)
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #8a5300;")
        # Why the body did not decode as it looked (or was said) to: in place, above the bytes.
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(_INVALID_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.validity_label = QLabel(self)
        self.validity_label.setWordWrap(True)
        self.validity_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.schema_button = QPushButton("Schema…", self)
        self.schema_button.setToolTip("Choose the schema messages on this endpoint must match")
        self.save_button = QPushButton("Save body…", self)
        self.save_button.setToolTip("Write the complete body, byte for byte, to a file")
        self.save_button.clicked.connect(self._on_save_clicked)
        self.edit_button = QPushButton("Edit…", self)
        self.edit_button.setToolTip("Edit this message's body and headers, then replay it (F2)")
        self.editor = QPlainTextEdit(self)
        self.editor.setReadOnly(True)
        self.editor.setFont(monospace_font())
        self.editor.setUndoRedoEnabled(False)
        # Parented so Qt, not Python's garbage collector (which may run on any thread),
        # decides when it is destroyed.
        self._highlighter = JsonHighlighter(self)

        top = QHBoxLayout()
        top.addWidget(self.kind_label)
        top.addStretch(1)
        top.addWidget(self.schema_button)
        top.addWidget(self.save_button)
        top.addWidget(self.edit_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.validity_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.note_label)
        layout.addWidget(self.editor, 1)

    @property
    def rendered(self) -> RenderedBody:
        return self._rendered

    def show_body(self, body: bytes) -> None:
        self.show_decoded(decode(body))

    def show_decoded(self, decoded: Decoded) -> None:
        self._body = body = decoded.raw
        self._rendered = rendered = render_decoded(decoded)
        # Detach first so plain text and hex dumps are never run through the JSON rules.
        self._highlighter.setDocument(None)
        # Qt wraps one very long line in time that grows much faster than its length
        # (a 256 kB line: seconds); such text scrolls sideways instead.
        wrap = (
            rendered.kind in (BodyKind.TEXT, BodyKind.JSON, BodyKind.AVRO)
            and _longest_line(rendered.text) <= _WRAP_LIMIT
        )
        self.editor.setLineWrapMode(
            QPlainTextEdit.LineWrapMode.WidgetWidth if wrap else QPlainTextEdit.LineWrapMode.NoWrap
        )
        self.editor.setPlainText(rendered.text)
        if rendered.kind in (BodyKind.JSON, BodyKind.AVRO):
            self._highlighter.setDocument(self.editor.document())
        self.kind_label.setText(f"{decoded.title} · {human_size(len(body))}")
        self.error_label.setText(decoded.error)
        self.error_label.setVisible(bool(decoded.error))
        self.note_label.setText(rendered.note)
        self.note_label.setVisible(bool(rendered.note) and rendered.kind is not BodyKind.EMPTY)
        self.save_button.setEnabled(bool(body))

    def show_validity(self, validation: Validation | None, *, problem: str = "") -> None:
        """A validity line: green when valid, red with the first errors, hidden without a schema."""
        if problem:
            self.validity_label.setText(problem)
            self.validity_label.setStyleSheet(_INVALID_STYLE)
        elif validation is None:
            self.validity_label.clear()
        elif validation.valid:
            self.validity_label.setText(f"Valid against {validation.schema_name}")
            self.validity_label.setStyleSheet(_VALID_STYLE)
        else:
            self.validity_label.setText(_invalid_text(validation))
            self.validity_label.setStyleSheet(_INVALID_STYLE)
        if validation is not None:
            self.validity_label.setToolTip(f"Checked against {validation.schema_name}")
        self.validity_label.setVisible(bool(self.validity_label.text()))

    def _on_save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save message body", "body.bin")
        if path:
            with open(path, "wb") as out:
                out.write(self._body)


def _invalid_text(validation: Validation) -> str:
    lines = [f"{path}: {message}" for path, message in validation.errors]
    lines[0] = f"Invalid: {lines[0]}"
    more = validation.error_count - len(validation.errors)
    if more > 0:
        lines.append(f"… and {more} more against {validation.schema_name}")
    return "\n".join(lines)


class _HeadersTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = _name_value_table(self, "Header")
        self.value_view = QPlainTextEdit(self)
        self.value_view.setReadOnly(True)
        self.value_view.setFont(monospace_font())
        self.value_view.setPlaceholderText("Select a header to see its whole value.")
        self.empty = _empty_label("This message has no headers.", self)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(self.value_view)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(split)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.stack)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)

    def show_headers(self, message: Message) -> None:
        rows = [(name, header_text(value)) for name, value in message.headers]
        _fill_table(self.table, rows)
        self.value_view.clear()
        self.stack.setCurrentIndex(1 if rows else 0)

    def _on_table_selection_changed(self) -> None:
        items = self.table.selectedItems()
        value = next((i for i in items if i.column() == 1), None)
        self.value_view.setPlainText("" if value is None else value.data(Qt.ItemDataRole.UserRole))


class _DeadLetterTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields: dict[str, QLabel] = {}
        form_host = QWidget(self)
        form = QFormLayout(form_host)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for attr, title in _FACT_ROWS:
            label = QLabel(_MISSING, form_host)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[attr] = label
            form.addRow(f"{title}:", label)
        self.extra_label = QLabel(form_host)
        self.extra_label.setWordWrap(True)
        self.extra_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Other facts:", self.extra_label)
        self.stack_trace = QPlainTextEdit(self)
        self.stack_trace.setReadOnly(True)
        self.stack_trace.setFont(monospace_font())
        self.stack_trace.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.stack_trace.setPlaceholderText("No stack trace recorded.")

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_host)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # Side by side: the pane is wide and short, and traces are wide anyway.
        facts_page = QSplitter(Qt.Orientation.Horizontal, self)
        facts_page.addWidget(scroll)
        self.trace_box = QWidget(self)
        trace_layout = QVBoxLayout(self.trace_box)
        trace_layout.setContentsMargins(0, 0, 0, 0)
        trace_layout.addWidget(QLabel("Stack trace:", self.trace_box))
        trace_layout.addWidget(self.stack_trace, 1)
        facts_page.addWidget(self.trace_box)
        facts_page.setStretchFactor(0, 3)
        facts_page.setStretchFactor(1, 2)
        facts_page.setSizes([600, 400])
        facts_page.setChildrenCollapsible(False)

        self.empty = _empty_label(NO_DEAD_LETTER_TEXT, self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(facts_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.stack)

    def show_facts(self, facts: DeadLetterFacts) -> None:
        if facts.is_empty:
            self.stack.setCurrentIndex(0)
            return
        self.stack.setCurrentIndex(1)
        for attr, label in self.fields.items():
            label.setText(_fact_text(facts, attr))
        self.extra_label.setText(
            "\n".join(f"{k}: {_one_line(v)}" for k, v in facts.extra.items()) or _MISSING
        )
        self.stack_trace.setPlainText(facts.stack_trace or "")
        # Without a trace the facts get the whole page instead of an empty box.
        self.trace_box.setVisible(bool(facts.stack_trace))


def _fact_text(facts: DeadLetterFacts, attr: str) -> str:
    value = getattr(facts, attr)
    if value is None or value == "":
        return _MISSING
    if attr in ("first_failure", "last_failure"):
        return time_text(value)
    if attr == "original_destination" and facts.original_partition is not None:
        where = f"{value}  (partition {facts.original_partition}"
        if facts.original_offset is not None:
            where += f", offset {facts.original_offset}"
        return where + ")"
    return str(value)


class MessageDetailWidget(QWidget):
    # The shown Message, to open in the message editor.
    edit_requested = Signal(object)

    def __init__(
        self, parent: QWidget | None = None, *, schemas: SchemaRegistry | None = None
    ) -> None:
        super().__init__(parent)
        self._message: Message | None = None
        # Shared with whoever else maps schemas; per endpoint, in memory for now.
        self.schemas = schemas if schemas is not None else SchemaRegistry()
        self.title = QLabel(self)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        title_font = self.title.font()
        title_font.setBold(True)
        self.title.setFont(title_font)

        self.tabs = QTabWidget(self)
        self.body_tab = _BodyTab(self.tabs)
        self.headers_tab = _HeadersTab(self.tabs)
        self.dead_letter_tab = _DeadLetterTab(self.tabs)
        self.attributes_table = _name_value_table(self.tabs, "Attribute")
        self.body_tab.schema_button.clicked.connect(self._on_schema_button_clicked)
        self.body_tab.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.tabs.addTab(self.body_tab, "Body")
        self.tabs.addTab(self.headers_tab, "Headers")
        self.tabs.addTab(self.dead_letter_tab, "Dead letter")
        self.tabs.addTab(self.attributes_table, "Attributes")

        shown = QWidget(self)
        shown_layout = QVBoxLayout(shown)
        shown_layout.setContentsMargins(0, 0, 0, 0)
        shown_layout.addWidget(self.title)
        shown_layout.addWidget(self.tabs, 1)
        self.empty = _empty_label(NO_MESSAGE_TEXT, self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(shown)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    @property
    def message(self) -> Message | None:
        return self._message

    def show_message(self, message: Message | None) -> None:
        self._message = message
        if message is None:
            self.stack.setCurrentIndex(0)
            self.body_tab.show_body(b"")
            self.body_tab.show_validity(None)
            return
        self.stack.setCurrentIndex(1)
        key = key_text(message.key)
        parts = [f"Message {message.id}", message.endpoint]
        if key:
            parts.insert(1, f"key {key}")
        self.title.setText("  ·  ".join(parts))
        self._show_decoded_body(message)
        self.headers_tab.show_headers(message)
        self.dead_letter_tab.show_facts(message.dead_letter)
        _fill_table(self.attributes_table, sorted(message.attributes.items()))
        self.tabs.setTabText(1, f"Headers ({len(message.headers)})")
        self.tabs.setTabText(3, f"Attributes ({len(message.attributes)})")

    def map_schema_file(self, path: str) -> None:
        """Maps a schema file to the shown message's endpoint and re-checks the message."""
        message = self._message
        if message is None:
            return
        try:
            self.schemas.map_file(message.endpoint, path)
        except SchemaError as exc:
            self.body_tab.show_validity(None, problem=f"Schema not usable: {exc}")
            return
        self._show_decoded_body(message)

    def _show_decoded_body(self, message: Message) -> None:
        schema = self.schemas.schema_for(message.endpoint)
        decoded = decode(
            message.body,
            avro_schemas=self.schemas.avro_schemas(),
            default_avro_schema=self.schemas.default_avro_schema(message.endpoint),
        )
        self.body_tab.show_decoded(decoded)
        self.body_tab.schema_button.setToolTip(
            f"Schema for {message.endpoint}: {schema.name if schema else 'none'}"
        )
        if schema is None:
            self.body_tab.show_validity(None)
            return
        try:
            self.body_tab.show_validity(validate(decoded, schema))
        except SchemaError as exc:
            self.body_tab.show_validity(None, problem=f"Schema not usable: {exc}")

    def _on_edit_button_clicked(self) -> None:
        if self._message is not None:
            self.edit_requested.emit(self._message)

    def _on_schema_button_clicked(self) -> None:
        if self._message is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self,
            f"Schema for {self._message.endpoint}",
            str(SCHEMAS_DIR),
            "Schemas (*.json *.avsc);;All files (*)",
        )
        if path:
            self.map_schema_file(path)

    # What tests and screenshots read back: the text actually on screen.

    def body_text(self) -> str:
        return self.body_tab.editor.toPlainText()

    def validity_text(self) -> str:
        return self.body_tab.validity_label.text()

    def fact_text(self, attr: str) -> str:
        return self.dead_letter_tab.fields[attr].text()

    def showing_dead_letter_facts(self) -> bool:
        return self.dead_letter_tab.stack.currentIndex() == 1
