"""The messages of one endpoint as a table model that pages through a Browser on demand.

Rows arrive a page at a time (`fetchMore`, one fetch in flight at most) and are
appended with one beginInsertRows per page, so 100,000 rows stay cheap: the view
asks only for the cells it paints.
"""

from __future__ import annotations

import asyncio
import enum
import logging

from eventdesk.connectors.base import Browser
from eventdesk.connectors.model import Message, Page
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from .display_format import count_text, human_size, key_text, time_text
from .garbage_collector import settle_long_lived
from .operations import AsyncOp, TaskOwner, current_loop, report_failure

log = logging.getLogger(__name__)

_FETCH_KEY = "fetch"
# Giving held messages back must finish even when the window is closing.
CLOSE_TIMEOUT_S = 10.0

MessageRole = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    TIME = 0
    ID_KEY = 1
    ORIGINAL_DESTINATION = 2
    REASON = 3
    ATTEMPTS = 4
    SIZE = 5


_HEADERS = {
    Column.TIME: "Time",
    Column.ID_KEY: "ID / Key",
    Column.ORIGINAL_DESTINATION: "Original destination",
    Column.REASON: "Reason",
    Column.ATTEMPTS: "Attempts",
    Column.SIZE: "Size",
}
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class MessageTableModel(QAbstractTableModel, TaskOwner):
    loading_changed = Signal(bool)
    # Rows loaded or the expected total changed: (loaded, expected or -1).
    counts_changed = Signal(int, int)
    fetch_failed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Message] = []
        self._browser: Browser | None = None
        self._more = False
        self._failed = False
        self._load_all = False
        self._expected: int | None = None
        self._context = ""
        self._closing: set[asyncio.Task[None]] = set()

    # -- the browser ------------------------------------------------------------------

    @property
    def browser(self) -> Browser | None:
        return self._browser

    def reset_to(
        self, browser: Browser, *, expected_total: int | None = None, context: str = ""
    ) -> None:
        """Show `browser`'s endpoint from its first page; the previous browser is closed."""
        self.clear()
        self._browser = browser
        self._more = True
        self._expected = expected_total
        self._context = context
        self._emit_counts()
        self.fetchMore(QModelIndex())

    def clear(self) -> None:
        """Drop the rows and give back what the current browser holds (in the background)."""
        fetch = self.cancel_task(_FETCH_KEY)
        old = self._browser
        self._browser = None
        self._more = False
        self._failed = False
        self._load_all = False
        self._expected = None
        if self._rows:
            self.beginResetModel()
            self._rows = []
            self.endResetModel()
        if fetch is not None:
            self.loading_changed.emit(False)
        self._emit_counts()
        if old is not None:
            task = current_loop().create_task(self._close_browser(old, fetch, self._context))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def pending_closes(self) -> set[asyncio.Task[None]]:
        """Browsers still giving their messages back."""
        return {task for task in self._closing if not task.done()}

    async def aclose(self) -> None:
        """Clear, and wait until every browser this model opened has given its messages back."""
        self.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _close_browser(
        self, browser: Browser, fetch: asyncio.Task[object] | None, context: str
    ) -> None:
        if fetch is not None:
            # Let the cancelled read unwind before close(): the two must not interleave.
            await asyncio.wait([fetch])
        try:
            await asyncio.wait_for(browser.close(), CLOSE_TIMEOUT_S)
        except Exception as exc:
            report_failure(self, exc, context=f"Giving back messages held while browsing {context}")

    # -- paging -----------------------------------------------------------------------

    @property
    def is_loading(self) -> bool:
        return self.is_running(_FETCH_KEY)

    @property
    def has_more(self) -> bool:
        return self._browser is not None and self._more

    @property
    def failed(self) -> bool:
        return self._failed

    @property
    def loaded_count(self) -> int:
        return len(self._rows)

    @property
    def expected_total(self) -> int | None:
        return self._expected

    def set_expected_total(self, total: int | None) -> None:
        self._expected = total
        self._emit_counts()

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid():
            return False
        return self.has_more and not self._failed and not self.is_loading

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        browser = self._browser
        assert browser is not None
        self.loading_changed.emit(True)
        AsyncOp(self, browser.next_page).latest_wins(_FETCH_KEY).with_progress(
            "Loading messages…"
        ).with_context(f"Browsing {self._context}".strip()).success(
            lambda page: self._on_page(browser, page)
        ).failure(self._on_fetch_failure).finally_(lambda: self._on_fetch_finished(browser)).run()

    def load_more(self) -> None:
        """Fetch the next page now; after a failure, this is the retry."""
        self._failed = False
        self.fetchMore(QModelIndex())

    def load_all(self) -> None:
        self._load_all = True
        self.load_more()

    def stop_loading(self) -> None:
        self._load_all = False
        if self.cancel_task(_FETCH_KEY) is not None:
            self.loading_changed.emit(False)

    def _on_page(self, browser: Browser, page: Page) -> None:
        if browser is not self._browser:
            return
        self._more = page.more
        messages = list(page.messages)
        if messages:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(messages) - 1)
            self._rows.extend(messages)
            self.endInsertRows()
            settle_long_lived()
        if not self._more:
            # The end is the truth: depth counts may include what browsing cannot see.
            self._expected = len(self._rows)
        self._emit_counts()

    def _on_fetch_failure(self, exc: BaseException) -> None:
        self._failed = True
        self._load_all = False
        self.fetch_failed.emit(exc)
        report_failure(self, exc, context=f"Browsing {self._context}".strip())

    def _on_fetch_finished(self, browser: Browser) -> None:
        if browser is not self._browser:
            return  # a cancelled read of a browser already replaced: not our news
        if self._load_all and self.has_more and not self._failed:
            # Load all goes on with the next page on the next loop turn; listeners stay
            # "loading" in between, so labels and buttons do not flicker per page.
            current_loop().call_soon(self._continue_load_all)
            return
        if not self.has_more:
            self._load_all = False
        # Runs inside the task, so is_loading is still True here: listeners take the argument.
        self.loading_changed.emit(False)

    def _continue_load_all(self) -> None:
        if self._load_all and self.canFetchMore():
            self.fetchMore(QModelIndex())
        else:  # stopped, cleared or failed between two pages
            self.loading_changed.emit(False)

    def _emit_counts(self) -> None:
        self.counts_changed.emit(len(self._rows), -1 if self._expected is None else self._expected)

    # -- the table --------------------------------------------------------------------

    def message_at(self, row: int) -> Message:
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[Column(section)]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if section in (Column.ATTEMPTS, Column.SIZE) else _LEFT
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        message = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(message, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(message, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column in (Column.ATTEMPTS, Column.SIZE) else _LEFT
        if role == MessageRole:
            return message
        return None


def _display(message: Message, column: int) -> str:
    facts = message.dead_letter
    if column == Column.TIME:
        return time_text(message.timestamp or facts.last_failure)
    if column == Column.ID_KEY:
        key = key_text(message.key)
        return f"{message.id} · {key}" if key else message.id
    if column == Column.ORIGINAL_DESTINATION:
        return facts.original_destination or ""
    if column == Column.REASON:
        # One line: a stack trace or multi-line message must not stretch the row.
        return facts.summary.split("\n", 1)[0]
    if column == Column.ATTEMPTS:
        return count_text(facts.attempts)
    if column == Column.SIZE:
        return human_size(message.size)
    return ""


def _tooltip(message: Message, column: int) -> str | None:
    facts = message.dead_letter
    if column == Column.REASON:
        parts = []
        if facts.reason:
            parts.append(f"Reason: {facts.reason}")
        if facts.exception_type:
            parts.append(f"Exception: {facts.exception_type}")
        if facts.exception_message:
            parts.append(facts.exception_message[:2000])
        return "\n".join(parts) or None
    if column == Column.ID_KEY:
        key = "" if message.key is None else f"\nKey: {key_text(message.key, limit=512)}"
        return f"ID: {message.id}{key}"
    if column == Column.ORIGINAL_DESTINATION and facts.original_destination:
        where = facts.original_destination
        if facts.original_partition is not None:
            where += f" [partition {facts.original_partition}"
            if facts.original_offset is not None:
                where += f", offset {facts.original_offset}"
            where += "]"
        return where
    if column == Column.SIZE:
        return f"{message.size:,} bytes"
    if column == Column.TIME and message.timestamp is not None:
        return message.timestamp.isoformat()
    return None
