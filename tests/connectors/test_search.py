"""Search against real brokers: a 100,000-message Kafka DLT, and a RabbitMQ DLQ it must not drain.

The Kafka topic is filled once per module: two runs of fill_topic's Spring dead letters
with 20 distinct records after each, so matches sit in the middle and at the end.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from eventdesk.connectors.failure_groups import failure_signature
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.model import Message
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.schemas import load_schema, sample_schema_path
from eventdesk.connectors.search import (
    SCAN_PAGE_SIZE,
    BodyDecoding,
    HeaderFilter,
    HeaderMatch,
    InvalidQuery,
    ScanProgress,
    SearchQuery,
    Validity,
    compile_query,
    scan,
)
from eventdesk.connectors.sqs import SqsConnector
from google.protobuf import json_format, message_factory

from tests.conftest import RabbitMQSettings
from tests.seed.kafka import delete_topics, fill_topic
from tests.seed.orders import order
from tests.seed.rabbitmq import remove_seed, seed_rabbitmq
from tests.seed.sqs import fill_queue, queue_counts

TOTAL = 100_000
SPECIALS_PER_RUN = 20
FILL = TOTAL // 2 - SPECIALS_PER_RUN


@dataclass(frozen=True)
class Special:
    """A record unlike the filler: its own header and payload fields."""

    key: str
    tenant: str
    priority: str
    amount: int

    def body(self) -> bytes:
        return json.dumps(
            {"orderId": self.key, "priority": self.priority, "amount": self.amount}
        ).encode()


def _specials(run: int) -> list[Special]:
    return [
        Special(
            key=f"SPECIAL-{run}-{i:02d}",
            tenant="gold" if i % 3 == 0 else "silver",
            priority="high" if i % 2 == 0 else "low",
            amount=i * 10 + run,
        )
        for i in range(SPECIALS_PER_RUN)
    ]


async def _produce(bootstrap: str, topic: str, specials: list[Special]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1)
    await producer.start()
    try:
        for special in specials:
            await producer.send_and_wait(
                topic,
                special.body(),
                key=special.key.encode(),
                headers=[("x-tenant", special.tenant.encode())],
            )
    finally:
        await producer.stop()


@dataclass(frozen=True)
class BigDlt:
    topic: str
    specials: list[Special]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def big_dlt(kafka_bootstrap: str) -> AsyncIterator[BigDlt]:
    topic = f"t-search-{time.time_ns():x}.orders.DLT"
    specials = []
    try:
        for run in (1, 2):
            await fill_topic(kafka_bootstrap, topic, FILL, size=256)
            specials += _specials(run)
            await _produce(kafka_bootstrap, topic, _specials(run))
        yield BigDlt(topic, specials)
    finally:
        await delete_topics(kafka_bootstrap, [topic])


async def _search(
    bootstrap: str, topic: str, query: SearchQuery
) -> tuple[list[Message], list[ScanProgress]]:
    matcher = compile_query(query)
    found: list[Message] = []
    steps: list[ScanProgress] = []
    async with KafkaConnector(bootstrap) as kafka:
        total = await kafka.depth(topic)
        async with kafka.browse(topic, page_size=SCAN_PAGE_SIZE) as browser:
            async for step in scan(browser, matcher, total=total):
                found.extend(step.matches)
                steps.append(step)
    return found, steps


def _keys(messages: list[Message]) -> list[str]:
    return [m.key.decode() for m in messages if m.key is not None]


@pytest.mark.kafka
@pytest.mark.asyncio(loop_scope="module")
async def test_header_search_finds_exactly_the_tagged_messages_and_streams_them(
    kafka_bootstrap: str, big_dlt: BigDlt
) -> None:
    query = SearchQuery(headers=(HeaderFilter("X-Tenant", "gold", HeaderMatch.EQUALS),))
    found, steps = await _search(kafka_bootstrap, big_dlt.topic, query)

    assert _keys(found) == [s.key for s in big_dlt.specials if s.tenant == "gold"]
    assert steps[-1].done and steps[-1].scanned == TOTAL and steps[-1].total == TOTAL
    assert steps[-1].matched == len(found)
    # Streamed: the first run's matches came out while half the topic was still unread.
    first = next(step for step in steps if step.matches)
    assert first.scanned < TOTAL // 2 + SCAN_PAGE_SIZE
    assert not first.done
    assert [step.scanned for step in steps] == sorted(step.scanned for step in steps)


@pytest.mark.kafka
@pytest.mark.asyncio(loop_scope="module")
async def test_jmespath_search_finds_exactly_the_matching_payloads(
    kafka_bootstrap: str, big_dlt: BigDlt
) -> None:
    query = SearchQuery(expression="priority == 'high' && amount >= `100`")
    found, steps = await _search(kafka_bootstrap, big_dlt.topic, query)

    expected = [s.key for s in big_dlt.specials if s.priority == "high" and s.amount >= 100]
    assert _keys(found) == expected
    assert 0 < len(expected) < len(big_dlt.specials)
    assert steps[-1].scanned == TOTAL


@pytest.mark.kafka
@pytest.mark.asyncio(loop_scope="module")
async def test_header_contains_and_expression_combine(
    kafka_bootstrap: str, big_dlt: BigDlt
) -> None:
    query = SearchQuery(
        headers=(HeaderFilter("x-tenant", "ILV", HeaderMatch.CONTAINS),),
        expression="priority == 'low'",
    )
    found, _ = await _search(kafka_bootstrap, big_dlt.topic, query)
    expected = [s.key for s in big_dlt.specials if s.tenant == "silver" and s.priority == "low"]
    assert _keys(found) == expected


@pytest.mark.kafka
@pytest.mark.asyncio(loop_scope="module")
async def test_cancel_stops_the_scan_before_the_next_page(
    kafka_bootstrap: str, big_dlt: BigDlt
) -> None:
    cancel = asyncio.Event()
    steps: list[ScanProgress] = []
    async with KafkaConnector(kafka_bootstrap) as kafka:
        async with kafka.browse(big_dlt.topic, page_size=SCAN_PAGE_SIZE) as browser:
            async for step in scan(browser, compile_query(SearchQuery(text="gold")), cancel=cancel):
                steps.append(step)
                if step.scanned >= 3 * SCAN_PAGE_SIZE:
                    cancel.set()

    last = steps[-1]
    assert last.cancelled and last.done
    # Nothing was read after the cancel: the final count is the one seen when it was set.
    assert last.scanned == steps[-2].scanned < TOTAL
    assert last.scanned <= 4 * SCAN_PAGE_SIZE


def test_an_invalid_jmespath_is_refused_before_any_scan_with_a_hint() -> None:
    with pytest.raises(InvalidQuery) as caught:
        compile_query(SearchQuery(expression="priority == 'high"))
    assert "not valid at character" in str(caught.value)
    assert "priority == 'high" in str(caught.value)
    assert "jmespath.org" in caught.value.hint

    with pytest.raises(InvalidQuery, match="ends too early"):
        compile_query(SearchQuery(expression="lines[?"))
    with pytest.raises(InvalidQuery, match="Unknown function"):
        compile_query(SearchQuery(expression="no_such_function(lines)"))
    # A type error on an empty document is the payload's shape, not a broken expression.
    compile_query(SearchQuery(expression="length(lines) > `2`"))


def test_other_bad_queries_say_what_to_fix() -> None:
    now = datetime.now(UTC)
    with pytest.raises(InvalidQuery, match=r"ends .* before it starts") as caught:
        compile_query(SearchQuery(since=now, until=now - timedelta(hours=1)))
    assert caught.value.hint
    with pytest.raises(InvalidQuery, match="no header name"):
        compile_query(SearchQuery(headers=(HeaderFilter(" ", "x"),)))
    with pytest.raises(InvalidQuery, match="No schema is mapped") as caught:
        compile_query(SearchQuery(validity=Validity.INVALID))
    assert "Body tab" in caught.value.hint


def _message(**fields: object) -> Message:
    defaults: dict[str, object] = {"endpoint": "q", "id": "1", "body": b""}
    return Message(**{**defaults, **fields})  # type: ignore[arg-type]


def test_text_time_and_expression_filters_on_built_messages() -> None:
    at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    gold = _message(
        id="a",
        body=b'{"customer": {"tier": "gold"}, "lines": [1, 2, 3]}',
        headers=(("trace", b"abc-Timeout-1"),),
        timestamp=at,
    )
    naive_old = _message(id="b", body=b"\xff\xfe not text", timestamp=datetime(2020, 1, 1))
    text_body = _message(id="c", body=b"order failed: TIMEOUT", timestamp=at)

    def ids(query: SearchQuery) -> list[str]:
        matcher = compile_query(query)
        return [m.id for m in (gold, naive_old, text_body) if matcher(m)]

    assert ids(SearchQuery(text="timeout")) == ["a", "c"]
    assert ids(SearchQuery(expression="customer.tier == 'gold'")) == ["a"]
    assert ids(SearchQuery(expression="length(lines) > `2`")) == ["a"]
    # Zero is true in JMESPath; an empty list is not.
    assert ids(SearchQuery(expression="`0`")) == ["a"]
    assert ids(SearchQuery(expression="lines[?@ > `5`]")) == []
    assert ids(SearchQuery(since=at - timedelta(minutes=1))) == ["a", "c"]
    assert ids(SearchQuery(until=datetime(2021, 1, 1, tzinfo=UTC))) == ["b"]
    assert ids(SearchQuery()) == ["a", "b", "c"]


def test_validity_is_checked_against_the_mapped_schema() -> None:
    schema = load_schema(sample_schema_path("order.schema.json"))
    rng = random.Random(7)
    good = order(rng, 1)
    broken = {**order(rng, 2), "lines": []}
    messages = [
        _message(id="good", body=json.dumps(good).encode()),
        _message(id="no-lines", body=json.dumps(broken).encode()),
        _message(id="cut", body=json.dumps(good).encode()[:40]),
    ]

    def ids(validity: Validity) -> list[str]:
        matcher = compile_query(
            SearchQuery(validity=validity), decoding=BodyDecoding(schema=schema)
        )
        return [m.id for m in messages if matcher(m)]

    assert ids(Validity.VALID) == ["good"]
    assert ids(Validity.INVALID) == ["no-lines", "cut"]


def test_expressions_read_bodies_as_the_endpoint_decodes_them() -> None:
    schema = load_schema(sample_schema_path("order.desc"))
    order_type = message_factory.GetMessageClass(
        schema.compiled.file.pool.FindMessageTypeByName("com.acme.orders.Order")
    )
    rng = random.Random(3)
    messages = []
    for n in range(4):
        document = order(rng, n)
        document["shipping"]["method"] = "EXPRESS" if n % 2 else "STANDARD"
        body = json_format.ParseDict(document, order_type()).SerializeToString()
        messages.append(_message(id=str(n), body=body))
    query = SearchQuery(expression="shipping.method == 'EXPRESS'")

    def ids(decoding: BodyDecoding | None) -> list[str]:
        matcher = compile_query(query, decoding=decoding)
        return [m.id for m in messages if matcher(m)]

    # Protobuf without its schema is bytes to an expression: nothing can match.
    assert ids(None) == []
    assert ids(BodyDecoding(hint="protobuf", schema=schema)) == ["1", "3"]
    # Unframed Avro may begin with "{" and holds enums as numbers: no JSON byte test then.
    assert compile_query(query).prefilter is not None
    assert compile_query(query, decoding=BodyDecoding(hint="avro")).prefilter is None


@pytest.mark.rabbitmq
@pytest.mark.asyncio
async def test_a_rabbitmq_search_holds_nothing_back_and_consumes_nothing(
    rabbitmq: RabbitMQSettings, unique_name: str
) -> None:
    account = rabbitmq.account()
    names = await seed_rabbitmq(**account, prefix=unique_name, count=24)
    try:
        async with RabbitMQConnector(**account) as rabbit:
            async with rabbit.browse(names["dlq"]) as browser:
                everything = []
                async for step in scan(browser, compile_query(SearchQuery())):
                    everything.extend(step.matches)
            expired = next(m for m in everything if m.dead_letter.reason == "expired")
            query = SearchQuery(failure_group=failure_signature(expired))
            async with rabbit.browse(names["dlq"]) as browser:
                found = []
                async for step in scan(browser, compile_query(query)):
                    found.extend(step.matches)
                # While the browser is open the matches can still be settled by it.
                assert all(m.dead_letter.reason == "expired" for m in found)
            depth_after = await rabbit.depth(names["dlq"])
        assert len(everything) == 24
        assert len(found) == 6
        assert depth_after == 24
    finally:
        await remove_seed(**account, names=names)


@pytest.mark.sqs
@pytest.mark.asyncio
async def test_an_sqs_search_releases_every_message_it_hid(sqs, unique_name: str) -> None:
    boto = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    url = boto.create_queue(QueueName=unique_name)["QueueUrl"]
    try:
        fill_queue(endpoint_url=sqs.endpoint_url, region=sqs.region, queue_url=url, count=60)
        query = SearchQuery(expression="n >= `50`")
        async with SqsConnector(region=sqs.region, endpoint_url=sqs.endpoint_url) as connector:
            async with connector.browse(unique_name, page_size=SCAN_PAGE_SIZE) as browser:
                found = [
                    m async for step in scan(browser, compile_query(query)) for m in step.matches
                ]
                hidden = queue_counts(boto, url)
        assert sorted(json.loads(m.body)["n"] for m in found) == list(range(50, 60))
        assert hidden == (0, 60)  # the scan held all of them while it was open
        assert queue_counts(boto, url) == (60, 0)  # and gave every one back
    finally:
        boto.delete_queue(QueueUrl=url)
