"""JSON Lines export and import of real browsed messages, and replaying an imported file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.jsonl import (
    ImportedMessages,
    JsonlError,
    message_to_json,
    read_jsonl,
    write_jsonl,
)
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.model import Message
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.replay import ReplayOptions, replay

from tests.conftest import RabbitMQSettings
from tests.seed.kafka import BINARY_PAYLOAD, create_topic, read_committed
from tests.seed.rabbitmq import remove_seed, seed_rabbitmq

INVALID_UTF8 = b"caf\xe9 au lait \xff\xfe"
BODIES = [
    b'{"orderId": "ORD-1", "total": "12.50", "note": "na\xc3\xafve \xe2\x82\xac"}',
    b"plain text\r\nwith a CRLF and a trailing newline\n",
    BINARY_PAYLOAD,
    INVALID_UTF8,
    b"",
]


async def _browse_all(connector, endpoint: str) -> list[Message]:
    messages: list[Message] = []
    async with connector.browse(endpoint) as browser:
        while True:
            page = await browser.next_page()
            messages.extend(page.messages)
            if not page.more:
                return messages


async def _kafka_messages(bootstrap: str, topic: str) -> list[Message]:
    await create_topic(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for number, body in enumerate(BODIES):
            await producer.send_and_wait(
                topic,
                body,
                key=None if number == 1 else b"key-\xff" if number == 3 else f"k{number}".encode(),
                headers=[
                    ("kafka_dlt-original-topic", b"orders"),
                    ("kafka_dlt-original-offset", (number).to_bytes(8, "big")),
                    ("x-binary", b"\x00\x01\xfe"),
                ],
            )
    finally:
        await producer.stop()
    async with KafkaConnector(bootstrap) as kafka:
        return await _browse_all(kafka, topic)


@pytest.mark.kafka
@pytest.mark.usefixtures("drop_kafka_test_topics")
async def test_export_then_import_gives_back_kafka_messages_byte_exact(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    browsed = await _kafka_messages(kafka_bootstrap, f"{unique_name}.orders.DLT")
    assert [m.body for m in browsed] == BODIES

    path = tmp_path / "export.jsonl"
    assert write_jsonl(browsed, path) == len(BODIES)
    imported = read_jsonl(path)

    assert imported == browsed
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["body_encoding"] for line in lines] == [
        "utf-8",
        "utf-8",
        "base64",
        "base64",
        "utf-8",
    ]
    assert lines[0]["dead_letter"]["original_destination"] == "orders"
    assert lines[3]["key_encoding"] == "base64"
    assert lines[1]["key"] is None


@pytest.mark.kafka
@pytest.mark.usefixtures("drop_kafka_test_topics")
async def test_an_imported_file_replays_into_any_topic_byte_exact(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    browsed = await _kafka_messages(kafka_bootstrap, f"{unique_name}.orders.DLT")
    path = tmp_path / "export.jsonl"
    write_jsonl(browsed, path)
    target = f"{unique_name}.restored"
    await create_topic(kafka_bootstrap, target)
    imported = read_jsonl(path)

    async with KafkaConnector(kafka_bootstrap) as kafka:
        with Journal.open(tmp_path / "journal.sqlite") as journal:
            result = await replay(
                kafka,
                ImportedMessages(path, imported),
                imported,
                kafka,
                target,
                options=ReplayOptions(),
                journal=journal,
            )
            record = journal.action(result.action_id)

    assert result.ok and result.succeeded == len(BODIES)
    assert record is not None and record.source == "file:export.jsonl"
    replayed = await read_committed(kafka_bootstrap, target)
    assert [r.value or b"" for r in replayed] == BODIES
    assert [r.key for r in replayed] == [m.key for m in browsed]
    # The source topic is untouched: an import settles nothing.
    async with KafkaConnector(kafka_bootstrap) as kafka:
        assert len(await _browse_all(kafka, f"{unique_name}.orders.DLT")) == len(BODIES)


@pytest.mark.rabbitmq
async def test_amqp_header_tables_round_trip_with_their_types(
    rabbitmq: RabbitMQSettings, unique_name: str, tmp_path: Path
) -> None:
    account = rabbitmq.account()
    names = await seed_rabbitmq(**account, prefix=unique_name, count=8)
    try:
        async with RabbitMQConnector(**account) as rabbit:
            browsed = await _browse_all(rabbit, names["dlq"])
    finally:
        await remove_seed(**account, names=names)
    # x-death is a list of tables holding strings, longs and timestamps.
    assert any(isinstance(m.header("x-death"), list) for m in browsed)

    path = tmp_path / "rabbit.jsonl"
    write_jsonl(browsed, path)
    imported = read_jsonl(path)

    assert imported == browsed
    assert [m.body for m in imported] == [m.body for m in browsed]


def _line(message_id: str, body: str = "hello", **extra: object) -> str:
    document = message_to_json(Message("q", message_id, body.encode()))
    document.update(extra)
    return json.dumps(document)


def test_each_broken_line_is_named_by_its_number_and_nothing_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    lines = [
        _line("1"),
        '{"id": "2", "body": "cut short',
        _line("3", body_encoding="base64", body="not base64!"),
        "",
        _line("1"),
        "[1, 2]",
        _line("6", size=99),
        _line("7", headers=[{"name": "n", "type": "int", "value": "x"}]),
        _line("8"),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(JsonlError) as caught:
        read_jsonl(path)

    problems = dict(caught.value.problems)
    assert sorted(problems) == [2, 3, 5, 6, 7, 8]
    assert "not JSON" in problems[2]
    assert "base64" in problems[3]
    assert "repeats line 1" in problems[5]
    assert "JSON object" in problems[6]
    assert "size says 99" in problems[7]
    assert "is not a int" in problems[8]
    assert str(caught.value).startswith("broken.jsonl: 6 bad lines: line 2: not JSON")
    assert "nothing was imported" in caught.value.hint


def test_files_that_are_not_message_files_are_refused_clearly(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(JsonlError, match="holds no messages"):
        read_jsonl(empty)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(_line("1").encode() + b"\n\xff\xfe\n")
    with pytest.raises(JsonlError, match="not UTF-8 text"):
        read_jsonl(binary)
    with pytest.raises(JsonlError, match="Cannot read"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_a_failed_write_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("keep me\n", encoding="utf-8")

    def messages():
        yield Message("q", "1", b"one")
        raise OSError(28, "No space left on device")

    with pytest.raises(JsonlError, match="No space left"):
        write_jsonl(messages(), path)
    assert path.read_text(encoding="utf-8") == "keep me\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    with pytest.raises(JsonlError, match="Cannot write"):
        write_jsonl([Message("q", "1", b"x")], tmp_path / "no-such-dir" / "out.jsonl")


async def test_an_interrupted_replay_from_a_file_is_not_offered_for_resume(
    tmp_path: Path,
) -> None:
    from eventdesk.connectors.journal import PlannedMessage
    from eventdesk.connectors.replay import ResumeRefused, resume

    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        record = journal.start_action(
            kind="replay",
            source_connection="Kafka",
            source="file:orders.jsonl",
            target="orders",
            messages=[PlannedMessage("0:1", "ab")],
            status="interrupted",
        )
        with pytest.raises(ResumeRefused, match="imported file") as info:
            await resume(record.id, None, None, journal=journal)  # type: ignore[arg-type]
        assert "Import the file again" in info.value.hint
