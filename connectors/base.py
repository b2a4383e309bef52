"""The interfaces every broker adapter implements (one module, like aio-pika's abc.py)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from .model import BrokerKind, Endpoint, Message, Outcome, Outgoing, Page


class Browser(abc.ABC):
    """Reads one endpoint page by page without consuming it.

    Some brokers can only show messages by holding them (RabbitMQ: unacked;
    SQS: invisible). A browser holds what it showed until `close()`, which gives
    every held message back untouched. Always close it: use `async with`.
    """

    # Shown to the operator next to the messages: what browsing does to them.
    side_effect_note: str = ""
    # Set when browsing stopped before the end of the endpoint (a cap on held messages,
    # FIFO groups that cannot be read past): says why, so the UI never implies "that's all".
    incomplete: str | None = None

    @abc.abstractmethod
    async def next_page(self, *, timeout: float = 10.0) -> Page:
        """The next messages; `Page.more` is False once the end is reached."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Give back everything held. Idempotent."""

    async def settle(self, messages: Sequence[Message], *, timeout: float = 30.0) -> list[Outcome]:
        """Take these browsed dead letters off the endpoint for good (replayed or discarded).

        RabbitMQ acks them, SQS deletes them, Kafka (which cannot delete one record) moves
        the endpoint's review consumer group past them. Only messages this browser has
        shown can be settled; anything else comes back as a failed Outcome.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot settle messages yet")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Connector(abc.ABC):
    """A live connection to one broker. Open with `async with` or `connect()`."""

    kind: BrokerKind

    @abc.abstractmethod
    async def connect(self, *, timeout: float = 10.0) -> None:
        """Open the connection; raises BrokerUnreachable / AuthenticationFailed / ..."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close everything this connector opened. Idempotent."""

    @abc.abstractmethod
    async def list_endpoints(self, *, timeout: float = 30.0) -> list[Endpoint]:
        """Every topic or queue with its depth, dead-letter queues marked."""

    @abc.abstractmethod
    async def depth(self, endpoint: str, *, timeout: float = 10.0) -> int:
        """How many messages the endpoint holds now."""

    @abc.abstractmethod
    def browse(self, endpoint: str, *, page_size: int = 500) -> Browser:
        """A browser over the endpoint, oldest first. Nothing is consumed."""

    async def send(
        self, target: str, messages: Sequence[Outgoing], *, timeout: float = 30.0
    ) -> list[Outcome]:
        """Publish to target and wait for the broker's confirmation of each message.

        An Outcome is ok only once the broker confirmed it (RabbitMQ publisher confirm on
        a routable publish, SQS batch entry accepted, Kafka acks=all).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot send messages yet")

    def as_sent(self, target: str, outgoing: Outgoing) -> Outgoing:
        """What `send(target, ...)` hands the broker for `outgoing`, where the connector
        changes it on the way (for previews that must show exactly what is sent)."""
        return outgoing

    async def purge(self, endpoint: str, *, timeout: float = 30.0) -> int:
        """Remove every message the endpoint holds now; returns how many (as the broker says).

        Irreversible, and never part of a replay or discard: the operator asks for it.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot purge endpoints")

    async def send_and_settle(
        self,
        target: str,
        messages: Sequence[Outgoing],
        browser: Browser,
        dead_letters: Sequence[Message],
        *,
        timeout: float = 30.0,
    ) -> list[Outcome]:
        """Replay on one broker: publish, get the confirmation, then settle what was confirmed.

        `messages[i]` is the replayed form of `dead_letters[i]`. A message whose send failed
        is never settled, so nothing is lost. Kafka overrides this with one transaction.
        """
        sent = await self.send(target, messages, timeout=timeout)
        confirmed = [dl for dl, outcome in zip(dead_letters, sent, strict=True) if outcome.ok]
        settled = {o.source_id: o for o in await browser.settle(confirmed, timeout=timeout)}
        return [
            outcome
            if not outcome.ok or settled[outcome.source_id].ok
            # Sent but not settled: it will be replayed again unless the operator says not
            # to; the idempotency key in its headers lets consumers drop the duplicate.
            else Outcome(
                outcome.source_id,
                False,
                f"sent ({outcome.detail}) but not settled: {settled[outcome.source_id].detail}",
            )
            for outcome in sent
        ]

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
