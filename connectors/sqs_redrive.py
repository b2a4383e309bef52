"""Replay a whole SQS DLQ with SQS's own message move task, journaled and followed to its end.

SQS moves the messages itself (StartMessageMoveTask), back to the queues they were
dead-lettered from or to one destination; Eventdesk starts it, follows its progress,
cancels it on request, and records it. Per-message outcomes are SQS's to keep: the journal
holds the task handle and the counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from .errors import EventdeskError
from .journal import Journal
from .sqs import MoveTask, SqsConnector

# (moved so far, still to move or None when SQS does not say)
MoveProgress = Callable[[int, int | None], None]
_STATUSES = {"COMPLETED": "completed", "CANCELLED": "cancelled", "FAILED": "failed"}


@dataclass(frozen=True, slots=True)
class MoveResult:
    action_id: str
    status: str  # the journal's: completed, cancelled, failed, interrupted
    moved: int
    detail: str


async def move_back(
    connector: SqsConnector,
    dlq: str,
    *,
    journal: Journal,
    source_connection: str,
    destination: str | None = None,
    max_per_second: int | None = None,
    progress: MoveProgress | None = None,
    cancel: asyncio.Event | None = None,
    poll: float = 1.0,
) -> MoveResult:
    """Starts the move task and returns once SQS says it ended (or the link is lost)."""
    record = journal.start_action(
        kind="move",
        source_connection=source_connection,
        source=dlq,
        target=destination or "(the queues they came from)",
        messages=[],
        options={"native": "StartMessageMoveTask", "max_per_second": max_per_second},
    )
    try:
        handle = await connector.start_move_task(
            dlq, destination=destination, max_per_second=max_per_second
        )
    except BaseException as exc:
        journal.finish(record.id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    journal.set_status(record.id, "running", f"SQS move task {handle}")
    try:
        task = await _follow(connector, dlq, handle, progress, cancel, poll)
    except EventdeskError as exc:
        detail = f"SQS move task {handle} may still be running; lost track of it: {exc}"
        journal.set_status(record.id, "interrupted", detail)
        return MoveResult(record.id, "interrupted", 0, detail)
    status = _STATUSES.get(task.status, "failed")
    detail = f"{task.moved} message{'s' if task.moved != 1 else ''} moved by SQS move task {handle}"
    if task.failure_reason:
        detail += f": {task.failure_reason}"
    journal.finish(record.id, status, detail)
    return MoveResult(record.id, status, task.moved, detail)


async def _follow(
    connector: SqsConnector,
    dlq: str,
    handle: str,
    progress: MoveProgress | None,
    cancel: asyncio.Event | None,
    poll: float,
) -> MoveTask:
    cancelling = False
    while True:
        tasks = await connector.move_tasks(dlq)
        # AWS names only a running task by its handle; once ended, the newest is ours.
        task = next((t for t in tasks if t.handle == handle), tasks[0] if tasks else None)
        if task is None:
            raise EventdeskError(f"SQS lists no move task for {dlq}.")
        if progress is not None:
            progress(task.moved, task.to_move)
        if task.finished:
            return task
        if cancel is not None and cancel.is_set() and not cancelling:
            cancelling = True
            await connector.cancel_move_task(handle)
        await asyncio.sleep(poll)


__all__ = ["MoveProgress", "MoveResult", "move_back"]
