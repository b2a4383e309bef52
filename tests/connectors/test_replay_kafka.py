"""Kafka replay and discard against the real broker: one transaction, a review group, no dupes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from eventdesk.connectors.kafka import KafkaBrowser, KafkaConnector
from eventdesk.connectors.kafka_review import (
    HandledState,
    MetadataTooLarge,
    replay_transactional_id,
    review_group,
)
from eventdesk.connectors.model import Message, Outgoing

from tests.connectors.pages import all_pages
from tests.seed.kafka import create_topic, fill_topic, read_committed

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("drop_kafka_test_topics")]

REPLAY_HEADER = ("eventdesk-replay-id", b"replay-1")


@pytest.fixture
def connector(kafka_connector: KafkaConnector) -> KafkaConnector:
    return kafka_connector


@pytest.fixture
async def dlt(kafka_bootstrap: str, unique_name: str) -> tuple[str, str]:
    """A one-partition Spring DLT of six dead letters, and the (empty) topic they came from."""
    source = f"{unique_name}.orders"
    await create_topic(kafka_bootstrap, source)
    await fill_topic(kafka_bootstrap, f"{source}.DLT", 6, size=200)
    return f"{source}.DLT", source


@contextlib.asynccontextmanager
async def _browsed(
    connector: KafkaConnector, topic: str
) -> AsyncIterator[tuple[KafkaBrowser, list[Message]]]:
    """A fresh browser over the topic, read to the end, and what it showed."""
    async with connector.browse(topic) as browser:
        assert isinstance(browser, KafkaBrowser)
        yield browser, await all_pages(browser)


def _replayed(messages: Sequence[Message]) -> list[Outgoing]:
    return [Outgoing(m.id, m.body, m.key, headers=(*m.headers, REPLAY_HEADER)) for m in messages]


async def _read_uncommitted(bootstrap: str, tp: TopicPartition) -> list:
    """What the log holds, aborted records included."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        records = []
        async with asyncio.timeout(10):
            while await consumer.position(tp) < end:
                records.extend((await consumer.getmany(tp, timeout_ms=100)).get(tp, []))
        return records
    finally:
        await consumer.stop()


async def _group_commits(bootstrap: str, group: str) -> dict[TopicPartition, OffsetAndMetadata]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()


def _offset(message: Message) -> int:
    return int(message.attributes["offset"])


# -- the review state's encoding --------------------------------------------------


def test_handled_state_round_trips_through_commit_metadata() -> None:
    state = HandledState().with_handled([1, 3, 4])
    assert state == HandledState(0, ((1, 1), (3, 4)))
    assert state.metadata() == "eventdesk-handled:v1:1,3-4"
    assert HandledState.from_commit(state.committed, state.metadata()) == state
    # Handling the oldest gap moves the committed offset over the whole contiguous prefix.
    assert state.with_handled([0, 2]) == HandledState(5)
    assert HandledState(100, ((102, 103), (107, 107))).metadata() == "eventdesk-handled:v1:2-3,7"
    # Somebody else's metadata is not read as handled offsets.
    assert HandledState.from_commit(7, "checkpoint 12") == HandledState(7)
    assert HandledState.from_commit(-1, "") == HandledState(0)


def test_handled_state_refuses_metadata_beyond_the_broker_limit() -> None:
    scattered = HandledState().with_handled(range(1, 20_000, 2))
    with pytest.raises(MetadataTooLarge):
        scattered.metadata()


def test_gaps_join_the_handled_prefix_only_where_they_touch_it() -> None:
    # Transaction markers at 1, 3, 5: handling 0, 2, 4 must move the commit past all of them.
    markers = [(1, 1), (3, 3), (5, 5)]
    assert HandledState().with_handled([0, 2, 4], gaps=markers) == HandledState(6)
    # Handling only 2 takes in the markers beside it, never the one between unhandled 4 and 6.
    assert HandledState().with_handled([2], gaps=markers) == HandledState(0, ((1, 3),))


# -- replay -----------------------------------------------------------------------


async def test_replay_of_a_selection_sends_exactly_it_and_marks_exactly_it_handled(
    connector: KafkaConnector, dlt: tuple[str, str], kafka_bootstrap: str
) -> None:
    dlq, source = dlt
    async with connector.browse(dlq) as browser:
        shown = await all_pages(browser)
        # Nobody has replayed from it yet: no review state, so no handled marks either.
        assert not any("handled" in m.attributes for m in shown)
        chosen = [m for m in shown if _offset(m) in (1, 3, 4)]
        outcomes = await connector.send_and_settle(source, _replayed(chosen), browser, chosen)

    assert [(o.source_id, o.ok) for o in outcomes] == [(m.id, True) for m in chosen]
    assert [o.detail for o in outcomes] == ["0:0", "0:1", "0:2"]

    records = await read_committed(kafka_bootstrap, source)
    assert [(r.key, r.value) for r in records] == [(m.key, m.body) for m in chosen]
    for record, message in zip(records, chosen, strict=True):
        assert list(record.headers) == [*message.headers, REPLAY_HEADER]

    assert await connector.handled_offsets(dlq) == {0: HandledState(0, ((1, 1), (3, 4)))}
    commits = await _group_commits(kafka_bootstrap, review_group(dlq))
    assert commits == {TopicPartition(dlq, 0): OffsetAndMetadata(0, "eventdesk-handled:v1:1,3-4")}

    async with connector.browse(dlq) as browser:
        again = await all_pages(browser)
    assert {_offset(m): m.attributes["handled"] for m in again} == {
        0: "no",
        1: "yes",
        2: "no",
        3: "yes",
        4: "yes",
        5: "no",
    }
    listed = {e.name: e for e in await connector.list_endpoints()}
    assert listed[dlq].details["unhandled"] == "3"
    assert "unhandled" not in listed[source].details


async def test_running_the_same_replay_again_sends_nothing_twice(
    connector: KafkaConnector, dlt: tuple[str, str], kafka_bootstrap: str
) -> None:
    dlq, source = dlt
    async with connector.browse(dlq) as browser:
        chosen = [m for m in await all_pages(browser) if _offset(m) in (1, 3, 4)]
        first = await connector.send_and_settle(source, _replayed(chosen), browser, chosen)
    assert all(o.ok for o in first)

    # A fresh connector: nothing remembered in-process, only what the broker holds.
    async with KafkaConnector(kafka_bootstrap) as other, other.browse(dlq) as browser:
        again = [m for m in await all_pages(browser) if _offset(m) in (1, 3, 4)]
        second = await other.send_and_settle(source, _replayed(again), browser, again)
        assert not any(o.ok for o in second)
        assert all("already handled" in o.detail for o in second)
    async with _browsed(connector, dlq) as (browser, shown):
        rest = [m for m in shown if _offset(m) in (0, 2, 5)]
        third = await connector.send_and_settle(source, _replayed(rest), browser, rest)
    assert all(o.ok for o in third)

    records = await read_committed(kafka_bootstrap, source)
    assert sorted(r.key for r in records) == sorted(m.key for m in [*chosen, *rest])
    assert len(records) == 6
    # Every record handled: the committed offset is past the whole partition, no extras.
    assert await connector.handled_offsets(dlq) == {0: HandledState(6)}
    listed = {e.name: e for e in await connector.list_endpoints()}
    assert listed[dlq].details["unhandled"] == "0"


async def test_discard_marks_handled_and_sends_nothing(
    connector: KafkaConnector, dlt: tuple[str, str], kafka_bootstrap: str
) -> None:
    dlq, source = dlt
    async with _browsed(connector, dlq) as (browser, shown):
        chosen = [m for m in shown if _offset(m) in (0, 2)]
        outcomes = await browser.settle(chosen)
        assert [o.ok for o in outcomes] == [True, True]
        # A record it never showed (the browser ended at offset 6) is refused.
        ghost = Message(endpoint=dlq, id="0:9", body=b"")
        [refused] = await browser.settle([ghost])
        assert not refused.ok and "not a record this browser" in refused.detail

    assert await read_committed(kafka_bootstrap, source) == []
    assert await connector.handled_offsets(dlq) == {0: HandledState(1, ((2, 2),))}
    async with _browsed(connector, dlq) as (_, again):
        assert [m.attributes["handled"] for m in again] == ["yes", "no", "yes", "no", "no", "no"]


async def test_a_failed_transaction_leaves_neither_records_nor_offsets(
    connector: KafkaConnector, dlt: tuple[str, str], kafka_bootstrap: str, unique_name: str
) -> None:
    dlq, _ = dlt
    # The broker refuses the second record (too large for the topic) after the first one,
    # in another partition, was written: only the abort can keep the first out of sight.
    strict = f"{unique_name}.strict"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        limit = {"max.message.bytes": "8000"}
        await admin.create_topics([NewTopic(strict, 2, 1, topic_configs=limit)])
    finally:
        await admin.close()
    await create_topic(kafka_bootstrap, strict)

    async with _browsed(connector, dlq) as (browser, shown):
        chosen = [shown[1], shown[3]]
        outgoing = [
            Outgoing(chosen[0].id, chosen[0].body, chosen[0].key, options={"partition": "0"}),
            Outgoing(chosen[1].id, b"x" * 20_000, chosen[1].key, options={"partition": "1"}),
        ]
        outcomes = await connector.send_and_settle(strict, outgoing, browser, chosen)
        assert not any(o.ok for o in outcomes)
        assert all("aborted" in o.detail for o in outcomes), outcomes

        assert await read_committed(kafka_bootstrap, strict) == []
        written = await _read_uncommitted(kafka_bootstrap, TopicPartition(strict, 0))
        assert [r.value for r in written] == [chosen[0].body]
        assert await _group_commits(kafka_bootstrap, review_group(dlq)) == {}
        assert await connector.handled_offsets(dlq) == {0: HandledState()}

        # The replay can be retried as soon as the cause is fixed.
        retried = await connector.send_and_settle(strict, _replayed(chosen), browser, chosen)
        assert all(o.ok for o in retried), retried
    assert len(await read_committed(kafka_bootstrap, strict)) == 2
    assert await connector.handled_offsets(dlq) == {0: HandledState(0, ((1, 1), (3, 3)))}


async def test_a_crashed_replays_open_transaction_is_aborted_by_the_next_replay(
    connector: KafkaConnector, dlt: tuple[str, str], kafka_bootstrap: str
) -> None:
    dlq, source = dlt
    # What a replay killed mid-transaction leaves behind: records and offsets sent, no commit.
    crashed = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=replay_transactional_id(dlq)
    )
    await crashed.start()
    try:
        await crashed.begin_transaction()
        await (await crashed.send(source, b"half-replayed", key=b"ORD-00000000"))
        await crashed.send_offsets_to_transaction(
            {TopicPartition(dlq, 0): OffsetAndMetadata(1, "")}, review_group(dlq)
        )

        async with _browsed(connector, dlq) as (browser, shown):
            chosen = [shown[2]]
            outcomes = await connector.send_and_settle(source, _replayed(chosen), browser, chosen)
        assert [o.ok for o in outcomes] == [True]

        # Fenced: the old transaction can never commit now.
        with pytest.raises(Exception):  # noqa: B017 - aiokafka raises its own fencing errors
            await crashed.commit_transaction()
    finally:
        await crashed.stop()

    records = await read_committed(kafka_bootstrap, source)
    assert [r.value for r in records] == [shown[2].body]
    assert await connector.handled_offsets(dlq) == {0: HandledState(0, ((2, 2),))}


async def test_a_transactional_dlts_markers_do_not_hold_back_the_committed_offset(
    connector: KafkaConnector, kafka_bootstrap: str, unique_name: str
) -> None:
    dlq = f"{unique_name}.DLT"
    await create_topic(kafka_bootstrap, dlq)
    # Spring writes dead letters in transactions when its listener is transactional: each
    # commit leaves a marker offset between records (0, 2, 4 are records; 1, 3, 5 markers).
    writer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=unique_name)
    await writer.start()
    try:
        for i in range(3):
            async with writer.transaction():
                await (await writer.send(dlq, b"dead %d" % i, key=b"k%d" % i))
    finally:
        await writer.stop()

    async with _browsed(connector, dlq) as (browser, shown):
        assert [_offset(m) for m in shown] == [0, 2, 4]
        assert all(o.ok for o in await browser.settle(shown))
    assert await connector.handled_offsets(dlq) == {0: HandledState(6)}
    listed = {e.name: e for e in await connector.list_endpoints()}
    assert listed[dlq].details["unhandled"] == "0"


async def test_plain_send_reports_partition_and_offset(
    connector: KafkaConnector, kafka_bootstrap: str, unique_name: str
) -> None:
    target = f"{unique_name}.target"
    await create_topic(kafka_bootstrap, target)
    outcomes = await connector.send(
        target, [Outgoing("a", b"one", b"k", headers=(("h", "text"),)), Outgoing("b", b"two")]
    )
    assert [(o.source_id, o.ok, o.detail) for o in outcomes] == [
        ("a", True, "0:0"),
        ("b", True, "0:1"),
    ]
    records = await read_committed(kafka_bootstrap, target)
    assert [(r.value, list(r.headers)) for r in records] == [
        (b"one", [("h", b"text")]),
        (b"two", []),
    ]
    [missing] = await connector.send(f"{unique_name}.nowhere", [Outgoing("c", b"x")])
    assert not missing.ok and "no topic" in missing.detail


async def test_delete_records_before_removes_older_records(
    connector: KafkaConnector, dlt: tuple[str, str]
) -> None:
    dlq, _ = dlt
    assert await connector.delete_records_before(dlq, {0: 4}) == {0: 4}
    assert await connector.depth(dlq) == 2
    async with _browsed(connector, dlq) as (_, left):
        assert [_offset(m) for m in left] == [4, 5]
