"""Qt on a qasync loop for GUI tests.

pytest-qt has no qasync integration, and qasync's tasks need their loop to be
*running* (aiokafka and aio-pika call get_running_loop): so scenarios run inside
`driver.run(...)` / `driver.until(...)`, which spin the qasync loop (and with it
Qt's event loop) until a condition holds. Never mixed with pytest-asyncio's loop.
"""

from __future__ import annotations

import os

# Before anything imports Qt: no display here, and none in CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import eventdesk.gui  # noqa: F401  (applies the PySide6/Python 3.11 refcount guard)
import pytest
import qasync
import shiboken6
from eventdesk.gui.garbage_collector import GuiThreadGarbageCollector
from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QApplication

T = TypeVar("T")


class LoopDriver:
    """Runs the qasync loop for a test until something happens, or fails on timeout."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, awaitable: Awaitable[T], *, timeout: float = 30.0) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, timeout))

    def until(
        self, predicate: Callable[[], bool], *, timeout: float = 10.0, message: str = ""
    ) -> None:
        """Like qtbot.waitUntil, with the asyncio side running too."""

        async def poll() -> None:
            # The predicate reads Qt state, which has no asyncio.Event to wait on.
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.01)

        try:
            self.run(poll(), timeout=timeout)
        except TimeoutError:
            pytest.fail(f"timed out after {timeout} s waiting for {message or predicate}")

    def wait_signal(self, signal: SignalInstance, *, timeout: float = 10.0) -> tuple[Any, ...]:
        """Like qtbot.waitSignal: runs the loop until `signal` fires; returns its arguments."""
        future: asyncio.Future[tuple[Any, ...]] = self.loop.create_future()

        def fired(*args: Any) -> None:
            if not future.done():
                future.set_result(args)

        signal.connect(fired)
        try:
            return self.run(future, timeout=timeout)
        except TimeoutError:
            pytest.fail(f"timed out after {timeout} s waiting for {signal}")
        finally:
            signal.disconnect(fired)

    def settle(self) -> None:
        """One short turn of the loop: lets queued callbacks and paints run."""
        self.run(asyncio.sleep(0.05))


class DrivenEventLoop(qasync.QEventLoop):
    """A qasync loop that asyncio keeps seeing as this thread's loop between runs.

    qasync's run_until_complete ends with one more processEvents() *after* clearing
    the running loop, and pytest-qt processes events outside any run too: a task woken
    there would find no running loop (aiokafka, asyncio.wait_for and friends need it).
    """

    def run_forever(self) -> None:
        try:
            super().run_forever()
        finally:
            asyncio.events._set_running_loop(self)


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread(qapp: QApplication) -> Iterator[None]:
    """As in the app: the cyclic collector runs on this thread only (see garbage_collector).

    Otherwise it may run on a worker thread (boto3 runs in some) and destroy widgets
    there, which crashes Qt.
    """
    collector = GuiThreadGarbageCollector()
    collector.start()
    yield
    collector.stop()
    gc.collect()
    shiboken6.delete(collector)


@pytest.fixture
def driver(qapp: QApplication) -> Iterator[LoopDriver]:
    loop = DrivenEventLoop(qapp)
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    try:
        yield LoopDriver(loop)
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.events._set_running_loop(None)
        loop.close()
        asyncio.set_event_loop(None)
