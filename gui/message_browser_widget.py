"""The message list of one endpoint: what browsing does, the table, paging and search."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from eventdesk.connectors.base import Browser
from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.model import Message
from eventdesk.connectors.search import BodyDecoding, SearchBrowser, SearchQuery, compile_query
from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .actions import make_action
from .failure_groups_widget import FailureGroupsWidget
from .icons import action_icon
from .message_table_model import Column, MessageTableModel
from .operations import AsyncOp, TaskOwner
from .search_bar import SearchBarWidget, search_summary
from .table_view import TableView

# Opens a fresh browser over the shown endpoint, with this page size.
BrowseFactory = Callable[[int], Browser]
BROWSE_PAGE_SIZE = 500
_SWITCH_KEY = "switch"

_NOTE_STYLE = (
    # Its own text colour too: the dark theme's light text would vanish on this background.
    "QLabel { background: #fff8e1; border: 1px solid #ffe082; border-radius: 4px;"
    " padding: 4px 8px; color: #5d4300; }"
)
_ERROR_STYLE = (
    "QLabel { background: #fdecea; border: 1px solid #f5c2c0; border-radius: 4px;"
    " padding: 4px 8px; color: #8e1c1c; }"
)
_COLUMN_WIDTHS = {
    Column.TIME: 150,
    Column.ID_KEY: 230,
    Column.ORIGINAL_DESTINATION: 190,
    Column.ATTEMPTS: 72,
    Column.SIZE: 84,
}


def count_summary(loaded: int, expected: int | None, *, loading: bool, more: bool) -> str:
    if loaded == 0 and loading:
        return "Loading messages…"
    if expected is not None and expected >= loaded and (more or expected != loaded):
        text = f"{loaded:,} of {expected:,} loaded"
    elif more:
        text = f"{loaded:,} loaded, more available"
    elif loaded == 0:
        text = "No messages"
    else:
        text = f"All {loaded:,} loaded"
    return text + (" — loading…" if loading else "")


class MessageBrowserWidget(QWidget, TaskOwner):
    message_selected = Signal(object)  # Message or None
    # The set of selected rows changed (for actions that work on a selection).
    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = MessageTableModel(self)
        # Schemas per endpoint, for the valid/invalid filter (the detail pane's registry).
        # How the open endpoint's bodies decode (format and schemas), for expressions and
        # validity; the window points it at the detail pane's. None: automatic, no schema.
        self.body_decoding: Callable[[], BodyDecoding] | None = None
        self._browse: BrowseFactory | None = None
        self._endpoint = ""
        self._expected_total: int | None = None
        self._context = ""

        self.load_more_action = make_action(
            self,
            "Load more",
            "Load the next page of messages (Ctrl+L); retries after an error",
            icon=action_icon("load-more"),
            on_triggered=self.model.load_more,
        )
        # Its tooltip names the key mid-sentence, so the shortcut is set here.
        self.load_more_action.setShortcut(QKeySequence("Ctrl+L"))
        self.load_all_action = make_action(
            self,
            "Load all",
            "Keep loading pages until the end of the queue",
            shortcut="Ctrl+Shift+L",
            icon=action_icon("load-all"),
            on_triggered=self.model.load_all,
        )
        self.stop_action = make_action(
            self,
            "Stop loading",
            "Stop loading pages",
            shortcut="Esc",
            icon=action_icon("stop"),
            on_triggered=self.model.stop_loading,
        )

        self.title_label = QLabel(self)
        title_font = self.title_label.font()
        title_font.setBold(True)
        title_font.setPointSizeF(title_font.pointSizeF() * 1.15)
        self.title_label.setFont(title_font)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle_label = QLabel(self)
        self.subtitle_label.setEnabled(False)
        self.note_label = QLabel(self)
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet(_NOTE_STYLE)
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(_ERROR_STYLE)
        self.error_label.hide()

        self.table = TableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        # Fixed row heights keep 100,000 rows cheap: no per-row measuring.
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        columns = self.table.horizontalHeader()
        columns.setHighlightSections(False)
        columns.setStretchLastSection(False)
        for column, width in _COLUMN_WIDTHS.items():
            columns.resizeSection(column, width)
        columns.setSectionResizeMode(Column.REASON, QHeaderView.ResizeMode.Stretch)

        self.count_label = QLabel(self)
        footer = QHBoxLayout()
        footer.setContentsMargins(0, 0, 0, 0)
        footer.addWidget(self.count_label, 1)
        for action in (self.load_more_action, self.load_all_action, self.stop_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            footer.addWidget(button)

        self.failure_groups = FailureGroupsWidget(self.model, self)
        self.failure_groups.group_rows.connect(self.select_rows)
        self.failure_groups_action = make_action(
            self,
            "Failure groups",
            "Show or hide the dead letters grouped by how they failed",
            shortcut="Ctrl+G",
        )
        self.failure_groups_action.setCheckable(True)
        self.failure_groups_action.setChecked(True)
        self.failure_groups_action.toggled.connect(self.failure_groups.setVisible)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.failure_groups)
        self.splitter.addWidget(self.table)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setChildrenCollapsible(False)
        # Room for four groups; the table keeps the rest.
        self.splitter.setSizes([self.fontMetrics().height() * 7, 10_000])

        self.search_bar = SearchBarWidget(self)
        self.search_bar.set_cancel_action(self.stop_action)
        self.search_bar.search_requested.connect(self.search)
        self.search_bar.clear_requested.connect(self.clear_search)
        self.search_action = make_action(
            self,
            "Search…",
            "Search the endpoint: text, headers, JMESPath, time, failure group, validity",
            shortcut="Ctrl+F",
            on_triggered=self.search_bar.focus_text,
        )
        self.addAction(self.search_action)
        self.failure_groups.model.modelReset.connect(self._on_failure_groups_model_reset)

        title_row = QHBoxLayout()
        title_row.addWidget(self.title_label)
        title_row.addWidget(self.subtitle_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addLayout(title_row)
        layout.addWidget(self.note_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.search_bar)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(footer)

        self.model.counts_changed.connect(self._on_model_counts_changed)
        self.model.loading_changed.connect(self._on_model_loading_changed)
        self.model.fetch_failed.connect(self._on_model_fetch_failed)
        self.model.modelReset.connect(self._on_model_reset)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.model.modelReset.connect(self.selection_changed)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._loading = False
        self._refresh_controls()

    def open(
        self,
        browser: Browser,
        *,
        title: str,
        subtitle: str,
        expected_total: int | None,
        context: str,
        browse: BrowseFactory | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Show `browser`'s endpoint. With `browse`, searches read fresh browsers from it."""
        self.cancel_task(_SWITCH_KEY)
        self.title_label.setText(title)
        self.subtitle_label.setText(subtitle)
        self.error_label.hide()
        self._browse = browse
        self._endpoint = endpoint or title
        self._expected_total = expected_total
        self._context = context
        self.search_bar.setEnabled(browse is not None)
        self.search_bar.show_error(None)
        self.search_bar.hide_progress()
        self.model.reset_to(browser, expected_total=expected_total, context=context)
        self._show_note()

    def clear(self) -> None:
        self.cancel_task(_SWITCH_KEY)
        # The factory rides on a connection that may be going away; open() gives a new one.
        self._browse = None
        self.search_bar.setEnabled(False)
        self.model.clear()
        self.error_label.hide()
        self.search_bar.hide_progress()

    # -- search -----------------------------------------------------------------------

    @property
    def searching(self) -> bool:
        """Whether the table shows search results (running or done) rather than the endpoint."""
        return isinstance(self.model.browser, SearchBrowser)

    @property
    def search_browser(self) -> SearchBrowser | None:
        browser = self.model.browser
        return browser if isinstance(browser, SearchBrowser) else None

    def holding_browser(self) -> Browser | None:
        """The browser that holds the shown messages: the one to settle them through.

        For search results that is the scan's own browser (RabbitMQ and SQS hold what it
        read; Kafka replays in one transaction only through its own browser type).
        """
        browser = self.model.browser
        return browser.source if isinstance(browser, SearchBrowser) else browser

    def search(self, query: SearchQuery) -> bool:
        """Show the matches of `query`, streaming; a search already running is cancelled.

        An empty query goes back to the plain browse. A query that cannot run is shown
        under the search field, and the table stays as it is. Returns whether a scan began.
        """
        if query.is_empty:
            self.clear_search()
            return False
        if self._browse is None:
            return False
        decoding = self.body_decoding() if self.body_decoding is not None else None
        try:
            matcher = compile_query(query, decoding=decoding)
        except EventdeskError as exc:
            self.search_bar.show_error(exc)
            return False
        self.search_bar.show_error(None)
        # Pages of the table's size: a page is read and matched in one turn of the event
        # loop, and bigger ones would stall the window for longer.
        self._switch_to(lambda browse: SearchBrowser(browse(BROWSE_PAGE_SIZE), matcher))
        return True

    def clear_search(self) -> None:
        """Back to the plain browse of the endpoint (nothing to do when not searching)."""
        self.search_bar.show_error(None)
        self.search_bar.hide_progress()
        if self._browse is None or not (self.searching or self.is_running(_SWITCH_KEY)):
            return
        self._switch_to(lambda browse: browse(BROWSE_PAGE_SIZE))

    def _switch_to(self, make: Callable[[BrowseFactory], Browser]) -> None:
        """Replace the table's browser once the old one has given back what it held."""
        self.model.clear()
        closing = self.model.pending_closes()

        async def given_back() -> None:
            # RabbitMQ and SQS hide what a browser holds: a new one must not start before.
            if closing:
                await asyncio.wait(closing)

        AsyncOp(self, given_back).latest_wins(_SWITCH_KEY).with_context(
            f"Searching {self._context}"
        ).success(lambda _: self._show_browser(make)).run()

    def _show_browser(self, make: Callable[[BrowseFactory], Browser]) -> None:
        # A window closing gives back its browsers; it must not be handed a new one.
        if self._browse is None or not self.window().isVisible():
            return
        try:
            browser = make(self._browse)
        except EventdeskError as exc:
            self.search_bar.show_error(exc)
            return
        searching = isinstance(browser, SearchBrowser)
        if isinstance(browser, SearchBrowser):
            browser.total = self._expected_total
        expected = None if searching else self._expected_total
        self.model.reset_to(browser, expected_total=expected, context=self._context)
        self._show_note()
        if searching:
            self.model.load_all()
        self._refresh_controls()

    def _on_failure_groups_model_reset(self) -> None:
        self.search_bar.set_failure_groups(self.failure_groups.model.groups)

    def select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)

    def select_rows(self, rows: list[int]) -> None:
        """Select exactly these rows (as ctrl-clicking them would), in one change."""
        selection = QItemSelection()
        last = self.model.columnCount() - 1
        for first, end in _runs(sorted(rows)):
            selection.select(self.model.index(first, 0), self.model.index(end, last))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.table.selectionModel().select(selection, flags)
        if rows:
            self.table.scrollTo(self.model.index(min(rows), 0))

    def selected_messages(self) -> list[Message]:
        """The selected messages, in table order."""
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [self.model.message_at(row) for row in rows if row < self.model.rowCount()]

    def add_context_actions(self, actions: list[QAction]) -> None:
        """Actions the table's context menu offers on the selection."""
        self.table.addActions(actions)

    def _on_table_selection_changed(self, *_args: object) -> None:
        self.selection_changed.emit()

    def _show_note(self) -> None:
        browser = self.model.browser
        note = browser.side_effect_note if browser is not None else ""
        self.note_label.setText(note)
        self.note_label.setVisible(bool(note))

    def _on_model_counts_changed(self, _loaded: int, _expected: int) -> None:
        # Browsers may sharpen their note once they have seen messages (SQS, RabbitMQ).
        self._show_note()
        self._refresh_controls()

    def _on_model_loading_changed(self, loading: bool) -> None:
        self._loading = loading
        if loading:
            self.error_label.hide()
        self._refresh_controls()

    def _on_model_fetch_failed(self, exc: BaseException) -> None:
        if isinstance(exc, EventdeskError):
            text = f"Could not load messages: {exc}" + (f"\n{exc.hint}" if exc.hint else "")
        else:
            text = f"Could not load messages: unexpected error {type(exc).__name__}; see the log."
        self.error_label.setText(text + "\nUse Load more (Ctrl+L) to try again.")
        self.error_label.show()
        self._refresh_controls()

    def _on_model_reset(self) -> None:
        self.message_selected.emit(None)

    def _on_table_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.message_selected.emit(
            self.model.message_at(current.row()) if current.isValid() else None
        )

    def _refresh_controls(self) -> None:
        model = self.model
        more = model.has_more
        self.load_more_action.setEnabled(more and not self._loading)
        self.load_all_action.setEnabled(more and not self._loading)
        self.stop_action.setEnabled(self._loading)
        if model.browser is None:
            self.count_label.setText("")
            return
        search = self.search_browser
        if search is not None:
            text = search_summary(
                scanned=search.scanned,
                total=search.total,
                matched=model.loaded_count,
                running=self._loading,
                finished=search.finished,
            )
            if search.incomplete:
                # A browse that had to stop early (held-message caps) must not read as "all".
                text += f" — {search.incomplete}"
            self.count_label.setText(text)
            self.search_bar.show_progress(
                scanned=search.scanned, total=search.total, running=self._loading, text=text
            )
            return
        self.count_label.setText(
            count_summary(
                model.loaded_count, model.expected_total, loading=self._loading, more=more
            )
        )


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted rows as (first, last) runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs
