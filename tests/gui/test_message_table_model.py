"""MessageTableModel: pages arrive through fetchMore, appended in batches, shown as text."""

from __future__ import annotations

import asyncio
import time

import pytest
from eventdesk.connectors.errors import ConnectionLost
from eventdesk.gui.error_presenter import ErrorPresenter
from eventdesk.gui.message_browser_widget import MessageBrowserWidget
from eventdesk.gui.message_table_model import Column, MessageRole, MessageTableModel
from eventdesk.gui.operations import TaskOwner
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QWidget

from .conftest import LoopDriver
from .fakes import ListBrowser, dead_letter


class HostWidget(QWidget, TaskOwner):
    def __init__(self) -> None:
        super().__init__()
        self.error_presenter = ErrorPresenter(self)


@pytest.fixture
def host(qtbot) -> HostWidget:
    widget = HostWidget()
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def model(host: HostWidget) -> MessageTableModel:
    return MessageTableModel(host)


def _inserted(model: MessageTableModel) -> list[tuple[int, int]]:
    batches: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: batches.append((first, last)))
    return batches


def test_fetch_more_appends_one_batch_per_page(driver: LoopDriver, model: MessageTableModel):
    browser = ListBrowser([dead_letter(n) for n in range(1200)], page_size=500)
    batches = _inserted(model)
    resets: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))

    model.reset_to(browser, expected_total=1200, context="orders.DLT")
    driver.until(lambda: model.rowCount() == 500, message="the first page")
    assert model.canFetchMore(QModelIndex())

    browser.gate = gate = asyncio.Event()
    model.fetchMore(QModelIndex())
    driver.until(lambda: browser.reads == 2)
    # One read in flight at most: the view may ask again while it waits.
    assert not model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    driver.settle()
    assert browser.reads == 2
    gate.set()
    driver.until(lambda: model.rowCount() == 1000, message="the second page")

    model.fetchMore(QModelIndex())
    driver.until(lambda: model.rowCount() == 1200, message="the last page")

    assert batches == [(0, 499), (500, 999), (1000, 1199)]
    assert resets == []
    assert not model.canFetchMore(QModelIndex())
    assert model.expected_total == 1200


def test_cells_show_envelope_and_dead_letter_facts(driver: LoopDriver, model: MessageTableModel):
    binary_key = dead_letter(0, key=b"\xff\x00\x10", body=b"x" * 2048)
    model.reset_to(ListBrowser([binary_key, dead_letter(1)]))
    driver.until(lambda: model.rowCount() == 2)

    def cell(row: int, column: Column, role=Qt.ItemDataRole.DisplayRole):
        return model.data(model.index(row, column), role)

    assert cell(0, Column.ID_KEY) == "0:0 · 0x ff 00 10"
    assert cell(1, Column.ID_KEY) == "0:1 · ORD-00001"
    assert cell(0, Column.ORIGINAL_DESTINATION) == "orders"
    # The summary, on one line; the full text in the tooltip.
    assert cell(0, Column.REASON) == "InvalidOrderException: Order 0 has no customer"
    tooltip = cell(0, Column.REASON, Qt.ItemDataRole.ToolTipRole)
    assert "Reason: rejected" in tooltip
    assert "second line" in tooltip
    assert cell(0, Column.ATTEMPTS) == "3"
    assert cell(0, Column.SIZE) == "2.0 KiB"
    assert cell(1, Column.SIZE) == "8 B"
    assert cell(0, Column.SIZE, Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    assert cell(0, Column.TIME).startswith("2025-01-0")
    assert cell(1, Column.TIME, MessageRole).id == "0:1"
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in Column]
    assert headers == ["Time", "ID / Key", "Original destination", "Reason", "Attempts", "Size"]


def test_switching_browsers_closes_the_old_one(driver: LoopDriver, model: MessageTableModel):
    first = ListBrowser([dead_letter(n) for n in range(3)])
    second = ListBrowser([dead_letter(n) for n in range(5)])
    model.reset_to(first)
    driver.until(lambda: model.rowCount() == 3)

    model.reset_to(second)
    driver.until(lambda: first.closed and model.rowCount() == 5)

    driver.run(model.aclose())
    assert second.closed
    assert model.rowCount() == 0


def test_leaving_mid_read_cancels_the_read_then_closes(
    driver: LoopDriver, model: MessageTableModel
):
    browser = ListBrowser([dead_letter(n) for n in range(3)])
    browser.gate = asyncio.Event()
    model.reset_to(browser)
    driver.until(lambda: browser.reads == 1)

    driver.run(model.aclose())

    assert browser.closed
    assert model.rowCount() == 0
    assert not model.is_loading


def test_a_failed_page_is_reported_and_load_more_retries(
    driver: LoopDriver, host: HostWidget, model: MessageTableModel
):
    browser = ListBrowser(
        [dead_letter(n) for n in range(8)],
        page_size=5,
        fail_on_page=2,
        failure=ConnectionLost("The connection to 127.0.0.1:19092 dropped."),
    )
    failures: list[BaseException] = []
    model.fetch_failed.connect(failures.append)
    model.reset_to(browser, context="orders.DLT on local")
    driver.until(lambda: model.rowCount() == 5)

    model.fetchMore(QModelIndex())
    driver.until(lambda: model.failed, message="the failure")
    assert [type(exc) for exc in failures] == [ConnectionLost]
    assert not model.canFetchMore(QModelIndex())
    (report,) = host.error_presenter.reports
    assert report.context == "Browsing orders.DLT on local"
    assert report.hint == ConnectionLost.hint

    model.load_more()
    driver.until(lambda: model.rowCount() == 8, message="the retry")
    assert not model.failed


def _first_page_shown(
    driver: LoopDriver, model: MessageTableModel, count: int
) -> tuple[ListBrowser, list[bool]]:
    """`count` messages in pages of 500, the first shown; then every loading_changed."""
    browser = ListBrowser([dead_letter(n) for n in range(count)], page_size=500)
    model.reset_to(browser)
    driver.until(lambda: model.rowCount() == 500)
    loading: list[bool] = []
    model.loading_changed.connect(loading.append)
    return browser, loading


def test_load_all_pages_until_the_end(driver: LoopDriver, model: MessageTableModel):
    browser, loading = _first_page_shown(driver, model, 2345)
    model.load_all()
    driver.until(lambda: model.rowCount() == 2345 and not model.has_more)
    assert browser.reads == 5
    # One "loading" span for the whole load, not one per page (labels would flicker).
    driver.until(lambda: loading[-1:] == [False], message="loading ends")
    assert _transitions(loading) == [True, False]


def test_stop_between_pages_of_load_all_ends_loading(driver: LoopDriver, model: MessageTableModel):
    _browser, loading = _first_page_shown(driver, model, 5000)

    def stop_after_third_page(*_args: object) -> None:
        # Queued like a click: it runs after this page's read has finished, before the next.
        if model.rowCount() == 1500:
            asyncio.get_running_loop().call_soon(model.stop_loading)

    model.rowsInserted.connect(stop_after_third_page)
    model.load_all()
    driver.until(lambda: loading[-1:] == [False], message="loading ends")
    driver.settle()
    assert model.rowCount() == 1500 and model.has_more
    assert not model.is_loading
    assert _transitions(loading) == [True, False]


def _transitions(states: list[bool]) -> list[bool]:
    return [state for i, state in enumerate(states) if i == 0 or states[i - 1] != state]


def test_holds_100_000_rows_smoothly(driver: LoopDriver, qtbot, host: HostWidget):
    widget = MessageBrowserWidget(host)
    widget.resize(1000, 600)
    host.show()
    model = widget.model
    messages = [dead_letter(n) for n in range(100_000)]
    browser = ListBrowser(messages, page_size=5000)
    slowest = 0.0

    def timed_insert(*_args) -> None:
        nonlocal started
        started = time.perf_counter()

    def timed_done(*_args) -> None:
        nonlocal slowest
        slowest = max(slowest, time.perf_counter() - started)

    started = 0.0
    model.rowsAboutToBeInserted.connect(timed_insert)
    model.rowsInserted.connect(timed_done)

    begin = time.perf_counter()
    widget.open(browser, title="big", subtitle="", expected_total=100_000, context="big")
    model.load_all()
    driver.until(lambda: model.rowCount() == 100_000, timeout=60, message="all rows")
    total = time.perf_counter() - begin

    widget.table.scrollToBottom()
    widget.select_row(99_999)
    driver.settle()
    assert widget.table.currentIndex().row() == 99_999
    assert model.data(model.index(99_999, Column.ID_KEY)) == "0:99999 · ORD-99999"
    assert widget.count_label.text() == "All 100,000 loaded"
    # Generous bounds for CI; a model reset or per-row work would blow far past them.
    assert slowest < 0.5, f"one 5,000-row insert took {slowest:.2f} s"
    assert total < 20, f"100,000 rows took {total:.1f} s"
