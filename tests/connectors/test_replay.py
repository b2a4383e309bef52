"""How the replay engine batches: a thousand per Kafka transaction, fewer for big records,
the operator's batch size when given, a hundred elsewhere; exactly once all the same."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

import pytest
from eventdesk.connectors import replay as replay_module
from eventdesk.connectors.errors import ConnectionLost, OperationTimeout
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.kafka_review import HandledState
from eventdesk.connectors.model import Message
from eventdesk.connectors.replay import (
    DEFAULT_BATCH_SIZE,
    ORIGINAL_ID_HEADER,
    TRANSACTION_BATCH_SIZE,
    ReplayOptions,
    ReplayProgress,
    ReplayResult,
    replay,
    resume,
)

from tests.connectors.pages import all_pages
from tests.seed.kafka import create_topic, fill_topic, read_committed

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("drop_kafka_test_topics")]


@pytest.fixture
def connector(kafka_connector: KafkaConnector) -> KafkaConnector:
    return kafka_connector


async def _dlt(bootstrap: str, name: str, count: int, size: int = 200) -> tuple[str, str]:
    """A one-partition Spring DLT of `count` dead letters, and the empty topic they came from."""
    source = f"{name}.orders"
    await create_topic(bootstrap, source)
    await fill_topic(bootstrap, f"{source}.DLT", count, size=size)
    return f"{source}.DLT", source


async def _replay_all(
    source: KafkaConnector,
    dlq: str,
    options: ReplayOptions,
    journal: Journal,
    target_connector: KafkaConnector | None = None,
) -> tuple[ReplayResult, list[int]]:
    """Browse the whole DLT and replay it to its original topic; the progress counts seen."""
    seen: list[ReplayProgress] = []
    async with source.browse(dlq) as browser:
        letters = await all_pages(browser)
        result = await replay(
            source,
            browser,
            letters,
            target_connector or source,
            None,
            options=options,
            journal=journal,
            progress=seen.append,
        )
    return result, [p.sent for p in seen]


async def _assert_exactly_once(bootstrap: str, dlq: str, target: str, count: int) -> None:
    """Each dead letter once in the target (read_committed), and all handled, seen afresh."""
    records = await read_committed(bootstrap, target)
    keys = collections.Counter(dict(r.headers)[ORIGINAL_ID_HEADER].decode() for r in records)
    assert set(keys) == {f"0:{n}" for n in range(count)}
    assert set(keys.values()) == {1}
    # A fresh connector reads only the broker: the review group's commit shows already.
    async with KafkaConnector(bootstrap) as fresh:
        assert await fresh.handled_offsets(dlq) == {0: HandledState(count)}


def _journaled(journal: Journal, result: ReplayResult) -> collections.Counter[str]:
    record = journal.action(result.action_id)
    assert record is not None
    details = [m.detail for m in record.messages]
    # Every message has its own outcome: where its copy landed in the target.
    assert len(set(details)) == len(details)
    return collections.Counter(m.state for m in record.messages)


async def test_a_kafka_replay_sends_a_thousand_per_transaction(
    connector: KafkaConnector, kafka_bootstrap: str, journal: Journal, unique_name: str
) -> None:
    count = 2 * TRANSACTION_BATCH_SIZE + 500
    dlq, source = await _dlt(kafka_bootstrap, unique_name, count)

    result, progress = await _replay_all(connector, dlq, ReplayOptions(), journal)

    assert result.ok, result.detail
    # One progress report per transaction: each committed records and review offsets at once.
    assert progress == [TRANSACTION_BATCH_SIZE, 2 * TRANSACTION_BATCH_SIZE, count]
    assert _journaled(journal, result) == {"settled": count}
    await _assert_exactly_once(kafka_bootstrap, dlq, source, count)


async def test_big_records_make_smaller_transactions(
    connector: KafkaConnector,
    kafka_bootstrap: str,
    journal: Journal,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Five 10,000-byte bodies fit in 50,000 bytes, a sixth would not.
    monkeypatch.setattr(replay_module, "TRANSACTION_BATCH_BYTES", 50_000)
    dlq, source = await _dlt(kafka_bootstrap, unique_name, 23, size=10_000)

    result, progress = await _replay_all(connector, dlq, ReplayOptions(), journal)

    assert result.ok, result.detail
    assert progress == [5, 10, 15, 20, 23]
    await _assert_exactly_once(kafka_bootstrap, dlq, source, 23)


async def test_the_operators_batch_size_is_kept(
    connector: KafkaConnector, kafka_bootstrap: str, journal: Journal, unique_name: str
) -> None:
    dlq, source = await _dlt(kafka_bootstrap, unique_name, 700)

    result, progress = await _replay_all(connector, dlq, ReplayOptions(batch_size=300), journal)

    assert result.ok, result.detail
    assert progress == [300, 600, 700]
    record = journal.action(result.action_id)
    assert record is not None and record.options["batch_size"] == 300
    await _assert_exactly_once(kafka_bootstrap, dlq, source, 700)


async def test_send_then_settle_keeps_batches_of_a_hundred(
    connector: KafkaConnector, kafka_bootstrap: str, journal: Journal, unique_name: str
) -> None:
    # Another connector as the target: no shared transaction, so send, journal, then settle.
    dlq, source = await _dlt(kafka_bootstrap, unique_name, 250)
    async with KafkaConnector(kafka_bootstrap) as target:
        result, progress = await _replay_all(connector, dlq, ReplayOptions(), journal, target)

    assert result.ok, result.detail
    assert progress == [DEFAULT_BATCH_SIZE, 2 * DEFAULT_BATCH_SIZE, 250]
    assert _journaled(journal, result) == {"settled": 250}
    await _assert_exactly_once(kafka_bootstrap, dlq, source, 250)


def _breaking(connector: KafkaConnector, monkeypatch: pytest.MonkeyPatch, *calls: int) -> list[int]:
    """The connector's transactions lose the broker on the given calls (1 is the first):
    a fault injected in front of the real broker, which sees nothing of those calls.
    Returns the list of calls made so far."""
    real = connector.send_and_settle
    made: list[int] = []

    async def send_and_settle(*args, **kwargs):
        made.append(len(made) + 1)
        if made[-1] in calls:
            raise (ConnectionLost if made[-1] == calls[0] else OperationTimeout)("injected fault")
        return await real(*args, **kwargs)

    monkeypatch.setattr(connector, "send_and_settle", send_and_settle)
    return made


async def test_a_resume_that_loses_the_broker_tries_again_and_sends_nothing_twice(
    connector: KafkaConnector,
    kafka_bootstrap: str,
    journal: Journal,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    count = 2 * TRANSACTION_BATCH_SIZE + 500
    dlq, source = await _dlt(kafka_bootstrap, unique_name, count)
    monkeypatch.setattr(replay_module, "_RESUME_RETRY_DELAY", 0.1)
    # The replay loses the broker on its second transaction; the resume's first attempt on
    # its first (as right after a broker restart), its second attempt gets through.
    _breaking(connector, monkeypatch, 2, 3)

    interrupted, _ = await _replay_all(connector, dlq, ReplayOptions(), journal)
    assert (interrupted.status, interrupted.link_broken) == ("interrupted", True)
    assert interrupted.succeeded == TRANSACTION_BATCH_SIZE

    with caplog.at_level(logging.WARNING, logger=replay_module.__name__):
        resumed = await resume(interrupted.action_id, connector, connector, journal=journal)

    assert resumed.ok, resumed.detail
    assert resumed.succeeded == count - TRANSACTION_BATCH_SIZE
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"resuming {interrupted.action_id}: attempt 1 of 3 interrupted"
    ]
    assert collections.Counter(m.state for m in journal.action(resumed.action_id).messages) == {
        "settled": count
    }
    await _assert_exactly_once(kafka_bootstrap, dlq, source, count)


GoneReplay = Callable[[float], Awaitable[tuple[ReplayResult, list[int]]]]


@pytest.fixture
def replayed_while_gone(
    connector: KafkaConnector,
    kafka_bootstrap: str,
    journal: Journal,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> GoneReplay:
    """Makes a replay of 10 dead letters interrupted by a lost broker that also fails every
    resume attempt after it, resumes waiting `retry_delay` s between attempts; returns the
    result and the list of transactions tried."""

    async def replay_once(retry_delay: float) -> tuple[ReplayResult, list[int]]:
        dlq, _source = await _dlt(kafka_bootstrap, unique_name, 10)
        monkeypatch.setattr(replay_module, "_RESUME_RETRY_DELAY", retry_delay)
        made = _breaking(connector, monkeypatch, *range(1, 2 + replay_module.RESUME_ATTEMPTS))
        interrupted, _ = await _replay_all(connector, dlq, ReplayOptions(), journal)
        return interrupted, made

    return replay_once


async def test_a_resume_gives_up_after_its_last_attempt(
    connector: KafkaConnector, journal: Journal, replayed_while_gone: GoneReplay
) -> None:
    interrupted, _made = await replayed_while_gone(0.1)
    resumed = await resume(interrupted.action_id, connector, connector, journal=journal)

    assert (resumed.status, resumed.link_broken, resumed.succeeded) == ("interrupted", True, 0)
    assert "injected fault" in resumed.detail
    record = journal.action(resumed.action_id)
    assert record is not None and record.status == "interrupted"
    assert {m.state for m in record.messages} == {"pending"}


async def test_cancelling_while_a_resume_waits_to_try_again_stops_it(
    connector: KafkaConnector,
    journal: Journal,
    monkeypatch: pytest.MonkeyPatch,
    replayed_while_gone: GoneReplay,
) -> None:
    interrupted, made = await replayed_while_gone(60.0)
    breaking, failed_once, cancel = connector.send_and_settle, asyncio.Event(), asyncio.Event()

    async def send_and_settle(*args, **kwargs):
        try:
            return await breaking(*args, **kwargs)
        finally:
            failed_once.set()

    async def cancel_once_waiting() -> None:
        await failed_once.wait()
        await asyncio.sleep(0.2)  # the resume is in its wait by now
        cancel.set()

    monkeypatch.setattr(connector, "send_and_settle", send_and_settle)
    canceller = asyncio.create_task(cancel_once_waiting())
    resumed = await resume(
        interrupted.action_id, connector, connector, journal=journal, cancel=cancel
    )
    await canceller

    assert made == [1, 2]  # no second attempt after the cancel
    assert (resumed.status, resumed.succeeded) == ("interrupted", 0)


def _letters(*sizes: int) -> list[tuple[int, Message]]:
    return [(n, Message(endpoint="q", id=str(n), body=b"x" * size)) for n, size in enumerate(sizes)]


def test_batches_split_by_count_and_by_bytes_keeping_order() -> None:
    batches = replay_module._batches

    def ids(found: list[list[tuple[int, Message]]]) -> list[list[int]]:
        return [[n for n, _ in batch] for batch in found]

    assert ids(list(batches(_letters(*[1] * 7), 3, None))) == [[0, 1, 2], [3, 4, 5], [6]]
    assert ids(list(batches(_letters(40, 40, 40, 10, 90), 10, 100))) == [[0, 1], [2, 3], [4]]
    # One body over the limit still goes, alone.
    assert ids(list(batches(_letters(10, 500, 10), 10, 100))) == [[0], [1], [2]]
    assert list(batches([], 10, 100)) == []
