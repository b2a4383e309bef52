"""Purge of a whole DLQ on each broker: confirmed by name, journaled, and exact."""

from __future__ import annotations

import uuid

import aio_pika
import boto3
import pytest
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.model import Outgoing
from eventdesk.connectors.nats import NatsConnector, dead_letter_endpoint
from eventdesk.connectors.purge import PurgeRefused, can_delete_handled, can_purge, purge
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.replay import discard
from eventdesk.connectors.sqs import SqsConnector

from tests.connectors.conftest import NATS_DEAD_LETTERS
from tests.seed.kafka import create_topic, fill_topic


def _outgoing(count: int) -> list[Outgoing]:
    return [Outgoing(f"m{i}", f'{{"n": {i}}}'.encode()) for i in range(count)]


@pytest.mark.rabbitmq
async def test_rabbitmq_purge_needs_the_name_then_empties_the_queue(rabbitmq, journal, unique_name):
    queue = unique_name
    account = {
        "host": rabbitmq.host,
        "port": rabbitmq.port,
        "login": rabbitmq.username,
        "password": rabbitmq.password,
    }
    link = await aio_pika.connect(**account)
    channel = await link.channel()
    await channel.declare_queue(queue)
    async with RabbitMQConnector(**rabbitmq.account()) as connector:
        try:
            sent = await connector.send(queue, _outgoing(5))
            assert all(o.ok for o in sent)
            with pytest.raises(PurgeRefused):
                await purge(
                    connector, queue, confirm=queue[:-1], journal=journal, source_connection="R"
                )
            assert await connector.depth(queue) == 5
            assert journal.actions() == []

            result = await purge(
                connector, queue, confirm=queue, journal=journal, source_connection="R"
            )
            assert result.removed == 5
            assert await connector.depth(queue) == 0
        finally:
            await channel.queue_delete(queue)
            await link.close()
    [action] = journal.actions()
    assert (action.id, action.kind, action.status) == (result.action_id, "purge", "completed")
    assert action.source == queue and action.detail == "5 messages removed"
    assert action.options["depth_before"] == 5


@pytest.mark.sqs
async def test_sqs_purge_empties_the_queue_and_journals_it(sqs, journal, unique_name):
    client = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    queue = f"t-purge-{uuid.uuid4().hex[:8]}"
    url = client.create_queue(QueueName=queue)["QueueUrl"]
    try:
        for i in range(3):
            client.send_message(QueueUrl=url, MessageBody=f"m{i}")
        async with SqsConnector(region=sqs.region, endpoint_url=sqs.endpoint_url) as connector:
            result = await purge(
                connector, queue, confirm=queue, journal=journal, source_connection="S"
            )
            assert result.removed == 3
            assert await connector.depth(queue) == 0
    finally:
        client.delete_queue(QueueUrl=url)
    assert journal.action(result.action_id).status == "completed"


@pytest.mark.kafka
@pytest.mark.usefixtures("drop_kafka_test_topics")
async def test_kafka_purge_deletes_every_record_up_to_the_end(
    kafka_bootstrap, journal, unique_name
):
    topic = f"{unique_name}.DLT"
    await create_topic(kafka_bootstrap, topic, partitions=2)
    await fill_topic(kafka_bootstrap, topic, 40, 100, partitions=2)
    async with KafkaConnector(bootstrap_servers=kafka_bootstrap) as connector:
        assert await connector.depth(topic) == 40
        result = await purge(
            connector, topic, confirm=topic, journal=journal, source_connection="K"
        )
        assert result.removed == 40
        assert await connector.depth(topic) == 0
        async with connector.browse(topic) as browser:
            page = await browser.next_page(timeout=10)
        assert list(page.messages) == []


async def test_kafka_delete_handled_removes_only_records_below_the_first_unhandled(
    kafka_bootstrap, journal, unique_name
):
    topic = f"{unique_name}.DLT"
    await create_topic(kafka_bootstrap, topic, partitions=1)
    await fill_topic(kafka_bootstrap, topic, 20, 100, partitions=1)
    async with KafkaConnector(bootstrap_servers=kafka_bootstrap) as connector:
        assert can_delete_handled(connector)
        async with connector.browse(topic) as browser:
            letters = list((await browser.next_page(timeout=10)).messages)
            chosen = [m for m in letters if m.id in {f"0:{o}" for o in (0, 1, 2, 3, 4, 8)}]
            result = await discard(browser, chosen, journal=journal, source_connection="K")
            assert result.succeeded == 6
        deleted = await purge(
            connector,
            topic,
            confirm=topic,
            journal=journal,
            source_connection="K",
            handled_only=True,
        )
        # 0-4 go; 8 is handled too but sits above unhandled 5-7, so it stays, marked handled.
        assert deleted.removed == 5
        async with connector.browse(topic) as browser:
            left = list((await browser.next_page(timeout=10)).messages)
        assert [m.id for m in left] == [f"0:{o}" for o in range(5, 20)]
        assert [m.id for m in left if m.attributes.get("handled") == "yes"] == ["0:8"]
        assert await connector.depth(topic) == 15  # records left, handled 8 among them
        again = await purge(
            connector, topic, confirm=topic, journal=journal, source_connection="K",
            handled_only=True,
        )  # fmt: skip
        assert again.removed == 0
    [latest, *_] = journal.actions(3)
    assert latest.kind == "delete-handled" and latest.detail == "0 messages removed"


async def test_delete_handled_is_refused_where_the_broker_keeps_no_handled_records(
    rabbitmq, journal, unique_name
):
    async with RabbitMQConnector(**rabbitmq.account()) as connector:
        assert not can_delete_handled(connector)
        with pytest.raises(PurgeRefused, match="only Kafka"):
            await purge(
                connector, unique_name, confirm=unique_name, journal=journal,
                source_connection="R", handled_only=True,
            )  # fmt: skip


@pytest.mark.nats
async def test_nats_purge_of_a_dead_letter_endpoint_marks_every_dead_letter_handled(
    nats_connector: NatsConnector, nats_orders: str, journal
) -> None:
    dlq = dead_letter_endpoint(nats_orders, "billing")
    in_stream = await nats_connector.depth(nats_orders)
    assert can_purge(nats_connector)
    result = await purge(
        nats_connector, dlq, confirm=dlq, journal=journal, source_connection="jetstream"
    )
    assert result.removed == NATS_DEAD_LETTERS
    assert await nats_connector.depth(dlq) == 0
    assert await nats_connector.depth(nats_orders) == in_stream  # the messages themselves stay
    assert journal.action(result.action_id).status == "completed"


@pytest.mark.nats
async def test_nats_purge_of_a_stream_empties_it(
    nats_connector: NatsConnector, nats_orders: str, journal
) -> None:
    in_stream = await nats_connector.depth(nats_orders)
    assert in_stream > 0
    result = await purge(
        nats_connector, nats_orders, confirm=nats_orders, journal=journal, source_connection="j"
    )
    assert result.removed == in_stream
    assert await nats_connector.depth(nats_orders) == 0


def test_every_broker_has_a_purge() -> None:
    for connector in (KafkaConnector, RabbitMQConnector, SqsConnector, NatsConnector):
        assert can_purge(connector.__new__(connector)), connector.__name__
