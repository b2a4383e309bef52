"""Kafka search through the bulk reader (connectors/kafka_scan.py) and the raw-bytes prefilter.

The prefilter may only skip a body that cannot match: escaped strings, UTF-16 and
non-JSON bodies must all reach the exact JMESPath evaluation.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from aiokafka import AIOKafkaProducer
from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.kafka_scan import READ_AHEAD_CHUNKS, KafkaBulkScan
from eventdesk.connectors.model import Message
from eventdesk.connectors.search import (
    SearchBrowser,
    SearchQuery,
    body_prefilter,
    compile_query,
    scan,
)

from tests.seed.kafka import create_topic, delete_topics, fill_topic

# (key, body, matches "status == 'réjected'")
_TRICKY = [
    ("plain", '{"status":"réjected"}'.encode(), True),
    # json.dumps's default: the é as \u00e9, so the UTF-8 needle is not in the bytes.
    ("ascii-escaped", json.dumps({"status": "réjected"}).encode(), True),
    ("all-escaped", b'{"status":"\\u0072\\u00e9jected"}', True),
    ("utf-16", '{"status":"réjected"}'.encode("utf-16-le"), True),
    ("decoy", '{"status":"failed","note":"réjected once"}'.encode(), False),
    ("other", b'{"status":"failed"}', False),
    ("not-json", "réjected".encode(), False),
]
_EXPRESSION = "status == 'réjected'"


def test_the_prefilter_skips_only_bodies_that_cannot_match() -> None:
    prefilter = body_prefilter(_EXPRESSION)
    assert prefilter is not None
    exact = compile_query(SearchQuery(expression=_EXPRESSION))
    for key, body, matches in _TRICKY:
        message = Message(endpoint="t", id=key, body=body)
        assert exact(message) is matches, key
        if matches:
            assert prefilter(body), f"the prefilter dropped the true match {key}"
    assert not prefilter(b'{"status":"failed"}')  # it does skip something


@pytest.mark.parametrize(
    "expression",
    [
        "status == 'rejected'",
        "items[?sku == 'A-1'].qty",
        "contains(tags, 'vip') || customer.tier == 'gold'",
        "starts_with(customer.id, 'CUST-9') && amount > `10`",
        "type(@) == 'object'",  # made by a function: must not be prefiltered
        "to_string(amount) == '12'",
        "!(status == 'rejected')",
    ],
)
def test_the_prefilter_never_drops_a_match_of_random_documents(expression: str) -> None:
    rng = random.Random(expression)
    words = ["rejected", "failed", "A-1", "B-2", "vip", "gold", "CUST-9", "12", "x\\y", "é"]
    exact = compile_query(SearchQuery(expression=expression))
    prefilter = body_prefilter(expression)
    checked = 0
    for i in range(3000):
        document = {
            "status": rng.choice(words),
            "items": [{"sku": rng.choice(words), "qty": rng.randint(0, 3)} for _ in range(2)],
            "tags": rng.sample(words, 2),
            "customer": {"tier": rng.choice(words), "id": rng.choice(words) + "1"},
            "amount": rng.choice([5, 12, 20, "12"]),
        }
        body = json.dumps(document, ensure_ascii=bool(i % 2)).encode()
        if exact(Message(endpoint="t", id=str(i), body=body)):
            checked += 1
            assert prefilter is None or prefilter(body), body
    assert checked > 0


def test_a_batch_of_bodies_gets_the_same_answers_as_one_body_at_a_time() -> None:
    prefilter = body_prefilter(_EXPRESSION)
    assert prefilter is not None
    rng = random.Random(7)
    pool = [body for _key, body, _matches in _TRICKY] + [
        b"",  # a tombstone
        b'{\n  "status": "r\xc3\xa9jected"\n}',  # pretty-printed: newlines of its own
        b'{"note":"ends with r\xc3\xa9j"}',  # with the next body's start: not a needle
        b'ected"}',
        b"[1, 2]",
        b'{"status":"failed"}',
    ]
    for size in (0, 1, 2, 5, 50, 500):
        for _ in range(20):
            bodies = [rng.choice(pool) for _ in range(size)]
            one_by_one = [i for i, body in enumerate(bodies) if prefilter(body)]
            assert prefilter.candidates(bodies) == one_by_one, bodies
    plain = [b'{"status":"failed"}'] * 99 + ['{"status":"réjected"}'.encode()]
    assert prefilter.candidates(plain) == [99]  # and it does skip the rest


@pytest.mark.parametrize(
    ("query", "body_only"),
    [
        (SearchQuery(expression=_EXPRESSION), True),
        (SearchQuery(expression="amount > `10`"), True),
        (SearchQuery(expression=_EXPRESSION, text="x"), False),
        (SearchQuery(text="réjected"), False),
    ],
)
def test_a_query_on_the_body_alone_is_judged_from_the_body(
    query: SearchQuery, body_only: bool
) -> None:
    matcher = compile_query(query)
    assert matcher.reads_body_only is body_only
    if not body_only:
        return
    for key, body, _matches in _TRICKY:
        message = Message(endpoint="t", id=key, body=body, headers=(("x", b"y"),))
        assert matcher.body_test(body) is matcher(message), key


async def _produce(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1)
    await producer.start()
    try:
        for key, body in records:
            await producer.send_and_wait(topic, body, key=key.encode())
    finally:
        await producer.stop()


@pytest.mark.kafka
@pytest.mark.asyncio
async def test_a_kafka_search_finds_escaped_and_utf16_matches(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"{unique_name}.orders.DLT"
    await create_topic(kafka_bootstrap, topic, 1)
    await _produce(kafka_bootstrap, topic, [(key, body) for key, body, _ in _TRICKY])

    found: list[Message] = []
    async with KafkaConnector(kafka_bootstrap) as kafka:
        async with kafka.browse(topic, page_size=3) as browser:
            search = SearchBrowser(browser, compile_query(SearchQuery(expression=_EXPRESSION)))
            assert search._bulk is not None  # the bulk reader, not the aiokafka pages
            while True:
                page = await search.next_page()
                found += page.messages
                if not page.more:
                    break
            # What the scan read counts as shown: its matches can be settled and replayed.
            assert all(browser._has_shown(0, int(m.attributes["offset"])) for m in found)

    assert [m.key for m in found] == [key.encode() for key, _, matches in _TRICKY if matches]
    assert search.scanned == len(_TRICKY) and search.finished
    # Facts are parsed for matches: the topic name implies the source.
    assert all(m.dead_letter.original_destination == f"{unique_name}.orders" for m in found)


@pytest.mark.kafka
@pytest.mark.asyncio
async def test_closing_mid_scan_stops_the_reader_and_an_unread_scan_pauses(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"{unique_name}.DLT"
    await fill_topic(kafka_bootstrap, topic, 60_000, size=200, partitions=2)
    matcher = compile_query(SearchQuery(text="ORD-"))
    async with KafkaConnector(kafka_bootstrap) as kafka:
        browser = kafka.browse(topic, page_size=100)
        search = SearchBrowser(browser, matcher)
        page = await search.next_page()
        assert len(page.messages) == 100 and page.more
        bulk = search._bulk
        assert bulk is not None and bulk._thread is not None
        # Nobody asks for more: the reader stops once its read-ahead is full.
        await asyncio.sleep(1.5)
        assert bulk._chunks.qsize() <= READ_AHEAD_CHUNKS
        assert bulk._thread.is_alive()
        await search.close()
        assert not bulk._thread.is_alive()
        assert search.scanned == 100 < 60_000


@pytest.mark.kafka
@pytest.mark.asyncio
async def test_cancel_mid_scan_keeps_what_was_found_in_order(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"{unique_name}.DLT"
    await fill_topic(kafka_bootstrap, topic, 30_000, size=200, partitions=1)
    cancel = asyncio.Event()
    found: list[Message] = []
    async with KafkaConnector(kafka_bootstrap) as kafka:
        async with kafka.browse(topic, page_size=1000) as browser:
            steps = []
            async for step in scan(browser, compile_query(SearchQuery(text="ORD-")), cancel=cancel):
                steps.append(step)
                found += step.matches
                if step.scanned >= 5000:
                    cancel.set()
    last = steps[-1]
    assert last.cancelled and 5000 <= last.scanned < 30_000
    # Every record matches "ORD-": what was found is exactly the first ones, in order.
    assert [m.key for m in found] == [b"ORD-%08d" % i for i in range(last.scanned)]


@pytest.mark.kafka
@pytest.mark.asyncio
async def test_a_topic_deleted_under_the_scan_gives_an_error_with_a_hint(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"{unique_name}.DLT"
    await fill_topic(kafka_bootstrap, topic, 1000, size=200)
    async with KafkaConnector(kafka_bootstrap) as kafka:
        browser = kafka.browse(topic, page_size=100)
        await browser._open()  # the offsets are known; then the topic goes
        await delete_topics(kafka_bootstrap, [topic])
        search = SearchBrowser(browser, compile_query(SearchQuery(text="ORD-")))
        search._bulk = KafkaBulkScan(browser, search.matcher)  # what a fresh browser gets
        with pytest.raises(EventdeskError) as caught:
            while (await search.next_page(timeout=5)).more:
                pass
        assert caught.value.hint
        await search.close()
