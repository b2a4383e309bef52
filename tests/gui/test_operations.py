"""AsyncOp: results and failures delivered on the UI side, tasks owned by widgets."""

from __future__ import annotations

import asyncio

import pytest
from eventdesk.connectors.errors import BrokerUnreachable
from eventdesk.gui import operations
from eventdesk.gui.error_log_widget import ErrorLogWidget
from eventdesk.gui.error_presenter import ErrorPresenter
from eventdesk.gui.operations import AsyncOp, TaskOwner
from eventdesk.gui.status_progress import StatusProgressWidget
from PySide6.QtCore import QObject
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QWidget

from .conftest import LoopDriver


class OwnerWidget(QWidget, TaskOwner):
    def __init__(self) -> None:
        super().__init__()
        self.error_presenter = ErrorPresenter(self)
        self.progress_sink = StatusProgressWidget(self)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_tasks()
        super().closeEvent(event)


class ChildModel(QObject, TaskOwner):
    """Owns tasks but no presenter: its failures must reach the window's."""


@pytest.fixture
def owner(qtbot) -> OwnerWidget:
    widget = OwnerWidget()
    qtbot.addWidget(widget)
    return widget


def test_success_is_delivered_and_nothing_is_reported(driver: LoopDriver, owner: OwnerWidget):
    results: list[int] = []

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    task = AsyncOp(owner, answer).success(results.append).run()
    assert task in owner.owned_tasks()
    driver.run(task)

    assert results == [42]
    assert owner.error_presenter.reports == ()
    assert task not in owner.owned_tasks()


def test_failure_goes_to_the_presenter_with_its_hint(driver: LoopDriver, owner: OwnerWidget):
    log = ErrorLogWidget(owner.error_presenter)

    async def fail() -> None:
        raise BrokerUnreachable("No broker at 127.0.0.1:1")

    driver.run(AsyncOp(owner, fail).with_context("Connecting to local").run())

    (report,) = owner.error_presenter.reports
    assert report.message == "No broker at 127.0.0.1:1"
    assert report.hint == BrokerUnreachable.hint
    assert "Connecting to local: No broker at 127.0.0.1:1 — Check that" in report.status_text
    assert log.entry_texts() == ["No broker at 127.0.0.1:1"]


def test_repeated_identical_errors_collapse_into_one_entry(driver: LoopDriver, owner: OwnerWidget):
    log = ErrorLogWidget(owner.error_presenter)

    async def fail() -> None:
        raise BrokerUnreachable("down")

    for _ in range(3):
        driver.run(AsyncOp(owner, fail).with_context("Refreshing").run())

    assert log.entry_count() == 1
    assert owner.error_presenter.reports[0].count == 3
    assert owner.error_presenter.reports[0].status_text.endswith("(×3)")


def test_unexpected_exception_says_so_and_points_at_the_log(
    driver: LoopDriver, owner: OwnerWidget, caplog: pytest.LogCaptureFixture
):
    async def bug() -> None:
        raise KeyError("partition")

    driver.run(AsyncOp(owner, bug).run())

    (report,) = owner.error_presenter.reports
    assert report.message.startswith("Unexpected error: KeyError")
    assert report.message.endswith("details in the log")
    assert not report.expected
    assert any(record.exc_info for record in caplog.records)


def test_failure_callback_takes_the_error_instead(driver: LoopDriver, owner: OwnerWidget):
    taken: list[BaseException] = []

    async def fail() -> None:
        raise BrokerUnreachable("down")

    driver.run(AsyncOp(owner, fail).failure(taken.append).run())

    assert [str(exc) for exc in taken] == ["down"]
    assert owner.error_presenter.reports == ()


def test_presenter_is_found_up_the_parent_chain(driver: LoopDriver, owner: OwnerWidget):
    model = ChildModel(owner)

    async def fail() -> None:
        raise BrokerUnreachable("down")

    driver.run(AsyncOp(model, fail).run())

    assert len(owner.error_presenter.reports) == 1


def test_closing_the_widget_cancels_its_tasks(driver: LoopDriver, owner: OwnerWidget):
    delivered: list[object] = []
    never = asyncio.Event()

    async def wait_forever() -> None:
        await never.wait()

    owner.show()
    task = AsyncOp(owner, wait_forever).success(delivered.append).run()
    driver.settle()
    assert not task.done()

    owner.close()
    driver.until(task.done, message="the task to be cancelled")

    assert task.cancelled()
    assert delivered == []
    assert owner.owned_tasks() == frozenset()


def test_latest_wins_cancels_the_previous_op_with_the_same_key(
    driver: LoopDriver, owner: OwnerWidget
):
    delivered: list[str] = []
    first_gate = asyncio.Event()

    async def first() -> str:
        await first_gate.wait()
        return "first"

    async def second() -> str:
        return "second"

    old = AsyncOp(owner, first).latest_wins("browse").success(delivered.append).run()
    driver.settle()
    new = AsyncOp(owner, second).latest_wins("browse").success(delivered.append).run()
    driver.run(new)
    driver.until(old.done)

    assert old.cancelled()
    assert delivered == ["second"]


def test_progress_shows_only_for_slow_work_and_always_ends(
    driver: LoopDriver, owner: OwnerWidget, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(operations, "PROGRESS_DELAY_S", 0.05)
    progress = owner.progress_sink
    gate = asyncio.Event()

    async def fast() -> None:
        return None

    async def slow() -> None:
        await gate.wait()
        raise BrokerUnreachable("gone")

    driver.run(AsyncOp(owner, fast).with_progress("Fast").run())
    assert progress.active_labels == []

    task = AsyncOp(owner, slow).with_progress("Loading messages…").run()
    driver.until(lambda: progress.active_labels == ["Loading messages…"])
    assert progress.label.text() == "Loading messages…"
    gate.set()
    driver.run(task)

    # Ended in `finally`, even though the work failed.
    assert progress.active_labels == []
    assert progress.isHidden()
