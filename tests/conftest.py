"""Session fixtures that start the project's own local brokers (tests/brokers/*.sh).

A test that needs a broker and cannot get one fails. It may skip instead only on a
developer machine that says so with EVENTDESK_SKIP_MISSING_BROKERS=1 (never under CI=true).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.nats_nkeys import NKeyUser, new_nkey_user, nkey_jetstream
from tests.private_nats import private_jetstream

BROKERS = Path(__file__).parent / "brokers"

KAFKA_PORT = int(os.environ.get("EVENTDESK_KAFKA_PORT", "19092"))
RABBITMQ_PORT = int(os.environ.get("EVENTDESK_RABBITMQ_PORT", "5672"))
RABBITMQ_MANAGEMENT_PORT = int(os.environ.get("EVENTDESK_RABBITMQ_MANAGEMENT_PORT", "15672"))
MOTO_PORT = int(os.environ.get("EVENTDESK_MOTO_PORT", "5055"))
ELASTICMQ_PORT = int(os.environ.get("EVENTDESK_ELASTICMQ_PORT", "19324"))
NATS_PORT = int(os.environ.get("EVENTDESK_NATS_PORT", "14222"))
NATS_MONITOR_PORT = int(os.environ.get("EVENTDESK_NATS_MONITOR_PORT", "18222"))
# Where the broker scripts keep their state (as in tests/brokers/common.sh).
BROKERS_DIR = Path(os.environ.get("EVENTDESK_BROKERS_DIR") or BROKERS.parent.parent / ".brokers")
KAFKA_SECURE_SASL_PORT = int(os.environ.get("EVENTDESK_KAFKA_SECURE_SASL_PORT", "19192"))
KAFKA_SECURE_SSL_PORT = int(os.environ.get("EVENTDESK_KAFKA_SECURE_SSL_PORT", "19193"))
KAFKA_SECURE_WRONG_NAME_PORT = int(
    os.environ.get("EVENTDESK_KAFKA_SECURE_WRONG_NAME_PORT", "19196")
)
KAFKA_SECURE_MTLS_PORT = int(os.environ.get("EVENTDESK_KAFKA_SECURE_MTLS_PORT", "19197"))


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _missing_broker(name: str, why: str) -> None:
    allowed = (
        os.environ.get("EVENTDESK_SKIP_MISSING_BROKERS") == "1" and os.environ.get("CI") != "true"
    )
    message = f"{name} is not available: {why}"
    if allowed:
        pytest.skip(message)
    pytest.fail(
        message + " (set EVENTDESK_SKIP_MISSING_BROKERS=1 on a developer machine to skip)",
        pytrace=False,
    )


def _ensure_broker(name: str, script: str, port: int) -> None:
    if _port_open(port):
        return
    result = subprocess.run(
        ["bash", str(BROKERS / script), "start"], capture_output=True, text=True
    )
    if result.returncode != 0 or not _port_open(port):
        _missing_broker(name, (result.stderr or result.stdout).strip()[-800:])


@dataclass(frozen=True)
class RabbitMQSettings:
    host: str
    port: int
    management_url: str
    username: str
    password: str

    def credentials(self) -> dict[str, Any]:
        """The AMQP account as keywords (host, port, username, password), as seeds take it."""
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
        }

    def account(self) -> dict[str, Any]:
        """credentials() plus management_url, as RabbitMQConnector and seed_rabbitmq take it."""
        return {**self.credentials(), "management_url": self.management_url}


@dataclass(frozen=True)
class KafkaSecureSettings:
    """The secured Kafka of tests/brokers/kafka-secure.sh: its listeners, CAs and users."""

    sasl_port: int  # SASL_PLAINTEXT: SCRAM-SHA-256, SCRAM-SHA-512, PLAIN
    ssl_port: int  # SSL, certificate for 127.0.0.1 and localhost
    wrong_name_port: int  # SSL, certificate for kafka.eventdesk.invalid only
    mtls_port: int  # SSL, client certificate required
    tls_dir: Path  # ca.pem, other-ca.pem (signed nothing here), client.pem, client.key
    username: str
    passwords: dict[str, str]  # per SASL mechanism, made by the script for this setup
    noacl_username: str  # a SCRAM user with no ACLs: logs in, may do nothing
    noacl_passwords: dict[str, str]  # SCRAM-SHA-256 and SCRAM-SHA-512

    def __repr__(self) -> str:
        return f"KafkaSecureSettings(sasl_port={self.sasl_port}, ssl_port={self.ssl_port}, ...)"


@dataclass(frozen=True)
class SqsSettings:
    endpoint_url: str
    region: str


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    _ensure_broker("Kafka", "kafka.sh", KAFKA_PORT)
    return f"127.0.0.1:{KAFKA_PORT}"


@pytest.fixture(scope="session")
def rabbitmq() -> RabbitMQSettings:
    _ensure_broker("RabbitMQ", "rabbitmq.sh", RABBITMQ_MANAGEMENT_PORT)
    # The broker's stock local account: not a secret, and never written by Eventdesk.
    return RabbitMQSettings(
        host="127.0.0.1",
        port=RABBITMQ_PORT,
        management_url=f"http://127.0.0.1:{RABBITMQ_MANAGEMENT_PORT}",
        username="guest",
        password="guest",
    )


@pytest.fixture(scope="session")
def kafka_secure() -> KafkaSecureSettings:
    _ensure_broker("Secured Kafka", "kafka-secure.sh", KAFKA_SECURE_SSL_PORT)
    credentials = BROKERS_DIR / "kafka-secure-credentials.json"
    noacl_credentials = BROKERS_DIR / "kafka-secure-noacl-credentials.json"
    if not noacl_credentials.exists():
        # A node started by an older kafka-secure.sh: its start now formats it again.
        subprocess.run(["bash", str(BROKERS / "kafka-secure.sh"), "start"], capture_output=True)
    try:
        data = json.loads(credentials.read_text(encoding="utf-8"))
        noacl = json.loads(noacl_credentials.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _missing_broker(
            "Secured Kafka",
            f"cannot read its credentials: {exc} (a node started by an older kafka-secure.sh: "
            "run `bash tests/brokers/kafka-secure.sh start` to upgrade it)",
        )
    return KafkaSecureSettings(
        sasl_port=KAFKA_SECURE_SASL_PORT,
        ssl_port=KAFKA_SECURE_SSL_PORT,
        wrong_name_port=KAFKA_SECURE_WRONG_NAME_PORT,
        mtls_port=KAFKA_SECURE_MTLS_PORT,
        tls_dir=BROKERS_DIR / "kafka-secure-tls",
        username=data["username"],
        passwords=dict(data["passwords"]),
        noacl_username=noacl["username"],
        noacl_passwords=dict(noacl["passwords"]),
    )


@pytest.fixture(scope="session")
def sqs() -> SqsSettings:
    _ensure_broker("moto (SQS/SNS)", "moto.sh", MOTO_PORT)
    # moto accepts any credentials; give boto3 dummy ones so it never looks elsewhere.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return SqsSettings(endpoint_url=f"http://127.0.0.1:{MOTO_PORT}", region="us-east-1")


@pytest.fixture(scope="session")
def elasticmq(sqs: SqsSettings) -> SqsSettings:
    """tests/brokers/elasticmq.sh: SQS with the message-move-task actions moto lacks."""
    _ensure_broker("ElasticMQ (SQS)", "elasticmq.sh", ELASTICMQ_PORT)
    return SqsSettings(endpoint_url=f"http://127.0.0.1:{ELASTICMQ_PORT}", region="us-east-1")


@pytest.fixture(scope="session")
def nats() -> str:
    """The server URL of tests/brokers/nats.sh's nats-server, with JetStream."""
    # The monitoring port answers once JetStream is ready; the client port opens earlier.
    _ensure_broker("NATS (nats-server -js)", "nats.sh", NATS_MONITOR_PORT)
    return f"nats://127.0.0.1:{NATS_PORT}"


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[str]:
    """The URL of a throwaway nats-server with JetStream, for a test that needs its own."""
    with private_jetstream(tmp_path / "jetstream") as url:
        yield url


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A topic/queue name no other test uses, readable in broker listings."""
    test = request.node.name.replace("[", "-").replace("]", "")[:40]
    return f"t-{test}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the developer's own config and data."""
    monkeypatch.setenv("EVENTDESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("EVENTDESK_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
async def drop_kafka_test_topics(unique_name: str, kafka_bootstrap: str) -> AsyncIterator[None]:
    """Delete the topics a test made (named from unique_name): listings read the shared broker."""
    from tests.seed.kafka import delete_topics

    yield
    await delete_topics(kafka_bootstrap, prefix=unique_name)


# --- NATS NKey users and a private server that admits only one (tests/nats_nkeys.py) ---


@pytest.fixture
def allowed() -> NKeyUser:
    return new_nkey_user()


@pytest.fixture
def stranger() -> NKeyUser:
    """A well-formed user key the server does not know."""
    return new_nkey_user()


@pytest.fixture
def nkey_nats(tmp_path: Path, allowed: NKeyUser) -> Iterator[str]:
    """A private nats-server that admits only the `allowed` NKey user."""
    with nkey_jetstream(tmp_path / "jetstream", allowed) as url:
        yield url
