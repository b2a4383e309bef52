"""`eventdesk purge` against moto's SQS: the name repeated, read-only refused, journaled."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator

import boto3
import pytest
from eventdesk.connectors import cli
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile, save_profiles

pytestmark = pytest.mark.sqs


@pytest.fixture
def queue(sqs) -> Iterator[tuple[object, str, str]]:
    client = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    name = f"t-cli-purge-{uuid.uuid4().hex[:8]}"
    url = client.create_queue(QueueName=name)["QueueUrl"]
    for i in range(4):
        client.send_message(QueueUrl=url, MessageBody=f"m{i}")
    yield client, url, name
    client.delete_queue(QueueUrl=url)


def _depth(client, url: str) -> int:
    attributes = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _save(sqs, *, read_only: bool = False) -> None:
    settings = {"region": sqs.region, "endpoint_url": sqs.endpoint_url}
    save_profiles([ConnectionProfile("S", BrokerKind.SQS, settings, read_only=read_only)])


def test_purge_needs_the_name_repeated_then_empties_the_queue(sqs, queue, capsys) -> None:
    client, url, name = queue
    _save(sqs)
    args = ["purge", "--connection", "S", "--endpoint", name]
    assert cli.main([*args, "--confirm", name[:-1]], out=io.StringIO()) == cli.EXIT_USAGE
    assert "--confirm must repeat" in capsys.readouterr().err
    assert _depth(client, url) == 4

    out = io.StringIO()
    assert cli.main([*args, "--confirm", name, "--json"], out=out) == cli.EXIT_OK
    reply = json.loads(out.getvalue())
    assert reply["removed"] == 4
    assert _depth(client, url) == 0
    with Journal.open() as journal:
        record = journal.action(reply["action_id"])
    assert (record.kind, record.status, record.source) == ("purge", "completed", name)


def test_purge_on_a_read_only_connection_is_refused(sqs, queue, capsys) -> None:
    client, url, name = queue
    _save(sqs, read_only=True)
    argv = ["purge", "--connection", "S", "--endpoint", name, "--confirm", name]
    assert cli.main(argv, out=io.StringIO()) == cli.EXIT_USAGE
    assert "read-only" in capsys.readouterr().err
    assert _depth(client, url) == 4
