"""Replay and discard of NATS JetStream dead letters through the journaled engine."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import nats as nats_client
import pytest
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.model import Message
from eventdesk.connectors.nats import NatsConnector, dead_letter_endpoint
from eventdesk.connectors.replay import (
    ORIGINAL_ID_HEADER,
    REPLAY_COUNT_HEADER,
    ReplayOptions,
    discard,
    replay,
)

from tests.seed.nats import seed_nats

pytestmark = pytest.mark.nats

DEAD = 3  # the seed exhausts 2 and terminates 1 of 6 orders


@pytest.fixture
async def connector(nats: str) -> AsyncIterator[NatsConnector]:
    connector = NatsConnector(nats)
    await connector.connect()
    await connector.ensure_advisory_capture()
    yield connector
    await connector.close()


@pytest.fixture
async def orders(nats: str, connector: NatsConnector) -> AsyncIterator[str]:
    """A seeded ORDERS_<id> stream whose consumer "billing" dead-lettered 3 messages."""
    stream = f"ORDERS_{uuid.uuid4().hex[:8]}"
    await seed_nats(nats, stream=stream, consumer="billing", count=6, exhaust=2, terminate=1)
    deadline = time.monotonic() + 10
    while await connector.depth(dead_letter_endpoint(stream, "billing")) < DEAD:
        assert time.monotonic() < deadline, "the server published no advisories"
        await asyncio.sleep(0.1)
    yield stream
    nc = await nats_client.connect(nats)
    await nc.jetstream().delete_stream(stream)
    await nc.close()


@pytest.fixture
def journal() -> Iterator[Journal]:
    with Journal.open() as journal:
        yield journal


async def _stream_messages(connector: NatsConnector, stream: str) -> list[Message]:
    async with connector.browse(stream) as browser:
        return list((await browser.next_page()).messages)


async def test_replay_republishes_to_the_original_subject_journaled(
    connector: NatsConnector, orders: str, journal: Journal
) -> None:
    dlq = dead_letter_endpoint(orders, "billing")
    async with connector.browse(dlq) as browser:
        letters = list((await browser.next_page()).messages)
        assert len(letters) == DEAD
        result = await replay(
            connector,
            browser,
            letters,
            connector,
            None,
            options=ReplayOptions(),
            journal=journal,
            source_connection="jetstream",
        )
    assert result.ok, result
    assert await connector.depth(dlq) == 0
    replayed = (await _stream_messages(connector, orders))[6:]
    assert sorted(m.header("Nats-Msg-Id") for m in replayed) == sorted(m.id for m in letters)
    assert {m.attributes["subject"] for m in replayed} == {f"{orders.lower()}.created"}
    assert all(m.header(REPLAY_COUNT_HEADER) == "1" for m in replayed)
    by_id = {m.header(ORIGINAL_ID_HEADER): m for m in replayed}
    assert {k: by_id[k].body for k in by_id} == {m.id: m.body for m in letters}

    record = journal.action(result.action_id)
    assert record is not None
    assert record.kind == "replay" and record.status == "completed"
    assert record.source == dlq and record.source_connection == "jetstream"
    assert record.counts == {"settled": DEAD}
    assert {m.target for m in record.messages} == {f"{orders.lower()}.created"}
    assert all(f"{orders} seq" in m.detail for m in record.messages)


async def test_a_replay_nobody_takes_leaves_the_dead_letters_journaled_failed(
    connector: NatsConnector, orders: str, journal: Journal
) -> None:
    dlq = dead_letter_endpoint(orders, "billing")
    async with connector.browse(dlq) as browser:
        letters = list((await browser.next_page()).messages)
        result = await replay(
            connector,
            browser,
            letters[:2],
            connector,
            f"nowhere.{orders.lower()}",
            options=ReplayOptions(),
            journal=journal,
        )
    assert not result.ok and result.failed == 2
    assert all("no JetStream stream" in o.detail for o in result.outcomes)
    # Nothing lost: the advisories stay, so the dead letters are still there.
    assert await connector.depth(dlq) == DEAD
    assert await connector.depth(orders) == 6
    record = journal.action(result.action_id)
    assert record is not None and record.counts == {"failed": 2}


async def test_discard_marks_handled_journaled_and_keeps_the_message(
    connector: NatsConnector, orders: str, journal: Journal
) -> None:
    dlq = dead_letter_endpoint(orders, "billing")
    async with connector.browse(dlq) as browser:
        letters = list((await browser.next_page()).messages)
        chosen = letters[:1]
        result = await discard(browser, chosen, journal=journal, source_connection="jetstream")
    assert result.ok and result.succeeded == 1
    assert await connector.depth(dlq) == DEAD - 1
    assert await connector.depth(orders) == 6
    async with connector.browse(dlq) as browser:
        left = {m.id for m in (await browser.next_page()).messages}
    assert left == {m.id for m in letters[1:]}
    record = journal.action(result.action_id)
    assert record is not None
    assert record.kind == "discard" and record.status == "completed"
    assert record.source == dlq
    assert [(m.source_id, m.state) for m in record.messages] == [(chosen[0].id, "settled")]
