"""After a full scripted session, no secret is anywhere Eventdesk writes or prints.

The session (secret_leak_session.py, its own process, logging at DEBUG to a file and
stderr) stores distinctive secrets in the real Secret Service, saves and exports
profiles, tests connections with right and wrong passwords, browses the secured Kafka,
RabbitMQ with a non-guest user, and SQS with static keys, replays and discards. The CLI
then replays and lists history. The config dir, data dir (journal, log), the exported
file and every stdout/stderr are scanned for each secret in the forms it could take.

Run through `bash tests/secret-service.sh .venv/bin/pytest tests/connectors/...`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import aio_pika
import boto3
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from eventdesk.connectors.profiles import import_profiles
from eventdesk.connectors.redaction import MASK
from eventdesk.connectors.secrets import SecretStore
from keyring.backend import KeyringBackend

from tests.conftest import KafkaSecureSettings, RabbitMQSettings, SqsSettings
from tests.connectors.test_secrets import secret_service  # noqa: F401  (fixture)
from tests.seed.rabbitmq import dead_letter_by_reject
from tests.seed.rabbitmq_accounts import RabbitMQAccount

REPO = Path(__file__).resolve().parents[2]
DLQ_SIZE = 4


def _forms(secret: str, *, username: str | None = None) -> set[str]:
    """The ways a secret can be written down: as is, URL- and JSON-escaped, base64,
    and as the HTTP Basic credentials it makes with its user name."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms.add(base64.b64encode(secret.encode()).decode())
    if username:
        forms.add(base64.b64encode(f"{username}:{secret}".encode()).decode())
    return forms


def _leaks(where: dict[str, str], secrets: dict[str, set[str]]) -> list[str]:
    """'<secret name> in <place>' for every form of every secret found; never the value."""
    return sorted(
        f"{name} in {place}"
        for place, text in where.items()
        for name, forms in secrets.items()
        if any(form in text for form in forms)
    )


def _files(*roots: Path) -> dict[str, str]:
    found = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                # Binary files (the SQLite journal) are read as text byte for byte.
                found[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    return found


# -- brokers seeded for the session ----------------------------------------------------


async def _dead_letters(rabbitmq: RabbitMQSettings, account: RabbitMQAccount, dlq: str) -> None:
    """DLQ_SIZE messages the broker dead-letters into `dlq` by consumer reject."""
    connection = await aio_pika.connect(
        host=rabbitmq.host,
        port=rabbitmq.port,
        login=account.username,
        password=account.password,
        virtualhost=account.vhost,
    )
    async with connection:
        channel = await connection.channel()
        await dead_letter_by_reject(channel, "orders", dlq, DLQ_SIZE)


@pytest.fixture
async def kafka_topic(kafka_secure: KafkaSecureSettings, unique_name: str) -> AsyncIterator[str]:
    auth = {
        "bootstrap_servers": f"127.0.0.1:{kafka_secure.sasl_port}",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": kafka_secure.username,
        "sasl_plain_password": kafka_secure.passwords["SCRAM-SHA-512"],
    }
    admin = AIOKafkaAdminClient(**auth)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(unique_name, 1, 1)])
        producer = AIOKafkaProducer(**auth)
        await producer.start()
        try:
            for n in range(3):
                await producer.send_and_wait(unique_name, f'{{"payment": {n}}}'.encode())
        finally:
            await producer.stop()
        yield unique_name
        await admin.delete_topics([unique_name])
    finally:
        await admin.close()


@pytest.fixture
def sqs_queue(sqs: SqsSettings, unique_name: str) -> Iterator[tuple[str, str, str]]:
    """(queue, access key id, secret key): moto takes any keys, so these are made up."""
    key_id, secret = "AKIALEAKTEST0001", f"leak-aws-{uuid.uuid4().hex}"
    client = boto3.client(
        "sqs",
        endpoint_url=sqs.endpoint_url,
        region_name=sqs.region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    url = client.create_queue(QueueName=unique_name)["QueueUrl"]
    for n in range(2):
        client.send_message(QueueUrl=url, MessageBody=f'{{"refund": {n}}}')
    yield unique_name, key_id, secret
    client.delete_queue(QueueUrl=url)


# -- the test --------------------------------------------------------------------------


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_no_secret_is_left_anywhere_after_a_full_session(
    secret_service: KeyringBackend,  # noqa: F811
    rabbitmq: RabbitMQSettings,
    rabbitmq_full_account: RabbitMQAccount,
    kafka_secure: KafkaSecureSettings,
    kafka_topic: str,
    sqs: SqsSettings,
    sqs_queue: tuple[str, str, str],
    tmp_path: Path,
) -> None:
    account = rabbitmq_full_account
    dlq = "orders.dlq"
    asyncio.run(_dead_letters(rabbitmq, account, dlq))
    queue, key_id, aws_secret = sqs_queue
    kafka_password = kafka_secure.passwords["SCRAM-SHA-512"]
    wrong_password = f"leak-wrong-{uuid.uuid4().hex}"
    secrets = {
        "RabbitMQ password": _forms(account.password, username=account.username),
        "Kafka SASL password": _forms(kafka_password, username=kafka_secure.username),
        "AWS secret key": _forms(aws_secret),
        "wrong password": _forms(wrong_password, username=account.username),
    }
    # The scan must be able to fail: a planted secret, URL-encoded, is found.
    planted = {"sample": f"amqp://u:{quote(account.password, safe='')}@host"}
    assert _leaks(planted, secrets) == ["RabbitMQ password in sample"]

    config_dir, data_dir, shared = tmp_path / "config", tmp_path / "data", tmp_path / "shared"
    export_path = shared / "team-connections.json"
    plan = {
        "rabbit_port": str(rabbitmq.port),
        "vhost": account.vhost,
        "rabbit_user": account.username,
        "management_url": rabbitmq.management_url,
        "rabbit_dlq": dlq,
        "kafka_servers": f"127.0.0.1:{kafka_secure.sasl_port}",
        "kafka_user": kafka_secure.username,
        "kafka_topic": kafka_topic,
        "sqs_endpoint": sqs.endpoint_url,
        "sqs_queue": queue,
        "aws_access_key_id": key_id,
        "export_path": str(export_path),
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "LEAK_"))  # the session's keys are the profile's
    }
    env |= {
        "EVENTDESK_CONFIG_DIR": str(config_dir),
        "EVENTDESK_DATA_DIR": str(data_dir),
        "LEAK_PLAN": json.dumps(plan),
        "LEAK_RABBIT_PASSWORD": account.password,
        "LEAK_KAFKA_PASSWORD": kafka_password,
        "LEAK_AWS_SECRET": aws_secret,
        "LEAK_WRONG_PASSWORD": wrong_password,
        "PYTHONFAULTHANDLER": "1",
    }
    outputs: dict[str, str] = {}

    session = _run([sys.executable, "-m", "tests.connectors.secret_leak_session"], env)
    outputs |= {"session stdout": session.stdout, "session stderr": session.stderr}
    assert session.returncode == 0, _leaks(outputs, secrets) or session.stderr[-3000:]

    def cli(name: str, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        result = _run([sys.executable, "-m", "eventdesk.connectors.cli", *args], env | extra_env)
        outputs[f"cli {name} stdout"], outputs[f"cli {name} stderr"] = result.stdout, result.stderr
        return result

    select = ("--connection", "leak-rabbit-cli", "--from", dlq, "--all")
    dry = cli("dry-run", "replay", *select, "--dry-run", "--json")
    done = cli("replay", "replay", *select, "--json")
    history = cli("history", "history", "--json")
    refused = cli("refused", "replay", *select, LEAK_RABBIT_PASSWORD=wrong_password)

    # The session really did everything the scan is about.
    out = session.stdout
    for profile in ("leak-rabbit", "leak-kafka", "leak-sqs"):
        assert f"test {profile}: Authorization ok=True" in out, out
    assert out.count("refused as expected") == 2
    assert f"rabbit browsed: {[f'order-{n}' for n in range(DLQ_SIZE)]}" in out
    assert "replayed: completed 2" in out
    assert "kafka browsed: 3" in out
    assert "discarded: completed 2" in out
    assert f"shown to the operator: boom while using {MASK}" in out
    assert (dry.returncode, done.returncode, history.returncode) == (0, 0, 0), done.stderr
    assert json.loads(done.stdout)["succeeded"] == DLQ_SIZE - 2
    assert len(json.loads(history.stdout)) == 3
    assert refused.returncode == 1 and "refused the login" in refused.stderr
    log_file = data_dir / "eventdesk.log"
    log_text = log_file.read_text(encoding="utf-8")
    assert "DEBUG aiokafka" in log_text and "DEBUG botocore" in log_text, "logged at DEBUG"
    assert f"boom while using {MASK}" in log_text and "Traceback" in log_text
    assert [p.name for p in import_profiles(export_path)] == [
        "leak-rabbit",
        "leak-kafka",
        "leak-sqs",
        "leak-rabbit-cli",
    ]

    files = _files(config_dir, data_dir, shared)
    assert str(config_dir / "connections.json") in files
    assert any(name.endswith(".sqlite3") or "journal" in name for name in files), files.keys()
    assert _leaks(files | outputs, secrets) == []

    # The session cleaned its keyring entries up; none is left behind.
    store = SecretStore()
    for profile, field in (
        ("leak-rabbit", "password"),
        ("leak-kafka", "SASL password"),
        ("leak-sqs", "secret access key"),
    ):
        assert store.get(profile, field) is None
