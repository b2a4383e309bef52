"""Replaying edited dead letters on the real RabbitMQ and Kafka: the edit goes out, the original
is settled only once the broker confirmed it, and the journal keeps both (old files still open)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from eventdesk.connectors.journal import Journal, PlannedMessage, payload_sha256
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.model import Message
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.replay import (
    ORIGINAL_ID_HEADER,
    MessageEdit,
    ReplayOptions,
    outgoing_for,
    replay,
    resume,
)

from tests.conftest import RabbitMQSettings
from tests.connectors.pages import all_pages
from tests.seed.kafka import create_topic, fill_topic, read_committed
from tests.seed.rabbitmq import drain_queue, remove_seed, seed_rabbitmq


@pytest.fixture
async def seeded(rabbitmq: RabbitMQSettings) -> AsyncIterator[dict[str, str]]:
    """A DLQ of 8 dead letters the broker dead-lettered from `source` (5 live ones stay)."""
    prefix = f"t-edit-{uuid.uuid4().hex[:8]}"
    names = await seed_rabbitmq(**rabbitmq.account(), prefix=prefix, count=8)
    yield names
    await remove_seed(**rabbitmq.account(), names=names)


def _json_letters(letters: list[Message]) -> list[Message]:
    return [m for m in letters if m.body.startswith(b"{")]


def _edited(message: Message) -> bytes:
    document = json.loads(message.body)
    document["shipping"]["method"] = "EXPRESS"
    return json.dumps(document).encode()


def test_outgoing_takes_the_edit_and_keeps_the_original_identity():
    message = Message(
        "q.dlq", "id-1", b'{"a":1}', headers=(("trace", "t-1"), ("x-death", [{"count": 1}]))
    )
    edit = MessageEdit(b'{"a":2}', headers=(("trace", "t-2"),))
    sent = outgoing_for(message, ReplayOptions(), "replay-1", edit)
    assert sent.source_id == "id-1" and sent.body == b'{"a":2}'
    assert ("trace", "t-2") in sent.headers and ("trace", "t-1") not in sent.headers
    assert dict(sent.headers)[ORIGINAL_ID_HEADER] == "id-1"
    body_only = outgoing_for(message, ReplayOptions(), "replay-1", MessageEdit(b"{}"))
    assert ("trace", "t-1") in body_only.headers and body_only.body == b"{}"


@pytest.mark.rabbitmq
async def test_edited_replay_sends_the_edit_and_settles_the_original(
    rabbitmq_connector: RabbitMQConnector,
    seeded: dict[str, str],
    rabbitmq: RabbitMQSettings,
    journal,
) -> None:
    async with rabbitmq_connector.browse(seeded["dlq"]) as browser:
        letters = await all_pages(browser)
        chosen = _json_letters(letters)[:3]
        edits = {m.id: MessageEdit(_edited(m)) for m in chosen}
        # One with its headers edited too: a fixed header and one added.
        first = chosen[0]
        edits[first.id] = MessageEdit(
            _edited(first), headers=(*first.headers, ("fixed-by", "operator"))
        )
        result = await replay(
            rabbitmq_connector,
            browser,
            chosen,
            rabbitmq_connector,
            None,
            options=ReplayOptions(),
            journal=journal,
            edits=edits,
        )
    assert result.ok, result

    delivered = [
        m
        for m in await drain_queue(**rabbitmq.credentials(), queue=seeded["source"])
        if m.headers.get(ORIGINAL_ID_HEADER)
    ]
    by_source = {str(m.headers[ORIGINAL_ID_HEADER]): m for m in delivered}
    assert set(by_source) == {m.id for m in chosen}
    for message in chosen:
        assert by_source[message.id].body == edits[message.id].body
    assert by_source[first.id].headers["fixed-by"] == "operator"
    assert "fixed-by" not in by_source[chosen[1].id].headers

    left = await drain_queue(**rabbitmq.credentials(), queue=seeded["dlq"])
    assert len(left) == len(letters) - 3
    originals = {m.id: m.body for m in letters}
    assert all(m.body == originals[m.message_id] for m in left)

    record = journal.action(result.action_id)
    assert record.options["edited_messages"] == 3
    for planned in record.messages:
        assert planned.state == "settled"
        assert planned.payload_sha256 == payload_sha256(originals[planned.source_id])
        assert planned.edited_body == edits[planned.source_id].body
    assert dict(record.messages[0].edited_headers)["fixed-by"] == "operator"


@pytest.mark.rabbitmq
async def test_an_edit_the_target_refuses_leaves_the_original_in_the_dlq(
    rabbitmq_connector: RabbitMQConnector,
    seeded: dict[str, str],
    rabbitmq: RabbitMQSettings,
    journal,
) -> None:
    async with rabbitmq_connector.browse(seeded["dlq"]) as browser:
        letters = await all_pages(browser)
        chosen = _json_letters(letters)[:2]
        result = await replay(
            rabbitmq_connector,
            browser,
            chosen,
            rabbitmq_connector,
            f"{seeded['source']}.no-such-queue",
            options=ReplayOptions(),
            journal=journal,
            edits={m.id: MessageEdit(_edited(m)) for m in chosen},
        )
    assert result.succeeded == 0 and result.failed == 2, result
    left = await drain_queue(**rabbitmq.credentials(), queue=seeded["dlq"])
    assert sorted(m.body for m in left) == sorted(m.body for m in letters)
    assert {m.state for m in journal.action(result.action_id).messages} == {"failed"}


@pytest.mark.rabbitmq
async def test_resume_sends_the_journaled_edit(
    rabbitmq_connector: RabbitMQConnector,
    seeded: dict[str, str],
    rabbitmq: RabbitMQSettings,
    journal,
) -> None:
    async with rabbitmq_connector.browse(seeded["dlq"]) as browser:
        message = _json_letters(await all_pages(browser))[0]
    edited = _edited(message)
    # As a replay killed before it sent anything leaves its journal entry.
    record = journal.start_action(
        kind="replay",
        source_connection="local",
        source=seeded["dlq"],
        target_connection="local",
        target=seeded["source"],
        options={"batch_size": 10},
        messages=[
            PlannedMessage(
                message.id, payload_sha256(message.body), seeded["source"], edited_body=edited
            )
        ],
        status="interrupted",
    )
    result = await resume(record.id, rabbitmq_connector, rabbitmq_connector, journal=journal)
    assert result.ok, result
    delivered = [
        m
        for m in await drain_queue(**rabbitmq.credentials(), queue=seeded["source"])
        if m.headers.get(ORIGINAL_ID_HEADER)
    ]
    assert [m.body for m in delivered] == [edited]
    assert message.id not in {
        m.message_id for m in await drain_queue(**rabbitmq.credentials(), queue=seeded["dlq"])
    }


@pytest.mark.kafka
@pytest.mark.usefixtures("drop_kafka_test_topics")
async def test_kafka_edited_replay_writes_the_edit_and_marks_the_original_handled(
    kafka_bootstrap: str, unique_name: str, journal
) -> None:
    source = f"{unique_name}.orders"
    await create_topic(kafka_bootstrap, source)
    await fill_topic(kafka_bootstrap, f"{source}.DLT", 4, size=120)
    async with KafkaConnector(kafka_bootstrap) as connector:
        async with connector.browse(f"{source}.DLT") as browser:
            letters = await all_pages(browser)
            chosen = [m for m in letters if m.attributes["offset"] in ("1", "3")]
            edits = {m.id: MessageEdit(b'{"edited": "' + m.id.encode() + b'"}') for m in chosen}
            result = await replay(
                connector,
                browser,
                chosen,
                connector,
                source,
                options=ReplayOptions(),
                journal=journal,
                edits=edits,
            )
        assert result.ok, result
        async with connector.browse(f"{source}.DLT") as browser:
            handled = {m.id: m.attributes["handled"] for m in await all_pages(browser)}
    records = await read_committed(kafka_bootstrap, source)
    assert sorted(r.value for r in records) == sorted(e.body for e in edits.values())
    assert {i for i, h in handled.items() if h == "yes"} == {m.id for m in chosen}
    assert all(m.body not in {r.value for r in records} for m in letters)


@pytest.mark.kafka
@pytest.mark.usefixtures("drop_kafka_test_topics")
async def test_kafka_edited_key_goes_out_and_a_resume_sends_the_same_key(
    kafka_bootstrap: str, unique_name: str, journal
) -> None:
    source = f"{unique_name}.orders"
    await create_topic(kafka_bootstrap, source)
    await fill_topic(kafka_bootstrap, f"{source}.DLT", 3, size=120)
    async with KafkaConnector(kafka_bootstrap) as connector:
        async with connector.browse(f"{source}.DLT") as browser:
            first, second, third = await all_pages(browser)
            result = await replay(
                connector, browser, [first, second], connector, source, journal=journal,
                options=ReplayOptions(),
                edits={
                    first.id: MessageEdit(first.body, key=b"NEW-KEY"),
                    second.id: MessageEdit(second.body, key=None),
                },
            )  # fmt: skip
        assert result.ok, result
        record = journal.action(result.action_id)
        stored = {m.source_id: (m.edited_key, m.key_edited) for m in record.messages}
        assert stored == {first.id: (b"NEW-KEY", True), second.id: (None, True)}
        # As a replay killed before it sent anything leaves its journal entry.
        interrupted = journal.start_action(
            kind="replay", source_connection="local", source=f"{source}.DLT",
            target_connection="local", target=source, options={}, status="interrupted",
            messages=[
                PlannedMessage(
                    third.id, payload_sha256(third.body), source, edited_body=third.body,
                    edited_key=b"RESUMED-KEY", key_edited=True,
                )
            ],
        )  # fmt: skip
        resumed = await resume(interrupted.id, connector, connector, journal=journal)
        assert resumed.ok, resumed
    keys = {r.value: r.key for r in await read_committed(kafka_bootstrap, source)}
    assert keys == {first.body: b"NEW-KEY", second.body: None, third.body: b"RESUMED-KEY"}
    assert first.key not in (None, b"NEW-KEY")  # the seed gave it a key of its own


def test_a_journal_from_before_edits_still_opens(tmp_path):
    path = tmp_path / "journal.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE actions (id TEXT PRIMARY KEY, kind TEXT NOT NULL, who TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT, source_connection TEXT NOT NULL,
            source TEXT NOT NULL, target_connection TEXT, target TEXT, options TEXT NOT NULL,
            status TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
        CREATE TABLE action_messages (action_id TEXT NOT NULL REFERENCES actions(id),
            position INTEGER NOT NULL, source_id TEXT NOT NULL, payload_sha256 TEXT NOT NULL,
            target TEXT, state TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL, PRIMARY KEY (action_id, position));
        INSERT INTO actions VALUES ('a-1', 'replay', 'me', '2026-01-01T00:00:00', NULL, 'c',
            'q.dlq', 'c', 'q', '{}', 'completed', '');
        INSERT INTO action_messages VALUES ('a-1', 0, 'm-1', 'abc', 'q', 'settled', '',
            '2026-01-01T00:00:00');
        """
    )
    old.commit()
    old.close()
    with Journal.open(path) as journal:
        (message,) = journal.action("a-1").messages
        assert message.source_id == "m-1" and message.edited_body is None
        assert message.edited_headers is None
        stamp = datetime(2026, 1, 2, 3, 4, 5)
        headers = (("k", b"\xff\x00"), ("n", 3), ("x-death", [{"count": 1, "time": stamp}]))
        record = journal.start_action(
            kind="replay",
            source_connection="c",
            source="q.dlq",
            messages=[PlannedMessage("m-2", "def", "q", edited_body=b"{}", edited_headers=headers)],
        )
    with Journal.open(path) as journal:
        (message,) = journal.action(record.id).messages
        assert message.edited_body == b"{}" and message.edited_headers == headers
        assert journal.action(record.id).to_json()["messages"][0]["edited"] is True
