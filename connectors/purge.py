"""Purge a whole dead-letter queue, journaled: what was asked, what the broker removed.

Unlike discard, a purge names no message: the journal records the endpoint, the depth just
before, and how many the broker says it removed.
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
    timeout: float = 30.0,
) -> PurgeResult:
    """Removes every message of `endpoint` once `confirm` repeats its name."""
    if confirm != endpoint:
        raise PurgeRefused(f"Purge of {endpoint} not confirmed: {confirm!r} is not its name.")
    try:
        before: int | None = await connector.depth(endpoint, timeout=timeout)
    except EventdeskError:
        before = None  # the purge itself says whether the endpoint can be reached
    record = journal.start_action(
        kind="purge",
        source_connection=source_connection,
        source=endpoint,
        messages=[],
        options={"depth_before": before},
    )
    try:
        removed = await connector.purge(endpoint, timeout=timeout)
    except BaseException as exc:
        journal.finish(record.id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    plural = "s" if removed != 1 else ""
    journal.finish(record.id, "completed", f"{removed} message{plural} removed")
    return PurgeResult(record.id, removed)


__all__ = ["PurgeRefused", "PurgeResult", "can_purge", "purge"]
