"""The --demo world without Qt: real redrive into real DLQs, a fix switch, a clean exit."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import Callable

import pytest
from eventdesk.connectors.demo import MAX_RECEIVE_COUNT, ConsumerError, DemoEnvironment, check_order
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.factory import create_connector

DEAD_LETTERS_WITHIN_S = 30.0


def _depth(demo: DemoEnvironment, queue: str) -> int:
    attributes = demo._sqs.get_queue_attributes(
        QueueUrl=demo.urls[queue], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


async def _until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.2)


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_consumer_rejects_what_it_should() -> None:
    good = {"order_id": "o1", "customer": "c", "currency": "EUR", "lines": [], "total": 0}
    assert check_order(json.dumps(good)) == good
    with pytest.raises(ConsumerError, match="MalformedPayload"):
        check_order('{"order_id": "o1", "cust')
    with pytest.raises(ConsumerError, match=r"SchemaViolation.*customer"):
        check_order(json.dumps({k: v for k, v in good.items() if k != "customer"}))
    with pytest.raises(ConsumerError, match="DownstreamTimeout"):
        check_order(json.dumps({**good, "warehouse": "ams-2"}))


async def test_dead_letters_arrive_by_redrive_and_stop_once_the_consumer_is_fixed() -> None:
    threads_before = set(threading.enumerate())
    async with DemoEnvironment(orders_per_second=10, local_brokers=False) as demo:
        port = demo.port
        assert _port_open(port)

        await _until(
            lambda: _depth(demo, "orders-dlq") >= 3 and _depth(demo, "payments-dlq") >= 1,
            timeout=DEAD_LETTERS_WITHIN_S,
            what="dead letters in orders-dlq and payments-dlq",
        )

        # What the window sees, through Eventdesk's own connector.
        (profile,) = demo.profiles()
        connector = create_connector(profile)
        await connector.connect()
        try:
            endpoints = {e.name: e for e in await connector.list_endpoints()}
        finally:
            await connector.close()
        assert endpoints["orders-dlq"].is_dead_letter
        assert endpoints["orders-dlq"].fed_by == ("orders",)
        assert endpoints["payments-dlq"].fed_by == ("payments",)
        assert "orders" in endpoints and "payments" in endpoints

        # The redrive facts: SQS moved them after maxReceiveCount failed receives.
        received = demo._sqs.receive_message(
            QueueUrl=demo.urls["orders-dlq"],
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        )["Messages"]
        assert all(
            int(m["Attributes"]["ApproximateReceiveCount"]) >= MAX_RECEIVE_COUNT for m in received
        )
        assert all(
            m["MessageAttributes"]["source"]["StringValue"] == "checkout-service" for m in received
        )
        # Lambda-style dead letters carry what Lambda writes.
        lambda_style = demo._sqs.receive_message(
            QueueUrl=demo.urls["payments-dlq"], MessageAttributeNames=["All"], VisibilityTimeout=0
        )["Messages"][0]
        assert {"RequestID", "ErrorCode", "ErrorMessage"} <= set(lambda_style["MessageAttributes"])

        demo.fix_consumer(True)
        # Orders already past their last attempt may still be moved: wait for a quiet spell.
        settled = _depth(demo, "orders-dlq")
        quiet_since = demo.stats.published
        while demo.stats.published - quiet_since < 20:
            await asyncio.sleep(0.2)
            now = _depth(demo, "orders-dlq")
            if now != settled:
                settled, quiet_since = now, demo.stats.published
        processed, published = demo.stats.processed, demo.stats.published
        await _until(
            lambda: demo.stats.published - published >= 30,
            timeout=DEAD_LETTERS_WITHIN_S,
            what="30 more orders",
        )
        assert _depth(demo, "orders-dlq") == settled
        assert demo.stats.processed - processed >= 25

    assert not _port_open(port)
    assert not demo.running
    # The connector's pool shuts down without waiting; its idle workers exit at once.
    await _until(
        lambda: not [t for t in threading.enumerate() if t not in threads_before],
        timeout=5,
        what=f"threads to end: {[t for t in threading.enumerate() if t not in threads_before]}",
    )


async def test_close_is_idempotent_and_stops_without_having_run_long() -> None:
    threads_before = set(threading.enumerate())
    demo = DemoEnvironment(local_brokers=False)
    await demo.start()
    port = demo.port
    await demo.close()
    await demo.close()
    assert not _port_open(port)
    assert [t for t in threading.enumerate() if t not in threads_before] == []


async def test_without_moto_the_demo_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a plain `pip install eventdesk`: importing moto's server fails.
    monkeypatch.setitem(sys.modules, "moto.moto_server.werkzeug_app", None)
    demo = DemoEnvironment(local_brokers=False)
    with pytest.raises(ConfigurationError, match="needs moto's server") as info:
        await demo.start()
    assert "eventdesk[demo]" in info.value.hint
    assert not demo.running
