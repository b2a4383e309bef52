"""RabbitMQConnector.send on the real broker: confirmed batches on a channel kept open."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import aio_pika.abc
import pytest
from eventdesk.connectors.errors import EndpointNotFound
from eventdesk.connectors.model import Outgoing
from eventdesk.connectors.rabbitmq import RabbitMQConnector

from tests.conftest import RabbitMQSettings

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
async def admin(rabbitmq: RabbitMQSettings) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(
        host=rabbitmq.host,
        port=rabbitmq.port,
        login=rabbitmq.username,
        password=rabbitmq.password,
        timeout=10,
    )
    try:
        yield await connection.channel()
    finally:
        await connection.close()


def _batch(prefix: str, count: int) -> list[Outgoing]:
    return [
        Outgoing(
            source_id=f"{prefix}-{number}",
            body=f"{prefix} {number}".encode(),
            headers=(("x-attempt", number), ("x-note", b"plain text")),
            options={"content_type": "text/plain", "type": "order.failed", "priority": "3"},
        )
        for number in range(count)
    ]


async def test_batches_are_confirmed_with_properties_and_headers_kept(
    rabbitmq_connector: RabbitMQConnector,
    admin: aio_pika.abc.AbstractChannel,
    unique_name: str,
) -> None:
    queue = await admin.declare_queue(unique_name, durable=True)
    try:
        for batch in range(3):
            outcomes = await rabbitmq_connector.send(unique_name, _batch(f"b{batch}", 200))
            assert [o.ok for o in outcomes] == [True] * 200
        assert await rabbitmq_connector.depth(unique_name) == 600
        first = await queue.get(no_ack=True, timeout=5)
        assert first is not None
        assert first.body == b"b0 0"
        assert (first.content_type, first.type, first.priority) == (
            "text/plain",
            "order.failed",
            3,
        )
        assert first.headers == {"x-attempt": 0, "x-note": "plain text"}
    finally:
        await admin.queue_delete(unique_name)


async def test_a_deleted_exchange_fails_its_messages_then_says_so_then_works_again(
    rabbitmq_connector: RabbitMQConnector,
    admin: aio_pika.abc.AbstractChannel,
    unique_name: str,
) -> None:
    exchange = await admin.declare_exchange(unique_name, aio_pika.ExchangeType.FANOUT)
    queue = await admin.declare_queue(unique_name, durable=True)
    await queue.bind(exchange)
    target = f"{unique_name}/any"
    try:
        assert all(o.ok for o in await rabbitmq_connector.send(target, _batch("a", 5)))
        await admin.exchange_delete(unique_name)
        # The kept channel dies on the first publish to the missing exchange.
        outcomes = await rabbitmq_connector.send(target, _batch("b", 5))
        assert not any(o.ok for o in outcomes)
        with pytest.raises(EndpointNotFound) as caught:
            await rabbitmq_connector.send(target, _batch("c", 5))
        assert unique_name in str(caught.value)
        exchange = await admin.declare_exchange(unique_name, aio_pika.ExchangeType.FANOUT)
        await queue.bind(exchange)
        assert all(o.ok for o in await rabbitmq_connector.send(target, _batch("d", 5)))
        assert await rabbitmq_connector.depth(unique_name) == 10
    finally:
        await admin.queue_delete(unique_name)
        await admin.exchange_delete(unique_name)
