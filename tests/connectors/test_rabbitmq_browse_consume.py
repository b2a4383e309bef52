"""RabbitMQ browsing with a consumer: whole queues, no duplicates, nothing stops short."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aio_pika
import aio_pika.abc
import pytest
from eventdesk.connectors.errors import EndpointNotFound
from eventdesk.connectors.rabbitmq import RabbitMQBrowser, RabbitMQConnector

from tests.conftest import RabbitMQSettings
from tests.connectors.pages import all_pages
from tests.seed.rabbitmq import fill_dead_letter_queue

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
async def dlq(rabbitmq: RabbitMQSettings, unique_name: str) -> AsyncIterator[str]:
    """A durable queue named for the test, deleted afterwards."""
    connection = await _amqp(rabbitmq)
    try:
        channel = await connection.channel()
        await channel.declare_queue(unique_name, durable=True)
        yield unique_name
        await channel.queue_delete(unique_name)
    finally:
        await connection.close()


async def _amqp(rabbitmq: RabbitMQSettings) -> aio_pika.abc.AbstractConnection:
    """Another client's connection, to act on the queue behind the browser's back."""
    return await aio_pika.connect(
        host=rabbitmq.host,
        port=rabbitmq.port,
        login=rabbitmq.username,
        password=rabbitmq.password,
        timeout=10,
    )


async def _fill(rabbitmq: RabbitMQSettings, queue: str, count: int) -> None:
    await fill_dead_letter_queue(**rabbitmq.credentials(), queue=queue, count=count, size=256)


def _sequences(messages: list) -> list[int]:
    return [json.loads(message.body)["sequence"] for message in messages]


async def test_3000_come_in_pages_exactly_once_and_all_go_back_on_close(
    rabbitmq_connector: RabbitMQConnector, rabbitmq: RabbitMQSettings, dlq: str
) -> None:
    await _fill(rabbitmq, dlq, 3000)
    assert await rabbitmq_connector.depth(dlq) == 3000

    sizes: list[int] = []
    shown = []
    async with rabbitmq_connector.browse(dlq, page_size=700) as browser:
        while True:
            page = await browser.next_page()
            sizes.append(len(page.messages))
            shown.extend(page.messages)
            # Only what a page showed is held: nothing is fetched ahead of it.
            assert browser.held == len(shown)
            assert await rabbitmq_connector.depth(dlq) == 3000 - len(shown)
            if not page.more:
                break
        assert browser.incomplete is None
    assert sizes == [700, 700, 700, 700, 200]
    assert _sequences(shown) == list(range(3000))
    assert len({message.id for message in shown}) == 3000
    assert await rabbitmq_connector.depth(dlq) == 3000


async def test_a_browse_right_after_another_closed_shows_every_message(
    rabbitmq_connector: RabbitMQConnector, rabbitmq: RabbitMQSettings, dlq: str
) -> None:
    await _fill(rabbitmq, dlq, 1500)
    for _ in range(3):
        async with rabbitmq_connector.browse(dlq) as first:
            assert len(await all_pages(first)) == 1500
        # At once, while the broker may still be putting the first browse's messages back.
        async with rabbitmq_connector.browse(dlq) as second:
            again = await all_pages(second)
        assert sorted(_sequences(again)) == list(range(1500))
    assert await rabbitmq_connector.depth(dlq) == 1500


async def test_a_browse_waits_for_messages_another_holder_gives_back(
    rabbitmq_connector: RabbitMQConnector, rabbitmq: RabbitMQSettings, dlq: str
) -> None:
    await _fill(rabbitmq, dlq, 300)
    holder = await _amqp(rabbitmq)
    try:
        queue = await (await holder.channel()).get_queue(dlq, ensure=True)
        browser = RabbitMQBrowser(rabbitmq_connector, dlq, page_size=100)
        async with browser:
            # The browse begins while all 300 are ready...
            first = await browser.next_page()
            assert len(first.messages) == 100
            # ...then another client takes the rest, so the queue looks empty, and gives
            # them back while the browse is already waiting for its next page.
            held = [await queue.get(no_ack=False, timeout=5) for _ in range(200)]
            assert await rabbitmq_connector.depth(dlq) == 0

            async def give_back() -> None:
                await asyncio.sleep(0.5)
                await held[-1].nack(multiple=True, requeue=True)

            giving_back = asyncio.create_task(give_back())
            rest = await all_pages(browser)
            await giving_back
        assert sorted(_sequences(list(first.messages) + rest)) == list(range(300))
        assert browser.incomplete is None
    finally:
        await holder.close()
    assert await rabbitmq_connector.depth(dlq) == 300


async def test_a_browse_ends_when_the_messages_it_expected_were_taken_for_good(
    rabbitmq_connector: RabbitMQConnector, rabbitmq: RabbitMQSettings, dlq: str
) -> None:
    await _fill(rabbitmq, dlq, 50)
    browser = RabbitMQBrowser(rabbitmq_connector, dlq, page_size=20)
    async with browser:
        first = await browser.next_page()
        async with await _amqp(rabbitmq) as other:
            queue = await (await other.channel()).get_queue(dlq, ensure=True)
            for _ in range(30):
                taken = await queue.get(no_ack=True, timeout=5)
                assert taken is not None
        second = await browser.next_page(timeout=10)
    assert len(first.messages) == 20
    assert (second.messages, second.more) == ((), False)
    assert await rabbitmq_connector.depth(dlq) == 20


async def test_a_queue_deleted_mid_browse_is_endpoint_not_found(
    rabbitmq_connector: RabbitMQConnector, rabbitmq: RabbitMQSettings, dlq: str
) -> None:
    await _fill(rabbitmq, dlq, 10)
    browser = RabbitMQBrowser(rabbitmq_connector, dlq, page_size=5)
    async with browser:
        assert len((await browser.next_page()).messages) == 5
        async with await _amqp(rabbitmq) as other:
            await (await other.channel()).queue_delete(dlq)
        with pytest.raises(EndpointNotFound) as caught:
            await browser.next_page()
        assert dlq in str(caught.value)
    # The fixture's own delete of the queue must not fail: declare it again for it.
    async with await _amqp(rabbitmq) as other:
        await (await other.channel()).declare_queue(dlq, durable=True)


async def test_a_queue_another_consumer_holds_exclusively_is_browsed_with_basic_get(
    rabbitmq_connector: RabbitMQConnector, rabbitmq: RabbitMQSettings, dlq: str
) -> None:
    await _fill(rabbitmq, dlq, 40)
    other = await _amqp(rabbitmq)
    try:
        channel = await other.channel()
        await channel.set_qos(prefetch_count=1)
        queue = await channel.declare_queue(dlq, passive=True)
        taken: list[aio_pika.abc.AbstractIncomingMessage] = []
        got_one = asyncio.Event()

        async def hold(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            taken.append(message)  # never acked: held while the browse runs
            got_one.set()

        await queue.consume(hold, exclusive=True)
        async with asyncio.timeout(10):
            await got_one.wait()
        async with rabbitmq_connector.browse(dlq, page_size=15) as browser:
            shown = await all_pages(browser)
        assert len(shown) == 39
        assert len(set(_sequences(shown))) == 39
        assert _sequences(taken)[0] not in _sequences(shown)
    finally:
        await other.close()
    assert await rabbitmq_connector.depth(dlq) == 40  # all given back, the held one too
