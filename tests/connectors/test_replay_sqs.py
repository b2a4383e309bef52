"""Replay and discard on SQS/SNS (moto), and one replay across brokers into RabbitMQ."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aio_pika
import pytest
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.replay import (
    ORIGINAL_ID_HEADER,
    REPLAY_COUNT_HEADER,
    REPLAY_ID_HEADER,
    ReplayOptions,
    discard,
    replay,
)
from eventdesk.connectors.sqs import SqsConnector, message_attributes

from tests.conftest import RabbitMQSettings, SqsSettings
from tests.connectors.pages import all_pages
from tests.seed.sqs import drain_queue, seed_sqs

pytestmark = pytest.mark.sqs


@pytest.fixture
def seeded(sqs: SqsSettings) -> dict[str, str]:
    """orders-dlq: 10 dead letters moved by redrive from orders (which keeps 3 live ones)."""
    return seed_sqs(
        endpoint_url=sqs.endpoint_url,
        region=sqs.region,
        prefix=f"t-{uuid.uuid4().hex[:8]}",
        count=10,
    )


def _attribute(message: dict[str, Any], name: str) -> Any:
    value = message.get("MessageAttributes", {}).get(name, {})
    return value.get("StringValue", value.get("BinaryValue"))


async def test_replay_to_the_source_queue_moves_exactly_the_selection(
    sqs_connector: SqsConnector, seeded: dict[str, str], sqs_client: Any, journal: Journal
) -> None:
    async with sqs_connector.browse(seeded["orders_dlq"]) as browser:
        letters = await all_pages(browser, timeout=30)
        assert len(letters) == 10
        assert {m.dead_letter.original_destination for m in letters} == {seeded["orders"]}
        chosen, kept = letters[:6], letters[6:]
        result = await replay(
            sqs_connector,
            browser,
            chosen,
            sqs_connector,
            None,
            options=ReplayOptions(),
            journal=journal,
        )
    assert result.ok, result

    left = drain_queue(sqs_client, seeded["orders_dlq"])
    assert sorted(m["MessageId"] for m in left) == sorted(m.id for m in kept)
    arrived = drain_queue(sqs_client, seeded["orders"])
    replayed = [m for m in arrived if _attribute(m, REPLAY_ID_HEADER)]
    assert len(arrived) == 3 + 6
    assert sorted(_attribute(m, ORIGINAL_ID_HEADER) for m in replayed) == sorted(
        m.id for m in chosen
    )
    by_id = {m.id: m for m in chosen}
    for message in replayed:
        original = by_id[_attribute(message, ORIGINAL_ID_HEADER)]
        assert message["Body"].encode() == original.body
        assert _attribute(message, REPLAY_COUNT_HEADER) == "1"
        assert _attribute(message, REPLAY_ID_HEADER) == result.action_id
        # The producer's own attributes travel too, binary ones as binary.
        assert _attribute(message, "eventType") == "OrderPlaced"
        assert _attribute(message, "tenant") == original.header("tenant")

    record = journal.action(result.action_id)
    assert record is not None and record.status == "completed"
    assert {m.source_id: m.state for m in record.messages} == {m.id: "settled" for m in chosen}


async def test_fifo_replay_keeps_message_groups(
    sqs_connector: SqsConnector, seeded: dict[str, str], sqs_client: Any, journal: Journal
) -> None:
    async with sqs_connector.browse(seeded["payments_fifo_dlq"]) as browser:
        letters = await all_pages(browser, timeout=30)
        assert len(letters) == 3
        result = await replay(
            sqs_connector,
            browser,
            letters,
            sqs_connector,
            seeded["payments_fifo"],
            options=ReplayOptions(),
            journal=journal,
        )
    assert result.ok, result
    arrived = drain_queue(sqs_client, seeded["payments_fifo"])
    groups = {m.id: m.attributes["MessageGroupId"] for m in letters}
    assert sorted(
        (_attribute(m, ORIGINAL_ID_HEADER), m["Attributes"]["MessageGroupId"]) for m in arrived
    ) == sorted(groups.items())
    assert drain_queue(sqs_client, seeded["payments_fifo_dlq"]) == []


async def test_replay_to_an_sns_topic_publishes(
    sqs_connector: SqsConnector, seeded: dict[str, str], sqs_client: Any, journal: Journal
) -> None:
    drain_queue(sqs_client, seeded["notifications"])
    async with sqs_connector.browse(seeded["orders_dlq"]) as browser:
        letters = (await all_pages(browser, timeout=30))[:2]
        result = await replay(
            sqs_connector,
            browser,
            letters,
            sqs_connector,
            seeded["topic"],
            options=ReplayOptions(),
            journal=journal,
        )
    assert result.ok, result
    delivered = [json.loads(m["Body"]) for m in drain_queue(sqs_client, seeded["notifications"])]
    assert sorted(d["MessageAttributes"][ORIGINAL_ID_HEADER]["Value"] for d in delivered) == sorted(
        m.id for m in letters
    )
    assert len(drain_queue(sqs_client, seeded["orders_dlq"])) == 8


async def test_discard_deletes_exactly_the_selected(
    sqs_connector: SqsConnector, seeded: dict[str, str], sqs_client: Any, journal: Journal
) -> None:
    async with sqs_connector.browse(seeded["orders_dlq"]) as browser:
        letters = await all_pages(browser, timeout=30)
        chosen = letters[2:5]
        result = await discard(browser, chosen, journal=journal)
    assert result.ok and result.succeeded == 3
    left = drain_queue(sqs_client, seeded["orders_dlq"])
    assert sorted(m["MessageId"] for m in left) == sorted(m.id for m in letters if m not in chosen)
    record = journal.action(result.action_id)
    assert record is not None and record.counts == {"settled": 3}


async def test_loop_guard_refuses_without_sending(
    sqs_connector: SqsConnector, seeded: dict[str, str], sqs_client: Any, journal: Journal
) -> None:
    url = sqs_client.get_queue_url(QueueName=seeded["lambda_dlq"])["QueueUrl"]
    sqs_client.send_message(
        QueueUrl=url,
        MessageBody="{}",
        MessageAttributes={REPLAY_COUNT_HEADER: {"DataType": "String", "StringValue": "3"}},
    )
    async with sqs_connector.browse(seeded["lambda_dlq"]) as browser:
        looping = [m for m in await all_pages(browser, timeout=30) if m.header(REPLAY_COUNT_HEADER)]
        result = await replay(
            sqs_connector,
            browser,
            looping,
            sqs_connector,
            seeded["orders"],
            options=ReplayOptions(max_replays=3),
            journal=journal,
        )
    assert not result.ok and "refused" in result.outcomes[0].detail
    assert len(drain_queue(sqs_client, seeded["lambda_dlq"])) == 4


def test_message_attributes_say_what_sqs_cannot_carry() -> None:
    headers = [(f"h{i}", f"v{i}") for i in range(11)] + [
        ("x-death", [{"queue": "q"}]),
        ("bad name!", "x"),
        ("eventdesk-replay-id", "r"),
    ]
    attributes, skipped = message_attributes(headers)
    assert len(attributes) == 10 and "eventdesk-replay-id" in attributes
    assert any(s.startswith("x-death (list") for s in skipped)
    assert any(s.startswith("bad name!") for s in skipped)
    assert sum("over the limit" in s for s in skipped) == 2


async def test_cross_broker_replay_from_sqs_into_rabbitmq(
    sqs_connector: SqsConnector,
    seeded: dict[str, str],
    sqs_client: Any,
    rabbitmq: RabbitMQSettings,
    unique_name: str,
    journal: Journal,
) -> None:
    connection = await aio_pika.connect(
        host=rabbitmq.host, port=rabbitmq.port, login=rabbitmq.username, password=rabbitmq.password
    )
    channel = await connection.channel()
    target_queue = await channel.declare_queue(unique_name)
    rabbit = RabbitMQConnector(**rabbitmq.account())
    try:
        async with rabbit:
            async with sqs_connector.browse(seeded["orders_dlq"]) as browser:
                letters = (await all_pages(browser, timeout=30))[:4]
                result = await replay(
                    sqs_connector,
                    browser,
                    letters,
                    rabbit,
                    unique_name,
                    options=ReplayOptions(batch_size=3),
                    journal=journal,
                    source_connection="moto",
                    target_connection="local-rabbit",
                )
        assert result.ok, result
        got = []
        while (message := await target_queue.get(no_ack=True, fail=False, timeout=5)) is not None:
            got.append(message)
        assert sorted(str(m.headers[ORIGINAL_ID_HEADER]) for m in got) == sorted(
            m.id for m in letters
        )
        assert {m.body for m in got} == {m.body for m in letters}
        assert all(m.headers["eventType"] == "OrderPlaced" for m in got)
        left = drain_queue(sqs_client, seeded["orders_dlq"])
        assert {m["MessageId"] for m in left}.isdisjoint(m.id for m in letters)
        assert len(left) == 6
        record = journal.action(result.action_id)
        assert record is not None
        assert (record.source_connection, record.target_connection) == ("moto", "local-rabbit")
        assert record.counts == {"settled": 4}
    finally:
        await channel.queue_delete(unique_name)
        await connection.close()
