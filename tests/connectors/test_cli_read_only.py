"""A read-only connection takes no write from the CLI: replay, discard and resume refuse.

Against the real local RabbitMQ: the dead letters are all still there afterwards, and the
journal records nothing.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
from eventdesk.connectors import cli
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.profiles import save_profiles

from tests.conftest import RabbitMQSettings
from tests.connectors.test_cli import _counts, _dead_letter, _delete, _profile

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def queues(
    rabbitmq: RabbitMQSettings, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """Profiles "watch" (read-only) and "work"; a DLQ holding 3 dead letters from source."""
    monkeypatch.setenv("EVENTDESK_TEST_RABBIT_PASSWORD", rabbitmq.password)
    save_profiles(
        [_profile(rabbitmq, "watch", read_only=True), _profile(rabbitmq, "work", read_only=False)]
    )
    source, dlq = unique_name, f"{unique_name}.dlq"
    asyncio.run(_dead_letter(rabbitmq, source, dlq, 3))
    yield source, dlq
    asyncio.run(_delete(rabbitmq, source, dlq))


def _run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue(), capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ("replay", "--connection", "watch", "--all"),
        ("discard", "--connection", "watch", "--all", "--yes"),
        # Writing into a read-only target is a write too.
        ("replay", "--connection", "work", "--to-connection", "watch", "--all"),
    ],
    ids=["replay", "discard", "replay-into-read-only"],
)
def test_writes_on_a_read_only_connection_are_refused(
    queues: tuple[str, str],
    rabbitmq: RabbitMQSettings,
    argv: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, dlq = queues
    code, out, err = _run(*argv, "--from", dlq, capsys=capsys)

    assert code == cli.EXIT_USAGE
    assert "Connection 'watch' is read-only" in err
    assert "hint: Use --dry-run" in err
    assert out == ""
    assert asyncio.run(_counts(rabbitmq, dlq, source)) == [3, 0]
    with Journal.open() as journal:
        assert journal.actions() == []


def test_a_dry_run_on_a_read_only_connection_still_shows_the_preview(
    queues: tuple[str, str], rabbitmq: RabbitMQSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    source, dlq = queues
    code, out, _ = _run(
        "replay", "--connection", "watch", "--from", dlq, "--all", "--dry-run", capsys=capsys
    )
    assert code == cli.EXIT_OK
    assert "Dry run: nothing is sent or removed. 3 message(s)" in out
    assert asyncio.run(_counts(rabbitmq, dlq, source)) == [3, 0]


def test_the_same_replay_on_a_writable_connection_goes_through(
    queues: tuple[str, str], rabbitmq: RabbitMQSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    source, dlq = queues
    code, out, _ = _run("replay", "--connection", "work", "--from", dlq, "--all", capsys=capsys)
    assert code == cli.EXIT_OK, out
    assert asyncio.run(_counts(rabbitmq, dlq, source)) == [0, 3]


def test_resuming_a_replay_on_a_read_only_connection_is_refused(
    queues: tuple[str, str], rabbitmq: RabbitMQSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    source, dlq = queues
    with Journal.open() as journal:
        record = journal.start_action(
            kind="replay", source_connection="watch", source=dlq, messages=[]
        )
    code, _, err = _run("replay", "--resume", record.id, capsys=capsys)

    assert code == cli.EXIT_USAGE
    assert "Connection 'watch' is read-only: replay --resume would change it." in err
    assert asyncio.run(_counts(rabbitmq, dlq, source)) == [3, 0]
