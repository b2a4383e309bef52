"""The one way the UI runs async work: `AsyncOp(owner, factory).success(cb).run()`.

Shaped after Anki's `QueryOp`: a typed builder whose result is delivered on the UI
side, whose failures go to one error presenter unless the caller takes them, and
whose progress indicator appears only when the work is slow. Tasks belong to the
widget (or model) that started them, so closing it cancels them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, Self, TypeVar

import shiboken6
from PySide6.QtCore import QObject

log = logging.getLogger(__name__)

T = TypeVar("T")

# Anki's figure: fast operations finish before an indicator would only flicker.
PROGRESS_DELAY_S = 0.6


class ProgressSink(Protocol):
    def begin(self, label: str) -> object: ...

    def end(self, token: object) -> None: ...


class FailureSink(Protocol):
    def present(self, exc: BaseException, *, context: str = "") -> None: ...


class _LoggingFailureSink:
    """Used only when no owner up the parent chain has a presenter: never lose an error."""

    def present(self, exc: BaseException, *, context: str = "") -> None:
        log.error("%s failed", context or "Operation", exc_info=exc)


def current_loop() -> asyncio.AbstractEventLoop:
    """The qasync loop, also when called from a Qt handler outside a running task."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        # Tests drive the loop with run_until_complete and call close() between runs.
        return asyncio.get_event_loop()


class TaskOwner:
    """Mixin for QObjects that start async work: their tasks live and die with them.

    qasync's `asyncSlot` keeps tasks in a global set; here each owner keeps its own
    and its `closeEvent` (or `clear()`) calls `cancel_tasks()`. Owners that host an
    error presenter or a progress indicator set the two attributes below; operations
    started by their children find them by walking up the QObject parent chain.
    """

    error_presenter: FailureSink | None = None
    progress_sink: ProgressSink | None = None

    def _task_registry(self) -> tuple[set[asyncio.Task[object]], dict[str, asyncio.Task[object]]]:
        # Lazily created so the mixin needs no __init__ next to a Qt base class.
        registry = self.__dict__.get("_eventdesk_tasks")
        if registry is None:
            registry = (set(), {})
            self.__dict__["_eventdesk_tasks"] = registry
        return registry

    def owned_tasks(self) -> frozenset[asyncio.Task[object]]:
        return frozenset(self._task_registry()[0])

    def is_running(self, key: str) -> bool:
        task = self._task_registry()[1].get(key)
        return task is not None and not task.done()

    def cancel_task(self, key: str) -> asyncio.Task[object] | None:
        """Cancel the keyed task; returns it so a caller can wait for it to unwind."""
        task = self._task_registry()[1].pop(key, None)
        if task is not None and not task.done():
            task.cancel()
            return task
        return None

    def cancel_tasks(self) -> list[asyncio.Task[object]]:
        tasks, keyed = self._task_registry()
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        tasks.clear()
        keyed.clear()
        return pending

    def _adopt(self, task: asyncio.Task[object], key: str | None) -> None:
        tasks, keyed = self._task_registry()
        tasks.add(task)
        if key is not None:
            keyed[key] = task

        def forget(done: asyncio.Task[object]) -> None:
            tasks.discard(done)
            if key is not None and keyed.get(key) is done:
                del keyed[key]

        task.add_done_callback(forget)


def _find_sinks(owner: object) -> tuple[FailureSink, ProgressSink | None]:
    presenter: FailureSink | None = None
    progress: ProgressSink | None = None
    node: object | None = owner
    while node is not None and (presenter is None or progress is None):
        if isinstance(node, TaskOwner):
            presenter = presenter or node.error_presenter
            progress = progress or node.progress_sink
        node = node.parent() if isinstance(node, QObject) else None
    return presenter or _LoggingFailureSink(), progress


def report_failure(owner: object, exc: BaseException, *, context: str = "") -> None:
    """Send `exc` to the presenter that operations started by `owner` would use."""
    presenter, _ = _find_sinks(owner)
    presenter.present(exc, context=context)


def _alive(owner: object) -> bool:
    return not isinstance(owner, QObject) or shiboken6.isValid(owner)


class AsyncOp(Generic[T]):
    """Builder for one piece of async work started from the UI.

    `factory` makes the coroutine only when `run()` is called, so a builder that is
    never run leaves no "coroutine was never awaited" behind.
    """

    def __init__(self, owner: TaskOwner, factory: Callable[[], Awaitable[T]]) -> None:
        self._owner = owner
        self._factory = factory
        self._on_success: Callable[[T], None] | None = None
        self._on_failure: Callable[[BaseException], None] | None = None
        self._on_finally: Callable[[], None] | None = None
        self._progress_label: str | None = None
        self._key: str | None = None
        self._context = ""

    def success(self, callback: Callable[[T], None]) -> Self:
        self._on_success = callback
        return self

    def failure(self, callback: Callable[[BaseException], None]) -> Self:
        """Take failures instead of the presenter (call `present_failure` to pass some on)."""
        self._on_failure = callback
        return self

    def finally_(self, callback: Callable[[], None]) -> Self:
        """Runs after success, failure or cancellation, while the owner still exists."""
        self._on_finally = callback
        return self

    def with_progress(self, label: str) -> Self:
        self._progress_label = label
        return self

    def latest_wins(self, key: str) -> Self:
        """Starting this op cancels the owner's running op with the same key."""
        self._key = key
        return self

    def with_context(self, context: str) -> Self:
        """Names the operation in error reports: "Browsing orders.DLT on local-kafka"."""
        self._context = context
        return self

    def run(self) -> asyncio.Task[T | None]:
        """Start the work; the task's result is None when it failed (failures are delivered,
        never left in the task for asyncio to log as "never retrieved")."""
        if self._key is not None:
            self._owner.cancel_task(self._key)
        task = current_loop().create_task(self._run())
        self._owner._adopt(task, self._key)  # type: ignore[arg-type]
        return task

    def present_failure(self, exc: BaseException) -> None:
        """For a `failure` callback that handles some errors and passes the rest on."""
        report_failure(self._owner, exc, context=self._context)

    async def _run(self) -> T | None:
        presenter, progress = _find_sinks(self._owner)
        token: object | None = None
        timer: asyncio.TimerHandle | None = None

        def show_progress() -> None:
            nonlocal token
            if progress is not None and self._progress_label is not None:
                token = progress.begin(self._progress_label)

        if self._progress_label is not None and progress is not None:
            timer = current_loop().call_later(PROGRESS_DELAY_S, show_progress)
        try:
            try:
                result = await self._factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _alive(self._owner):
                    self._deliver_failure(exc, presenter)
                return None
            if _alive(self._owner) and self._on_success is not None:
                try:
                    self._on_success(result)
                except Exception as exc:
                    # A bug in a UI callback must still reach the operator, not vanish in the loop.
                    presenter.present(exc, context=self._context)
            return result
        finally:
            if timer is not None:
                timer.cancel()
            if token is not None and progress is not None:
                progress.end(token)
            if self._on_finally is not None and _alive(self._owner):
                self._on_finally()

    def _deliver_failure(self, exc: BaseException, presenter: FailureSink) -> None:
        if self._on_failure is None:
            presenter.present(exc, context=self._context)
            return
        try:
            self._on_failure(exc)
        except Exception as handler_exc:
            presenter.present(handler_exc, context=self._context)
