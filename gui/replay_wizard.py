"""The guided replay of selected dead letters: summary, target, options, preview, confirm, run."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence

from eventdesk.connectors.base import Browser, Connector
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.jsonl import ImportedMessages
from eventdesk.connectors.model import Message
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.replay import (
    Edits,
    ReplayOptions,
    ReplayProgress,
    ReplayResult,
    default_target,
    preview,
    replay,
)
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from .body_rendering import render_body
from .display_format import human_size
from .operations import AsyncOp, TaskOwner, report_failure

PREVIEW_COUNT = 5
_PRODUCTION_STYLE = "QLabel { background: #d32f2f; color: white; font-weight: bold; padding: 6px; }"


def failure_groups(messages: Sequence[Message]) -> list[tuple[str, int]]:
    """(failure, count) for a summary, most frequent first: exception type, else reason."""
    counts = Counter(
        m.dead_letter.exception_type or m.dead_letter.reason or "(no failure recorded)"
        for m in messages
    )
    return counts.most_common()


def original_destinations(messages: Sequence[Message]) -> list[tuple[str, int]]:
    counts = Counter(default_target(m) or "(unknown)" for m in messages)
    return counts.most_common()


class SummaryPage(QWizardPage):
    def __init__(self, messages: Sequence[Message], endpoint: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.setTitle(f"Replay {len(messages)} message{'s' if len(messages) != 1 else ''}")
        self.setSubTitle(f"From {endpoint}")
        size = sum(m.size for m in messages)
        groups = "".join(f"<li>{count} × {name}</li>" for name, count in failure_groups(messages))
        self.summary_label = QLabel(
            f"<b>{len(messages)}</b> messages, <b>{human_size(size)}</b>.<br>"
            f"Failure groups:<ul>{groups}</ul>",
            self,
        )
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setWordWrap(True)
        QVBoxLayout(self).addWidget(self.summary_label)


class TargetPage(QWizardPage):
    def __init__(
        self, messages: Sequence[Message], endpoint_names: Sequence[str], parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.setTitle("Target")
        self.setSubTitle("Where the replayed copies are sent.")
        destinations = ", ".join(
            f"{name} ({count})" for name, count in original_destinations(messages)
        )
        self.original_radio = QRadioButton(
            f"&Original destination of each message: {destinations}", self
        )
        self.other_radio = QRadioButton("&Another endpoint on this connection:", self)
        self.original_radio.setChecked(True)
        self.endpoint_combo = QComboBox(self)
        self.endpoint_combo.setEditable(True)
        self.endpoint_combo.addItems(list(endpoint_names))
        self.endpoint_combo.setCurrentText("")
        self.endpoint_combo.setEnabled(False)
        self.other_radio.toggled.connect(self.endpoint_combo.setEnabled)
        self.other_radio.toggled.connect(self.completeChanged)
        self.endpoint_combo.currentTextChanged.connect(self.completeChanged)
        layout = QVBoxLayout(self)
        layout.addWidget(self.original_radio)
        layout.addWidget(self.other_radio)
        layout.addWidget(self.endpoint_combo)
        layout.addStretch(1)

    def target(self) -> str | None:
        """None: each message's original destination."""
        if self.other_radio.isChecked():
            return self.endpoint_combo.currentText().strip() or None
        return None

    def isComplete(self) -> bool:
        return not self.other_radio.isChecked() or bool(self.endpoint_combo.currentText().strip())


class OptionsPage(QWizardPage):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setTitle("Options")
        self.strip_check = QCheckBox("&Strip dead-letter headers", self)
        self.strip_check.setToolTip("Send the copies as if they were first deliveries")
        self.replay_headers_check = QCheckBox(
            "Add &replay headers (replay id, original id as idempotency key, replay count)", self
        )
        self.replay_headers_check.setChecked(True)
        self.max_replays_spin = QSpinBox(self)
        self.max_replays_spin.setRange(0, 1000)
        self.max_replays_spin.setValue(3)
        self.max_replays_spin.setSpecialValueText("no limit")
        self.max_replays_spin.setToolTip("Refuse messages already replayed this many times")
        self.rate_spin = QDoubleSpinBox(self)
        self.rate_spin.setRange(0, 100000)
        self.rate_spin.setDecimals(1)
        self.rate_spin.setSpecialValueText("as fast as the broker confirms")
        self.rate_spin.setSuffix(" msg/s")
        form = QFormLayout(self)
        form.addRow(self.strip_check)
        form.addRow(self.replay_headers_check)
        form.addRow("Loop guard, &max replays:", self.max_replays_spin)
        form.addRow("Rate &limit:", self.rate_spin)

    def options(self) -> ReplayOptions:
        return ReplayOptions(
            strip_dead_letter_headers=self.strip_check.isChecked(),
            add_replay_headers=self.replay_headers_check.isChecked(),
            max_replays=self.max_replays_spin.value() or None,
            rate=self.rate_spin.value() or None,
        )


class PreviewPage(QWizardPage):
    def __init__(self, wizard: ReplayWizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self.setTitle("Preview")
        self.setSubTitle(f"The first {PREVIEW_COUNT} messages exactly as they will be sent.")
        self.preview_edit = QPlainTextEdit(self)
        self.preview_edit.setReadOnly(True)
        self.preview_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        QVBoxLayout(self).addWidget(self.preview_edit)

    def initializePage(self) -> None:
        self.preview_edit.setPlainText(self._wizard.preview_text())


class ConfirmPage(QWizardPage):
    def __init__(self, wizard: ReplayWizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self.setTitle("Confirm")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Replay")
        self.production_label = QLabel(self)
        self.production_label.setStyleSheet(_PRODUCTION_STYLE)
        self.production_label.setWordWrap(True)
        self.production_label.setVisible(wizard.profile.is_production)
        self.production_label.setText(
            f"PRODUCTION · {wizard.profile.name}: these messages will be delivered to "
            "production consumers."
        )
        self.summary_label = QLabel(self)
        self.summary_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.production_label)
        layout.addWidget(self.summary_label)
        layout.addStretch(1)

    def initializePage(self) -> None:
        w = self._wizard
        target = w.target() or "the original destination of each message"
        self.summary_label.setText(
            f"Replay {len(w.messages)} messages from {w.endpoint} on {w.profile.name} to "
            f"{target}. "
            + (
                "The file is left as it is: an import removes nothing."
                if isinstance(w._browser, ImportedMessages)
                else f"Each dead letter is removed from {w.endpoint} only after the broker "
                "confirmed its copy."
            )
            + (
                f" Edited copies: {len(w.edits)}; the journal keeps each original's hash "
                "and the edited body."
                if w.edits
                else ""
            )
        )


class ProgressPage(QWizardPage):
    def __init__(self, wizard: ReplayWizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self.setTitle("Replaying")
        self.status_label = QLabel("Starting…", self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, len(wizard.messages))
        self.cancel_button = QPushButton("&Stop after this batch", self)
        self.cancel_button.setToolTip("Stop between batches; nothing in flight is lost")
        self.cancel_button.clicked.connect(wizard.cancel_replay)
        self.result_edit = QPlainTextEdit(self)
        self.result_edit.setReadOnly(True)
        self.result_edit.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.result_edit, 1)

    def initializePage(self) -> None:
        self._wizard.start_replay()

    def isComplete(self) -> bool:
        return self._wizard.result is not None or self._wizard.run_failed


class ReplayWizard(QWizard, TaskOwner):
    """Replays `messages`, held by `browser` (the one the table shows), through the engine."""

    finished_replay = Signal(object)  # ReplayResult, or None when the run raised

    SUMMARY, TARGET, OPTIONS, PREVIEW, CONFIRM, PROGRESS = range(6)

    def __init__(
        self,
        messages: Sequence[Message],
        *,
        endpoint: str,
        profile: ConnectionProfile,
        connector: Connector,
        browser: Browser,
        journal: Journal,
        endpoint_names: Sequence[str] = (),
        edits: Edits | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.messages = list(messages)
        # Sent instead of these dead letters' bodies and headers (message editor, bulk fix).
        self.edits = dict(edits or {})
        self.endpoint = endpoint
        self.profile = profile
        self._connector = connector
        self._browser = browser
        self._journal = journal
        # Chosen now so the preview shows the very replay id the copies will carry.
        self.action_id = str(uuid.uuid4())
        self.result: ReplayResult | None = None
        self.run_failed = False
        self._cancel = asyncio.Event()
        self._task: asyncio.Task[object] | None = None
        self.setWindowTitle(f"Replay from {endpoint}")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.HaveCustomButton1, True)
        self.setButtonText(QWizard.WizardButton.CustomButton1, "Replay &now")
        self.button(QWizard.WizardButton.CustomButton1).setToolTip(
            "Skip to the confirmation with the original destinations and default options"
        )
        self.customButtonClicked.connect(self._on_custom_button_clicked)
        self.currentIdChanged.connect(self._on_current_id_changed)

        self.summary_page = SummaryPage(self.messages, endpoint, self)
        if self.edits:
            self.summary_page.setTitle(
                f"Replay {len(self.messages)} message{'s' if len(self.messages) != 1 else ''}"
                f", {len(self.edits)} edited"
            )
        self.target_page = TargetPage(self.messages, endpoint_names, self)
        self.options_page = OptionsPage(self)
        self.preview_page = PreviewPage(self)
        self.confirm_page = ConfirmPage(self)
        self.progress_page = ProgressPage(self)
        for page_id, page in enumerate(
            (
                self.summary_page,
                self.target_page,
                self.options_page,
                self.preview_page,
                self.confirm_page,
                self.progress_page,
            )
        ):
            self.setPage(page_id, page)
        self.setStartId(self.SUMMARY)
        self.resize(760, 560)

    # -- choices ------------------------------------------------------------------------

    def target(self) -> str | None:
        return self.target_page.target()

    def options(self) -> ReplayOptions:
        return self.options_page.options()

    def preview_text(self) -> str:
        items = preview(
            self.messages[:PREVIEW_COUNT],
            self.target(),
            options=self.options(),
            replay_id=self.action_id,
            edits=self.edits,
        )
        blocks = []
        for number, item in enumerate(items, 1):
            edited = " (edited)" if item.message.id in self.edits else ""
            lines = [
                f"#{number}  {item.message.id}{edited}",
                f"  target: {item.target or '(none)'}",
            ]
            if item.outgoing is None:
                lines.append(f"  NOT SENT: {item.refused}")
            else:
                lines.append("  headers:")
                lines += [f"    {name}: {value!r}" for name, value in item.outgoing.headers]
                if item.outgoing.options:
                    lines.append(f"  properties: {dict(item.outgoing.options)}")
                body = render_body(item.outgoing.body)
                lines.append(f"  body ({body.kind.value}, {human_size(len(item.outgoing.body))}):")
                lines += ["    " + line for line in body.text[:4000].splitlines()]
            blocks.append("\n".join(lines))
        more = len(self.messages) - len(items)
        if more > 0:
            blocks.append(f"… and {more} more, sent the same way.")
        return "\n\n".join(blocks)

    def _on_custom_button_clicked(self, which: int) -> None:
        if which == QWizard.WizardButton.CustomButton1.value:
            self.jump_to_confirm()

    def jump_to_confirm(self) -> None:
        """The fast path: defaults as they stand, straight to the confirmation."""
        while self.currentId() < self.CONFIRM:
            before = self.currentId()
            self.next()
            if self.currentId() == before:  # a page refused (e.g. no target typed)
                return

    def _on_current_id_changed(self, page_id: int) -> None:
        self.button(QWizard.WizardButton.CustomButton1).setVisible(page_id < self.CONFIRM)

    # -- running ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start_replay(self) -> None:
        if self._task is not None:
            return
        options = self.options()
        target = self.target()
        self.button(QWizard.WizardButton.CancelButton).setEnabled(False)
        self._task = (
            AsyncOp(
                self,
                lambda: replay(
                    self._connector,
                    self._browser,
                    self.messages,
                    self._connector,
                    target,
                    options=options,
                    journal=self._journal,
                    progress=self._on_engine_progress,
                    cancel=self._cancel,
                    source_connection=self.profile.name,
                    target_connection=self.profile.name,
                    action_id=self.action_id,
                    edits=self.edits,
                ),
            )
            .with_context(f"Replaying from {self.endpoint} on {self.profile.name}")
            .success(self._on_replay_done)
            .failure(self._on_replay_failed)
            .run()
        )

    def cancel_replay(self) -> None:
        self._cancel.set()
        self.progress_page.cancel_button.setEnabled(False)
        self.progress_page.status_label.setText("Stopping after the batch in flight…")

    def _on_engine_progress(self, progress: ReplayProgress) -> None:
        page = self.progress_page
        page.progress_bar.setValue(progress.sent + progress.failed)
        page.status_label.setText(
            f"{progress.sent + progress.failed:,} of {progress.total:,} · {progress.sent:,} sent"
            f" · {progress.failed:,} failed · {progress.rate:,.0f} msg/s"
        )

    def _on_replay_done(self, result: ReplayResult) -> None:
        self.result = result
        page = self.progress_page
        page.setTitle("Replay finished" if result.ok else f"Replay {result.status}")
        page.progress_bar.setValue(len(result.outcomes))
        page.status_label.setText(
            f"{result.succeeded} sent, {result.failed} failed of {result.total} "
            f"({result.status}). Journal action {result.action_id}"
        )
        page.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        failures = [f"{o.source_id}: {o.detail}" for o in result.outcomes if not o.ok]
        if result.detail:
            failures.insert(0, result.detail)
        page.result_edit.setPlainText("\n".join(failures))
        page.result_edit.setVisible(bool(failures))
        self._finish_run()
        self.finished_replay.emit(result)

    def _on_replay_failed(self, exc: BaseException) -> None:
        self.run_failed = True
        self.progress_page.status_label.setText(
            f"The replay stopped: {exc}. Journal action {self.action_id}; nothing unconfirmed "
            "was removed."
        )
        self._finish_run()
        report_failure(self, exc, context=f"Replaying from {self.endpoint}")
        self.finished_replay.emit(None)

    def _finish_run(self) -> None:
        self.progress_page.cancel_button.setEnabled(False)
        self.button(QWizard.WizardButton.CancelButton).setEnabled(True)
        self.progress_page.completeChanged.emit()

    def reject(self) -> None:
        # Closing mid-run would cancel the task in the middle of a batch: stop cleanly instead.
        if self.running:
            self.cancel_replay()
            return
        super().reject()

    def done(self, result: int) -> None:
        if self.running:
            self.cancel_replay()
            return
        super().done(result)
