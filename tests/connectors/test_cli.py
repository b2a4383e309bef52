"""`eventdesk replay | discard | history` against the real local RabbitMQ."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator

import aio_pika
import pytest
from eventdesk.connectors import cli
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile, save_profiles

from tests.conftest import RabbitMQSettings
from tests.seed.rabbitmq import dead_letter_by_reject

pytestmark = pytest.mark.rabbitmq


async def _connect(rabbitmq: RabbitMQSettings) -> aio_pika.abc.AbstractConnection:
    return await aio_pika.connect(
        host=rabbitmq.host, port=rabbitmq.port, login=rabbitmq.username, password=rabbitmq.password
    )


async def _dead_letter(rabbitmq: RabbitMQSettings, source: str, dlq: str, count: int) -> None:
    """`count` messages the broker dead-letters from `source` into `dlq` by consumer reject."""
    connection = await _connect(rabbitmq)
    try:
        channel = await connection.channel()
        await dead_letter_by_reject(channel, source, dlq, count, content_type="application/json")
    finally:
        await connection.close()


def _profile(
    rabbitmq: RabbitMQSettings, name: str = "local", *, read_only: bool = False
) -> ConnectionProfile:
    """A profile of the local RabbitMQ whose password comes from EVENTDESK_TEST_RABBIT_PASSWORD."""
    return ConnectionProfile(
        name=name,
        kind=BrokerKind.RABBITMQ,
        settings={
            "host": rabbitmq.host,
            "port": str(rabbitmq.port),
            "username": rabbitmq.username,
            "management_url": rabbitmq.management_url,
            "password_env": "EVENTDESK_TEST_RABBIT_PASSWORD",
        },
        read_only=read_only,
    )


async def _counts(rabbitmq: RabbitMQSettings, *queues: str) -> list[int]:
    connection = await _connect(rabbitmq)
    try:
        channel = await connection.channel()
        return [
            int((await channel.declare_queue(q, passive=True)).declaration_result.message_count)
            for q in queues
        ]
    finally:
        await connection.close()


async def _delete(rabbitmq: RabbitMQSettings, *queues: str) -> None:
    connection = await _connect(rabbitmq)
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
    finally:
        await connection.close()


@pytest.fixture
def queues(
    rabbitmq: RabbitMQSettings, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """A profile named "local" and a DLQ holding order-0 … order-4 dead-lettered from source."""
    monkeypatch.setenv("EVENTDESK_TEST_RABBIT_PASSWORD", rabbitmq.password)
    save_profiles([_profile(rabbitmq)])
    source, dlq = unique_name, f"{unique_name}.dlq"
    asyncio.run(_dead_letter(rabbitmq, source, dlq, 5))
    yield source, dlq
    asyncio.run(_delete(rabbitmq, source, dlq))


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_dry_run_prints_the_preview_and_changes_nothing(
    queues: tuple[str, str], rabbitmq: RabbitMQSettings
) -> None:
    source, dlq = queues
    code, text = _run(
        "replay", "--connection", "local", "--from", dlq, "--ids", "order-1,order-3", "--dry-run"
    )
    assert code == 0, text
    assert f"order-1 -> {source}" in text and f"order-3 -> {source}" in text
    assert 'eventdesk-original-id: "order-1"' in text
    assert 'eventdesk-replay-count: "1"' in text
    assert '{"order": 1}' in text

    code, text = _run(
        "replay", "--connection", "local", "--from", dlq, "--all", "--dry-run", "--json"
    )
    assert code == 0
    data = json.loads(text)
    assert [m["source_id"] for m in data["messages"]] == [f"order-{n}" for n in range(5)]
    assert data["messages"][0]["outgoing"]["body"] == '{"order": 0}'
    assert data["messages"][0]["outgoing"]["options"]["message_id"] == "order-0"

    assert asyncio.run(_counts(rabbitmq, dlq, source)) == [5, 0]
    with Journal.open() as journal:
        assert journal.actions() == []


def test_replay_json_matches_the_brokers_and_the_history(
    queues: tuple[str, str], rabbitmq: RabbitMQSettings
) -> None:
    source, dlq = queues
    code, text = _run(
        "replay", "--connection", "local", "--from", dlq, "--ids", "order-0,order-2", "--json"
    )
    assert code == 0, text
    data = json.loads(text)
    assert (data["status"], data["succeeded"], data["failed"]) == ("completed", 2, 0)
    assert [(m["source_id"], m["target"], m["ok"]) for m in data["messages"]] == [
        ("order-0", source, True),
        ("order-2", source, True),
    ]
    assert asyncio.run(_counts(rabbitmq, dlq, source)) == [3, 2]

    code, text = _run("history", "--json")
    assert code == 0
    [action] = json.loads(text)
    assert action["id"] == data["action_id"]
    assert (action["kind"], action["status"], action["counts"]) == (
        "replay",
        "completed",
        {"settled": 2},
    )
    code, text = _run("history", "--id", data["action_id"])
    assert code == 0 and "settled  order-2" in text


def test_replay_to_a_missing_queue_exits_1_and_keeps_the_dead_letters(
    queues: tuple[str, str], rabbitmq: RabbitMQSettings
) -> None:
    _, dlq = queues
    code, text = _run(
        "replay", "--connection", "local", "--from", dlq, "--all", "--to", "nowhere-at-all"
    )
    assert code == 1
    assert "0 of 5 replayed; 5 failed" in text and "unroutable" in text
    assert asyncio.run(_counts(rabbitmq, dlq)) == [5]


def test_discard_needs_yes_then_removes_exactly_the_selected(
    queues: tuple[str, str], rabbitmq: RabbitMQSettings
) -> None:
    _, dlq = queues
    code, _ = _run("discard", "--connection", "local", "--from", dlq, "--ids", "order-4")
    assert code == 2
    code, text = _run(
        "discard",
        "--connection",
        "local",
        "--from",
        dlq,
        "--ids",
        "order-4,order-1",
        "--yes",
        "--json",
    )
    assert code == 0, text
    assert [m["source_id"] for m in json.loads(text)["messages"]] == ["order-4", "order-1"]
    code, text = _run(
        "replay", "--connection", "local", "--from", dlq, "--all", "--dry-run", "--json"
    )
    assert [m["source_id"] for m in json.loads(text)["messages"]] == [
        "order-0",
        "order-2",
        "order-3",
    ]


def test_usage_and_configuration_errors_exit_2(queues: tuple[str, str]) -> None:
    _, dlq = queues
    assert _run("replay", "--connection", "nope", "--from", dlq, "--all")[0] == 2
    assert _run("replay", "--connection", "local", "--from", dlq)[0] == 2  # no --ids/--all
    assert _run("replay", "--connection", "local", "--from", dlq, "--ids", "no-such-id")[0] == 2
    assert (
        _run("replay", "--connection", "local", "--from", dlq, "--all", "--max-replays", "0")[0]
        == 2
    )
