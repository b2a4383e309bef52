"""SqsConnector against a real moto server: DLQ detection, depth, browse and release, errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from eventdesk.connectors.errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    BrokerUnreachable,
    ConfigurationError,
    ConnectionLost,
    EndpointNotFound,
)
from eventdesk.connectors.model import EndpointKind
from eventdesk.connectors.sqs import SqsConnector, _translate

from tests.conftest import SqsSettings
from tests.seed.sqs import fill_queue, queue_counts, seed_sqs

pytestmark = pytest.mark.sqs

# moto scans the whole queue on every send and receive, so time grows with depth squared;
# 400 proves paging (several pages of 10-message receives) without minutes of waiting.
BROWSE_COUNT = 400


@pytest.fixture
def make_queue(sqs_client: Any) -> Iterator[Callable[..., str]]:
    """Creates queues (name, attributes) -> URL, and deletes them after the test."""
    created: list[str] = []

    def make(name: str, attributes: dict[str, str] | None = None) -> str:
        url = sqs_client.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
        created.append(url)
        return url

    yield make
    for url in created:
        sqs_client.delete_queue(QueueUrl=url)


def _arn(sqs_client: Any, url: str) -> str:
    reply = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return reply["Attributes"]["QueueArn"]


async def test_dead_letter_queue_is_found_by_its_redrive_policy(
    sqs_connector: SqsConnector, sqs_client: Any, make_queue: Callable[..., str], unique_name: str
) -> None:
    # Named so that no naming convention could mark it: only the RedrivePolicy can.
    parking = f"{unique_name}-parking"
    work = f"{unique_name}-work"
    plain = f"{unique_name}-plain"
    parking_url = make_queue(parking)
    policy = {"deadLetterTargetArn": _arn(sqs_client, parking_url), "maxReceiveCount": 4}
    make_queue(work, {"RedrivePolicy": json.dumps(policy)})
    make_queue(plain)

    endpoints = {e.name: e for e in await sqs_connector.list_endpoints()}

    dlq = endpoints[parking]
    assert dlq.kind is EndpointKind.QUEUE
    assert dlq.is_dead_letter
    assert dlq.fed_by == (work,)
    assert "RedrivePolicy" in dlq.dead_letter_evidence
    assert dlq.details["feeders_max_receive_count"] == f"{work}: 4"
    assert dlq.details["arn"].endswith(f":{parking}")
    assert not endpoints[work].is_dead_letter
    assert endpoints[work].details["dead_letter_target"] == parking
    assert endpoints[work].details["max_receive_count"] == "4"
    assert not endpoints[plain].is_dead_letter
    assert endpoints[plain].fed_by == ()


async def test_depth_counts_visible_and_in_flight(
    sqs_connector: SqsConnector,
    sqs: SqsSettings,
    sqs_client: Any,
    make_queue: Callable[..., str],
    unique_name: str,
) -> None:
    url = make_queue(unique_name)
    fill_queue(endpoint_url=sqs.endpoint_url, region=sqs.region, queue_url=url, count=25)
    taken = sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=5, VisibilityTimeout=120)
    assert len(taken["Messages"]) == 5

    assert await sqs_connector.depth(unique_name) == 25
    listed = next(e for e in await sqs_connector.list_endpoints() if e.name == unique_name)
    assert listed.depth == 25
    assert (listed.details["visible"], listed.details["in_flight"]) == ("20", "5")


async def test_browse_pages_through_every_message_once_and_releases_them(
    sqs_connector: SqsConnector,
    sqs: SqsSettings,
    sqs_client: Any,
    make_queue: Callable[..., str],
    unique_name: str,
) -> None:
    url = make_queue(unique_name)
    fill_queue(
        endpoint_url=sqs.endpoint_url,
        region=sqs.region,
        queue_url=url,
        count=BROWSE_COUNT,
        size=256,
    )

    pages = []
    async with sqs_connector.browse(unique_name, page_size=300) as browser:
        while True:
            page = await browser.next_page(timeout=120)
            pages.append(page)
            if not page.more:
                break
        # Held, not consumed: hidden from consumers while the browser is open.
        assert queue_counts(sqs_client, url) == (0, BROWSE_COUNT)
        assert browser.held == BROWSE_COUNT
        assert await sqs_connector.depth(unique_name) == BROWSE_COUNT

    full, rest = divmod(BROWSE_COUNT, 300)
    assert [len(p.messages) for p in pages] == [300] * full + ([rest] if rest else [])
    assert [p.more for p in pages] == [True] * (len(pages) - 1) + [False]
    messages = [m for p in pages for m in p.messages]
    assert len({m.id for m in messages}) == BROWSE_COUNT
    numbers = sorted(json.loads(m.body)["n"] for m in messages)
    assert numbers == list(range(BROWSE_COUNT))
    first = messages[0]
    assert first.endpoint == unique_name
    assert first.header("n") == str(json.loads(first.body)["n"])
    assert first.timestamp is not None
    assert int(first.attributes["ApproximateReceiveCount"]) >= 1
    # A plain queue's messages are not dead letters, whatever their system attributes say.
    assert all(m.dead_letter.is_empty for m in messages)

    # Released at once on close, not after the 300 s browse visibility timeout. (moto
    # counts a message visible only from the millisecond after its release: CI once saw
    # (399, 1) right after close, so the count is read again for up to 5 s.)
    deadline = time.monotonic() + 5
    while (counts := queue_counts(sqs_client, url)) != (BROWSE_COUNT, 0):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert counts == (BROWSE_COUNT, 0)
    again = sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert len(again["Messages"]) == 10


async def test_real_redrive_gives_dead_letter_facts(
    sqs_connector: SqsConnector, sqs: SqsSettings, sqs_client: Any, unique_name: str
) -> None:
    names = seed_sqs(endpoint_url=sqs.endpoint_url, region=sqs.region, prefix=unique_name, count=6)
    try:
        endpoints = {e.name: e for e in await sqs_connector.list_endpoints()}
        assert endpoints[names["orders_dlq"]].fed_by == (names["orders"],)
        assert endpoints[names["orders_dlq"]].depth == 6
        assert endpoints[names["payments_fifo_dlq"]].fed_by == (names["payments_fifo"],)
        assert endpoints[names["topic"]].kind is EndpointKind.TOPIC
        assert endpoints[names["notifications_dlq"]].fed_by == (names["topic"],)
        assert "subscription" in endpoints[names["notifications_dlq"]].dead_letter_evidence
        assert not endpoints[names["notifications"]].is_dead_letter

        async with sqs_connector.browse(names["orders_dlq"]) as browser:
            page = await browser.next_page()
        assert len(page.messages) == 6
        assert not page.more
        for message in page.messages:
            facts = message.dead_letter
            assert facts.convention == "sqs redrive"
            assert facts.original_destination == names["orders"]
            # Two failed receives in the source queue, then this browse.
            assert facts.attempts is not None and facts.attempts >= 3
            assert message.header("eventType") == "OrderPlaced"
            assert isinstance(message.header("tenant"), bytes)
            assert json.loads(message.body)["orderId"].startswith("ORD-")

        async with sqs_connector.browse(names["payments_fifo_dlq"]) as browser:
            page = await browser.next_page()
        assert {m.dead_letter.original_destination for m in page.messages} == {
            names["payments_fifo"]
        }
        assert all(m.key in (b"customer-0", b"customer-1") for m in page.messages)

        async with sqs_connector.browse(names["lambda_dlq"]) as browser:
            page = await browser.next_page()
        assert len(page.messages) == 3
        assert {m.dead_letter.convention for m in page.messages} == {"lambda"}
        assert any("timed out" in (m.dead_letter.exception_message or "") for m in page.messages)
    finally:
        sns = boto3.client("sns", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
        sns.delete_topic(TopicArn=names["topic_arn"])
        for key, name in names.items():
            if not key.startswith("topic"):
                sqs_client.delete_queue(
                    QueueUrl=sqs_client.get_queue_url(QueueName=name)["QueueUrl"]
                )


async def test_unreachable_endpoint_fails_fast_naming_it(sqs: SqsSettings) -> None:
    connector = SqsConnector(region=sqs.region, endpoint_url="http://127.0.0.1:1")
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as caught:
        await connector.connect(timeout=10)
    assert time.monotonic() - started < 5
    assert "http://127.0.0.1:1" in str(caught.value)
    await connector.close()


async def test_missing_queue_is_endpoint_not_found(
    sqs_connector: SqsConnector, unique_name: str
) -> None:
    with pytest.raises(EndpointNotFound):
        await sqs_connector.depth(unique_name)
    async with sqs_connector.browse(unique_name) as browser:
        with pytest.raises(EndpointNotFound):
            await browser.next_page()


async def test_close_is_idempotent_and_gives_back_what_open_browsers_hold(
    sqs: SqsSettings, sqs_client: Any, make_queue: Callable[..., str], unique_name: str
) -> None:
    url = make_queue(unique_name)
    fill_queue(endpoint_url=sqs.endpoint_url, region=sqs.region, queue_url=url, count=15)
    connector = SqsConnector(region=sqs.region, endpoint_url=sqs.endpoint_url)
    await connector.connect()

    first = connector.browse(unique_name, page_size=5)
    page = await first.next_page()
    assert len(page.messages) == 5 and page.more
    await first.close()
    await first.close()
    assert queue_counts(sqs_client, url) == (15, 0)
    assert (await first.next_page()).messages == ()

    # The connector closes a browser left open, releasing its messages.
    left_open = connector.browse(unique_name, page_size=5)
    await left_open.next_page()
    assert queue_counts(sqs_client, url)[0] < 15
    await connector.close()
    await connector.close()
    assert queue_counts(sqs_client, url) == (15, 0)
    with pytest.raises(ConnectionLost):
        await connector.depth(unique_name)


async def test_fifo_browse_says_when_held_messages_block_their_group(
    sqs_connector: SqsConnector,
    sqs: SqsSettings,
    sqs_client: Any,
    make_queue: Callable[..., str],
    unique_name: str,
) -> None:
    url = make_queue(f"{unique_name}.fifo", {"FifoQueue": "true"})
    fill_queue(endpoint_url=sqs.endpoint_url, region=sqs.region, queue_url=url, count=25)

    async with sqs_connector.browse(f"{unique_name}.fifo", page_size=100) as browser:
        page = await browser.next_page(timeout=30)
        # SQS hands out no more of a group while some of it is in flight.
        assert 0 < len(page.messages) < 25
        assert not page.more
        assert browser.incomplete is not None and "FIFO" in browser.incomplete
    numbers = [json.loads(m.body)["n"] for m in page.messages]
    assert numbers == list(range(len(numbers)))
    assert {m.key for m in page.messages} == {b"fill"}
    assert queue_counts(sqs_client, url) == (25, 0)


async def test_empty_queue_has_one_empty_last_page(
    sqs_connector: SqsConnector, make_queue: Callable[..., str], unique_name: str
) -> None:
    make_queue(unique_name)
    async with sqs_connector.browse(unique_name) as browser:
        page = await browser.next_page()
    assert page.messages == ()
    assert not page.more


def _client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "denied for test"}}, operation)


def test_errors_and_repr_never_show_the_secret() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    connector = SqsConnector(
        region="eu-west-1", access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key=secret
    )
    assert secret not in repr(connector)
    assert "AKIAIOSFODNN7EXAMPLE" not in repr(connector)

    denied = _translate(
        _client_error("AccessDenied", "ReceiveMessage"),
        service="sqs",
        where="SQS in eu-west-1",
        target="orders",
    )
    assert isinstance(denied, AuthorizationFailed)
    assert "sqs:ReceiveMessage" in str(denied) and "orders" in str(denied)
    refused = _translate(
        _client_error("InvalidClientTokenId", "ListQueues"),
        service="sqs",
        where="SQS in eu-west-1",
        target=None,
    )
    assert isinstance(refused, AuthenticationFailed)
    assert secret not in str(refused)
    missing = _translate(
        _client_error("AWS.SimpleQueueService.NonExistentQueue", "GetQueueUrl"),
        service="sqs",
        where="SQS in eu-west-1",
        target="orders",
    )
    assert isinstance(missing, EndpointNotFound)


async def test_an_open_browser_keeps_its_messages_hidden_past_a_short_hold(
    elasticmq: SqsSettings, unique_name: str
) -> None:
    """The keeper re-hides what the browser holds before its hold runs out; a killed app's
    messages would come back after `browse_hold_seconds`, an open browser's never do."""
    client = boto3.client("sqs", endpoint_url=elasticmq.endpoint_url, region_name=elasticmq.region)
    url = client.create_queue(QueueName=unique_name)["QueueUrl"]
    try:
        fill_queue(
            endpoint_url=elasticmq.endpoint_url, region=elasticmq.region, queue_url=url, count=30
        )
        connector = SqsConnector(
            region=elasticmq.region, endpoint_url=elasticmq.endpoint_url, browse_hold_seconds=3
        )
        async with connector, connector.browse(unique_name) as browser:
            page = await browser.next_page(timeout=30)
            assert len(page.messages) == 30
            await asyncio.sleep(7)  # more than twice the hold
            assert queue_counts(client, url) == (0, 30)
        assert queue_counts(client, url) == (30, 0)
    finally:
        client.delete_queue(QueueUrl=url)


def test_a_browse_hold_outside_what_sqs_allows_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="out of range"):
        SqsConnector(region="us-east-1", browse_hold_seconds=2)
