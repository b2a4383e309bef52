"""One message in full: body, headers, dead-letter facts and broker attributes, as tabs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from eventdesk.connectors.dead_letters import header_text
from eventdesk.connectors.decoding import Decoded, decode, framed_schema_id
from eventdesk.connectors.endpoint_decoding import (
    EndpointDecoding,
    endpoint_schema,
    load_endpoint_decodings,
    save_endpoint_decoding,
)
from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.model import DeadLetterFacts, Message
from eventdesk.connectors.schemas import (
    SCHEMAS_DIR,
    Schema,
    SchemaError,
    SchemaRegistry,
    Validation,
    load_schema,
    validate,
)
from eventdesk.connectors.search import BodyDecoding
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
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

from .actions import make_action
from .body_rendering import BodyKind, RenderedBody, render_decoded
from .display_format import human_size, key_text, time_text
from .endpoint_decoding_dialog import (
    EndpointDecodingDialog,
    RegistryFactory,
    decoding_reason,
    decoding_supported,
    fill_decode_combo,
    status_style,
)
from .json_highlighter import JsonHighlighter
from .operations import AsyncOp, TaskOwner

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


_REGISTRY_KEY = "registry"


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
        # Which decoding is in effect and why, e.g. "automatic: Confluent Avro, schema id 7".
        self.decoding_label = QLabel(self)
        self.decoding_label.setEnabled(False)
        self.decode_combo = QComboBox(self)
        fill_decode_combo(self.decode_combo)
        self.decode_combo.setToolTip("How bodies on this endpoint are decoded (kept per endpoint)")
        self.decoding_button = QPushButton("Decoding and schema…", self)
        self.decoding_button.setToolTip("Choose the decoding and the schema for this endpoint")
        self.note_label = QLabel(self)
        self.note_label.setWordWrap(True)
        # Why the body did not decode as it looked (or was said) to: in place, above the bytes.
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.validity_label = QLabel(self)
        self.validity_label.setWordWrap(True)
        self.validity_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.schema_button = QPushButton("Schema file…", self)
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
        top.addWidget(self.save_button)
        top.addWidget(self.edit_button)
        decoding_row = QHBoxLayout()
        decode_as = QLabel("&Decode as:", self)
        decode_as.setBuddy(self.decode_combo)
        decoding_row.addWidget(decode_as)
        decoding_row.addWidget(self.decode_combo)
        decoding_row.addWidget(self.decoding_label, 1)
        decoding_row.addWidget(self.schema_button)
        decoding_row.addWidget(self.decoding_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(decoding_row)
        layout.addWidget(self.validity_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.note_label)
        layout.addWidget(self.editor, 1)

    @property
    def rendered(self) -> RenderedBody:
        return self._rendered

    def show_body(self, body: bytes) -> None:
        self.show_decoded(decode(body))

    def show_hint(self, hint: str | None) -> None:
        """Sets the "Decode as" choice without announcing it as the operator's."""
        with QSignalBlocker(self.decode_combo):
            self.decode_combo.setCurrentIndex(max(0, self.decode_combo.findData(hint)))

    def hint(self) -> str | None:
        return self.decode_combo.currentData()

    def show_decoded(self, decoded: Decoded) -> None:
        self._body = body = decoded.raw
        self._rendered = rendered = render_decoded(decoded)
        # Detach first so plain text and hex dumps are never run through the JSON rules.
        self._highlighter.setDocument(None)
        # Qt wraps one very long line in time that grows much faster than its length
        # (a 256 kB line: seconds); such text scrolls sideways instead.
        wrap = (
            rendered.kind in (BodyKind.TEXT, BodyKind.JSON, BodyKind.AVRO, BodyKind.PROTOBUF)
            and _longest_line(rendered.text) <= _WRAP_LIMIT
        )
        self.editor.setLineWrapMode(
            QPlainTextEdit.LineWrapMode.WidgetWidth if wrap else QPlainTextEdit.LineWrapMode.NoWrap
        )
        self.editor.setPlainText(rendered.text)
        if rendered.kind in (BodyKind.JSON, BodyKind.AVRO, BodyKind.PROTOBUF):
            self._highlighter.setDocument(self.editor.document())
        self.kind_label.setText(f"{decoded.title} · {human_size(len(body))}")
        self.decoding_label.setText(decoding_reason(decoded, self.hint()) if body else "")
        # Coloured when shown: the theme may have changed since the pane was built.
        self.error_label.setStyleSheet(status_style(self, "error"))
        self.note_label.setStyleSheet(status_style(self, "note"))
        self.error_label.setText(decoded.error)
        self.error_label.setVisible(bool(decoded.error))
        self.note_label.setText(rendered.note)
        self.note_label.setVisible(bool(rendered.note) and rendered.kind is not BodyKind.EMPTY)
        self.save_button.setEnabled(bool(body))

    def show_validity(self, validation: Validation | None, *, problem: str = "") -> None:
        """A validity line: green when valid, red with the first errors, hidden without a schema."""
        if problem:
            self.validity_label.setText(problem)
            self.validity_label.setStyleSheet(status_style(self, "error"))
        elif validation is None:
            self.validity_label.clear()
        elif validation.valid:
            self.validity_label.setText(f"Valid against {validation.schema_name}")
            self.validity_label.setStyleSheet(status_style(self, "ok"))
        else:
            self.validity_label.setText(_invalid_text(validation))
            self.validity_label.setStyleSheet(status_style(self, "error"))
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


def _problem_text(exc: BaseException) -> str:
    if not isinstance(exc, EventdeskError):
        return f"Unexpected error {type(exc).__name__}: {exc}; see the log."
    return f"{exc}" + (f" {exc.hint}" if exc.hint else "")


def _stored(setting: EndpointDecoding) -> EndpointDecoding | None:
    """What to save: nothing at all for "automatic, no schema"."""
    return None if setting == EndpointDecoding() else setting


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


class MessageDetailWidget(QWidget, TaskOwner):
    # The shown Message, to open in the message editor.
    edit_requested = Signal(object)

    def __init__(
        self, parent: QWidget | None = None, *, schemas: SchemaRegistry | None = None
    ) -> None:
        super().__init__(parent)
        self._message: Message | None = None
        # Shared with whoever else maps schemas (search, editor, bulk fix).
        self.schemas = schemas if schemas is not None else SchemaRegistry()
        # The open endpoint, its persisted decoding, and its connection's registry.
        self._connection = ""
        self._endpoint = ""
        self.setting = EndpointDecoding()
        self._registry: RegistryFactory | None = None
        # Schema ids asked of the registry (found or not): each is fetched once per endpoint.
        self._asked_ids: set[int] = set()
        # Why the endpoint's schema, or a schema id's, could not be had: shown with the body.
        self._schema_problem = ""
        self._id_problems: dict[int, str] = {}
        self.decoding_dialog: EndpointDecodingDialog | None = None
        self.decoding_action = make_action(
            self,
            "Decoding and schema…",
            "Choose how this endpoint's bodies are decoded and which schema they must match",
            on_triggered=self.open_decoding_dialog,
        )
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
        self.body_tab.decode_combo.currentIndexChanged.connect(self._on_decode_combo_changed)
        self.body_tab.decoding_button.clicked.connect(self.open_decoding_dialog)
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

    # -- the endpoint's decoding and schema -------------------------------------------

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def open_endpoint(
        self, connection: str, endpoint: str, *, registry: RegistryFactory | None = None
    ) -> None:
        """Takes on `endpoint`'s persisted decoding and schema (none: automatic)."""
        self.cancel_task(_REGISTRY_KEY)
        self._connection, self._endpoint, self._registry = connection, endpoint, registry
        self._asked_ids.clear()
        self._id_problems.clear()
        try:
            setting = load_endpoint_decodings(connection).get(endpoint) or EndpointDecoding()
        except EventdeskError as exc:
            self.apply_decoding(EndpointDecoding(), persist=False)
            self.report_decoding_problem(exc)
            return
        self.apply_decoding(setting, persist=False)

    def apply_decoding(
        self, setting: EndpointDecoding, *, schema: Schema | None = None, persist: bool = True
    ) -> None:
        """Uses `setting` for the open endpoint (saving it unless told not to).

        `schema` is the one the setting names when the caller has it already (the dialog
        fetched it); otherwise a file is read here and a registry subject fetched.
        """
        self.setting = setting
        self._schema_problem = ""
        self.body_tab.show_hint(setting.decoding)
        endpoint = self._endpoint
        if persist and self._connection:
            try:
                save_endpoint_decoding(self._connection, endpoint, _stored(setting))
            except EventdeskError as exc:
                self.report_decoding_problem(exc)
        self._map_schema(setting, schema)
        self._reshow()

    def _map_schema(self, setting: EndpointDecoding, schema: Schema | None) -> None:
        endpoint = self._endpoint
        if schema is not None:
            self.schemas.map_schema(endpoint, schema)
        elif setting.schema_file:
            try:
                found = load_schema(setting.schema_file, protobuf_message=setting.protobuf_message)
                self.schemas.map_schema(endpoint, found)
            except SchemaError as exc:
                self.schemas.unmap(endpoint)
                self.report_decoding_problem(EventdeskError(f"Schema not usable: {exc}"))
        elif setting.registry_subject:
            self.schemas.unmap(endpoint)
            self._fetch_subject(setting)
        else:
            self.schemas.unmap(endpoint)

    def report_decoding_problem(self, exc: BaseException) -> None:
        """Why the endpoint's schema cannot be used: shown where the validity line goes."""
        self._schema_problem = _problem_text(exc)
        self.body_tab.show_validity(None, problem=self._schema_problem)

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
        if self._connection and message.endpoint == self._endpoint:
            try:
                setting = EndpointDecoding(decoding=self.setting.decoding, schema_file=str(path))
            except EventdeskError as exc:  # a file type the setting cannot name
                self.report_decoding_problem(exc)
                return
            self.apply_decoding(setting)
            return
        self._show_decoded_body(message)

    def open_decoding_dialog(self) -> EndpointDecodingDialog | None:
        endpoint = self._endpoint or (self._message.endpoint if self._message else "")
        if not endpoint:
            return None
        dialog = EndpointDecodingDialog(
            endpoint,
            self.setting,
            message=self._message,
            registry=self._registry,
            schemas=self.schemas.schemas_by_id(),
            parent=self,
        )
        dialog.decoding_chosen.connect(self._on_decoding_dialog_chosen)
        dialog.finished.connect(dialog.deleteLater)
        self.decoding_dialog = dialog
        dialog.open()
        return dialog

    def _on_decoding_dialog_chosen(self, setting: EndpointDecoding, schema: object) -> None:
        if not self._endpoint and self._message is not None:
            self._endpoint = self._message.endpoint
        self.apply_decoding(setting, schema=schema if isinstance(schema, Schema) else None)

    def _on_decode_combo_changed(self, _index: int) -> None:
        hint = self.body_tab.hint()
        if not self._endpoint and self._message is not None:
            self._endpoint = self._message.endpoint
        self.apply_decoding(dataclasses.replace(self.setting, decoding=hint))

    def _fetch_subject(self, setting: EndpointDecoding) -> None:
        """Fetches the mapped registry subject; the body shows undecided until it arrives."""
        factory = self._registry
        endpoint = self._endpoint
        subject = setting.registry_subject

        async def fetch() -> Schema | None:
            client = factory() if factory is not None else None
            try:
                return await endpoint_schema(setting, client)
            finally:
                if client is not None:
                    await client.close()

        def fetched(schema: Schema | None) -> None:
            if endpoint == self._endpoint and schema is not None:
                self._schema_problem = ""
                self.schemas.map_schema(endpoint, schema)
                self._reshow()

        AsyncOp(self, fetch).latest_wins(_REGISTRY_KEY).with_progress(
            f"Fetching schema {subject} from the registry"
        ).with_context(f"Fetching schema {subject}").success(fetched).failure(
            self.report_decoding_problem
        ).run()

    def _fetch_schema_id(self, schema_id: int) -> None:
        """Automatic decoding met a Confluent schema id nobody has: ask the registry once."""
        factory = self._registry
        if factory is None or schema_id in self._asked_ids:
            return
        self._asked_ids.add(schema_id)
        endpoint = self._endpoint

        async def fetch() -> Schema:
            client = factory()
            try:
                return await client.schema_by_id(schema_id)
            finally:
                await client.close()

        def fetched(schema: Schema) -> None:
            if endpoint == self._endpoint:
                self.schemas.add_schema(schema_id, schema)
                self._reshow()

        AsyncOp(self, fetch).with_context(f"Fetching schema id {schema_id}").success(
            fetched
        ).failure(lambda exc: self._on_schema_id_failed(schema_id, endpoint, exc)).run()

    def _on_schema_id_failed(self, schema_id: int, endpoint: str, exc: BaseException) -> None:
        if endpoint == self._endpoint:
            self._id_problems[schema_id] = (
                f"Schema id {schema_id} could not be fetched: {_problem_text(exc)}"
            )
            self._reshow()

    def _reshow(self) -> None:
        if self._message is not None:
            self._show_decoded_body(self._message)

    def decode_message(self, message: Message) -> Decoded:
        """The body as the endpoint's decoding and schemas read it."""
        return self.body_decoding(message.endpoint).decode(message.body)

    def body_decoding(self, endpoint: str | None = None) -> BodyDecoding:
        """How `endpoint`'s bodies decode (the open endpoint's by default): its chosen
        format, the registry's schemas by id, its mapped schema. Search reads bodies so too."""
        hint = self.body_tab.hint()
        return BodyDecoding(
            hint=hint if decoding_supported(hint) else None,
            schemas=self.schemas.schemas_by_id(),
            schema=self.schemas.schema_for(endpoint or self._endpoint),
        )

    def _show_decoded_body(self, message: Message) -> None:
        schema = self.schemas.schema_for(message.endpoint)
        decoded = self.decode_message(message)
        schema_id = framed_schema_id(message.body)
        if schema_id is not None and self.body_tab.hint() in (None, "avro", "protobuf", "json"):
            if schema_id not in self.schemas.schemas_by_id():
                self._fetch_schema_id(schema_id)
        self.body_tab.show_decoded(decoded)
        self.body_tab.schema_button.setToolTip(
            f"Schema for {message.endpoint}: {schema.name if schema else 'none'}"
        )
        problem = self._id_problems.get(schema_id or -1) or self._schema_problem
        if schema is None or problem:
            self.body_tab.show_validity(None, problem=problem)
            return
        try:
            self.body_tab.show_validity(validate(decoded, schema))
        except SchemaError as exc:
            self.body_tab.show_validity(None, problem=f"Schema not usable: {exc}")

    def _on_edit_button_clicked(self) -> None:
        if self._message is not None:
            self.edit_requested.emit(self._message)

    def decoding_text(self) -> str:
        return self.body_tab.decoding_label.text()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_tasks()
        super().closeEvent(event)

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
