"""Messages ▸ Export… and Import and replay…: JSON Lines files of messages (connectors/jsonl.py).

Export writes the selected messages, or every row shown (search results included). Import
reads a file, checks every line, and opens the replay wizard on a connection's endpoint.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from eventdesk.connectors.errors import ConfigurationError, EventdeskError
from eventdesk.connectors.jsonl import ImportedMessages, read_jsonl, write_jsonl
from eventdesk.connectors.model import Message
from eventdesk.connectors.replay import ReplayResult, default_target
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from .actions import make_action
from .connection_tree_model import ConnectionState
from .operations import AsyncOp, TaskOwner, report_failure
from .replay_wizard import ReplayWizard, target_names

if TYPE_CHECKING:
    from .main_window import MainWindow

_FILTER = "JSON Lines (*.jsonl *.ndjson);;All files (*)"


class MessageFileActions(QObject, TaskOwner):
    """The two actions and the work behind them, for one main window."""

    exported = Signal(int, str)  # count, path
    wizard_opened = Signal(object)  # the ReplayWizard of an import

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.export_action = make_action(
            self,
            "Export…",
            "Save the selected messages (or every row shown, e.g. search results) as JSON Lines",
            shortcut="Ctrl+Shift+S",
            on_triggered=self._on_export_triggered,
        )
        self.import_action = make_action(
            self,
            "Import and replay…",
            "Read a JSON Lines file of messages and replay them to an endpoint",
            shortcut="Ctrl+O",
            on_triggered=self._on_import_triggered,
        )

    # -- export -----------------------------------------------------------------------

    def messages_to_export(self) -> list[Message]:
        """The selection if there is one, else every row the table shows."""
        selected = self._window.selected_messages()
        if selected:
            return selected
        model = self._window.browser.model
        return [model.message_at(row) for row in range(model.loaded_count)]

    def _on_export_triggered(self) -> None:
        messages = self.messages_to_export()
        if not messages:
            self._window.statusBar().showMessage("No messages to export: open an endpoint.", 8000)
            return
        suggested = (self._window.open_endpoint or ("", "messages"))[1] + ".jsonl"
        path, _ = QFileDialog.getSaveFileName(
            self._window, f"Export {len(messages):,} messages", suggested, _FILTER
        )
        if path:
            self.export_to(Path(path), messages)

    def export_to(self, path: Path, messages: list[Message]) -> asyncio.Task[int | None]:
        """Writes in a worker thread: 100,000 messages must not freeze the window."""

        def on_done(count: int) -> None:
            self._window.statusBar().showMessage(f"Exported {count:,} messages to {path}", 15000)
            self.exported.emit(count, str(path))

        return (
            AsyncOp(self, lambda: asyncio.to_thread(write_jsonl, list(messages), path))
            .with_progress(f"Exporting {len(messages):,} messages…")
            .with_context(f"Exporting to {path.name}")
            .success(on_done)
            .run()
        )

    # -- import -----------------------------------------------------------------------

    def _on_import_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window, "Import messages to replay", "", _FILTER
        )
        if path:
            self.import_from(Path(path))

    def import_from(self, path: Path) -> asyncio.Task[list[Message] | None] | None:
        """Reads the file (every line checked) and opens the replay wizard on it."""
        try:
            connection = self._target_connection()
        except EventdeskError as exc:
            report_failure(self, exc, context=f"Importing {path.name}")
            return None
        return (
            AsyncOp(self, lambda: asyncio.to_thread(read_jsonl, path))
            .with_progress(f"Reading {path.name}…")
            .with_context(f"Importing {path.name}")
            .success(lambda messages: self._open_wizard(path, messages, connection))
            .run()
        )

    def _target_connection(self) -> str:
        """The open endpoint's connection, else the only connected one."""
        window = self._window
        if window.open_endpoint is not None:
            name = window.open_endpoint[0]
        else:
            connected = [
                p.name
                for p in window.profiles
                if window.tree_model.state(p.name) is ConnectionState.CONNECTED
            ]
            if len(connected) != 1:
                raise ConfigurationError(
                    "Which connection should the imported messages go to?",
                    hint="Open an endpoint of that connection first, then import again.",
                )
            name = connected[0]
        profile = next(p for p in window.profiles if p.name == name)
        if profile.read_only:
            raise ConfigurationError(
                f"{name} is read-only: replaying would write to it.",
                hint="Turn off read-only in the connection's settings, or open another one.",
            )
        if window.connector(name) is None:
            raise ConfigurationError(f"{name} is not connected.", hint="Press F5 to reconnect.")
        return name

    def _open_wizard(self, path: Path, messages: list[Message], connection: str) -> None:
        window = self._window
        connector = window.connector(connection)
        profile = next((p for p in window.profiles if p.name == connection), None)
        if connector is None or profile is None:
            return
        try:
            journal = window.journal()
        except EventdeskError as exc:
            report_failure(self, exc, context="Opening the journal")
            return
        endpoints = window.tree_model.endpoints(connection)
        source = ImportedMessages(path, messages)
        wizard = ReplayWizard(
            messages,
            endpoint=source.endpoint,
            profile=profile,
            connector=connector,
            browser=source,
            journal=journal,
            endpoint_names=target_names(endpoints),
            connections=window.profiles,
            connect_target=window.connected_for_replay,
            parent=window,
        )
        chosen = self._chosen_target(messages, connection)
        if chosen is not None:
            wizard.target_page.other_radio.setChecked(True)
            wizard.target_page.endpoint_combo.setCurrentText(chosen)
        wizard.finished_replay.connect(lambda result: self._on_finished_replay(path, result))
        wizard.finished.connect(wizard.deleteLater)
        window.replay_wizard = wizard
        wizard.open()
        self.wizard_opened.emit(wizard)

    def _chosen_target(self, messages: list[Message], connection: str) -> str | None:
        """The endpoint the operator has open, when it is a place to send to (not a DLQ);
        "" when no message knows its original destination; None to keep the originals."""
        window = self._window
        opened = window.open_endpoint
        if opened is not None and opened[0] == connection:
            entry = next(
                (e for e in window.tree_model.endpoints(connection) if e.name == opened[1]), None
            )
            if entry is not None and not entry.is_dead_letter:
                return entry.name
        return "" if not any(default_target(m) for m in messages) else None

    def _on_finished_replay(self, path: Path, result: ReplayResult | None) -> None:
        window = self._window
        window.history.reload()
        if result is not None:
            window.statusBar().showMessage(
                f"Replay of {path.name} {result.status}: {result.succeeded} sent,"
                f" {result.failed} failed (journal {result.action_id})",
                15000,
            )
