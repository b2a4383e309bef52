"""Choosing or creating the stream that captures JetStream's dead-letter advisories."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats as nats_client
import pytest
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.nats import (
    ADVISORY_SUBJECTS,
    NatsConnector,
    _subject_covers,
    _subjects_overlap,
    dead_letter_endpoint,
)

from tests.seed.nats import seed_nats

pytestmark = pytest.mark.nats


@pytest.fixture
async def connector(private_nats: str) -> AsyncIterator[NatsConnector]:
    connector = NatsConnector(private_nats)
    await connector.connect()
    yield connector
    await connector.close()


async def test_a_new_capture_stream_is_created_and_then_reused(
    private_nats: str, connector: NatsConnector
) -> None:
    assert await connector.advisory_capture_streams() == []
    assert await connector.use_advisory_capture("DEAD_LETTERS") is True
    assert connector.advisory_stream == "DEAD_LETTERS"
    [capture] = await connector.advisory_capture_streams()
    assert capture.name == "DEAD_LETTERS" and capture.complete
    assert set(capture.subjects) == set(ADVISORY_SUBJECTS)
    # Chosen again (another session): used as it is, not created twice.
    again = NatsConnector(private_nats, advisory_stream="EVENTDESK_ADVISORIES")
    async with again:
        assert await again.use_advisory_capture("DEAD_LETTERS") is False

    # And it really captures: a consumer giving up shows as a dead-letter endpoint.
    await seed_nats(
        private_nats, stream="ORDERS", consumer="billing", count=3, exhaust=1, terminate=1
    )
    dlq = dead_letter_endpoint("ORDERS", "billing")
    deadline = time.monotonic() + 10
    while await connector.depth(dlq) < 2:
        assert time.monotonic() < deadline, "no advisories reached DEAD_LETTERS"
        await asyncio.sleep(0.1)


async def test_an_existing_wider_stream_is_accepted_as_it_is(
    private_nats: str, connector: NatsConnector
) -> None:
    nc = await nats_client.connect(private_nats)
    await nc.jetstream().add_stream(name="ALL_ADVISORIES", subjects=["$JS.EVENT.ADVISORY.>"])
    await nc.close()
    [capture] = await connector.advisory_capture_streams()
    assert (capture.name, capture.complete) == ("ALL_ADVISORIES", True)
    assert await connector.use_advisory_capture("ALL_ADVISORIES") is False
    assert connector.advisory_stream == "ALL_ADVISORIES"


async def test_a_second_capture_stream_names_the_one_that_has_the_subjects(
    connector: NatsConnector,
) -> None:
    await connector.use_advisory_capture("FIRST_CAPTURE")
    with pytest.raises(ConfigurationError) as caught:
        await connector.use_advisory_capture("SECOND_CAPTURE")
    assert "FIRST_CAPTURE already takes consumer advisories" in str(caught.value)
    assert "FIRST_CAPTURE" in caught.value.hint
    # The failed choice changes nothing.
    assert connector.advisory_stream == "FIRST_CAPTURE"


async def test_a_stream_that_captures_something_else_is_refused(
    private_nats: str, connector: NatsConnector
) -> None:
    nc = await nats_client.connect(private_nats)
    await nc.jetstream().add_stream(name="ORDERS", subjects=["orders.>"])
    await nc.close()
    with pytest.raises(ConfigurationError) as caught:
        await connector.use_advisory_capture("ORDERS")
    assert "does not capture consumer advisories" in str(caught.value)
    assert "orders.>" in str(caught.value)
    assert connector.advisory_stream == "EVENTDESK_ADVISORIES"


@pytest.mark.parametrize("name", ["", "  ", "dead letters", "DLQ.1", "a*", "a>", "a/b"])
async def test_an_invalid_name_is_refused_before_asking_the_server(
    connector: NatsConnector, name: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await connector.use_advisory_capture(name)
    assert caught.value.hint


def test_subject_wildcards_cover_and_overlap() -> None:
    max_deliveries = ADVISORY_SUBJECTS[0]
    assert _subject_covers("$JS.EVENT.ADVISORY.>", max_deliveries)
    assert _subject_covers(max_deliveries, max_deliveries)
    assert _subject_covers("$JS.EVENT.ADVISORY.CONSUMER.*.>", max_deliveries)
    assert not _subject_covers(
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.>", max_deliveries
    )
    assert not _subject_covers("$JS.EVENT.ADVISORY.*", max_deliveries)
    assert _subjects_overlap("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.*", max_deliveries)
    assert _subjects_overlap(">", max_deliveries)
    assert not _subjects_overlap("orders.>", max_deliveries)
    assert not _subjects_overlap("$JS.EVENT.ADVISORY.STREAM.*", "$JS.EVENT.ADVISORY.STREAM.*.x")
