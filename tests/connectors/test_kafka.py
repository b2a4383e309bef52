"""KafkaConnector against the real local broker: listing, dead-letter detection, browsing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from eventdesk.connectors.errors import BrokerUnreachable, ConnectionLost, EndpointNotFound
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.model import Endpoint, Message

from tests.seed.kafka import BINARY_PAYLOAD, create_topic, fill_topic, seed_kafka

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("drop_kafka_test_topics")]


async def _browse_all(connector: KafkaConnector, topic: str, page_size: int = 500) -> list[Message]:
    messages: list[Message] = []
    async with connector.browse(topic, page_size=page_size) as browser:
        while True:
            page = await browser.next_page()
            messages.extend(page.messages)
            if not page.more:
                return messages


def _by_name(endpoints: list[Endpoint]) -> dict[str, Endpoint]:
    return {e.name: e for e in endpoints}


async def _groups_with_offsets_on(bootstrap: str, topic: str) -> list[str]:
    """Every consumer group that holds a committed offset on the topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = []
        for group_id, *_ in await admin.list_consumer_groups():
            committed = await admin.list_consumer_group_offsets(group_id)
            if any(tp.topic == topic for tp in committed):
                found.append(group_id)
        return found
    finally:
        await admin.close()


async def test_list_endpoints_marks_dead_letter_topics_and_depths(
    kafka_bootstrap: str, unique_name: str
) -> None:
    names = await seed_kafka(kafka_bootstrap, prefix=unique_name, count=30)
    async with KafkaConnector(kafka_bootstrap) as kafka:
        endpoints = _by_name(await kafka.list_endpoints())

    assert not [name for name in endpoints if name.startswith("__")]
    orders, dlt = endpoints[names["orders"]], endpoints[names["spring_dlt"]]
    assert (orders.depth, orders.is_dead_letter, orders.fed_by) == (30, False, ())
    assert orders.details["partitions"] == "3"
    assert dlt.is_dead_letter
    assert dlt.depth == 10
    assert dlt.fed_by == (names["orders"],)
    assert "name ends in .DLT" in dlt.dead_letter_evidence
    assert "kafka_dlt-*" in dlt.dead_letter_evidence

    # Named after its connector, not its source: only the headers say where it is fed from.
    connect = endpoints[names["connect_dlq"]]
    assert connect.is_dead_letter
    assert connect.depth == 5
    assert connect.fed_by == (names["payments"],)
    assert "__connect.errors.*" in connect.dead_letter_evidence
    assert not endpoints[names["payments"]].is_dead_letter


async def test_newest_record_headers_mark_a_topic_named_like_any_other(
    kafka_bootstrap: str, unique_name: str
) -> None:
    parked, plain = f"{unique_name}.parked", f"{unique_name}.plain"
    await asyncio.gather(
        fill_topic(kafka_bootstrap, parked, 7, 200, partitions=2),
        fill_topic(kafka_bootstrap, plain, 7, 200, dead_letter=False),
    )
    async with KafkaConnector(kafka_bootstrap) as kafka:
        endpoints = _by_name(await kafka.list_endpoints())

    assert endpoints[parked].is_dead_letter
    assert endpoints[parked].dead_letter_evidence == "records carry kafka_dlt-* headers"
    assert endpoints[parked].fed_by == (f"{parked}.source",)
    assert endpoints[parked].depth == 7
    assert not endpoints[plain].is_dead_letter
    assert endpoints[plain].dead_letter_evidence == ""


async def test_browse_pages_to_the_end_it_saw_and_commits_nothing(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"{unique_name}.DLT"
    await fill_topic(kafka_bootstrap, topic, 1200, 300, partitions=3)

    async with KafkaConnector(kafka_bootstrap) as kafka:
        browser = kafka.browse(topic, page_size=500)
        assert browser.side_effect_note == "Read-only: Kafka browsing commits no offsets."
        pages = [await browser.next_page()]
        # Written after the browser opened: not part of what it shows.
        await fill_topic(kafka_bootstrap, topic, 30, 300, partitions=3)
        while pages[-1].more:
            pages.append(await browser.next_page())
        await browser.close()
        depth_after = await kafka.depth(topic)

    assert [(len(p.messages), p.more) for p in pages] == [(500, True), (500, True), (200, False)]
    ids = [m.id for p in pages for m in p.messages]
    assert ids == [f"{partition}:{offset}" for partition in range(3) for offset in range(400)]
    first = pages[0].messages[0]
    assert (first.key, first.size, first.endpoint) == (b"ORD-00000000", 300, topic)
    assert first.attributes == {"partition": "0", "offset": "0", "timestamp-type": "CreateTime"}
    assert first.timestamp is not None and first.timestamp.tzinfo is UTC
    assert abs(datetime.now(UTC) - first.timestamp) < timedelta(minutes=5)
    # Record i went to partition i % 3 at offset i // 3.
    assert pages[1].messages[0].id == "1:100"
    assert pages[1].messages[0].key == b"ORD-00000301"

    assert depth_after == 1230, "browsing must not consume anything"
    # The topic is new, so any group with offsets on it got them from this browse.
    assert await _groups_with_offsets_on(kafka_bootstrap, topic) == []


async def test_spring_dead_letters_point_at_their_original_records(
    kafka_bootstrap: str, unique_name: str
) -> None:
    names = await seed_kafka(kafka_bootstrap, prefix=unique_name, count=24)
    async with KafkaConnector(kafka_bootstrap) as kafka:
        dead = await _browse_all(kafka, names["spring_dlt"], page_size=3)
        originals = {m.id: m for m in await _browse_all(kafka, names["orders"])}

    assert len(dead) == 8
    causes = set()
    for letter in dead:
        facts = letter.dead_letter
        assert facts.convention == "spring-kafka"
        assert facts.original_destination == names["orders"]
        assert facts.failed_service == "order-fulfilment"
        assert facts.exception_message and "threw exception" in facts.exception_message
        assert facts.stack_trace and "Caused by: " + str(facts.exception_type) in facts.stack_trace
        # Spring keeps the original partition in the DLT, and the header is a 4-byte int.
        assert letter.attributes["partition"] == str(facts.original_partition)
        assert len(letter.header("kafka_dlt-original-partition")) == 4
        assert len(letter.header("kafka_dlt-original-offset")) == 8
        original = originals[f"{facts.original_partition}:{facts.original_offset}"]
        assert original.key == letter.key
        causes.add(facts.exception_type)
    assert causes == {
        "org.springframework.kafka.support.serializer.DeserializationException",
        "org.springframework.messaging.handler.annotation.support.MethodArgumentNotValidException",
        "org.springframework.web.client.ResourceAccessException",
        "com.acme.orders.UnknownCustomerException",
    }


async def test_connect_dead_letters_and_a_binary_payload(
    kafka_bootstrap: str, unique_name: str
) -> None:
    names = await seed_kafka(kafka_bootstrap, prefix=unique_name, count=24)
    async with KafkaConnector(kafka_bootstrap) as kafka:
        dead = await _browse_all(kafka, names["connect_dlq"])
        payments = {m.id: m for m in await _browse_all(kafka, names["payments"])}

    assert len(dead) == 4
    binary = dead[0]
    assert binary.body == BINARY_PAYLOAD
    with pytest.raises(UnicodeDecodeError):
        binary.body.decode()
    facts = binary.dead_letter
    assert facts.convention == "kafka-connect"
    assert facts.original_destination == names["payments"]
    assert facts.exception_type == "org.apache.kafka.connect.errors.DataException"
    assert facts.reason == "failed in stage VALUE_CONVERTER"
    assert facts.failed_service == "jdbc-sink-payments (task 0)"
    for letter in dead[1:]:
        original = payments[
            f"{letter.dead_letter.original_partition}:{letter.dead_letter.original_offset}"
        ]
        assert original.body == letter.body
    assert {m.dead_letter.exception_type for m in dead} == {
        "org.apache.kafka.connect.errors.DataException",
        "java.sql.BatchUpdateException",
    }


async def test_a_dead_letter_topic_name_implies_the_replay_target(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"{unique_name}.DLT"
    await fill_topic(kafka_bootstrap, topic, 3, 50, dead_letter=False)
    async with KafkaConnector(kafka_bootstrap) as kafka:
        messages = await _browse_all(kafka, topic)
    assert [m.dead_letter.original_destination for m in messages] == [unique_name] * 3
    assert {m.dead_letter.convention for m in messages} == {"topic name"}
    assert all(m.headers == () for m in messages)


async def test_an_empty_topic_browses_to_one_empty_page(
    kafka_bootstrap: str, unique_name: str
) -> None:
    await create_topic(kafka_bootstrap, unique_name, 2)
    async with KafkaConnector(kafka_bootstrap) as kafka:
        async with kafka.browse(unique_name) as browser:
            page = await browser.next_page()
        assert await kafka.depth(unique_name) == 0
    assert (list(page.messages), page.more) == ([], False)


async def test_an_unreachable_broker_fails_fast_and_says_where() -> None:
    started = time.monotonic()
    connector = KafkaConnector("127.0.0.1:1")
    with pytest.raises(BrokerUnreachable) as caught:
        await connector.connect(timeout=5)
    assert time.monotonic() - started < 3
    assert "127.0.0.1:1" in str(caught.value)
    assert "refused" in str(caught.value)
    await connector.close()


async def test_an_unknown_topic_is_endpoint_not_found(
    kafka_bootstrap: str, unique_name: str
) -> None:
    async with KafkaConnector(kafka_bootstrap) as kafka:
        with pytest.raises(EndpointNotFound):
            await kafka.depth(unique_name)
        async with kafka.browse(unique_name) as browser:
            with pytest.raises(EndpointNotFound, match=unique_name):
                await browser.next_page()


async def test_close_is_idempotent_and_ends_its_browsers(
    kafka_bootstrap: str, unique_name: str
) -> None:
    await fill_topic(kafka_bootstrap, unique_name, 5, 50, dead_letter=False)
    kafka = KafkaConnector(kafka_bootstrap)
    await kafka.connect()
    browser = kafka.browse(unique_name, page_size=2)
    assert len((await browser.next_page()).messages) == 2
    await kafka.close()
    await kafka.close()
    await browser.close()
    with pytest.raises(ConnectionLost):
        await browser.next_page()
    with pytest.raises(ConnectionLost):
        await kafka.depth(unique_name)
