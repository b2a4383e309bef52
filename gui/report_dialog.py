"""The guided "Export incident report" dialog: window, endpoints, sections, redaction, notes,
format and file; the report is gathered on a worker thread while a progress bar moves."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventdesk.connectors.alerts import EventKind, TimelineEvent
from eventdesk.connectors.base import Connector
from eventdesk.connectors.errors import ConfigurationError, EventdeskError
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.report import (
    SECTIONS,
    EndpointRef,
    ReportRequest,
    gather_saved_report,
)
from eventdesk.connectors.report_redaction import PRESET_DESCRIPTIONS, Preset, rules_from
from eventdesk.connectors.report_render import SUFFIXES, ReportFormat, write_report
from PySide6.QtCore import QDateTime, Qt, QTimeZone, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .operations import AsyncOp, TaskOwner, current_loop
from .report_pdf import write_pdf

DEFAULT_WINDOW_S = 3600.0
SECTION_LABELS = {
    "summary": "Summary",
    "charts": "Lag and DLQ-depth charts",
    "failure_groups": "Failure groups",
    "samples": "Sample messages (redacted)",
    "actions": "Operator actions",
    "timeline": "Timeline",
    "notes": "Operator notes",
    "environment": "Environment",
}
FORMAT_LABELS = {
    ReportFormat.HTML: "HTML (one self-contained file)",
    ReportFormat.PDF: "PDF",
    ReportFormat.MARKDOWN: "Markdown",
    ReportFormat.JSON: "JSON (machine-readable)",
}

ConnectorFactory = Callable[[ConnectionProfile], Connector]


def default_window_start(events: Iterable[TimelineEvent], now: float) -> float:
    """The first alert in view, else an hour ago."""
    alerts = [e.at for e in events if e.kind == EventKind.ALERT and e.at <= now]
    return min(alerts) if alerts else now - DEFAULT_WINDOW_S


def _datetime_edit(at: float, parent: QWidget) -> QDateTimeEdit:
    edit = QDateTimeEdit(parent)
    edit.setTimeZone(QTimeZone.utc())
    edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss 'UTC'")
    edit.setCalendarPopup(True)
    edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(at), QTimeZone.utc()))
    return edit


class ReportDialog(QDialog, TaskOwner):
    """Collects what the report should hold, then gathers and writes it."""

    exported = Signal(object)  # Path of the written report
    failed = Signal(str)  # the error shown, with its hint

    def __init__(
        self,
        profiles: Sequence[ConnectionProfile],
        endpoints: Sequence[EndpointRef],
        *,
        events: Iterable[TimelineEvent] = (),
        selected: Iterable[EndpointRef] = (),
        connector_factory: ConnectorFactory = create_connector,
        failure_group: tuple[str, str] | None = None,
        now: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export incident report")
        # (signature, label): the report keeps only this failure group's dead letters.
        self._group = failure_group
        self._profiles = list(profiles)
        self._connector_factory = connector_factory
        now = time.time() if now is None else now
        self._build(default_window_start(events, now), now, endpoints, set(selected))

    # -- construction -----------------------------------------------------------------

    def _build(
        self, start: float, end: float, endpoints: Sequence[EndpointRef], selected: set
    ) -> None:
        self.start_edit = _datetime_edit(start, self)
        self.end_edit = _datetime_edit(end, self)
        window = QFormLayout()
        window.addRow("From", self.start_edit)
        window.addRow("To", self.end_edit)

        self.endpoint_list = QListWidget(self)
        for ref in endpoints:
            item = QListWidgetItem(str(ref), self.endpoint_list)
            item.setData(Qt.ItemDataRole.UserRole, ref)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            checked = not selected or ref in selected
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.endpoint_list.setToolTip(
            "Dead-letter queues to include; none checked means every one of every connection."
        )

        self.section_boxes = {name: QCheckBox(SECTION_LABELS[name], self) for name in SECTIONS}
        sections = QVBoxLayout()
        for box in self.section_boxes.values():
            box.setChecked(True)
            sections.addWidget(box)

        self.preset_boxes = {p: QCheckBox(PRESET_DESCRIPTIONS[p], self) for p in Preset}
        self.fields_edit = QPlainTextEdit(self)
        self.fields_edit.setPlaceholderText("JSON field paths, one a line: customer.email, **.iban")
        self.patterns_edit = QPlainTextEdit(self)
        self.patterns_edit.setPlaceholderText(r"Regular expressions, one a line: ORD-\d+")
        redaction = QVBoxLayout()
        for box in self.preset_boxes.values():
            box.setChecked(True)
            redaction.addWidget(box)
        redaction.addWidget(self.fields_edit)
        redaction.addWidget(self.patterns_edit)

        self.notes_edit = QPlainTextEdit(self)
        self.notes_edit.setPlaceholderText("What happened, the cause, what was done (optional)")

        self.format_combo = QComboBox(self)
        for fmt, label in FORMAT_LABELS.items():
            self.format_combo.addItem(label, fmt)
        self.path_edit = QLineEdit(self)
        self.path_edit.setText(str(Path.home() / f"incident-{_stamp(end)}.html"))
        self.browse_button = QPushButton("Choose…", self)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        output = QFormLayout()
        output.addRow("Format", self.format_combo)
        output.addRow("File", path_row)

        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setVisible(False)
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.export_button = QPushButton("&Export", self)
        self.export_button.setDefault(True)
        self.buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)

        columns = QHBoxLayout()
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(_group("Time window", window, self))
        left.addWidget(_group("Endpoints", _wrap(self.endpoint_list), self))
        left.addWidget(_group("Sections", sections, self))
        right.addWidget(_group("Redaction", redaction, self))
        right.addWidget(_group("Notes", _wrap(self.notes_edit), self))
        right.addWidget(_group("Output", output, self))
        columns.addLayout(left)
        columns.addLayout(right)
        layout = QVBoxLayout(self)
        self.group_label = QLabel(self)
        self.group_label.setWordWrap(True)
        if self._group is not None:
            self.group_label.setText(
                f"Only the dead letters of the failure group <b>{html.escape(self._group[1])}</b>;"
                " charts, actions and the timeline cover the whole window."
            )
        self.group_label.setVisible(self._group is not None)
        layout.addWidget(self.group_label)
        layout.addLayout(columns)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)

        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.format_combo.currentIndexChanged.connect(self._on_format_combo_changed)

    # -- what was asked for -----------------------------------------------------------

    def output_format(self) -> ReportFormat:
        return ReportFormat(self.format_combo.currentData())

    def set_output_format(self, fmt: ReportFormat) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(fmt))

    def chosen_endpoints(self) -> tuple[EndpointRef, ...]:
        items = (self.endpoint_list.item(i) for i in range(self.endpoint_list.count()))
        return tuple(
            item.data(Qt.ItemDataRole.UserRole)
            for item in items
            if item.checkState() == Qt.CheckState.Checked
        )

    def request(self) -> ReportRequest:
        """The report asked for; ConfigurationError (with a hint) for bad input."""
        return ReportRequest(
            start=self.start_edit.dateTime().toSecsSinceEpoch(),
            end=self.end_edit.dateTime().toSecsSinceEpoch(),
            endpoints=self.chosen_endpoints(),
            sections=tuple(name for name, box in self.section_boxes.items() if box.isChecked()),
            rules=rules_from(
                field_paths=self.fields_edit.toPlainText().splitlines(),
                patterns=self.patterns_edit.toPlainText().splitlines(),
                presets=[p for p, box in self.preset_boxes.items() if box.isChecked()],
            ),
            notes=self.notes_edit.toPlainText().strip(),
            title=f"Incident report: {self._group[1]}" if self._group else "Incident report",
            failure_groups=(self._group[0],) if self._group else (),
        )

    def output_path(self) -> Path:
        text = self.path_edit.text().strip()
        if not text:
            raise ConfigurationError("Choose a file to write the report to.")
        path = Path(text).expanduser()
        if not path.parent.is_dir():
            raise ConfigurationError(
                f"The folder {path.parent} does not exist.",
                hint="Choose a file in an existing folder.",
            )
        return path

    # -- exporting --------------------------------------------------------------------

    def export(self) -> asyncio.Task[Any] | None:
        """Validates the input, then gathers and writes the report in the background."""
        try:
            request, path, fmt = self.request(), self.output_path(), self.output_format()
        except EventdeskError as exc:
            self._show_error(exc)
            return None
        self._set_busy(True)
        self.status_label.setText("Gathering the report…")
        loop = current_loop()

        def progress(text: str, fraction: float) -> None:  # called on the worker thread
            loop.call_soon_threadsafe(self._show_progress, text, fraction)

        async def work() -> Path:
            report = await asyncio.to_thread(self._gather_in_thread, request, progress)
            if fmt is ReportFormat.PDF:
                # Qt's text layout belongs to the GUI thread.
                return write_pdf(report, path)
            return await asyncio.to_thread(write_report, report, fmt, path)

        return (
            AsyncOp(self, work)
            .success(self._on_export_succeeded)
            .failure(self._show_error)
            .finally_(lambda: self._set_busy(False))
            .latest_wins("export")
            .run()
        )

    def _gather_in_thread(self, request: ReportRequest, progress: Any) -> dict[str, Any]:
        # Its own event loop on a worker thread: SQLite reads, browsing and summarising
        # never hold up the window.
        return asyncio.run(
            gather_saved_report(
                request,
                profiles=self._profiles,
                progress=progress,
                connector_factory=self._connector_factory,
            )
        )

    def _show_progress(self, text: str, fraction: float) -> None:
        self.status_label.setText(text + "…")
        self.progress_bar.setValue(int(fraction * 100))

    def _on_export_succeeded(self, path: Path) -> None:
        self.progress_bar.setValue(100)
        self.status_label.setStyleSheet("")
        self.status_label.setText(f"Report written to {path}")
        self.exported.emit(path)

    def _show_error(self, exc: BaseException) -> None:
        text = str(exc) or type(exc).__name__
        hint = getattr(exc, "hint", "")
        shown = f"{text}\n{hint}" if hint else text
        self.status_label.setStyleSheet("color: #b00020;")
        self.status_label.setText(shown)
        self.failed.emit(shown)

    def _set_busy(self, busy: bool) -> None:
        self.export_button.setEnabled(not busy)
        self.progress_bar.setVisible(busy or self.progress_bar.value() > 0)
        if busy:
            self.progress_bar.setValue(0)
            self.status_label.setStyleSheet("")

    # -- handlers ---------------------------------------------------------------------

    def _on_export_button_clicked(self) -> None:
        self.export()

    def _on_browse_button_clicked(self) -> None:
        fmt = self.output_format()
        path, _ = QFileDialog.getSaveFileName(
            self, "Save incident report", self.path_edit.text(), f"*{SUFFIXES[fmt]}"
        )
        if path:
            self.path_edit.setText(path)

    def _on_format_combo_changed(self, _index: int) -> None:
        text = self.path_edit.text().strip()
        if text:
            self.path_edit.setText(str(Path(text).with_suffix(SUFFIXES[self.output_format()])))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_tasks()
        super().closeEvent(event)

    def reject(self) -> None:
        self.cancel_tasks()
        super().reject()


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y%m%d-%H%M")


def _group(title: str, layout: Any, parent: QWidget) -> QGroupBox:
    box = QGroupBox(title, parent)
    box.setLayout(layout)
    return box


def _wrap(widget: QWidget) -> QVBoxLayout:
    layout = QVBoxLayout()
    layout.addWidget(widget)
    return layout


__all__ = ["ReportDialog", "default_window_start"]
