"""How one endpoint's bodies are decoded and which schema they must match: the choices, and
the dialog "Decoding and schema for <endpoint>" that sets them."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping

from eventdesk.connectors import decoding
from eventdesk.connectors.decoding import Decoded, DecodedKind, decode
from eventdesk.connectors.endpoint_decoding import EndpointDecoding
from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.model import Message
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.schema_registry import RegistryClient, registry_client_for
from eventdesk.connectors.schemas import (
    SCHEMAS_DIR,
    Schema,
    SchemaError,
    SchemaKind,
    load_schema,
    validate,
)
from eventdesk.connectors.secrets import SecretStore
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from .operations import AsyncOp, TaskOwner
from .theme import is_dark

# Makes a client for the open connection's schema registry (closed by whoever made it).
RegistryFactory = Callable[[], RegistryClient]

# "Decode as" choices: (shown text, decoding hint; None = automatic).
DECODE_CHOICES = (
    ("Automatic", None),
    ("JSON", "json"),
    ("Text", "text"),
    ("Binary (hex)", "binary"),
    ("Avro", "avro"),
    ("Protobuf", "protobuf"),
)
_AUTOMATIC_REASONS = {
    DecodedKind.EMPTY: "automatic: empty body",
    DecodedKind.JSON: "automatic: the body parses as JSON",
    DecodedKind.TEXT: "automatic: UTF-8 text",
    DecodedKind.BINARY: "automatic: not text, shown as bytes",
}
# What a Confluent-framed body (magic byte, schema id) turned out to hold.
_FRAMED_NAMES = {
    DecodedKind.AVRO: "Avro",
    DecodedKind.PROTOBUF: "Protobuf",
    DecodedKind.JSON: "JSON Schema",
}
_LATEST = "latest"
_TITLE_LIMIT = 60
# Status text colours (valid, invalid or failed, a note), readable on either theme.
_STATUS_COLOURS = {
    "ok": ("#1a7f37", "#57d37a"),
    "error": ("#b3261e", "#ff8a80"),
    "note": ("#8a5300", "#e8b34a"),
}
_SCHEMA_FILES = "Schemas (*.json *.avsc *.desc);;All files (*)"
_NO_REGISTRY = (
    "No Schema Registry for this connection: add its URL (schema_registry_url) "
    "to the connection's settings."
)


def registry_factory(profile: ConnectionProfile, secrets: SecretStore) -> RegistryFactory | None:
    """Clients for the profile's Schema Registry, or None when it names none.

    Each client is made when an operation starts, so a bad URL or a missing password is
    that operation's error, shown where it was asked for.
    """
    if not profile.get("schema_registry_url"):
        return None

    def make() -> RegistryClient:
        client = registry_client_for(profile, secrets)
        assert client is not None  # the URL was checked above
        return client

    return make


def decoding_supported(hint: str | None) -> bool:
    """Whether connectors.decoding knows this hint (Protobuf needs its descriptor support)."""
    return hint is None or hint in decoding.HINTS


def decoding_reason(decoded: Decoded, hint: str | None) -> str:
    """Which decoding is in effect and why: "automatic: Confluent Avro, schema id 7"."""
    if hint is not None:
        label = next((text for text, choice in DECODE_CHOICES if choice == hint), hint)
        return f"{label}: chosen for this endpoint"
    if decoded.schema_id is not None:
        framed = _FRAMED_NAMES.get(decoded.kind)
        if framed is not None:
            return f"automatic: Confluent {framed}, schema id {decoded.schema_id}"
        return f"automatic: Confluent framing, schema id {decoded.schema_id} (did not read)"
    if decoded.kind is DecodedKind.INVALID:
        return f"automatic: looked like {decoded.tried or 'a format'}, did not decode"
    return _AUTOMATIC_REASONS.get(decoded.kind, "automatic")


def fill_decode_combo(combo: QComboBox) -> None:
    """The "Decode as" choices; those the decoder cannot do yet are shown disabled."""
    for text, hint in DECODE_CHOICES:
        combo.addItem(text, hint)
        if not decoding_supported(hint):
            item = combo.model().item(combo.count() - 1)
            item.setEnabled(False)
            item.setToolTip(f"{text} decoding is not available in this build")


def status_style(widget: QWidget, state: str) -> str:
    """A style sheet colouring `widget`'s text for `state` ("ok", "error", "note")."""
    light, dark = _STATUS_COLOURS[state]
    return f"color: {dark if is_dark(widget.palette()) else light};"


def elided_name(name: str, limit: int = _TITLE_LIMIT) -> str:
    """A long endpoint name shortened in the middle, where names differ least."""
    if len(name) <= limit:
        return name
    keep = (limit - 1) // 2
    return name[:keep] + "…" + name[-keep:]


class EndpointDecodingDialog(QDialog, TaskOwner):
    """Decoding and schema for one endpoint, previewed on the selected message."""

    # (EndpointDecoding, Schema or None): what the operator applied.
    decoding_chosen = Signal(object, object)

    def __init__(
        self,
        endpoint: str,
        setting: EndpointDecoding,
        *,
        message: Message | None = None,
        registry: RegistryFactory | None = None,
        schemas: Mapping[int, Schema] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.endpoint = endpoint
        self.message = message
        self._registry = registry
        # Schemas by Confluent id the endpoint already knows (read from the registry).
        self._known = dict(schemas or {})
        # The chosen schema once read or fetched, its registry id, or why there is none.
        self.schema: Schema | None = None
        self._schema_id: int | None = None
        self._schema_problem = ""
        self._subjects_fetched = False
        self.setWindowTitle(f"Decoding and schema for {endpoint}")
        self.setMinimumWidth(600)

        shown = html.escape(elided_name(endpoint))
        self.title_label = QLabel(f"Decoding and schema for <b>{shown}</b>", self)
        self.title_label.setToolTip(endpoint)
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.decode_combo = QComboBox(self)
        fill_decode_combo(self.decode_combo)

        self.none_radio = QRadioButton("&None", self)
        self.file_radio = QRadioButton("&File", self)
        self.registry_radio = QRadioButton("&Registry", self)
        self.source_group = QButtonGroup(self)
        for radio in (self.none_radio, self.file_radio, self.registry_radio):
            self.source_group.addButton(radio)
        self.registry_radio.setEnabled(registry is not None)
        if registry is None:
            self.registry_radio.setToolTip(_NO_REGISTRY)

        self.file_edit = QLineEdit(self)
        self.file_edit.setPlaceholderText(
            "JSON Schema (.json), Avro (.avsc) or descriptor set (.desc)"
        )
        self.browse_button = QPushButton("&Browse…", self)
        self.message_type_edit = QLineEdit(self)
        self.message_type_edit.setPlaceholderText("com.acme.orders.Order (descriptor sets only)")
        self.subject_combo = QComboBox(self)
        self.subject_combo.setEditable(True)
        self.subject_combo.setMinimumContentsLength(24)
        self.subject_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.version_combo = QComboBox(self)
        self.version_combo.addItem(_LATEST, None)
        self.refresh_button = QPushButton("Re&fresh", self)
        self.refresh_button.setToolTip("Fetch the registry's subjects again")
        self.registry_status = QLabel(self)
        self.registry_status.setWordWrap(True)
        self.registry_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_label = QLabel(self)
        self.preview_label.setWordWrap(True)
        self.preview_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.validity_label = QLabel(self)
        self.validity_label.setWordWrap(True)
        self.validity_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.apply_button.setText("&Apply")
        self._build_layout()
        self._show_setting(setting)
        self._connect()
        self.refresh_preview()

    def _build_layout(self) -> None:
        sources = QHBoxLayout()
        for radio in (self.none_radio, self.file_radio, self.registry_radio):
            sources.addWidget(radio)
        sources.addStretch(1)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        subject_row = QHBoxLayout()
        subject_row.addWidget(self.subject_combo, 1)
        subject_row.addWidget(self.refresh_button)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.addRow("&Decode as:", self.decode_combo)
        form.addRow("Schema from:", sources)
        form.addRow("Schema file:", file_row)
        form.addRow("Message type:", self.message_type_edit)
        form.addRow("Subject:", subject_row)
        form.addRow("Version:", self.version_combo)
        form.addRow("", self.registry_status)
        preview = QGroupBox(self._preview_title(), self)
        preview_layout = QVBoxLayout(preview)
        preview_layout.addWidget(self.preview_label)
        preview_layout.addWidget(self.validity_label)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title_label)
        layout.addLayout(form)
        layout.addWidget(preview)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

    def _preview_title(self) -> str:
        if self.message is None:
            return "Preview (select a message to see it decoded)"
        return f"Preview on message {elided_name(self.message.id, 40)}"

    def _connect(self) -> None:
        self.decode_combo.currentIndexChanged.connect(self.refresh_preview)
        self.source_group.buttonToggled.connect(self._on_source_group_toggled)
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.file_edit.editingFinished.connect(self._on_file_edit_finished)
        self.message_type_edit.editingFinished.connect(self._on_file_edit_finished)
        self.subject_combo.activated.connect(self._on_subject_combo_activated)
        self.version_combo.activated.connect(self._on_version_combo_activated)
        self.refresh_button.clicked.connect(self.fetch_subjects)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    def _show_setting(self, setting: EndpointDecoding) -> None:
        self.decode_combo.setCurrentIndex(max(0, self.decode_combo.findData(setting.decoding)))
        self.file_edit.setText(setting.schema_file or "")
        self.message_type_edit.setText(setting.protobuf_message or "")
        if setting.registry_subject:
            self.subject_combo.setEditText(setting.registry_subject)
        if setting.registry_version is not None:
            self.version_combo.addItem(str(setting.registry_version), setting.registry_version)
            self.version_combo.setCurrentIndex(1)
        if setting.schema_file:
            self.file_radio.setChecked(True)
            self._read_file()
        elif setting.registry_subject and self._registry is not None:
            self.registry_radio.setChecked(True)
            self.fetch_subjects()
            self.fetch_schema()
        else:
            self.none_radio.setChecked(True)
        self._enable_source_fields()

    # -- what the operator chose ----------------------------------------------------------

    def source(self) -> str:
        if self.file_radio.isChecked():
            return "file"
        return "registry" if self.registry_radio.isChecked() else "none"

    def setting(self) -> EndpointDecoding:
        hint = self.decode_combo.currentData()
        source = self.source()
        message_type = self.message_type_edit.text().strip() or None
        return EndpointDecoding(
            decoding=hint,
            schema_file=self.file_edit.text().strip() or None if source == "file" else None,
            registry_subject=self.subject_combo.currentText().strip() or None
            if source == "registry"
            else None,
            registry_version=self.version_combo.currentData() if source == "registry" else None,
            protobuf_message=message_type if source == "file" else None,
        )

    def why_not_apply(self) -> str:
        """Why the choice cannot be applied yet, or ""."""
        source = self.source()
        if source == "file" and not self.file_edit.text().strip():
            return "Choose a schema file, or pick None."
        if source == "registry" and not self.subject_combo.currentText().strip():
            return "Choose a subject, or pick None."
        if source != "none" and self._schema_problem:
            return self._schema_problem
        if source == "registry" and self.schema is None:
            return "The subject's schema has not been fetched yet."
        return ""

    # -- schema from a file -----------------------------------------------------------------

    def choose_file(self, path: str) -> None:
        self.file_edit.setText(path)
        self.file_radio.setChecked(True)
        self._read_file()
        self.refresh_preview()

    def _read_file(self) -> None:
        path = self.file_edit.text().strip()
        self.schema, self._schema_id, self._schema_problem = None, None, ""
        if not path:
            return
        message_type = self.message_type_edit.text().strip() or None
        try:
            self.schema = load_schema(path, protobuf_message=message_type)
        except SchemaError as exc:
            self._schema_problem = f"Schema not usable: {exc}"
            return
        if self.schema.kind is SchemaKind.PROTOBUF:
            # The descriptor set's types, offered as the operator types.
            names = self.schema.compiled.message_names()
            self.message_type_edit.setCompleter(QCompleter(names, self.message_type_edit))
            if message_type is None and names:
                self.message_type_edit.setPlaceholderText(f"{names[0]} (the first type)")

    # -- schema from the registry -----------------------------------------------------------

    def fetch_subjects(self) -> None:
        factory = self._registry
        if factory is None:
            self._show_registry_status(_NO_REGISTRY, error=True)
            return

        async def fetch() -> list[str]:
            client = factory()
            try:
                return await client.subjects()
            finally:
                await client.close()

        self._show_registry_status("Fetching subjects from the registry…")
        self.refresh_button.setEnabled(False)
        AsyncOp(self, fetch).latest_wins("subjects").with_progress(
            "Fetching registry subjects"
        ).with_context("Fetching registry subjects").success(self._on_subjects_fetched).failure(
            self._on_registry_failed
        ).finally_(lambda: self.refresh_button.setEnabled(True)).run()

    def _on_subjects_fetched(self, subjects: list[str]) -> None:
        self._subjects_fetched = True
        typed = self.subject_combo.currentText()
        self.subject_combo.clear()
        self.subject_combo.addItems(sorted(subjects))
        self.subject_combo.setEditText(typed)
        if not subjects:
            self._show_registry_status("The registry has no subjects yet.")
        elif self.schema is None and not self._schema_problem:
            self._show_registry_status(f"{len(subjects)} subjects. Choose one.")
        if typed:
            self.fetch_versions(typed)

    def fetch_versions(self, subject: str) -> None:
        factory = self._registry
        if factory is None:
            return

        async def fetch() -> list[int]:
            client = factory()
            try:
                return await client.versions(subject)
            finally:
                await client.close()

        AsyncOp(self, fetch).latest_wins("versions").with_context(
            f"Fetching versions of {subject}"
        ).success(self._on_versions_fetched).failure(self._on_registry_failed).run()

    def _on_versions_fetched(self, versions: list[int]) -> None:
        chosen = self.version_combo.currentData()
        self.version_combo.clear()
        self.version_combo.addItem(_LATEST, None)
        for version in sorted(versions, reverse=True):
            self.version_combo.addItem(str(version), version)
        self.version_combo.setCurrentIndex(max(0, self.version_combo.findData(chosen)))

    def fetch_schema(self) -> None:
        factory = self._registry
        subject = self.subject_combo.currentText().strip()
        if factory is None or not subject:
            return
        version = self.version_combo.currentData()

        async def fetch() -> tuple[int, Schema]:
            client = factory()
            try:
                return await client.subject_version(
                    subject, _LATEST if version is None else version
                )
            finally:
                await client.close()

        self.schema, self._schema_id = None, None
        self._schema_problem = "Fetching the schema…"
        self._show_registry_status(f"Fetching {subject} ({version or _LATEST})…")
        AsyncOp(self, fetch).latest_wins("schema").with_progress(
            f"Fetching schema {subject}"
        ).with_context(f"Fetching schema {subject}").success(self._on_schema_fetched).failure(
            self._on_registry_failed
        ).run()

    def _on_schema_fetched(self, found: tuple[int, Schema]) -> None:
        self._schema_id, self.schema = found
        self._schema_problem = ""
        self._show_registry_status(f"{self.schema.kind.value} schema: {self.schema.name}")
        self.refresh_preview()

    def _on_registry_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, EventdeskError):
            exc = EventdeskError(f"Unexpected error: {type(exc).__name__}: {exc}")
        text = f"{exc}" + (f" {exc.hint}" if exc.hint else "")
        if self.schema is None and self.source() == "registry":
            self._schema_problem = text
        self._show_registry_status(text, error=True)
        self.refresh_preview()

    def _show_registry_status(self, text: str, *, error: bool = False) -> None:
        self.registry_status.setText(text)
        self.registry_status.setStyleSheet(self._style(ok=False) if error else "")

    # -- preview --------------------------------------------------------------------------

    def refresh_preview(self, *_args: object) -> None:
        self.apply_button.setToolTip(self.why_not_apply())
        if self.message is None:
            self.preview_label.setText("No message selected.")
            self.validity_label.clear()
            return
        decoded = self.preview_decoded()
        hint = self.decode_combo.currentData()
        why = "chosen for this endpoint" if hint is not None else decoding_reason(decoded, None)
        line = f"{decoded.title} ({why})"
        self.preview_label.setText(line + (f"\n{decoded.error}" if decoded.error else ""))
        self._show_preview_validity(decoded)

    def preview_decoded(self) -> Decoded:
        assert self.message is not None
        hint = self.decode_combo.currentData()
        known = dict(self._known)
        schema = self.schema if self.source() != "none" else None
        if schema is not None and self._schema_id is not None:
            known[self._schema_id] = schema
        return decode(
            self.message.body,
            hint=hint if decoding_supported(hint) else None,
            schemas=known,
            default_schema=schema,
        )

    def _show_preview_validity(self, decoded: Decoded) -> None:
        if self.source() == "none":
            self.validity_label.setText("No schema: messages are not validated.")
            self.validity_label.setStyleSheet("")
            return
        if self._schema_problem or self.schema is None:
            self.validity_label.setText(
                self._schema_problem or "Decoding only: nothing to validate."
            )
            self.validity_label.setStyleSheet(self._style(ok=False) if self._schema_problem else "")
            return
        try:
            checked = validate(decoded, self.schema)
        except SchemaError as exc:
            self.validity_label.setText(f"Schema not usable: {exc}")
            self.validity_label.setStyleSheet(self._style(ok=False))
            return
        if checked.valid:
            self.validity_label.setText(f"Valid against {checked.schema_name}")
            self.validity_label.setStyleSheet(self._style(ok=True))
            return
        lines = [f"{path}: {reason}" for path, reason in checked.errors]
        self.validity_label.setText(f"Invalid against {checked.schema_name}:\n" + "\n".join(lines))
        self.validity_label.setStyleSheet(self._style(ok=False))

    def validity_text(self) -> str:
        return self.validity_label.text()

    # -- handlers -------------------------------------------------------------------------

    def _enable_source_fields(self) -> None:
        source = self.source()
        is_desc = self.file_edit.text().strip().endswith(".desc")
        for widget in (self.file_edit, self.browse_button):
            widget.setEnabled(source == "file")
        self.message_type_edit.setEnabled(source == "file" and is_desc)
        for widget in (self.subject_combo, self.version_combo, self.refresh_button):
            widget.setEnabled(source == "registry")
        self.registry_status.setVisible(source == "registry" or self._registry is None)
        if self._registry is None and source != "registry":
            self._show_registry_status(_NO_REGISTRY)

    def _on_source_group_toggled(self, _button: object, checked: bool) -> None:
        if not checked:
            return
        self._enable_source_fields()
        source = self.source()
        if source == "file":
            self._read_file()
        elif source == "registry":
            self.schema, self._schema_id, self._schema_problem = None, None, ""
            if not self._subjects_fetched:
                self.fetch_subjects()
            self.fetch_schema()
        else:
            self._schema_problem = ""
        self.refresh_preview()

    def _on_browse_button_clicked(self) -> None:
        start = self.file_edit.text().strip() or str(SCHEMAS_DIR)
        path, _ = QFileDialog.getOpenFileName(self, "Schema file", start, _SCHEMA_FILES)
        if path:
            self.choose_file(path)

    def _on_file_edit_finished(self) -> None:
        self._read_file()
        self._enable_source_fields()
        self.refresh_preview()

    def _on_subject_combo_activated(self, _index: int) -> None:
        self.version_combo.clear()
        self.version_combo.addItem(_LATEST, None)
        self.fetch_versions(self.subject_combo.currentText().strip())
        self.fetch_schema()

    def _on_version_combo_activated(self, _index: int) -> None:
        self.fetch_schema()

    def _on_buttons_accepted(self) -> None:
        why = self.why_not_apply()
        if why:
            self._show_apply_problem(why)
            return
        try:
            setting = self.setting()
        except EventdeskError as exc:  # a combination EndpointDecoding refuses
            self._show_apply_problem(f"{exc} {exc.hint}")
            return
        schema = self.schema if self.source() != "none" else None
        self.decoding_chosen.emit(setting, schema)
        self.accept()

    def _show_apply_problem(self, text: str) -> None:
        self.validity_label.setText(text)
        self.validity_label.setStyleSheet(self._style(ok=False))

    def _style(self, *, ok: bool) -> str:
        return status_style(self, "ok" if ok else "error")

    def done(self, result: int) -> None:
        self.cancel_tasks()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_tasks()
        super().closeEvent(event)
