"""Replay and discard of NATS JetStream dead letters through the journaled engine."""

from __future__ import annotations

import pytest
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.model import Message
from eventdesk.connectors.nats import NatsConnector, dead_letter_endpoint
from eventdesk.connectors.replay import (
    ORIGINAL_ID_HEADER,
    REPLAY_COUNT_HEADER,
    ReplayOptions,
    discard,
    replay,
)

from tests.connectors.conftest import NATS_DEAD_LETTERS

pytestmark = pytest.mark.nats


async def _stream_messages(connector: NatsConnector, stream: str) -> list[Message]:
    async with connector.browse(stream) as browser:
        return list((await browser.next_page()).messages)


async def test_replay_republishes_to_the_original_subject_journaled(
    nats_connector: NatsConnector, nats_orders: str, journal: Journal
) -> None:
    dlq = dead_letter_endpoint(nats_orders, "billing")
    async with nats_connector.browse(dlq) as browser:
        letters = list((await browser.next_page()).messages)
        assert len(letters) == NATS_DEAD_LETTERS
        result = await replay(
            nats_connector,
            browser,
            letters,
            nats_connector,
            None,
            options=ReplayOptions(),
            journal=journal,
            source_connection="jetstream",
        )
    assert result.ok, result
    assert await nats_connector.depth(dlq) == 0
    replayed = (await _stream_messages(nats_connector, nats_orders))[6:]
    assert sorted(m.header("Nats-Msg-Id") for m in replayed) == sorted(m.id for m in letters)
    assert {m.attributes["subject"] for m in replayed} == {f"{nats_orders.lower()}.created"}
    assert all(m.header(REPLAY_COUNT_HEADER) == "1" for m in replayed)
    by_id = {m.header(ORIGINAL_ID_HEADER): m for m in replayed}
    assert {k: by_id[k].body for k in by_id} == {m.id: m.body for m in letters}

    record = journal.action(result.action_id)
    assert record is not None
    assert record.kind == "replay" and record.status == "completed"
    assert record.source == dlq and record.source_connection == "jetstream"
    assert record.counts == {"settled": NATS_DEAD_LETTERS}
    assert {m.target for m in record.messages} == {f"{nats_orders.lower()}.created"}
    assert all(f"{nats_orders} seq" in m.detail for m in record.messages)


async def test_a_replay_nobody_takes_leaves_the_dead_letters_journaled_failed(
    nats_connector: NatsConnector, nats_orders: str, journal: Journal
) -> None:
    dlq = dead_letter_endpoint(nats_orders, "billing")
    async with nats_connector.browse(dlq) as browser:
        letters = list((await browser.next_page()).messages)
        result = await replay(
            nats_connector,
            browser,
            letters[:2],
            nats_connector,
            f"nowhere.{nats_orders.lower()}",
            options=ReplayOptions(),
            journal=journal,
        )
    assert not result.ok and result.failed == 2
    assert all("no JetStream stream" in o.detail for o in result.outcomes)
    # Nothing lost: the advisories stay, so the dead letters are still there.
    assert await nats_connector.depth(dlq) == NATS_DEAD_LETTERS
    assert await nats_connector.depth(nats_orders) == 6
    record = journal.action(result.action_id)
    assert record is not None and record.counts == {"failed": 2}


async def test_discard_marks_handled_journaled_and_keeps_the_message(
    nats_connector: NatsConnector, nats_orders: str, journal: Journal
) -> None:
    dlq = dead_letter_endpoint(nats_orders, "billing")
    async with nats_connector.browse(dlq) as browser:
        letters = list((await browser.next_page()).messages)
        chosen = letters[:1]
        result = await discard(browser, chosen, journal=journal, source_connection="jetstream")
    assert result.ok and result.succeeded == 1
    assert await nats_connector.depth(dlq) == NATS_DEAD_LETTERS - 1
    assert await nats_connector.depth(nats_orders) == 6
    async with nats_connector.browse(dlq) as browser:
        left = {m.id for m in (await browser.next_page()).messages}
    assert left == {m.id for m in letters[1:]}
    record = journal.action(result.action_id)
    assert record is not None
    assert record.kind == "discard" and record.status == "completed"
    assert record.source == dlq
    assert [(m.source_id, m.state) for m in record.messages] == [(chosen[0].id, "settled")]
