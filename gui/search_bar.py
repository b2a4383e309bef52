"""The search bar above the messages table: query text, a small filter builder, and progress.

It only collects a SearchQuery and shows how the scan goes; MessageBrowserWidget runs it.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.failure_groups import FailureGroup
from eventdesk.connectors.search import HeaderFilter, HeaderMatch, SearchQuery, Validity
from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

_ERROR_STYLE = "QLabel { color: #8e1c1c; }"
_ANY = "Any"
_FILTERS_TIP = "Header, JMESPath, time, failure group and validity filters"


class SearchBarWidget(QWidget):
    """Emits `search_requested(SearchQuery)` on Enter or Search, `clear_requested` on Clear."""

    search_requested = Signal(object)
    clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text_edit = QLineEdit(self)
        self.text_edit.setPlaceholderText("Search body, headers and keys (Ctrl+F); Enter to run")
        self.text_edit.setClearButtonEnabled(True)
        self.text_edit.returnPressed.connect(self.submit)
        self.filters_button = QToolButton(self)
        self.filters_button.setText("Filters")
        self.filters_button.setCheckable(True)
        self.filters_button.setToolTip(_FILTERS_TIP)
        self.search_button = QPushButton("Search", self)
        self.search_button.clicked.connect(self.submit)
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.setToolTip("Clear the search and show the whole endpoint again")
        self.clear_button.clicked.connect(self.clear)

        self.builder = self._build_builder()
        self.builder.hide()
        self.filters_button.toggled.connect(self.builder.setVisible)
        self._watch_builder()

        self.progress_bar = QProgressBar(self)
        self.progress_bar.setMaximumHeight(14)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedWidth(160)
        self.status_label = QLabel(self)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(_ERROR_STYLE)
        self.error_label.hide()

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.text_edit, 1)
        row.addWidget(self.filters_button)
        row.addWidget(self.search_button)
        row.addWidget(self.clear_button)
        self.progress_row = QWidget(self)
        progress = QHBoxLayout(self.progress_row)
        progress.setContentsMargins(0, 0, 0, 0)
        progress.addWidget(self.progress_bar)
        progress.addWidget(self.status_label, 1)
        progress.addWidget(self.cancel_button)
        self.progress_row.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addLayout(row)
        layout.addWidget(self.builder)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress_row)

    def _build_builder(self) -> QWidget:
        builder = QWidget(self)
        self.header_name_edit = QLineEdit(builder)
        self.header_name_edit.setPlaceholderText("header name, e.g. x-tenant")
        self.header_match_combo = QComboBox(builder)
        self.header_match_combo.addItems([m.value for m in HeaderMatch])
        self.header_value_edit = QLineEdit(builder)
        self.header_value_edit.setPlaceholderText("value")
        self.expression_edit = QLineEdit(builder)
        self.expression_edit.setPlaceholderText(
            "JMESPath on the payload, e.g. customer.tier == 'gold' && length(lines) > `2`"
        )
        now = QDateTime.currentDateTime()
        self.since_check = QCheckBox("From", builder)
        self.since_edit = QDateTimeEdit(now.addSecs(-24 * 3600), builder)
        self.until_check = QCheckBox("to", builder)
        self.until_edit = QDateTimeEdit(now, builder)
        for check, edit in (
            (self.since_check, self.since_edit),
            (self.until_check, self.until_edit),
        ):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
            edit.setEnabled(False)
            check.toggled.connect(edit.setEnabled)
        self.group_combo = QComboBox(builder)
        self.group_combo.addItem(_ANY, None)
        self.group_combo.setMinimumContentsLength(30)
        self.group_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.validity_combo = QComboBox(builder)
        self.validity_combo.addItem(_ANY, None)
        for validity in Validity:
            self.validity_combo.addItem(validity.value.capitalize(), validity)
        self.validity_combo.setToolTip("Against the schema mapped to this endpoint (Body tab)")

        grid = QGridLayout(builder)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(QLabel("Header", builder), 0, 0)
        header_row = QHBoxLayout()
        header_row.addWidget(self.header_name_edit, 1)
        header_row.addWidget(self.header_match_combo)
        header_row.addWidget(self.header_value_edit, 1)
        grid.addLayout(header_row, 0, 1)
        grid.addWidget(QLabel("Payload", builder), 1, 0)
        grid.addWidget(self.expression_edit, 1, 1)
        grid.addWidget(QLabel("Time", builder), 2, 0)
        time_row = QHBoxLayout()
        for widget in (self.since_check, self.since_edit, self.until_check, self.until_edit):
            time_row.addWidget(widget)
        time_row.addStretch(1)
        grid.addLayout(time_row, 2, 1)
        grid.addWidget(QLabel("Failure group", builder), 3, 0)
        group_row = QHBoxLayout()
        group_row.addWidget(self.group_combo, 1)
        group_row.addWidget(QLabel("Schema", builder))
        group_row.addWidget(self.validity_combo)
        grid.addLayout(group_row, 3, 1)
        for line in (self.header_name_edit, self.header_value_edit, self.expression_edit):
            line.returnPressed.connect(self.submit)
        return builder

    def _watch_builder(self) -> None:
        """Keep the Filters button saying how many filters are set: with the builder
        folded away, it is all that shows a search is narrowed by them."""
        for line in (self.header_name_edit, self.header_value_edit, self.expression_edit):
            line.textChanged.connect(self._show_filter_count)
        for check in (self.since_check, self.until_check):
            check.toggled.connect(self._show_filter_count)
        for edit in (self.since_edit, self.until_edit):
            edit.dateTimeChanged.connect(self._show_filter_count)
        for combo in (self.group_combo, self.validity_combo):
            combo.currentIndexChanged.connect(self._show_filter_count)
        self._show_filter_count()

    def _show_filter_count(self) -> None:
        builder_only = dataclasses.replace(self.query(), text="")
        count = (
            len(builder_only.headers)
            + bool(builder_only.expression)
            + (builder_only.since is not None or builder_only.until is not None)
            + (builder_only.failure_group is not None)
            + (builder_only.validity is not None)
        )
        self.filters_button.setText(f"Filters ({count})" if count else "Filters")
        font = self.filters_button.font()
        font.setBold(bool(count))
        self.filters_button.setFont(font)
        self.filters_button.setToolTip(f"Set: {builder_only.describe()}" if count else _FILTERS_TIP)

    # -- the query ------------------------------------------------------------------

    def query(self) -> SearchQuery:
        """What the fields say now (not yet checked: compile_query does that)."""
        name = self.header_name_edit.text().strip()
        headers: tuple[HeaderFilter, ...] = ()
        if name or self.header_value_edit.text():
            match = HeaderMatch(self.header_match_combo.currentText())
            headers = (HeaderFilter(name, self.header_value_edit.text(), match),)
        # Qt hands enum item data back as plain text.
        validity = self.validity_combo.currentData()
        return SearchQuery(
            text=self.text_edit.text().strip(),
            headers=headers,
            expression=self.expression_edit.text().strip(),
            since=_utc(self.since_edit.dateTime()) if self.since_check.isChecked() else None,
            until=_utc(self.until_edit.dateTime()) if self.until_check.isChecked() else None,
            failure_group=self.group_combo.currentData(),
            validity=Validity(validity) if validity else None,
        )

    def submit(self) -> None:
        query = self.query()
        self.status_label.setToolTip(f"Searching for {query.describe()}")
        self.search_requested.emit(query)

    def clear(self) -> None:
        """Empties every field and asks for the plain browse back."""
        self.text_edit.clear()
        self.header_name_edit.clear()
        self.header_value_edit.clear()
        self.expression_edit.clear()
        self.since_check.setChecked(False)
        self.until_check.setChecked(False)
        self.group_combo.setCurrentIndex(0)
        self.validity_combo.setCurrentIndex(0)
        self.show_error(None)
        self.clear_requested.emit()

    def focus_text(self) -> None:
        self.text_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.text_edit.selectAll()

    def set_failure_groups(self, groups: list[FailureGroup]) -> None:
        """The groups offered; the chosen one stays chosen even when no longer loaded."""
        chosen = self.group_combo.currentData()
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        self.group_combo.addItem(_ANY, None)
        for group in groups:
            self.group_combo.addItem(f"{group.label} ({group.count:,})", group.signature)
            self.group_combo.setItemData(
                self.group_combo.count() - 1, group.signature, Qt.ItemDataRole.ToolTipRole
            )
        index = self.group_combo.findData(chosen) if chosen is not None else 0
        if index < 0:
            self.group_combo.addItem(chosen, chosen)
            index = self.group_combo.count() - 1
        self.group_combo.setCurrentIndex(index)
        self.group_combo.blockSignals(False)

    def choose_failure_group(self, signature: str) -> None:
        index = self.group_combo.findData(signature)
        if index < 0:
            self.group_combo.addItem(signature, signature)
            index = self.group_combo.count() - 1
        self.group_combo.setCurrentIndex(index)

    # -- feedback -------------------------------------------------------------------

    def set_cancel_action(self, action: QAction) -> None:
        self.cancel_button.setDefaultAction(action)

    def show_error(self, exc: BaseException | None) -> None:
        if exc is None:
            self.error_label.hide()
            return
        hint = exc.hint if isinstance(exc, EventdeskError) else ""
        self.error_label.setText(f"{exc}" + (f"\n{hint}" if hint else ""))
        self.error_label.show()

    def show_progress(self, *, scanned: int, total: int | None, running: bool, text: str) -> None:
        self.progress_row.show()
        if total:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(scanned, total))
        else:
            self.progress_bar.setRange(0, 0 if running else 1)
            self.progress_bar.setValue(0 if running else 1)
        self.status_label.setText(text)

    def hide_progress(self) -> None:
        self.progress_row.hide()


def search_summary(
    *, scanned: int, total: int | None, matched: int, running: bool, finished: bool
) -> str:
    found = f"{matched:,} match{'es' if matched != 1 else ''}"
    of = f" of {total:,}" if total is not None and not finished else ""
    if running:
        return f"Searching… {found} · {scanned:,}{of} scanned (Esc to stop)"
    if finished:
        return f"{found} in {scanned:,} message{'s' if scanned != 1 else ''}"
    return f"Stopped: {found} in the first {scanned:,}{of}; Load all (Ctrl+Shift+L) goes on"


def _utc(moment: QDateTime) -> datetime:
    seconds = moment.toSecsSinceEpoch()
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
