"""Purge a whole dead-letter queue, journaled: what was asked, what the broker removed.

Unlike discard, a purge names no message: the journal records the endpoint, the depth just
before, and how many the broker says it removed. On Kafka, where a discard only marks records
handled, `handled_only` is the retention clean-up: it deletes the records below each
partition's first unhandled one, and nothing still to handle.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Connector
from .errors import EventdeskError
from .journal import Journal


@dataclass(frozen=True, slots=True)
class PurgeResult:
    action_id: str
    removed: int


class PurgeRefused(EventdeskError):
    """The typed name does not match the endpoint: nothing was removed."""

    hint = "Type the endpoint's name exactly as shown to confirm the purge."


def can_delete_handled(connector: Connector) -> bool:
    """Whether the broker keeps handled dead letters until asked to delete them (Kafka)."""
    return callable(getattr(connector, "delete_handled", None))


def can_purge(connector: Connector) -> bool:
    """Whether the connector's broker has a purge (NATS capture streams do not, yet)."""
    return type(connector).purge is not Connector.purge


async def purge(
    connector: Connector,
    endpoint: str,
    *,
    confirm: str,
    journal: Journal,
    source_connection: str,
    handled_only: bool = False,
    timeout: float = 30.0,
) -> PurgeResult:
    """Removes every message of `endpoint` (or, `handled_only`, those already handled) once
    `confirm` repeats its name."""
    if handled_only and not can_delete_handled(connector):
        raise PurgeRefused(
            f"{endpoint}: only Kafka keeps handled dead letters to delete.",
            hint="Replay or discard removes them from this broker already.",
        )
    if confirm != endpoint:
        raise PurgeRefused(f"Purge of {endpoint} not confirmed: {confirm!r} is not its name.")
    try:
        before: int | None = await connector.depth(endpoint, timeout=timeout)
    except EventdeskError:
        before = None  # the purge itself says whether the endpoint can be reached
    record = journal.start_action(
        kind="delete-handled" if handled_only else "purge",
        source_connection=source_connection,
        source=endpoint,
        messages=[],
        options={"depth_before": before},
    )
    try:
        if handled_only:
            removed = await connector.delete_handled(endpoint, timeout=timeout)  # type: ignore[attr-defined]
        else:
            removed = await connector.purge(endpoint, timeout=timeout)
    except BaseException as exc:
        journal.finish(record.id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    plural = "s" if removed != 1 else ""
    journal.finish(record.id, "completed", f"{removed} message{plural} removed")
    return PurgeResult(record.id, removed)


__all__ = ["PurgeRefused", "PurgeResult", "can_delete_handled", "can_purge", "purge"]
