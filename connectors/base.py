"""The interfaces every broker adapter implements (one module, like aio-pika's abc.py)."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from .model import BrokerKind, Endpoint, Page


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
