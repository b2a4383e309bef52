"""In-test stand-ins for pure view logic: a Browser over a list, messages to fill it, and a
keyring kept in a dict (the real Secret Service is tested in tests/connectors/)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from eventdesk.connectors.base import Browser
from eventdesk.connectors.model import DeadLetterFacts, Message, Page
from jaraco.classes import properties
from keyring.backend import KeyringBackend


def dead_letter(n: int, *, key: bytes | None = None, body: bytes = b'{"n": 1}') -> Message:
    return Message(
        endpoint="orders.DLT",
        id=f"0:{n}",
        body=body,
        key=key if key is not None else f"ORD-{n:05d}".encode(),
        headers=(("kafka_dlt-original-topic", b"orders"),),
        timestamp=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(seconds=n),
        dead_letter=DeadLetterFacts(
            convention="spring-kafka",
            original_destination="orders",
            reason="rejected",
            exception_type="com.acme.InvalidOrderException",
            exception_message=f"Order {n} has no customer\nsecond line",
            attempts=3,
        ),
        attributes={"partition": "0", "offset": str(n)},
    )


class ListBrowser(Browser):
    """Pages through `messages`; `gate` (when set) holds each read until released."""

    side_effect_note = "Fake: nothing is held."

    def __init__(
        self,
        messages: Sequence[Message],
        *,
        page_size: int = 500,
        fail_on_page: int | None = None,
        failure: Exception | None = None,
    ) -> None:
        self._messages = list(messages)
        self._page_size = page_size
        self._position = 0
        self.reads = 0
        self.closed = False
        self.gate: asyncio.Event | None = None
        self._fail_on_page = fail_on_page
        self._failure = failure

    async def next_page(self, *, timeout: float = 10.0) -> Page:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self._fail_on_page is not None and self.reads == self._fail_on_page:
            self._fail_on_page = None  # fail once; the retry works
            assert self._failure is not None
            raise self._failure
        chunk = self._messages[self._position : self._position + self._page_size]
        self._position += len(chunk)
        return Page(chunk, more=self._position < len(self._messages))

    async def close(self) -> None:
        self.closed = True


class DictKeyring(KeyringBackend):
    """Stands in for the OS keyring in GUI tests; the real one is tested in connectors/."""

    # Every KeyringBackend subclass joins keyring's own search; one that is not viable
    # (its priority raises) is never picked for the rest of the session.
    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("a test stand-in, used only when passed in")

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)
