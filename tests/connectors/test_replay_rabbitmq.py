"""Replay and discard on the real local RabbitMQ: confirmed, settled, nothing lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from eventdesk.connectors.model import Message
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.replay import (
    ORIGINAL_ID_HEADER,
    REPLAY_COUNT_HEADER,
    REPLAY_ID_HEADER,
    ReplayOptions,
    ReplayProgress,
    discard,
    replay,
)

from tests.conftest import RabbitMQSettings
from tests.connectors.pages import all_pages
from tests.seed.rabbitmq import drain_queue, remove_seed, seed_rabbitmq

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
async def seeded(rabbitmq: RabbitMQSettings) -> AsyncIterator[dict[str, str]]:
    """A DLQ of 12 messages the broker dead-lettered from `source` (which keeps 5 live ones)."""
    prefix = f"t-replay-{uuid.uuid4().hex[:8]}"
    names = await seed_rabbitmq(**rabbitmq.account(), prefix=prefix, count=12)
    yield names
    await remove_seed(**rabbitmq.account(), names=names)


async def _browse_all(connector: RabbitMQConnector, queue: str) -> list[Message]:
    async with connector.browse(queue) as browser:
        return await all_pages(browser)


async def test_replay_to_the_original_queue_moves_exactly_the_selection(
    rabbitmq_connector: RabbitMQConnector,
    seeded: dict[str, str],
    rabbitmq: RabbitMQSettings,
    journal,
) -> None:
    before = await _browse_all(rabbitmq_connector, seeded["dlq"])
    assert len(before) == 12
    assert {m.dead_letter.original_destination for m in before} == {seeded["source"]}

    async with rabbitmq_connector.browse(seeded["dlq"]) as browser:
        letters = await all_pages(browser)
        chosen, kept = letters[:7], letters[7:]
        result = await replay(
            rabbitmq_connector,
            browser,
            chosen,
            rabbitmq_connector,
            None,
            options=ReplayOptions(batch_size=3),
            journal=journal,
            source_connection="local",
        )
    assert result.status == "completed", result
    assert result.ok and result.succeeded == 7

    assert await rabbitmq_connector.depth(seeded["dlq"]) == 5
    remaining = await _browse_all(rabbitmq_connector, seeded["dlq"])
    assert sorted(m.id for m in remaining) == sorted(m.id for m in kept)

    delivered = await drain_queue(**rabbitmq.credentials(), queue=seeded["source"])
    replayed = [m for m in delivered if m.headers and REPLAY_ID_HEADER in m.headers]
    assert len(delivered) == 5 + 7  # the five live messages are untouched
    assert sorted(str(m.headers[ORIGINAL_ID_HEADER]) for m in replayed) == sorted(
        m.id for m in chosen
    )
    by_id = {m.id: m for m in chosen}
    for message in replayed:
        original = by_id[str(message.headers[ORIGINAL_ID_HEADER])]
        assert message.body == original.body
        assert message.headers[REPLAY_ID_HEADER] == result.action_id
        assert message.headers[REPLAY_COUNT_HEADER] == "1"
        # Kept unless stripping was asked for: the failure history travels with the message.
        assert "x-death" in message.headers
        assert message.message_id == original.attributes.get("message_id")
        assert message.content_type == original.attributes.get("content_type")

    record = journal.action(result.action_id)
    assert record is not None and record.status == "completed"
    assert [m.state for m in record.messages] == ["settled"] * 7
    assert [m.source_id for m in record.messages] == [m.id for m in chosen]


async def test_strip_removes_dead_letter_headers(
    rabbitmq_connector: RabbitMQConnector,
    seeded: dict[str, str],
    rabbitmq: RabbitMQSettings,
    journal,
) -> None:
    async with rabbitmq_connector.browse(seeded["dlq"]) as browser:
        letters = await all_pages(browser)
        result = await replay(
            rabbitmq_connector,
            browser,
            letters[:2],
            rabbitmq_connector,
            seeded["source"],
            options=ReplayOptions(strip_dead_letter_headers=True),
            journal=journal,
        )
    assert result.ok
    replayed = [
        m
        for m in await drain_queue(**rabbitmq.credentials(), queue=seeded["source"])
        if m.headers and REPLAY_ID_HEADER in m.headers
    ]
    assert len(replayed) == 2
    for message in replayed:
        assert not [h for h in message.headers if h.startswith(("x-death", "x-first-death"))]


async def test_unroutable_target_fails_and_loses_nothing(
    rabbitmq_connector: RabbitMQConnector, seeded: dict[str, str], journal
) -> None:
    missing = f"no-such-queue-{uuid.uuid4().hex[:8]}"
    async with rabbitmq_connector.browse(seeded["dlq"]) as browser:
        letters = await all_pages(browser)
        result = await replay(
            rabbitmq_connector,
            browser,
            letters,
            rabbitmq_connector,
            missing,
            options=ReplayOptions(),
            journal=journal,
        )
    assert result.succeeded == 0 and result.failed == 12
    assert all("unroutable" in o.detail for o in result.outcomes)
    assert await rabbitmq_connector.depth(seeded["dlq"]) == 12
    assert sorted(m.id for m in await _browse_all(rabbitmq_connector, seeded["dlq"])) == sorted(
        m.id for m in letters
    )
    record = journal.action(result.action_id)
    assert record is not None and {m.state for m in record.messages} == {"failed"}


async def test_missing_exchange_stops_the_replay_with_everything_in_place(
    rabbitmq_connector: RabbitMQConnector, seeded: dict[str, str], journal
) -> None:
    async with rabbitmq_connector.browse(seeded["dlq"]) as browser:
        letters = await all_pages(browser)
        result = await replay(
            rabbitmq_connector,
            browser,
            letters,
            rabbitmq_connector,
            f"no-such-exchange-{uuid.uuid4().hex[:6]}/key",
            options=ReplayOptions(batch_size=5),
            journal=journal,
        )
    assert result.status == "failed" and "does not exist" in result.detail
    assert await rabbitmq_connector.depth(seeded["dlq"]) == 12
    record = journal.action(result.action_id)
    assert record is not None and record.counts == {"pending": 12}


async def test_discard_removes_exactly_the_selected(
    rabbitmq_connector: RabbitMQConnector, seeded: dict[str, str], journal
) -> None:
    async with rabbitmq_connector.browse(seeded["dlq"]) as browser:
        letters = await all_pages(browser)
        chosen = [letters[0], letters[4], letters[9]]
        stranger = Message(endpoint=seeded["dlq"], id="not-browsed", body=b"")
        result = await discard(browser, [*chosen, stranger], journal=journal)
    assert [o.ok for o in result.outcomes] == [True, True, True, False]
    assert result.outcomes[-1].detail == "not held by this browser"
    left = await _browse_all(rabbitmq_connector, seeded["dlq"])
    assert sorted(m.id for m in left) == sorted(m.id for m in letters if m not in chosen)
    record = journal.action(result.action_id)
    assert record is not None and record.kind == "discard"
    assert record.counts == {"settled": 3, "failed": 1}


async def test_loop_guard_refuses_a_message_replayed_too_often(
    rabbitmq_connector: RabbitMQConnector, rabbitmq: RabbitMQSettings, unique_name: str, journal
) -> None:
    source, dlq = unique_name, f"{unique_name}.dlq"
    connection = await aio_pika.connect(
        host=rabbitmq.host, port=rabbitmq.port, login=rabbitmq.username, password=rabbitmq.password
    )
    try:
        channel = await connection.channel()
        await channel.declare_queue(dlq, auto_delete=False)
        queue = await channel.declare_queue(
            source,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq},
        )

        async def consumer_gives_up() -> None:
            message = await queue.get(no_ack=False, timeout=5)
            await message.reject(requeue=False)

        await channel.default_exchange.publish(
            aio_pika.Message(b'{"order": 1}', message_id="order-1"), routing_key=source
        )
        await consumer_gives_up()
        options = ReplayOptions(max_replays=1)
        for round_ in (1, 2):
            async with rabbitmq_connector.browse(dlq) as browser:
                letters = await all_pages(browser)
                assert len(letters) == 1
                result = await replay(
                    rabbitmq_connector,
                    browser,
                    letters,
                    rabbitmq_connector,
                    None,
                    options=options,
                    journal=journal,
                )
            if round_ == 1:
                assert result.ok
                await consumer_gives_up()  # it fails again: back in the DLQ, replayed once
        assert not result.ok
        assert result.outcomes[0].detail.startswith("refused: already replayed 1 times")
        assert await rabbitmq_connector.depth(dlq) == 1
        assert await rabbitmq_connector.depth(source) == 0
    finally:
        await channel.queue_delete(source)
        await channel.queue_delete(dlq)
        await connection.close()


async def test_cancel_between_batches_leaves_exact_outcomes(
    rabbitmq_connector: RabbitMQConnector, seeded: dict[str, str], journal
) -> None:
    cancel = asyncio.Event()
    seen: list[ReplayProgress] = []

    def on_progress(progress: ReplayProgress) -> None:
        seen.append(progress)
        cancel.set()  # the operator presses Cancel while the first batch is running

    async with rabbitmq_connector.browse(seeded["dlq"]) as browser:
        letters = await all_pages(browser)
        result = await replay(
            rabbitmq_connector,
            browser,
            letters,
            rabbitmq_connector,
            None,
            options=ReplayOptions(batch_size=4),
            journal=journal,
            progress=on_progress,
            cancel=cancel,
        )
    assert result.status == "cancelled"
    assert [o.source_id for o in result.outcomes] == [m.id for m in letters[:4]]
    assert (seen[-1].sent, seen[-1].failed, seen[-1].total) == (4, 0, 12)
    assert await rabbitmq_connector.depth(seeded["dlq"]) == 8
    record = journal.action(result.action_id)
    assert record is not None and record.status == "cancelled"
    assert [m.state for m in record.messages] == ["settled"] * 4 + ["pending"] * 8
