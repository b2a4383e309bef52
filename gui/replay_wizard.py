"""The guided replay of selected dead letters: summary, target, options, preview, confirm, run."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence

from eventdesk.connectors.base import Browser, Connector
from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.jsonl import ImportedMessages
from eventdesk.connectors.model import BrokerKind, Endpoint, Message
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
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from .body_rendering import render_body
from .connection_tree_model import KIND_NAMES
from .display_format import human_size
from .operations import AsyncOp, TaskOwner, report_failure
from .theme import is_dark

PREVIEW_COUNT = 5
_PRODUCTION_STYLE = "QLabel { background: #d32f2f; color: white; font-weight: bold; padding: 6px; }"
# Readable on the light and on the dark palette.
_PROBLEM_COLOURS = {False: "#c62828", True: "#ff8a80"}
# How far back the progress page's rate looks: long enough to smooth out one batch's
# jitter, short enough to follow a broker that slows down.
RATE_WINDOW_S = 10.0
# A shorter span says little: a batch sent at once, then a paced pause, would read as a
# burst far above the rate limit.
RATE_MIN_SPAN_S = 0.5
# Combos show this many characters and elide the rest, so a long connection or endpoint
# name does not stretch the wizard past the screen.
_COMBO_CHARACTERS = 32

# Their connectors send key, headers and body only: Outgoing.options have nowhere to go.
_NO_PROPERTIES = frozenset({BrokerKind.KAFKA, BrokerKind.NATS})

# The wizard's way to a connection other than the source's: its connector, connected
# (connecting it first if need be), and its endpoints. Raises EventdeskError if it cannot.
ConnectTarget = Callable[[str], Awaitable[tuple[Connector, Sequence[Endpoint]]]]


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


class MovingRate:
    """Messages per second over the last `window` seconds of a run, and the ETA it gives.

    The engine's own rate averages over the whole run (a slow start or a canary's wait
    weighs forever); this one follows what the brokers do now. It is measured between
    progress reports, each at the end of a batch, so a paced run's pauses count.
    """

    def __init__(
        self,
        window: float = RATE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        *,
        min_span: float = RATE_MIN_SPAN_S,
    ) -> None:
        self._window = window
        self._min_span = min_span
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, handled: int) -> None:
        """Note that `handled` messages are done by now."""
        now = self._clock()
        self._samples.append((now, handled))
        # Keep one sample at least `window` old, so the span covers the whole window.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self._window:
            self._samples.popleft()

    def rate(self) -> float | None:
        """None until two samples are at least `min_span` seconds apart."""
        if len(self._samples) < 2:
            return None
        (first_at, first), (last_at, last) = self._samples[0], self._samples[-1]
        if last_at - first_at < self._min_span:
            return None
        return (last - first) / (last_at - first_at)

    def eta(self, remaining: int) -> float | None:
        """Seconds until `remaining` more are done at the current rate; None: unknown."""
        if remaining <= 0:
            return 0.0
        rate = self.rate()
        return remaining / rate if rate else None


def duration_text(seconds: float) -> str:
    """ "42 s", "3 min 05 s", "2 h 07 min": rounded up, as precise as an operator needs."""
    whole = math.ceil(max(seconds, 0.0))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def eta_text(seconds: float | None) -> str:
    """ "ETA 3 min 05 s"; "ETA: estimating…" while the rate is not known yet."""
    if seconds is None or math.isinf(seconds):
        return "ETA: estimating…"
    return f"ETA {duration_text(seconds)}"


def connection_note(others: Sequence[ConnectionProfile]) -> str:
    """Why the target page lists fewer connections than the window has (empty: it does not)."""
    read_only = [p.name for p in others if p.read_only]
    if not others:
        return "No other connection to replay into: add one with Connection ▸ New."
    if read_only:
        return (
            f"Not listed: {', '.join(read_only)} — read-only, so nothing can be written to "
            f"{'it' if len(read_only) == 1 else 'them'}."
        )
    return ""


def properties_line(options: object, source: BrokerKind, target: BrokerKind) -> str:
    """The preview's line for an Outgoing's options, saying what the target broker keeps."""
    if target is source:
        return f"  properties: {options}"
    if target in _NO_PROPERTIES:
        return f"  properties (not sent: {KIND_NAMES[target]} has none): {options}"
    return f"  properties (sent where {KIND_NAMES[target]} has them): {options}"


def connection_facts(profile: ConnectionProfile) -> str:
    """ "Kafka", or "Kafka · production": what an operator checks before writing to it."""
    return " · ".join(filter(None, (KIND_NAMES[profile.kind], profile.environment)))


def _problem_style(widget: QWidget) -> str:
    return f"color: {_PROBLEM_COLOURS[is_dark(widget.palette())]};"


def target_names(endpoints: Sequence[Endpoint], *, besides: str = "") -> list[str]:
    """Names to offer as a target: plain topics and queues first, dead-letter queues last.

    A JetStream stream is offered as its literal subjects (a publish goes to a subject).
    """
    ordered = sorted(endpoints, key=lambda e: (e.is_dead_letter, e.name.lower()))
    names = dict.fromkeys(name for e in ordered for name in e.replay_targets())
    return [name for name in names if name != besides]


def _narrow_combo(combo: QComboBox) -> None:
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(_COMBO_CHARACTERS)
    combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)


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
    """Original destinations, another endpoint here, or an endpoint of another connection."""

    def __init__(
        self,
        wizard: ReplayWizard,
        endpoint_names: Sequence[str],
        connections: Sequence[ConnectionProfile],
        connect: ConnectTarget | None,
    ) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self._connect = connect
        # The chosen other connection's connector, once connected; None meanwhile.
        self.target_connector: Connector | None = None
        self.setTitle("Target")
        self.setSubTitle("Where the replayed copies are sent.")
        destinations = ", ".join(
            f"{name} ({count})" for name, count in original_destinations(wizard.messages)
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
        _narrow_combo(self.endpoint_combo)
        self.other_radio.toggled.connect(self.endpoint_combo.setEnabled)
        self.other_radio.toggled.connect(self.completeChanged)
        self.endpoint_combo.currentTextChanged.connect(self.completeChanged)

        self.connection_radio = QRadioButton("Another &connection:", self)
        self.connection_combo = QComboBox(self)
        _narrow_combo(self.connection_combo)
        for profile in connections:
            label = f"{profile.name} ({connection_facts(profile)})"
            self.connection_combo.addItem(label, profile.name)
            self.connection_combo.setItemData(
                self.connection_combo.count() - 1, label, Qt.ItemDataRole.ToolTipRole
            )
        self.connection_endpoint_combo = QComboBox(self)
        self.connection_endpoint_combo.setEditable(True)
        self.connection_endpoint_combo.lineEdit().setPlaceholderText(
            "choose, or type a topic or queue name"
        )
        _narrow_combo(self.connection_endpoint_combo)
        self.connection_status_label = QLabel(self)
        self.connection_status_label.setWordWrap(True)
        self.connection_status_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.connection_note = QLabel(self)
        self.connection_note.setWordWrap(True)
        self.connection_note.setStyleSheet("font-style: italic;")
        self._set_connection_widgets_enabled(False)
        self.connection_radio.toggled.connect(self._on_connection_radio_toggled)
        self.connection_combo.currentIndexChanged.connect(
            self._on_connection_combo_current_index_changed
        )
        self.connection_combo.activated.connect(self._on_connection_combo_activated)
        self.connection_endpoint_combo.currentTextChanged.connect(self.completeChanged)

        self.connection_box = QWidget(self)
        connection_form = QFormLayout(self.connection_box)
        connection_form.setContentsMargins(24, 0, 0, 0)
        connection_form.addRow("Connection:", self.connection_combo)
        connection_form.addRow("Endpoint:", self.connection_endpoint_combo)
        connection_form.addRow(self.connection_status_label)
        endpoint_row = QHBoxLayout()
        endpoint_row.setContentsMargins(24, 0, 0, 0)
        endpoint_row.addWidget(self.endpoint_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.original_radio)
        layout.addWidget(self.other_radio)
        layout.addLayout(endpoint_row)
        layout.addWidget(self.connection_radio)
        layout.addWidget(self.connection_box)
        layout.addWidget(self.connection_note)
        layout.addStretch(1)

    def set_connection_note(self, text: str, *, available: bool) -> None:
        """Why some (or all) connections are missing from the list."""
        offered = self._connect is not None
        self.connection_note.setText(text)
        self.connection_note.setVisible(bool(text))
        self.connection_radio.setVisible(offered)
        self.connection_box.setVisible(offered)
        self.connection_radio.setEnabled(offered and available)

    # -- choices -------------------------------------------------------------------------

    def target(self) -> str | None:
        """None: each message's original destination."""
        if self.other_radio.isChecked():
            return self.endpoint_combo.currentText().strip() or None
        if self.connection_radio.isChecked():
            return self.connection_endpoint_combo.currentText().strip() or None
        return None

    def target_connection(self) -> str | None:
        """The chosen other connection's name; None: the source's own."""
        if self.connection_radio.isChecked():
            return self.connection_combo.currentData()
        return None

    def isComplete(self) -> bool:
        if self.other_radio.isChecked():
            return bool(self.endpoint_combo.currentText().strip())
        if self.connection_radio.isChecked():
            return self.target_connector is not None and bool(
                self.connection_endpoint_combo.currentText().strip()
            )
        return True

    # -- the other connection ------------------------------------------------------------

    def _set_connection_widgets_enabled(self, on: bool) -> None:
        self.connection_combo.setEnabled(on)
        self.connection_endpoint_combo.setEnabled(on and self.target_connector is not None)

    def _on_connection_radio_toggled(self, on: bool) -> None:
        self._set_connection_widgets_enabled(on)
        if on and self.target_connector is None and not self._wizard.is_running("target"):
            self._connect_chosen()
        self.completeChanged.emit()

    def _on_connection_combo_current_index_changed(self, _index: int) -> None:
        if self.connection_radio.isChecked():
            self._connect_chosen()

    def _on_connection_combo_activated(self, _index: int) -> None:
        # Picking the same connection again after a failure retries it.
        if self.target_connector is None and not self._wizard.is_running("target"):
            self._connect_chosen()

    def _connect_chosen(self) -> None:
        name = self.connection_combo.currentData()
        if name is None or self._connect is None:
            return
        connect = self._connect
        self.target_connector = None
        self.connection_endpoint_combo.clear()
        self.connection_endpoint_combo.setEnabled(False)
        self._show_status(f"Connecting to {name}…")
        AsyncOp(self._wizard, lambda: connect(name)).latest_wins("target").with_context(
            f"Connecting to {name} for the replay"
        ).success(lambda result: self._on_target_connected(name, *result)).failure(
            lambda exc: self._on_target_failed(name, exc)
        ).run()
        self.completeChanged.emit()

    def _on_target_connected(
        self, name: str, connector: Connector, endpoints: Sequence[Endpoint]
    ) -> None:
        if name != self.target_connection():
            return
        self.target_connector = connector
        names = target_names(endpoints)
        combo = self.connection_endpoint_combo
        combo.addItems(names)
        # The one original destination, where this connection has it too; else a choice.
        originals = [n for n, _ in original_destinations(self._wizard.messages)]
        same_name = next((n for n in originals[:1] if n in names), "")
        combo.setCurrentText(same_name)
        combo.setEnabled(self.connection_radio.isChecked())
        self._show_status(
            f"{len(names)} endpoint{'s' if len(names) != 1 else ''} listed; a name not listed is "
            "sent to as typed."
            + (f" {same_name} is chosen: the messages' original destination." if same_name else "")
        )
        self.completeChanged.emit()

    def _on_target_failed(self, name: str, exc: BaseException) -> None:
        if name != self.target_connection():
            return
        hint = exc.hint if isinstance(exc, EventdeskError) and exc.hint else ""
        reason = (str(exc) or type(exc).__name__).rstrip(".")
        self._show_status(
            f"Could not connect to {name}: {reason}."
            + (f" {hint}" if hint else "")
            + " Pick it again to retry.",
            problem=True,
        )
        if not isinstance(exc, EventdeskError):
            report_failure(self._wizard, exc, context=f"Connecting to {name} for the replay")
        self.completeChanged.emit()

    def _show_status(self, text: str, *, problem: bool = False) -> None:
        self.connection_status_label.setText(text)
        self.connection_status_label.setStyleSheet(_problem_style(self) if problem else "")


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
        self.setSubTitle(
            f"The first {PREVIEW_COUNT} messages exactly as they will be sent to "
            f"{self._wizard.target_description()}."
        )
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
        self.summary_label = QLabel(self)
        self.summary_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.production_label)
        layout.addWidget(self.summary_label)
        layout.addStretch(1)

    def initializePage(self) -> None:
        w = self._wizard
        self._show_production(w.profile, w.target_profile())
        source, target = w.profile.kind, w.target_profile().kind
        across = (
            f" Across brokers, {KIND_NAMES[source]} → {KIND_NAMES[target]}: message properties"
            f" {KIND_NAMES[target]} has no place for are not sent."
            if source is not target
            else ""
        )
        self.summary_label.setText(
            f"Replay {len(w.messages)} messages from {w.endpoint} on {w.profile.name} to "
            f"{w.target_description()}.{across} "
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

    def _show_production(self, source: ConnectionProfile, target: ConnectionProfile) -> None:
        if target.is_production:
            text = (
                f"PRODUCTION · {target.name}: these messages will be delivered to production "
                "consumers."
            )
        elif source.is_production:
            text = f"PRODUCTION · {source.name}: the dead letters are taken off its DLQ."
        else:
            text = ""
        self.production_label.setText(text)
        self.production_label.setVisible(bool(text))


class ProgressPage(QWizardPage):
    def __init__(self, wizard: ReplayWizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self.setTitle("Replaying")
        self.status_label = QLabel("Starting…", self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, len(wizard.messages))
        self.eta_label = QLabel(eta_text(None), self)
        self.cancel_button = QPushButton("&Stop after this batch", self)
        self.cancel_button.setToolTip("Stop between batches; nothing in flight is lost")
        self.cancel_button.clicked.connect(wizard.cancel_replay)
        self.result_edit = QPlainTextEdit(self)
        self.result_edit.setReadOnly(True)
        self.result_edit.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.eta_label)
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.result_edit, 1)
        # Takes the room while the result is hidden, none once it shows (it has no stretch).
        layout.addStretch(0)

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
        connections: Sequence[ConnectionProfile] = (),
        connect_target: ConnectTarget | None = None,
        edits: Edits | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """`connections`: every profile of the window, for a target on another connection
        (the source's own and read-only ones are left out); `connect_target` reaches one."""
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
        self._rate = MovingRate()
        self._started_at = 0.0
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
        others = [p for p in connections if p.name != profile.name]
        self._targets = {p.name: p for p in others if not p.read_only}
        self.target_page = TargetPage(
            self, endpoint_names, list(self._targets.values()), connect_target
        )
        self.target_page.set_connection_note(
            connection_note(others) if connect_target is not None else "",
            available=bool(self._targets),
        )
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

    def target_profile(self) -> ConnectionProfile:
        """The connection the copies go to: the chosen other one, else the source's."""
        return self._targets.get(self.target_page.target_connection() or "", self.profile)

    def target_description(self) -> str:
        """ "orders on Kafka", or the original destinations on the source connection."""
        target = self.target() or "the original destination of each message"
        return f"{target} on {self.target_profile().name}"

    def options(self) -> ReplayOptions:
        return self.options_page.options()

    def preview_text(self) -> str:
        items = preview(
            self.messages[:PREVIEW_COUNT],
            self.target(),
            options=self.options(),
            replay_id=self.action_id,
            edits=self.edits,
            connector=self.target_page.target_connector or self._connector,
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
                    lines.append(
                        properties_line(
                            dict(item.outgoing.options),
                            self.profile.kind,
                            self.target_profile().kind,
                        )
                    )
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
        target_connector = self.target_page.target_connector or self._connector
        target_connection = self.target_profile().name
        self.button(QWizard.WizardButton.CancelButton).setEnabled(False)
        self._started_at = time.monotonic()
        self._rate = MovingRate()
        self._task = (
            AsyncOp(
                self,
                lambda: replay(
                    self._connector,
                    self._browser,
                    self.messages,
                    target_connector,
                    target,
                    options=options,
                    journal=self._journal,
                    progress=self._on_engine_progress,
                    cancel=self._cancel,
                    source_connection=self.profile.name,
                    target_connection=target_connection,
                    action_id=self.action_id,
                    edits=self.edits,
                ),
            )
            .with_context(
                f"Replaying from {self.endpoint} on {self.profile.name} to "
                f"{self.target_description()}"
            )
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
        handled = progress.sent + progress.failed
        self._rate.add(handled)
        rate = self._rate.rate()
        page.progress_bar.setValue(handled)
        page.status_label.setText(
            f"{handled:,} of {progress.total:,} · {progress.sent:,} sent"
            f" · {progress.failed:,} failed · "
            + ("measuring the rate…" if rate is None else f"{rate:,.0f} msg/s")
            + (" · stopping after this batch" if self._cancel.is_set() else "")
        )
        page.eta_label.setText(eta_text(self._rate.eta(progress.total - handled)))

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
        # A clean run's detail ("300 of 300 done") only repeats the status line.
        if result.detail and not result.ok:
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
        self.progress_page.eta_label.setText(
            f"Took {duration_text(time.monotonic() - self._started_at)}"
        )
        self.progress_page.cancel_button.hide()
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
