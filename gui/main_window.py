"""The main window: connections on the left, one endpoint's messages and a message on the right."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

from eventdesk.connectors.base import Connector
from eventdesk.connectors.errors import (
    CONNECTION_ERRORS,
    AuthenticationFailed,
    BrokerUnreachable,
    ConfigurationError,
    EventdeskError,
)
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.model import BrokerKind, Endpoint, Message
from eventdesk.connectors.profiles import ConnectionProfile, environment_colour, save_profiles
from eventdesk.connectors.purge import PurgeResult, can_delete_handled, can_purge, purge
from eventdesk.connectors.replay import Edits, ReplayResult, discard, resume
from eventdesk.connectors.report import EndpointRef
from eventdesk.connectors.sampling import ConnectorFactory
from eventdesk.connectors.secrets import SecretStore
from eventdesk.connectors.sqs import SqsConnector
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .about_dialog import AboutDialog
from .actions import make_action
from .bulk_fix_dialog import BulkFixDialog
from .connection_dialog import ConnectionDialog
from .connection_tree import NO_CONNECTIONS_TEXT, ConnectionTreeWidget
from .connection_tree_model import KIND_NAMES, ConnectionState, ConnectionTreeModel, Roles
from .discard_dialog import DiscardDialog, PurgeDialog
from .endpoint_decoding_dialog import RegistryFactory, registry_factory
from .error_log_widget import ErrorLogWidget
from .error_presenter import ErrorPresenter
from .history_view import HistoryView
from .icons import action_icon
from .message_browser_widget import MessageBrowserWidget, count_summary
from .message_detail import NO_MESSAGE_TEXT, MessageDetailWidget
from .message_editor_dialog import MessageEditorDialog
from .message_files import MessageFileActions
from .monitor_view import MonitorView
from .nats_capture_dialog import NatsCaptureDialog
from .operations import AsyncOp, TaskOwner, current_loop
from .replay_wizard import ReplayWizard, target_names
from .report_dialog import ReportDialog
from .shortcuts_dialog import ShortcutsDialog
from .sqs_move_dialog import SqsMoveDialog
from .status_progress import StatusProgressWidget
from .tray import TrayNotifier
from .window_state import WindowStateStore

log = logging.getLogger(__name__)

T = TypeVar("T")

PICK_ENDPOINT_TEXT = "Pick a dead-letter queue on the left to see its messages."
EMPTY_ENDPOINT_TEXT = (
    "{endpoint} is empty: nothing has failed into it.\n\nNew dead letters show in its count"
    " on the left (refreshed every 10 s and on F5); pick another queue meanwhile."
)
# Closing must not hang on a dead broker; whatever is still held after this, the broker
# takes back when the connection drops with the process.
CLOSE_TIMEOUT_S = 8.0
_STATUS_NAME_LIMIT = 24
_STATE_DOT_COLORS = {
    ConnectionState.CONNECTING: "#9e9e9e",
    ConnectionState.CONNECTED: "#2e9d4f",
    ConnectionState.ERROR: "#d32f2f",
}

# How often the tree's depths are re-read from connected brokers.
DEPTH_REFRESH_MS = 10_000

# Asked for a secret the profile does not point at: (profile, field) -> value or None.
SecretPrompt = Callable[[ConnectionProfile, str], str | None]


class MainWindow(QMainWindow, TaskOwner):
    def __init__(
        self,
        profiles: Iterable[ConnectionProfile] = (),
        *,
        session_profiles: Iterable[ConnectionProfile] = (),
        secret_prompt: SecretPrompt | None = None,
        profiles_path: Path | None = None,
        secrets: SecretStore | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Eventdesk")
        self.resize(1400, 850)
        self._profiles: dict[str, ConnectionProfile] = {}
        self._connectors: dict[str, Connector] = {}
        # What each connection last failed with, for the replay wizard's target page.
        self._connect_errors: dict[str, BaseException] = {}
        # Secrets the operator typed this session; never written anywhere.
        self._typed_secrets: dict[tuple[str, str], str] = {}
        # Where remembered secrets live: the OS keyring, or memory when there is none.
        self.secrets = secrets if secrets is not None else SecretStore()
        self._secret_prompt = secret_prompt or self._ask_secret
        self._profiles_path = profiles_path
        self._open: tuple[str, str] | None = None
        # Endpoints to open again once their connection is back (connection -> endpoint).
        self._reopen: dict[str, str] = {}
        self._started = False
        self.window_state = WindowStateStore()
        self._background: set[asyncio.Task[None]] = set()
        self._shutdown: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        # Opened on the first replay or discard; None until then.
        self._journal: Journal | None = None
        self.replay_wizard: ReplayWizard | None = None
        self.message_editor: MessageEditorDialog | None = None
        self.bulk_fix_dialog: BulkFixDialog | None = None
        self.discard_dialog: DiscardDialog | None = None
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.about_dialog: AboutDialog | None = None
        self.resume_box: QMessageBox | None = None
        self.purge_dialog: PurgeDialog | None = None
        self.move_dialog: SqsMoveDialog | None = None

        self.error_presenter = ErrorPresenter(self)
        self.progress_sink = StatusProgressWidget(self)

        self.tree_model = ConnectionTreeModel(self)
        self.tree = ConnectionTreeWidget(self.tree_model, self)
        self.browser = MessageBrowserWidget(self)
        self.detail = MessageDetailWidget(self)
        # Search's valid/invalid filter checks against the schemas the detail pane maps.
        self.browser.body_decoding = self.detail.body_decoding
        self.message_files = MessageFileActions(self)
        self.monitor = MonitorView(self.connector_factories, parent=self)
        self.history = HistoryView(self.journal, self)
        self.history.resume_requested.connect(self._on_history_resume_requested)
        self.history.unfinished_changed.connect(self._on_history_unfinished_changed)

        self._build_actions()
        self._build_layout()
        self._build_menus()
        self._build_status_bar()

        self.tree.endpoint_selected.connect(self._on_tree_endpoint_selected)
        self.browser.message_selected.connect(self._on_browser_message_selected)
        self.browser.model.counts_changed.connect(self._on_browser_counts_changed)
        self.browser.model.fetch_failed.connect(self._on_browser_fetch_failed)
        self.browser.selection_changed.connect(self._update_message_actions)
        self.detail.edit_requested.connect(self.open_message_editor)
        self.error_presenter.status_message.connect(self._on_presenter_status_message)

        # Monitoring: alerts notify the desktop and mark the tree; rules from its menu.
        self.tray = TrayNotifier(self)
        self.monitor.alert_raised.connect(self.tray.notify_event)
        self.monitor.report_requested.connect(
            lambda charted: self.open_report_dialog(selected=[EndpointRef(*c) for c in charted])
        )
        self.browser.failure_groups.report_requested.connect(
            lambda group: self.open_report_dialog(failure_group=group)
        )
        self.monitor.endpoint_marks_changed.connect(self.tree_model.set_endpoint_marks)
        self.alert_rules_action = make_action(
            self,
            "Alert rules…",
            "Alert thresholds for this endpoint",
            on_triggered=self._on_alert_rules_action_triggered,
        )
        self.tree.add_context_actions([self.alert_rules_action])

        # Depths change while the operator watches: re-list connected brokers now and then,
        # quietly (no progress, no reconnect; F5 does that).
        self._depth_timer = QTimer(self)
        self._depth_timer.setInterval(DEPTH_REFRESH_MS)
        self._depth_timer.timeout.connect(self._on_depth_timer_timeout)
        # Shown and connected, never saved: e.g. the demo's endpoint, whose port is gone
        # after this run.
        self._session_only: set[str] = set()
        for profile in session_profiles:
            self._session_only.add(profile.name)
            self._add_profile(profile)
        for profile in profiles:
            self._add_profile(profile)
        self._update_empty_state()
        self._update_message_actions()

    # -- construction -----------------------------------------------------------------

    def _build_actions(self) -> None:
        self.new_connection_action = make_action(
            self,
            "New connection…",
            "Add a Kafka, RabbitMQ or SQS connection",
            shortcut="Ctrl+N",
            icon=action_icon("new-connection"),
            on_triggered=self._on_new_connection_triggered,
        )
        self.refresh_action = make_action(
            self,
            "Refresh",
            "Reload endpoints and depths; reconnect connections that failed",
            shortcut="F5",
            icon=action_icon("refresh"),
            on_triggered=self.refresh,
        )
        self.quit_action = make_action(
            self,
            "Quit",
            "Give back held messages, close connections and quit",
            shortcut="Ctrl+Q",
            on_triggered=self.close,
        )
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.replay_action = make_action(
            self,
            "Replay…",
            "Send the selected messages again, to their original destination by default",
            shortcut="Ctrl+R",
            icon=action_icon("replay"),
            on_triggered=self._on_replay_triggered,
        )
        self.discard_action = make_action(
            self,
            "Discard…",
            "Remove the selected messages for good, journaled",
            shortcut="Delete",
            icon=action_icon("discard"),
            on_triggered=self._on_discard_triggered,
        )
        self.purge_action = make_action(
            self,
            "Purge…",
            "Remove every message of the open queue or topic, after typing its name",
            shortcut="Ctrl+Shift+Delete",
            on_triggered=self._on_purge_triggered,
        )
        self.move_back_action = make_action(
            self,
            "Move all back (SQS)…",
            "Have SQS move every message of this DLQ back to where it failed"
            " (StartMessageMoveTask)",
            on_triggered=self._on_move_back_triggered,
        )
        self.browser.add_context_actions([self.replay_action, self.discard_action])
        self.edit_action = make_action(
            self,
            "Edit…",
            "Edit the selected message, then replay the edited copy",
            shortcut="F2",
            on_triggered=self._on_edit_triggered,
        )
        self.bulk_fix_action = make_action(
            self,
            "Bulk fix…",
            "Apply one JSON Patch to every selected message, check each, replay the fixed",
            shortcut="Ctrl+B",
            on_triggered=self._on_bulk_fix_triggered,
        )
        self.browser.add_context_actions([self.edit_action, self.bulk_fix_action])
        self.browser.add_context_actions([self.detail.decoding_action])
        self.dead_letters_only_action = make_action(
            self, "Dead-letter queues only", "Hide endpoints that are not dead-letter queues"
        )
        self.dead_letters_only_action.setCheckable(True)
        # Its tooltip does not name the key, so the shortcut is set here, not by make_action.
        self.dead_letters_only_action.setShortcut(QKeySequence("Ctrl+D"))
        self.dead_letters_only_action.toggled.connect(self.tree.set_dead_letters_only)
        self.tree.dead_letters_only_changed.connect(self._on_tree_dead_letters_only_changed)
        self.tree.add_actions([self.refresh_action])
        self.nats_capture_action = make_action(
            self,
            "NATS dead-letter capture…",
            "Choose or create the stream that keeps a NATS connection's dead letters",
            on_triggered=self._on_nats_capture_triggered,
        )
        self.tree.add_context_actions([self.nats_capture_action])
        self.tree.context_menu_requested.connect(self._on_tree_context_menu_requested)
        self.nats_capture_dialog: NatsCaptureDialog | None = None
        self.monitor_action = make_action(
            self,
            "Monitor",
            "Show live consumer lag, DLQ depth and health",
            shortcut="Ctrl+M",
            on_triggered=self.show_monitor,
        )
        self.history_action = make_action(
            self,
            "History",
            "Every replay and discard, its messages, and resume of interrupted ones",
            shortcut="Ctrl+H",
            on_triggered=self.show_history,
        )
        self.report_action = make_action(
            self,
            "Export incident report…",
            "Summary, charts, failure groups, actions and timeline of a time window, "
            "as HTML, PDF, Markdown or JSON",
            shortcut="Ctrl+Shift+E",
            on_triggered=lambda: self.open_report_dialog(),
        )
        self.shortcuts_action = make_action(
            self,
            "Keyboard shortcuts",
            "List every keyboard shortcut",
            shortcut="F1",
            on_triggered=self.show_shortcuts,
        )
        self.about_action = make_action(
            self,
            "About Eventdesk",
            "Version, Qt and PySide versions, licence",
            on_triggered=self.show_about,
        )
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _build_layout(self) -> None:
        self.content_empty = QLabel(PICK_ENDPOINT_TEXT, self)
        self.content_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.content_empty.setWordWrap(True)
        self.content_empty.setEnabled(False)
        font = self.content_empty.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.content_empty.setFont(font)

        self.right_splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.right_splitter.setObjectName("message-splitter")  # named: its sizes are kept
        self.right_splitter.addWidget(self.browser)
        self.right_splitter.addWidget(self.detail)
        self.right_splitter.setStretchFactor(0, 3)
        self.right_splitter.setStretchFactor(1, 2)
        self.right_splitter.setChildrenCollapsible(False)

        self.content_stack = QStackedWidget(self)
        self.content_stack.addWidget(self.content_empty)
        self.content_stack.addWidget(self.right_splitter)

        # Above the message view, so no action on a production endpoint is taken unaware.
        self.environment_banner = QLabel(self)
        self.environment_banner.setObjectName("environment-banner")
        self.environment_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.environment_banner.setMargin(4)
        self.environment_banner.hide()
        content = QWidget(self)
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(0)
        content_layout.addWidget(self.environment_banner)
        content_layout.addWidget(self.content_stack, 1)

        self.content_tabs = QTabWidget(self)
        self.content_tabs.setDocumentMode(True)
        self.content_tabs.addTab(content, "Messages")
        self.content_tabs.addTab(self.monitor, "Monitor")
        self.content_tabs.addTab(self.history, "History")
        self.content_tabs.currentChanged.connect(self._on_content_tabs_current_changed)

        self.main_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.main_splitter.setObjectName("main-splitter")  # named: its sizes are kept
        self.main_splitter.addWidget(self.tree)
        self.main_splitter.addWidget(self.content_tabs)
        self.main_splitter.setStretchFactor(0, 0)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setSizes([430, 970])
        self.main_splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.main_splitter)
        self.right_splitter.setSizes([470, 330])

        self.error_log = ErrorLogWidget(self.error_presenter, self)
        self.errors_dock = QDockWidget("Errors", self)
        self.errors_dock.setObjectName("errors-dock")
        self.errors_dock.setWidget(self.error_log)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.errors_dock)
        self.errors_dock.hide()
        self.errors_dock.visibilityChanged.connect(self._on_errors_dock_visibility_changed)
        self._errors_dock_sized = False

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addAction(self.new_connection_action)
        toolbar.addAction(self.refresh_action)
        toolbar.addSeparator()
        toolbar.addAction(self.browser.load_more_action)
        toolbar.addAction(self.browser.load_all_action)
        toolbar.addAction(self.browser.stop_action)
        toolbar.addSeparator()
        toolbar.addAction(self.replay_action)
        toolbar.addAction(self.discard_action)

    def _build_menus(self) -> None:
        menus = self.menuBar()
        connection = menus.addMenu("&Connection")
        connection.addAction(self.new_connection_action)
        connection.addAction(self.refresh_action)
        connection.addAction(self.nats_capture_action)
        connection.addSeparator()
        connection.addAction(self.quit_action)
        messages = menus.addMenu("&Messages")
        messages.addAction(self.browser.load_more_action)
        messages.addAction(self.browser.load_all_action)
        messages.addAction(self.browser.stop_action)
        messages.addSeparator()
        messages.addAction(self.replay_action)
        messages.addAction(self.discard_action)
        messages.addAction(self.edit_action)
        messages.addAction(self.bulk_fix_action)
        messages.addAction(self.detail.decoding_action)
        messages.addAction(self.purge_action)
        messages.addAction(self.move_back_action)
        messages.addSeparator()
        messages.addAction(self.browser.search_action)
        messages.addAction(self.message_files.export_action)
        messages.addAction(self.message_files.import_action)
        view = menus.addMenu("&View")
        view.addAction(self.dead_letters_only_action)
        view.addAction(self.browser.failure_groups_action)
        errors = self.errors_dock.toggleViewAction()
        errors.setShortcut(QKeySequence("Ctrl+E"))
        errors.setToolTip("Show or hide the Errors log (Ctrl+E)")
        view.addAction(errors)
        view.addAction(self.monitor_action)
        view.addAction(self.history_action)
        view.addSeparator()
        view.addAction(self.report_action)
        self.help_menu = menus.addMenu("&Help")
        self.help_menu.addAction(self.shortcuts_action)
        self.help_menu.addAction(self.about_action)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.connections_label = QLabel(self)
        self.connections_label.setTextFormat(Qt.TextFormat.RichText)
        self.rows_label = QLabel(self)
        self.errors_button = QToolButton(self)
        self.errors_button.setAutoRaise(True)
        self.errors_button.setToolTip("Show the Errors log (Ctrl+E)")
        self.errors_button.clicked.connect(self._on_errors_button_clicked)
        self.errors_button.hide()
        self.error_log.count_changed.connect(self._on_error_log_count_changed)
        status.addPermanentWidget(self.progress_sink)
        status.addPermanentWidget(self.rows_label)
        status.addPermanentWidget(self.connections_label)
        status.addPermanentWidget(self.errors_button)
        self.memory_secrets_label = QLabel("Secrets: memory only", self)
        self.memory_secrets_label.setStyleSheet("color: #b26a00;")
        self.memory_secrets_label.hide()
        status.addPermanentWidget(self.memory_secrets_label)

    # -- connections ------------------------------------------------------------------

    @property
    def profiles(self) -> list[ConnectionProfile]:
        return list(self._profiles.values())

    def connector(self, name: str) -> Connector | None:
        return self._connectors.get(name)

    def _add_profile(self, profile: ConnectionProfile) -> None:
        if profile.name in self._profiles:
            log.warning("Ignoring a second connection named %r", profile.name)
            return
        self._profiles[profile.name] = profile
        self.tree_model.add_connection(profile)
        self._update_connection_status()
        self.monitor.set_connections_changed()

    def connector_factories(self) -> dict[str, ConnectorFactory]:
        """One factory per connection, for the Monitor's sampler (which opens its own links).

        Secrets are those known already (environment, keyring, typed this session): a
        sampler round must never open a prompt.
        """

        def factory(profile: ConnectionProfile) -> ConnectorFactory:
            return lambda: create_connector(profile, prompt=self._known_secret)

        return {name: factory(profile) for name, profile in self._profiles.items()}

    def _known_secret(self, profile: ConnectionProfile, field: str) -> str | None:
        value = self._typed_secrets.get((profile.name, field))
        if value is None:
            value = self.secrets.get(profile.name, field)
        if value is None:
            raise ConfigurationError(
                f"No {field} is known for {profile.name} yet.",
                hint="Connect it once (F5) to give it; the Monitor then uses it.",
            )
        return value

    def _on_alert_rules_action_triggered(self) -> None:
        index = self.tree.view.currentIndex()
        connection = (index.data(Roles.CONNECTION) if index.isValid() else None) or ""
        endpoint = index.siblingAtColumn(0).data(Roles.ENDPOINT) if index.isValid() else None
        self.show_monitor()
        self.monitor.open_alert_rules(connection, endpoint.name if endpoint is not None else "")

    def show_monitor(self) -> None:
        self.content_tabs.setCurrentWidget(self.monitor)

    def show_history(self) -> None:
        self.content_tabs.setCurrentWidget(self.history)

    def open_report_dialog(
        self,
        selected: list[EndpointRef] | None = None,
        failure_group: tuple[str, str] | None = None,
    ) -> ReportDialog:
        """The incident report dialog over every known DLQ; `selected` (else the open one)
        checked."""
        endpoints = [
            EndpointRef(name, e.name)
            for name in self._profiles
            for e in self.tree_model.endpoints(name)
            if e.is_dead_letter
        ]
        dialog = ReportDialog(
            self.profiles,
            endpoints,
            events=self.monitor.alert_log.model.events(),
            selected=selected
            if selected is not None
            else ([EndpointRef(*self._open)] if self._open is not None else []),
            connector_factory=lambda p: create_connector(p, prompt=self._known_secret),
            failure_group=failure_group,
            parent=self,
        )
        dialog.finished.connect(dialog.deleteLater)
        self.report_dialog = dialog
        dialog.open()
        return dialog

    def show_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self)
        dialog.finished.connect(dialog.deleteLater)
        self.shortcuts_dialog = dialog
        dialog.open()

    def show_about(self) -> None:
        dialog = AboutDialog(self)
        dialog.finished.connect(dialog.deleteLater)
        self.about_dialog = dialog
        dialog.open()

    def _restore_layout(self) -> None:
        """On first show, once every toolbar and dock (the demo's too) has been added."""
        # Menus added after construction (the demo's) go before Help, which stays last.
        self.menuBar().removeAction(self.help_menu.menuAction())
        self.menuBar().addAction(self.help_menu.menuAction())
        self.window_state.restore(self)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._started:
            self._started = True
            self._restore_layout()
            # After the window is painted, and outside any task: a password prompt may
            # open a nested event loop, which must not run inside an asyncio task.
            QTimer.singleShot(0, self._connect_all)
            self._depth_timer.start()
            # Offers interrupted replays for resume (their tab says how many).
            QTimer.singleShot(0, self.history.reload)

    def _connect_all(self) -> None:
        for name in list(self._profiles):
            self._connect(name)

    def _connect(self, name: str) -> None:
        if self._shutdown is not None:
            return
        profile = self._profiles[name]
        if self._open is not None and self._open[0] == name:
            # Its browser rides on the link being replaced: give its messages back while
            # that link may still work, and reopen the endpoint on the new one.
            self._reopen[name] = self._open[1]
            self._open = None
            self.browser.clear()
            self._update_empty_state()
        old = self._connectors.pop(name, None)
        if old is not None:
            self._close_in_background(old)
        self._set_state(name, ConnectionState.CONNECTING)
        try:
            connector = create_connector(profile, prompt=self._remembered_secret)
        except EventdeskError as exc:
            self._mark_failed(name, exc)
            self.error_presenter.present(exc, context=f"Connecting to {name}")
            return
        self._connectors[name] = connector

        async def open_and_list() -> list[Endpoint]:
            await connector.connect()
            return await connector.list_endpoints()

        AsyncOp(self, open_and_list).latest_wins(f"connect:{name}").with_progress(
            f"Connecting to {name}…"
        ).with_context(f"Connecting to {name}").success(
            lambda endpoints: self._on_connected(name, connector, endpoints)
        ).failure(lambda exc: self._on_connection_failed(name, connector, exc)).run()

    def _on_connected(self, name: str, connector: Connector, endpoints: list[Endpoint]) -> None:
        if self._connectors.get(name) is not connector:
            return
        self._set_state(name, ConnectionState.CONNECTED)
        self._show_endpoints(name, endpoints)
        reopen = self._reopen.pop(name, None)
        endpoint = next((e for e in endpoints if e.name == reopen), None)
        if endpoint is not None and self._open is None:
            self._on_tree_endpoint_selected(name, endpoint)

    def _on_connection_failed(self, name: str, connector: Connector, exc: BaseException) -> None:
        if self._connectors.get(name) is connector:
            self._connectors.pop(name)
            self._mark_failed(name, exc)
        self._close_in_background(connector)
        self.error_presenter.present(exc, context=f"Connecting to {name}")
        if isinstance(exc, AuthenticationFailed):
            self._on_secret_refused(name)

    def _mark_failed(self, name: str, exc: BaseException) -> None:
        self._connect_errors[name] = exc
        hint = exc.hint if isinstance(exc, EventdeskError) else ""
        message = str(exc) or type(exc).__name__
        self._set_state(name, ConnectionState.ERROR, message=message, hint=hint)

    def refresh(self) -> None:
        """F5: reconnect what failed, re-list what is connected."""
        for name in list(self._profiles):
            state = self.tree_model.state(name)
            connector = self._connectors.get(name)
            if state is ConnectionState.ERROR or connector is None:
                self._connect(name)
            elif state is ConnectionState.CONNECTED:
                self._relist(name, connector)

    def set_depth_refresh_interval(self, milliseconds: int) -> None:
        self._depth_timer.setInterval(milliseconds)

    def _on_depth_timer_timeout(self) -> None:
        if self._shutdown is not None:
            return
        for name, connector in list(self._connectors.items()):
            if self.tree_model.state(name) is ConnectionState.CONNECTED:
                self._relist(name, connector, quiet=True)

    def _relist(self, name: str, connector: Connector, *, quiet: bool = False) -> None:
        def on_failure(exc: BaseException) -> None:
            if isinstance(exc, CONNECTION_ERRORS) and self._connectors.get(name) is connector:
                self._mark_failed(name, exc)
            self.error_presenter.present(exc, context=f"Refreshing {name}")

        op = AsyncOp(self, connector.list_endpoints).latest_wins(f"refresh:{name}")
        if not quiet:
            op = op.with_progress(f"Refreshing {name}…")
        op.success(lambda endpoints: self._on_relisted(name, connector, endpoints)).failure(
            on_failure
        ).run()

    def _on_relisted(self, name: str, connector: Connector, endpoints: list[Endpoint]) -> None:
        if self._connectors.get(name) is connector:
            self._show_endpoints(name, endpoints)

    def _show_endpoints(self, name: str, endpoints: list[Endpoint]) -> None:
        self.tree_model.set_endpoints(name, endpoints)
        if self._open is not None and self._open[0] == name:
            depth = next((e.depth for e in endpoints if e.name == self._open[1]), None)
            model = self.browser.model
            if depth is not None and model.has_more:
                model.set_expected_total(depth)
        self._update_empty_state()

    def _set_state(
        self, name: str, state: ConnectionState, *, message: str = "", hint: str = ""
    ) -> None:
        self.tree_model.set_state(name, state, message=message, hint=hint)
        self._update_connection_status()

    def _close_in_background(self, connector: Connector) -> None:
        # Browsers being closed may still need this connector's link to give messages back.
        browsers_closing = self.browser.model.pending_closes()

        async def close() -> None:
            if browsers_closing:
                await asyncio.wait(browsers_closing)
            try:
                await asyncio.wait_for(connector.close(), CLOSE_TIMEOUT_S)
            except Exception:
                log.warning("Closing a connector failed", exc_info=True)

        task = current_loop().create_task(close())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- secrets ----------------------------------------------------------------------

    def _on_secret_refused(self, name: str) -> None:
        """A refused secret is not used again: typed ones are asked for again, and
        remembered ones are offered to forget."""
        for key in [key for key in self._typed_secrets if key[0] == name]:
            del self._typed_secrets[key]
        if self.secrets.served_fields(name):
            # Outside the task that delivered the failure: the question runs a nested loop.
            QTimer.singleShot(0, lambda: self.offer_to_forget_secrets(name))

    def offer_to_forget_secrets(self, name: str) -> None:
        """Asks whether to forget the remembered secrets the broker just refused."""
        fields = self.secrets.served_fields(name)
        if not fields or self._shutdown is not None:
            return
        where = self.secrets.backend_name or "memory"
        answer = QMessageBox.question(
            self,
            "Forget the remembered password?",
            f"{name} refused the {' and '.join(fields)} remembered in {where}.\n\n"
            "Forget it, so that Eventdesk asks for it when you reconnect (F5)?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        forgotten = self.secrets.forget_served(name)
        if forgotten:
            message = f"Forgot the {' and '.join(forgotten)} of {name}; F5 asks for it again."
        else:
            message = f"The keyring could not delete the {' and '.join(fields)} of {name}."
        self.statusBar().showMessage(message, 10000)

    def _remembered_secret(self, profile: ConnectionProfile, field: str) -> str | None:
        """Typed this session, else stored (read now, at connect time), else asked."""
        key = (profile.name, field)
        value = self._typed_secrets.get(key)
        if value is None:
            value = self.secrets.get(profile.name, field)
        if value is None:
            value = self._secret_prompt(profile, field)
            if value is not None:
                self._typed_secrets[key] = value
        self._note_secret_store()
        if value is None:
            raise ConfigurationError(
                f"No {field} was given for {profile.name}.",
                hint="Press F5 (Refresh) to be asked again.",
            )
        return value

    def _ask_secret(self, profile: ConnectionProfile, field: str) -> str | None:
        dialog = SecretPromptDialog(profile, field, self.secrets, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        value = dialog.value()
        if dialog.remember_check.isChecked():
            self.secrets.set(profile.name, field, value)
        return value

    def _note_secret_store(self) -> None:
        """Says once, plainly, that there is no keyring; the status bar keeps a reminder."""
        notice = self.secrets.take_unavailable_notice()
        if notice is None:
            return
        log.warning("%s", notice)
        self.statusBar().showMessage(notice, 20000)
        self.memory_secrets_label.setToolTip(notice)
        self.memory_secrets_label.show()

    # -- new connection ---------------------------------------------------------------

    def _on_new_connection_triggered(self) -> None:
        dialog = ConnectionDialog(self._profiles.keys(), self, secrets=self.secrets)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self._note_secret_store()
        self.add_connection(dialog.profile())

    def add_connection(self, profile: ConnectionProfile) -> None:
        """Remember the profile on disk (no secrets in it) and connect it."""
        self._add_profile(profile)
        self._save_profiles()
        self._update_empty_state()
        self._connect(profile.name)

    def _save_profiles(self) -> None:
        try:
            save_profiles(
                (p for p in self._profiles.values() if p.name not in self._session_only),
                self._profiles_path,
            )
        except OSError as exc:
            self.error_presenter.present(
                ConfigurationError(
                    f"Could not save connections: {exc}",
                    hint="The connection works for this session; check the config folder.",
                ),
                context="Saving connections",
            )

    # -- NATS dead-letter capture -----------------------------------------------------

    def _nats_capture_target(self) -> ConnectionProfile | None:
        """The NATS connection current in the tree, else the only NATS connection."""
        profile = self._profiles.get(self.tree.current_connection() or "")
        if profile is not None and profile.kind is BrokerKind.NATS:
            return profile
        nats = [p for p in self._profiles.values() if p.kind is BrokerKind.NATS]
        return nats[0] if len(nats) == 1 and profile is None else None

    def _on_tree_context_menu_requested(self, _connection: str) -> None:
        self.nats_capture_action.setEnabled(self._nats_capture_target() is not None)

    def _on_nats_capture_triggered(self) -> None:
        profile = self._nats_capture_target()
        connector = self._connectors.get(profile.name) if profile is not None else None
        if profile is None or connector is None or not hasattr(connector, "use_advisory_capture"):
            self.statusBar().showMessage("Select a connected NATS connection first.", 8000)
            return
        name = profile.name
        dialog = NatsCaptureDialog(profile, connector, self)  # type: ignore[arg-type]
        dialog.capture_ready.connect(lambda stream, _new: self._on_nats_capture_ready(name, stream))
        dialog.finished.connect(dialog.deleteLater)
        self.nats_capture_dialog = dialog
        dialog.open()

    def _on_nats_capture_ready(self, name: str, stream: str) -> None:
        profile = self._profiles.get(name)
        if profile is None:
            return
        if profile.get("advisory_stream") != stream:
            settings = {**profile.settings, "advisory_stream": stream}
            self._profiles[name] = dataclasses.replace(profile, settings=settings)
            self._save_profiles()
        self.statusBar().showMessage(f"{name} reads dead letters from stream {stream}.", 8000)
        connector = self._connectors.get(name)
        if connector is not None:
            self._relist(name, connector)

    # -- browsing ---------------------------------------------------------------------

    @property
    def open_endpoint(self) -> tuple[str, str] | None:
        return self._open

    def open_endpoint_named(self, connection: str, endpoint: str) -> bool:
        """Select (and so open) an endpoint as if the operator had clicked it."""
        return self.tree.select_endpoint(connection, endpoint)

    def _on_tree_endpoint_selected(self, connection: str, endpoint: Endpoint) -> None:
        if self._open == (connection, endpoint.name) or self._shutdown is not None:
            return
        connector = self._connectors.get(connection)
        if connector is None or self.tree_model.state(connection) is not ConnectionState.CONNECTED:
            self.statusBar().showMessage(f"{connection} is not connected; press F5 to retry.", 8000)
            return
        try:
            browser = connector.browse(endpoint.name)
        except EventdeskError as exc:
            self.error_presenter.present(exc, context=f"Opening {endpoint.name} on {connection}")
            return
        self._open = (connection, endpoint.name)
        kind = KIND_NAMES[self._profiles[connection].kind]
        role = "dead-letter queue" if endpoint.is_dead_letter else endpoint.kind.value
        fed = f" · fed by {', '.join(endpoint.fed_by)}" if endpoint.fed_by else ""
        self.detail.show_message(None)
        self.browser.open(
            browser,
            title=endpoint.name,
            subtitle=f"{kind} {role} on {connection}{fed}",
            expected_total=endpoint.depth,
            context=f"{endpoint.name} on {connection}",
            browse=lambda page_size: connector.browse(endpoint.name, page_size=page_size),
            endpoint=endpoint.name,
        )
        # The endpoint's own decoding and schema, kept per connection (issue 6).
        self.detail.open_endpoint(connection, endpoint.name, registry=self._registry(connection))
        self._update_empty_state()

    def _registry(self, connection: str) -> RegistryFactory | None:
        """Clients for the connection's Schema Registry (its password from the keyring)."""
        return registry_factory(self._profiles[connection], self.secrets)

    def _on_tree_dead_letters_only_changed(self, on: bool) -> None:
        # Mirror only: the action must not report the tree's own default as a choice.
        with QSignalBlocker(self.dead_letters_only_action):
            self.dead_letters_only_action.setChecked(on)

    def _on_browser_message_selected(self, message: Message | None) -> None:
        self.detail.show_message(message)

    def _on_browser_counts_changed(self, _loaded: int, _expected: int) -> None:
        model = self.browser.model
        empty = model.browser is not None and not (model.loaded_count or model.has_more)
        empty = empty and not self.browser.searching  # no match is not an empty queue
        self.detail.empty.setText(
            EMPTY_ENDPOINT_TEXT.format(endpoint=self._open[1])
            if empty and not model.failed and self._open is not None
            else NO_MESSAGE_TEXT
        )
        if model.browser is None:
            self.rows_label.setText("")
            return
        self.rows_label.setText(
            count_summary(
                model.loaded_count,
                model.expected_total,
                loading=False,
                more=model.has_more,
            )
        )

    def _on_browser_fetch_failed(self, exc: BaseException) -> None:
        if self._open is not None and isinstance(exc, CONNECTION_ERRORS):
            self._mark_failed(self._open[0], exc)

    # -- replay and discard -----------------------------------------------------------

    def selected_messages(self) -> list[Message]:
        """The selected messages of the open endpoint (empty when none is open)."""
        if self._open is None or self.browser.model.browser is None:
            return []
        return self.browser.selected_messages()

    def _open_profile(self) -> ConnectionProfile | None:
        return self._profiles.get(self._open[0]) if self._open is not None else None

    def _update_message_actions(self) -> None:
        profile = self._open_profile()
        busy = self.replay_wizard is not None and self.replay_wizard.running
        enabled = (
            profile is not None
            and not profile.read_only
            and not busy
            and bool(self.selected_messages())
        )
        self.replay_action.setEnabled(enabled)
        self.discard_action.setEnabled(enabled)
        self.edit_action.setEnabled(enabled)
        self.bulk_fix_action.setEnabled(enabled)
        if profile is not None and profile.read_only:
            note = f" — {profile.name} is read-only"
        elif profile is None or not self.selected_messages():
            note = " — select messages first"
        else:
            note = ""
        self.replay_action.setStatusTip(f"Replay the selected messages{note}")
        self.discard_action.setStatusTip(f"Discard the selected messages{note}")
        connector = self._connectors.get(self._open[0]) if self._open is not None else None
        self.purge_action.setEnabled(
            profile is not None
            and not profile.read_only
            and not busy
            and connector is not None
            and can_purge(connector)
        )
        entry = self._open_entry()
        self.move_back_action.setEnabled(
            profile is not None
            and not profile.read_only
            and not busy
            and isinstance(connector, SqsConnector)
            and entry is not None
            and entry.is_dead_letter
        )

    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal.open()
        return self._journal

    def _action_context(self) -> tuple[str, str, ConnectionProfile, Connector] | None:
        """(connection, endpoint, profile, connector) for an action on the selection."""
        profile = self._open_profile()
        if self._open is None or profile is None or profile.read_only:
            return None
        connector = self._connectors.get(self._open[0])
        if connector is None or self.browser.model.browser is None:
            self.statusBar().showMessage(f"{self._open[0]} is not connected.", 8000)
            return None
        return self._open[0], self._open[1], profile, connector

    def _on_replay_triggered(self) -> None:
        self.open_replay_wizard(self.selected_messages())

    def open_replay_wizard(self, messages: list[Message], *, edits: Edits | None = None) -> None:
        """The replay wizard on these messages of the open endpoint, edited ones as edited."""
        context = self._action_context()
        if context is None or not messages:
            return
        connection, endpoint, profile, connector = context
        try:
            journal = self.journal()
        except EventdeskError as exc:
            self.error_presenter.present(exc, context="Opening the journal")
            return
        # The engine settles through the table's browser, which must not page meanwhile.
        self.browser.model.stop_loading()
        names = target_names(self.tree_model.endpoints(connection), besides=endpoint)
        wizard = ReplayWizard(
            messages,
            endpoint=endpoint,
            profile=profile,
            connector=connector,
            browser=self.browser.holding_browser(),
            journal=journal,
            endpoint_names=names,
            connections=self.profiles,
            connect_target=self.connected_for_replay,
            edits=edits,
            parent=self,
        )
        wizard.finished_replay.connect(
            lambda result: self._on_wizard_finished_replay(connection, endpoint, result)
        )
        wizard.finished.connect(wizard.deleteLater)
        self.replay_wizard = wizard
        wizard.open()

    async def connected_for_replay(self, name: str) -> tuple[Connector, list[Endpoint]]:
        """`name`'s connector and endpoints, for a replay into it; connects it first if need be.

        Connecting shows in the tree and status bar as any connecting does, with secrets
        from the keyring (or asked for); a failure raises what it failed with.
        """
        key = f"connect:{name}"
        if self.tree_model.state(name) is not ConnectionState.CONNECTED:
            if not self.is_running(key):
                self._connect(name)
            # Waited for, not awaited: closing the wizard must not cancel the connecting.
            while (task := self._task_registry()[1].get(key)) is not None and not task.done():
                await asyncio.wait({task})
        connector = self._connectors.get(name)
        if connector is None or self.tree_model.state(name) is not ConnectionState.CONNECTED:
            raise self._connect_errors.get(name) or BrokerUnreachable(
                f"{name} is not connected.", hint="Press F5 to connect it, then choose it again."
            )
        return connector, self.tree_model.endpoints(name)

    # -- editing and bulk fix ------------------------------------------------------------

    def _on_edit_triggered(self) -> None:
        messages = self.selected_messages()
        if messages:
            self.open_message_editor(messages[0])

    def open_message_editor(self, message: Message) -> MessageEditorDialog:
        endpoint = self._open[1] if self._open is not None else message.endpoint
        dialog = MessageEditorDialog(
            message,
            schema=self.detail.schemas.schema_for(endpoint),
            can_replay=self._action_context() is not None,
            key_editable=getattr(self._open_profile(), "kind", None) is BrokerKind.KAFKA,
            parent=self,
        )
        dialog.replay_requested.connect(self._on_edited_replay_requested)
        dialog.finished.connect(dialog.deleteLater)
        self.message_editor = dialog
        dialog.open()
        return dialog

    def _on_bulk_fix_triggered(self) -> None:
        messages = self.selected_messages()
        if not messages or self._open is None:
            return
        dialog = BulkFixDialog(
            messages, schema=self.detail.schemas.schema_for(self._open[1]), parent=self
        )
        dialog.replay_requested.connect(self._on_edited_replay_requested)
        dialog.finished.connect(dialog.deleteLater)
        self.bulk_fix_dialog = dialog
        dialog.open()

    def _on_edited_replay_requested(self, messages: list[Message], edits: Edits) -> None:
        model = self.browser.model
        held = {model.message_at(row).id for row in range(model.loaded_count)}
        if not {m.id for m in messages} <= held:
            # Settling finds dead letters in the table's browser; without them the copies
            # would go out and the originals stay.
            self.error_presenter.present(
                EventdeskError(
                    "The edited messages are no longer held by the open endpoint.",
                    hint="Open the endpoint again and edit the messages afresh.",
                ),
                context="Replaying edited messages",
            )
            return
        self.open_replay_wizard(messages, edits=edits)

    def _on_wizard_finished_replay(
        self, connection: str, endpoint: str, result: ReplayResult | None
    ) -> None:
        if result is not None:
            self.statusBar().showMessage(
                f"Replay {result.status}: {result.succeeded} sent, {result.failed} failed"
                f" (journal {result.action_id})",
                15000,
            )
        self._reload_endpoint(connection, endpoint)

    def _on_discard_triggered(self) -> None:
        context = self._action_context()
        messages = self.selected_messages()
        if context is None or not messages:
            return
        connection, endpoint, profile, _connector = context
        dialog = DiscardDialog(len(messages), endpoint, profile, self)
        dialog.accepted.connect(lambda: self._discard(connection, endpoint, messages))
        dialog.finished.connect(dialog.deleteLater)
        self.discard_dialog = dialog
        dialog.open()

    def _discard(self, connection: str, endpoint: str, messages: list[Message]) -> None:
        browser = self.browser.holding_browser()
        if self._open != (connection, endpoint) or browser is None:
            return
        try:
            journal = self.journal()
        except EventdeskError as exc:
            self.error_presenter.present(exc, context="Opening the journal")
            return
        self.browser.model.stop_loading()

        def on_done(result: ReplayResult) -> None:
            self.statusBar().showMessage(
                f"Discard {result.status}: {result.succeeded} of {result.total} discarded"
                f" (journal {result.action_id})",
                15000,
            )
            failed = [o for o in result.outcomes if not o.ok]
            if failed or result.status != "completed":
                reason = failed[0].detail if failed else result.detail
                self.error_presenter.present(
                    EventdeskError(f"{len(failed)} of {result.total} not discarded: {reason}"),
                    context=f"Discarding from {endpoint} on {connection}",
                )

        AsyncOp(
            self,
            lambda: discard(browser, messages, journal=journal, source_connection=connection),
        ).with_progress(f"Discarding {len(messages)} messages…").with_context(
            f"Discarding from {endpoint} on {connection}"
        ).success(on_done).finally_(lambda: self._reload_endpoint(connection, endpoint)).run()

    def _reload_endpoint(self, connection: str, endpoint: str) -> None:
        """Open the endpoint afresh so settled messages are gone and the rest are shown."""
        self.history.reload()
        if self._open != (connection, endpoint):
            return
        _shown, closing = self._release_endpoint(connection, endpoint)

        async def reopen_after_give_back() -> None:
            # The old browser still holds the unsettled rest; reading before it gives them
            # back would show a queue with holes.
            if closing:
                await asyncio.wait(closing)

        AsyncOp(self, reopen_after_give_back).success(
            lambda _: self._show_again(connection, endpoint, reopen=True)
        ).run()

    def _entry(self, connection: str, endpoint: str) -> Endpoint | None:
        return next((e for e in self.tree_model.endpoints(connection) if e.name == endpoint), None)

    def _release_endpoint(
        self, connection: str, endpoint: str
    ) -> tuple[bool, set[asyncio.Task[None]]]:
        """Closes the table's browser if it shows this endpoint, so what it holds (RabbitMQ
        unacked, SQS invisible) goes back; whether it was shown, and the closes to await."""
        shown = self._open == (connection, endpoint)
        if shown:
            self._open = None
            self.browser.clear()
            self._update_empty_state()
        return shown, self.browser.model.pending_closes()

    def _show_again(self, connection: str, endpoint: str, *, reopen: bool) -> None:
        """After work on an endpoint: the journal's view, the endpoint (if it was shown) and
        the depths read afresh."""
        self.history.reload()
        entry = self._entry(connection, endpoint)
        if reopen and entry is not None and self._open is None:
            self._on_tree_endpoint_selected(connection, entry)
        connector = self._connectors.get(connection)
        if connector is not None:
            self._relist(connection, connector)
        self._update_empty_state()

    # -- history and resume -----------------------------------------------------------

    def _on_content_tabs_current_changed(self, index: int) -> None:
        if self.content_tabs.widget(index) is self.history:
            self.history.reload()

    def _on_history_unfinished_changed(self, count: int) -> None:
        index = self.content_tabs.indexOf(self.history)
        self.content_tabs.setTabText(index, f"History ({count} to resume)" if count else "History")
        if count:
            self.statusBar().showMessage(
                f"{count} interrupted replay{'s' if count != 1 else ''} can be resumed:"
                " see History (Ctrl+H).",
                15000,
            )

    def _on_history_resume_requested(self, action_id: str) -> None:
        record = self.journal().action(action_id)
        if record is None:
            return
        source, target = record.source_connection, record.target_connection
        target = target or source
        context = f"Resuming replay {action_id}"
        missing = [n for n in dict.fromkeys((source, target)) if n not in self._connectors]
        if missing:
            self.error_presenter.present(
                ConfigurationError(
                    f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not"
                    " connected.",
                    hint="Connect it (F5), then resume again.",
                ),
                context=context,
            )
            return
        read_only = [n for n in (source, target) if self._profiles[n].read_only]
        if read_only:
            self.error_presenter.present(
                ConfigurationError(
                    f"{read_only[0]} is read-only: resuming would write to it.",
                    hint="Turn off read-only in the connection's settings to resume.",
                ),
                context=context,
            )
            return
        counts = dict(record.counts)
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Resume replay",
            f"Resume the replay of {record.source} on {source} into"
            f" {record.target} on {target}?\n\n"
            f"{counts.get('sent', 0)} sent but not settled: settled if still in the DLQ,"
            f" never sent again.\n{counts.get('pending', 0)} pending: replayed if still in"
            " the DLQ.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.addButton("&Resume", QMessageBox.ButtonRole.AcceptRole)
        box.accepted.connect(lambda: self._resume(record.id, source, target, record.source))
        box.finished.connect(box.deleteLater)
        self.resume_box = box
        box.open()

    def _resume(self, action_id: str, source: str, target: str, dlq: str) -> None:
        source_connector = self._connectors.get(source)
        target_connector = self._connectors.get(target)
        if source_connector is None or target_connector is None:
            return
        journal = self.journal()

        def on_done(result: ReplayResult) -> None:
            self.statusBar().showMessage(
                f"Resume {result.status}: {result.succeeded} settled or sent, {result.failed}"
                f" failed (journal {action_id})",
                15000,
            )
            self.history.select(action_id)

        self._run_on_whole_endpoint(
            source,
            dlq,
            lambda: resume(action_id, source_connector, target_connector, journal=journal),
            label="Resuming replay…",
            context=f"Resuming replay {action_id}",
            on_done=on_done,
        )

    def _run_on_whole_endpoint(
        self,
        connection: str,
        endpoint: str,
        work: Callable[[], Awaitable[T]],
        *,
        label: str,
        context: str,
        on_done: Callable[[T], None],
    ) -> None:
        """Runs work that must see every message of the endpoint, then shows it afresh.

        The table's browser may hold messages of that endpoint (RabbitMQ unacked, SQS
        invisible): it is closed first, and the endpoint reopened after.
        """
        reopen, closing = self._release_endpoint(connection, endpoint)

        async def run() -> T:
            if closing:
                await asyncio.wait(closing)
            return await work()

        AsyncOp(self, run).with_progress(label).with_context(context).success(on_done).finally_(
            lambda: self._show_again(connection, endpoint, reopen=reopen)
        ).run()

    def _open_entry(self) -> Endpoint | None:
        if self._open is None:
            return None
        return self._entry(*self._open)

    # -- SQS move task ----------------------------------------------------------------

    def _on_move_back_triggered(self) -> None:
        entry = self._open_entry()
        if self._open is None or entry is None:
            return
        connection, endpoint = self._open
        connector = self._connectors.get(connection)
        if not isinstance(connector, SqsConnector):
            return
        try:
            journal = self.journal()
        except EventdeskError as exc:
            self.error_presenter.present(exc, context="Opening the journal")
            return
        # The table's browser hides the messages it shows; SQS would not move those.
        _shown, closing = self._release_endpoint(connection, endpoint)
        names = [e.name for e in self.tree_model.endpoints(connection)]
        dialog = SqsMoveDialog(
            connector,
            endpoint,
            entry.depth,
            connection=connection,
            journal=journal,
            queues=names,
            wait_for=closing,
            parent=self,
        )
        dialog.finished.connect(lambda _code: self._reopen_after_move(connection, endpoint))
        dialog.finished.connect(dialog.deleteLater)
        self.move_dialog = dialog
        dialog.open()

    def _reopen_after_move(self, connection: str, endpoint: str) -> None:
        self.move_dialog = None
        self._show_again(connection, endpoint, reopen=True)

    # -- purge ------------------------------------------------------------------------

    def _on_purge_triggered(self) -> None:
        profile = self._open_profile()
        if self._open is None or profile is None or profile.read_only:
            return
        connection, endpoint = self._open
        connector = self._connectors.get(connection)
        if connector is None or not can_purge(connector):
            self.statusBar().showMessage(f"{connection} cannot purge {endpoint}.", 8000)
            return
        entry = self._entry(connection, endpoint)
        dialog = PurgeDialog(
            endpoint,
            entry.depth if entry else None,
            profile,
            self,
            can_delete_handled=can_delete_handled(connector),
        )
        dialog.accepted.connect(
            lambda: self._purge(connection, endpoint, dialog.typed_name(), dialog.handled_only())
        )
        dialog.finished.connect(dialog.deleteLater)
        self.purge_dialog = dialog
        dialog.open()

    def _purge(self, connection: str, endpoint: str, typed: str, handled_only: bool) -> None:
        connector = self._connectors.get(connection)
        if connector is None:
            return
        try:
            journal = self.journal()
        except EventdeskError as exc:
            self.error_presenter.present(exc, context="Opening the journal")
            return

        def on_done(result: PurgeResult) -> None:
            what = "handled records deleted" if handled_only else "removed"
            self.statusBar().showMessage(
                f"Purged {endpoint}: {result.removed:,} {what} (journal {result.action_id})",
                15000,
            )

        self._run_on_whole_endpoint(
            connection,
            endpoint,
            lambda: purge(
                connector,
                endpoint,
                confirm=typed,
                journal=journal,
                source_connection=connection,
                handled_only=handled_only,
            ),
            label=f"Purging {endpoint}…",
            context=f"Purging {endpoint} on {connection}",
            on_done=on_done,
        )

    # -- status -----------------------------------------------------------------------

    def _update_empty_state(self) -> None:
        self._update_environment_banner()
        self._update_message_actions()
        if self._open is not None:
            self.content_stack.setCurrentIndex(1)
            return
        self.content_stack.setCurrentIndex(0)
        self.content_empty.setText(
            NO_CONNECTIONS_TEXT if not self._profiles else PICK_ENDPOINT_TEXT
        )

    def _update_environment_banner(self) -> None:
        profile = self._profiles.get(self._open[0]) if self._open is not None else None
        if profile is None or not profile.is_production:
            self.environment_banner.hide()
            return
        read_only = " · read-only" if profile.read_only else ""
        self.environment_banner.setText(f"PRODUCTION · {profile.name}{read_only}")
        self.environment_banner.setAccessibleName(f"Production connection {profile.name}")
        self.environment_banner.setStyleSheet(
            f"background: {environment_colour(profile.environment)}; color: white;"
            " font-weight: bold;"
        )
        self.environment_banner.show()

    def _update_connection_status(self) -> None:
        """A dot per connection (names shortened: the status line must not be crowded out)."""
        parts, lines = [], []
        for name in self._profiles:
            state = self.tree_model.state(name) or ConnectionState.CONNECTING
            color = _STATE_DOT_COLORS[state]
            short = (
                name if len(name) <= _STATUS_NAME_LIMIT else name[: _STATUS_NAME_LIMIT - 1] + "…"
            )
            parts.append(f"<span style='color:{color}'>●</span>&nbsp;{html.escape(short)}")
            lines.append(f"{name}: {state.value}")
        if len(parts) > 4:
            counts = Counter(
                self.tree_model.state(n) or ConnectionState.CONNECTING for n in self._profiles
            )
            parts = [
                f"<span style='color:{_STATE_DOT_COLORS[s]}'>●</span>&nbsp;{n} {s.value}"
                for s, n in counts.items()
            ]
        self.connections_label.setText("&nbsp;&nbsp;".join(parts))
        self.connections_label.setToolTip("\n".join(lines))

    def _on_presenter_status_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 15000)

    def _on_error_log_count_changed(self, count: int) -> None:
        self.errors_button.setText(f"⚠ {count} error{'s' if count != 1 else ''}")
        self.errors_button.setVisible(count > 0)

    def _on_errors_button_clicked(self) -> None:
        self.errors_dock.show()
        self.errors_dock.raise_()

    def _on_errors_dock_visibility_changed(self, visible: bool) -> None:
        if visible and not self._errors_dock_sized:
            # A log, not a second workspace: it must not take half the window.
            self._errors_dock_sized = True
            self.resizeDocks([self.errors_dock], [170], Qt.Orientation.Vertical)

    # -- closing ----------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._shutdown is None:
            if self._started:  # a window never shown has no layout worth keeping
                self.window_state.save(self)
            self.cancel_tasks()
            self._shutdown = current_loop().create_task(self._aclose())
        event.accept()
        super().closeEvent(event)

    async def wait_closed(self) -> None:
        """Returns once the window was closed and everything it opened is closed."""
        await self._closed.wait()

    async def _aclose(self) -> None:
        try:
            try:
                await asyncio.wait_for(self.monitor.aclose(), CLOSE_TIMEOUT_S)
            except Exception:
                log.warning("Closing the monitor failed", exc_info=True)
            # Browsers first: they give back held messages over their connector's link.
            try:
                await asyncio.wait_for(self.browser.model.aclose(), CLOSE_TIMEOUT_S)
            except Exception:
                log.warning("Closing the message browser failed", exc_info=True)
            connectors = list(self._connectors.values())
            self._connectors.clear()
            for connector in connectors:
                self._close_in_background(connector)
            if self._background:
                await asyncio.gather(*self._background, return_exceptions=True)
        finally:
            if self._journal is not None:
                self._journal.close()
                self._journal = None
            self._closed.set()


class SecretPromptDialog(QDialog):
    """Asks for one secret of a connection, and whether to keep it in the OS keyring."""

    def __init__(
        self, profile: ConnectionProfile, field: str, secrets: SecretStore, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{profile.name}: {field}")
        user = profile.get("username")
        who = f" as {user}" if user else ""
        label = QLabel(f"&{field.capitalize()} for {profile.name}{who}:", self)
        self.secret_edit = QLineEdit(self)
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        label.setBuddy(self.secret_edit)
        self.remember_check = QCheckBox("&Remember in the OS keyring", self)
        if secrets.persistent:
            self.remember_check.setToolTip(
                f"Stored in {secrets.backend_name or 'the OS keyring'}; never in a file."
            )
            note = "Otherwise kept in memory until Eventdesk quits; never written to disk."
        else:
            self.remember_check.setEnabled(False)
            note = secrets.unavailable_reason
        self.note_label = QLabel(note, self)
        self.note_label.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.secret_edit)
        layout.addWidget(self.remember_check)
        layout.addWidget(self.note_label)
        layout.addWidget(buttons)

    def value(self) -> str:
        return self.secret_edit.text()
