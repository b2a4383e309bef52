"""Profile settings the connection dialog writes, turned into connectors by the factory.

RabbitMQ's own management account and amqps, AWS's role to assume: against the real
local RabbitMQ and moto where a broker is involved.
"""

from __future__ import annotations

import json
import ssl

import boto3
import pytest
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.sqs import SqsConnector

from tests.conftest import KafkaSecureSettings, RabbitMQSettings, SqsSettings
from tests.seed.rabbitmq_accounts import RabbitMQAccount


async def test_the_management_api_uses_its_own_account_when_given(
    rabbitmq: RabbitMQSettings,
    rabbitmq_untagged_account: RabbitMQAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = rabbitmq_untagged_account
    monkeypatch.setenv("EVENTDESK_TEST_MANAGEMENT_PASSWORD", rabbitmq.password)
    settings = {
        "host": rabbitmq.host,
        "port": str(rabbitmq.port),
        "vhost": account.vhost,
        "username": account.username,
        "management_url": rabbitmq.management_url,
    }
    asked: list[str] = []

    def prompt(_profile: ConnectionProfile, field: str) -> str:
        asked.append(field)
        return account.password

    # With the AMQP account only, listing fails: it has no management tag.
    alone = create_connector(
        ConnectionProfile("amqp", BrokerKind.RABBITMQ, settings), prompt=prompt
    )
    async with alone:
        with pytest.raises(Exception, match="management API refused"):
            await alone.list_endpoints(timeout=10)

    separate = ConnectionProfile(
        "separate",
        BrokerKind.RABBITMQ,
        settings
        | {
            "management_username": rabbitmq.username,
            "management_password_env": "EVENTDESK_TEST_MANAGEMENT_PASSWORD",
        },
    )
    connector = create_connector(separate, prompt=prompt)
    assert isinstance(connector, RabbitMQConnector)
    assert connector.management._username == rabbitmq.username
    async with connector:
        assert await connector.list_endpoints(timeout=10) == []  # its vhost is empty
    assert asked == ["password", "password"], "the management password came from the variable"


def test_amqps_builds_a_tls_connector_on_port_5671_by_default(
    kafka_secure: KafkaSecureSettings,
) -> None:
    ca = str(kafka_secure.tls_dir / "ca.pem")
    profile = ConnectionProfile(
        "amqps", BrokerKind.RABBITMQ, {"host": "mq", "tls": "true", "ssl_cafile": ca}
    )
    connector = create_connector(profile, prompt=lambda _p, _f: "pw")
    assert isinstance(connector, RabbitMQConnector)
    assert (connector.port, connector.tls, connector.ssl_cafile) == (5671, True, ca)
    context = connector.ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    issuers = [dict(rdn[0] for rdn in c["subject"]) for c in context.get_ca_certs()]
    assert {"commonName": "Eventdesk Test CA"} in issuers


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"ssl_cafile": "/ca.pem"}, "ssl_cafile is set, but tls is off"),
        ({"tls": "yes"}, "tls is 'yes', not true or false"),
        ({"port": "65536"}, "port '65536' is not a number from 1 to 65535"),
        ({"port": "amqp"}, "port 'amqp' is not a number"),
    ],
)
def test_inconsistent_rabbitmq_settings_are_refused(
    settings: dict[str, str], complaint: str
) -> None:
    profile = ConnectionProfile("odd", BrokerKind.RABBITMQ, {"host": "mq", **settings})
    with pytest.raises(ConfigurationError, match=complaint):
        create_connector(profile, prompt=lambda _p, _f: "pw")


def test_an_unreadable_amqps_ca_file_is_a_configuration_error(tmp_path) -> None:
    connector = RabbitMQConnector(
        host="mq", username="ops", password="pw", tls=True, ssl_cafile=str(tmp_path / "none.pem")
    )
    with pytest.raises(ConfigurationError, match="Cannot use the CA file"):
        connector.ssl_context()


async def test_a_role_to_assume_is_assumed_when_connecting(sqs: SqsSettings) -> None:
    iam = boto3.client("iam", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    role = iam.create_role(
        RoleName=f"eventdesk-test-{id(sqs)}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]
    try:
        profile = ConnectionProfile(
            "role",
            BrokerKind.SQS,
            {"region": sqs.region, "endpoint_url": sqs.endpoint_url, "role_arn": role["Arn"]},
        )
        connector = create_connector(profile)
        assert isinstance(connector, SqsConnector) and connector.role_arn == role["Arn"]
        async with connector:
            await connector.list_endpoints(timeout=20)
            credentials = connector._sqs._request_signer._credentials
            # moto hands out temporary keys starting ASIA; the static test keys are "testing".
            assert credentials.access_key.startswith("ASIA")
            assert credentials.token
    finally:
        iam.delete_role(RoleName=role["RoleName"])


def test_a_role_arn_is_a_known_setting_and_a_secret_key_is_not() -> None:
    ConnectionProfile("r", BrokerKind.SQS, {"role_arn": "arn:aws:iam::1:role/x"})
    with pytest.raises(ConfigurationError, match="looks like a secret"):
        ConnectionProfile("r", BrokerKind.SQS, {"secret_access_key": "x"})
    with pytest.raises(ConfigurationError, match="looks like a secret"):
        ConnectionProfile("r", BrokerKind.RABBITMQ, {"management_password": "x"})
