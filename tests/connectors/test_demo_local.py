"""--demo on the local Kafka and RabbitMQ: dead letters made the frameworks' way, read back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from eventdesk.connectors.demo import ConsumerError, DemoEnvironment
from eventdesk.connectors.demo_local import (
    DLQ,
    DLT,
    GROUP,
    KAFKA_PROFILE,
    QUEUE,
    RABBITMQ_PROFILE,
    TOPIC,
    KafkaDemo,
    RabbitMQDemo,
)
from eventdesk.connectors.factory import create_connector

WITHIN_S = 30.0


class EveryThirdFails:
    """Orders numbered in their body; every third one fails with a schema violation."""

    def __init__(self) -> None:
        self.made = 0
        self.fixed = False

    def next_order(self) -> str:
        self.made += 1
        return f'{{"order_id": "ord-{self.made}", "n": {self.made}}}'

    def check(self, body: str) -> None:
        if not self.fixed and '"n": ' in body and int(body.rsplit(" ", 1)[1][:-1]) % 3 == 0:
            raise ConsumerError("SchemaViolation: required field(s) missing: customer")


async def _until(predicate: Callable[[], bool], *, what: str) -> None:
    deadline = time.monotonic() + WITHIN_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WITHIN_S} s waiting for {what}")
        await asyncio.sleep(0.2)


async def _dead_letters(demo, endpoint: str) -> list:
    async with create_connector(demo.profile()) as connector:
        async with connector.browse(endpoint) as browser:
            return list((await browser.next_page(timeout=10)).messages)


async def _dead_letters_once(
    demo, feed: EveryThirdFails, done: Callable[[], bool], *, what: str, endpoint: str
) -> list:
    """Run the demo until `done`, fix its consumer, and read `endpoint`; the demo closed after."""
    await demo.start()
    try:
        await _until(done, what=what)
        feed.fixed = True
        return await _dead_letters(demo, endpoint)
    finally:
        await demo.close()


@pytest.mark.kafka
async def test_kafka_listener_dead_letters_with_spring_headers(kafka_bootstrap: str) -> None:
    feed = EveryThirdFails()
    demo = KafkaDemo(feed, rate=20, bootstrap=kafka_bootstrap)
    letters = await _dead_letters_once(
        demo, feed, lambda: demo.dead_lettered >= 2, what="two records on the DLT", endpoint=DLT
    )
    mine = [m for m in letters if b'"n": ' in m.body]
    assert len(mine) >= 2
    facts = mine[-1].dead_letter
    assert facts.convention == "spring-kafka"
    assert facts.original_destination == TOPIC
    assert facts.exception_type == "jakarta.validation.ConstraintViolationException"
    assert "required field(s) missing: customer" in (facts.exception_message or "")
    assert mine[-1].header("kafka_dlt-original-consumer-group") == GROUP.encode()


@pytest.mark.rabbitmq
async def test_rabbitmq_consumer_rejects_into_the_brokers_dead_lettering(rabbitmq) -> None:
    feed = EveryThirdFails()
    demo = RabbitMQDemo(feed, rate=20)
    letters = await _dead_letters_once(
        demo, feed, lambda: demo.rejected >= 2, what="two rejected orders", endpoint=DLQ
    )
    assert len(letters) >= 2
    facts = letters[-1].dead_letter
    assert facts.convention == "rabbitmq x-death"
    assert facts.reason == "rejected"
    assert facts.original_destination == QUEUE


@pytest.mark.kafka
@pytest.mark.rabbitmq
async def test_demo_adds_the_local_brokers_it_finds_and_closes_them(
    kafka_bootstrap: str, rabbitmq
) -> None:
    async with DemoEnvironment(orders_per_second=6) as demo:
        names = [p.name for p in demo.profiles()]
        assert names[1:] == [KAFKA_PROFILE, RABBITMQ_PROFILE]
        local = demo.local_demos
    assert demo.local_demos == []
    assert all(d._services._tasks == set() for d in local)
