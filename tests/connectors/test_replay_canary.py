"""The canary on the real RabbitMQ: the first K replayed messages dead-letter straight back
(a consumer rejects everything), so the replay stops and leaves the rest untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import aio_pika
import pytest
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.model import Message
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.replay import ORIGINAL_ID_HEADER, ReplayOptions, replay

from tests.conftest import RabbitMQSettings
from tests.connectors.pages import all_pages

pytestmark = pytest.mark.rabbitmq

COUNT = 20
CANARY = 3


async def _amqp(rabbitmq: RabbitMQSettings) -> aio_pika.abc.AbstractConnection:
    return await aio_pika.connect(
        host=rabbitmq.host, port=rabbitmq.port, login=rabbitmq.username, password=rabbitmq.password
    )


async def _depth(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    return int(declared.declaration_result.message_count or 0)


@pytest.fixture
async def queues(rabbitmq: RabbitMQSettings, unique_name: str) -> AsyncIterator[tuple[str, str]]:
    """`source` dead-letters into `dlq`, which holds COUNT messages the broker put there."""
    source, dlq = unique_name, f"{unique_name}.dlq"
    connection = await _amqp(rabbitmq)
    try:
        channel = await connection.channel()
        await channel.declare_queue(dlq)
        queue = await channel.declare_queue(
            source, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
        )
        for n in range(COUNT):
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps({"order": n}).encode(), message_id=f"order-{n}"),
                routing_key=source,
            )
        for _ in range(COUNT):
            message = await queue.get(no_ack=False, timeout=5)
            await message.reject(requeue=False)
        # Dead-lettering is asynchronous: wait, boundedly, until all have arrived.
        for _ in range(200):
            if await _depth(channel, dlq) >= COUNT:
                break
            await asyncio.sleep(0.05)
        yield source, dlq
        for name in (source, dlq):
            await channel.queue_delete(name)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def _rejecting_consumer(
    rabbitmq: RabbitMQSettings, queue: str, seen: list[str]
) -> AsyncIterator[None]:
    """The broken service: takes every message from `queue` and rejects it (dead-letters it)."""
    connection = await _amqp(rabbitmq)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)

        async def reject(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            seen.append(message.message_id or "")
            await message.reject(requeue=False)

        tag = await declared.consume(reject)
        yield
        await declared.cancel(tag)
    finally:
        await connection.close()


async def _run(
    rabbitmq: RabbitMQSettings, dlq: str, journal: Journal, options: ReplayOptions
) -> tuple[object, list[Message]]:
    async with RabbitMQConnector(**rabbitmq.credentials()) as connector:
        async with connector.browse(dlq) as browser:
            letters = await all_pages(browser)
            result = await replay(
                connector, browser, letters, connector, None, options=options, journal=journal
            )
    return result, letters


async def test_canary_stops_a_replay_whose_first_messages_dead_letter_again(
    rabbitmq: RabbitMQSettings, queues: tuple[str, str]
) -> None:
    source, dlq = queues
    seen: list[str] = []
    options = ReplayOptions(canary_count=CANARY, canary_wait=1.5, batch_size=5)
    with Journal.open() as journal:
        async with _rejecting_consumer(rabbitmq, source, seen):
            result, letters = await _run(rabbitmq, dlq, journal, options)
        record = journal.action(result.action_id)

    assert result.status == "failed" and not result.ok
    assert result.detail.startswith(f"canary: {CANARY} of {CANARY} replayed message(s)")
    assert f"the other {COUNT - CANARY} were not sent" in result.detail
    canaries = [m.id for m in letters[:CANARY]]
    assert sorted(result.canary_returned) == sorted(canaries)
    # Only the canaries ever reached the broken service.
    assert sorted(seen) == sorted(canaries)
    # The rest untouched in the DLQ, the canaries back in it with their idempotency key.
    connection = await _amqp(rabbitmq)
    try:
        channel = await connection.channel()
        assert await _depth(channel, source) == 0
        dlq_queue = await channel.declare_queue(dlq, passive=True)
        back = []
        while (message := await dlq_queue.get(no_ack=True, fail=False, timeout=5)) is not None:
            back.append(message)
    finally:
        await connection.close()
    assert len(back) == COUNT
    returned = [
        str(m.headers.get(ORIGINAL_ID_HEADER)) for m in back if ORIGINAL_ID_HEADER in m.headers
    ]
    assert sorted(returned) == sorted(canaries)
    assert sorted(m.message_id for m in back) == sorted(f"order-{n}" for n in range(COUNT))
    # The journal says the same: canaries settled, the rest still pending (never sent).
    assert record is not None and record.status == "failed"
    assert record.counts == {"settled": CANARY, "pending": COUNT - CANARY}


async def test_a_healthy_canary_lets_the_replay_go_on(
    rabbitmq: RabbitMQSettings, queues: tuple[str, str]
) -> None:
    source, dlq = queues
    options = ReplayOptions(canary_count=CANARY, canary_wait=0.5, batch_size=5)
    with Journal.open() as journal:
        result, _ = await _run(rabbitmq, dlq, journal, options)
    assert result.status == "completed" and result.ok, result.detail
    assert result.canary_returned == ()
    connection = await _amqp(rabbitmq)
    try:
        channel = await connection.channel()
        assert [await _depth(channel, q) for q in (source, dlq)] == [COUNT, 0]
    finally:
        await connection.close()
