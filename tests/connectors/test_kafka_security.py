"""KafkaConnector against the secured local Kafka (tests/brokers/kafka-secure.sh): SASL and TLS.

Every failure case checks that it gets its own error, naming what is wrong, and that
no password shows up in it.
"""

from __future__ import annotations

import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from eventdesk.connectors.errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    BrokerUnreachable,
    ConfigurationError,
    EndpointNotFound,
    EventdeskError,
    TlsError,
)
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.kafka import KafkaConnector, KafkaSecurity
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile

from tests.conftest import KafkaSecureSettings

from .conftest import describe_granted

pytestmark = pytest.mark.kafka

_SCRAM = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def _sasl(settings: KafkaSecureSettings, mechanism: str, password: str) -> KafkaConnector:
    return KafkaConnector(
        f"127.0.0.1:{settings.sasl_port}",
        security=KafkaSecurity(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=mechanism,
            sasl_username=settings.username,
            sasl_password=password,
        ),
    )


def _tls(port: int, cafile: object, **options: object) -> KafkaConnector:
    return KafkaConnector(
        f"127.0.0.1:{port}",
        security=KafkaSecurity(security_protocol="SSL", ssl_cafile=str(cafile), **options),
    )


async def _refused(connector: KafkaConnector) -> EventdeskError:
    """The error connecting raises; it must come fast, not at the end of a timeout."""
    started = time.monotonic()
    with pytest.raises(EventdeskError) as caught:
        await connector.connect(timeout=8)
    await connector.close()
    assert time.monotonic() - started < 5, "a refusal must not wait out the timeout"
    return caught.value


def _shown(error: EventdeskError) -> str:
    return f"{error}\n{error.hint}\n{error!r}"


@pytest.fixture
def topic(secure_topic: str) -> str:
    """A topic on the secured broker, so a listing has something of ours to find."""
    return secure_topic


async def _lists(connector: KafkaConnector, topic: str) -> None:
    async with connector:
        names = [endpoint.name for endpoint in await connector.list_endpoints(timeout=15)]
    assert topic in names


# -- SASL ------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", [*_SCRAM, "PLAIN"])
async def test_right_sasl_credentials_connect_and_list_topics(
    kafka_secure: KafkaSecureSettings, topic: str, mechanism: str
) -> None:
    await _lists(_sasl(kafka_secure, mechanism, kafka_secure.passwords[mechanism]), topic)


@pytest.mark.parametrize("mechanism", _SCRAM)
async def test_a_wrong_sasl_password_is_authentication_failed_naming_the_user(
    kafka_secure: KafkaSecureSettings, mechanism: str
) -> None:
    # The other mechanism's password: right user, credentials for the wrong mechanism.
    wrong = kafka_secure.passwords[next(m for m in _SCRAM if m != mechanism)]
    error = await _refused(_sasl(kafka_secure, mechanism, wrong))

    assert isinstance(error, AuthenticationFailed)
    assert f"SASL authentication failed for user {kafka_secure.username!r} ({mechanism})" in str(
        error
    )
    assert "password" in error.hint
    for password in kafka_secure.passwords.values():
        assert password not in _shown(error)


def test_passwords_stay_out_of_the_security_repr() -> None:
    security = KafkaSecurity(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="eventdesk",
        sasl_password="hunter2-sasl",
        ssl_key_password="hunter2-key",
    )
    assert "eventdesk" in repr(security)
    assert "hunter2" not in repr(security)


async def test_a_plain_client_on_the_sasl_listener_is_told_to_check_the_protocol(
    kafka_secure: KafkaSecureSettings,
) -> None:
    error = await _refused(KafkaConnector(f"127.0.0.1:{kafka_secure.sasl_port}"))
    assert isinstance(error, BrokerUnreachable)
    assert "security_protocol PLAINTEXT" in str(error)


# -- TLS -------------------------------------------------------------------------------


async def test_tls_with_the_right_ca_connects_and_lists_topics(
    kafka_secure: KafkaSecureSettings, topic: str
) -> None:
    await _lists(_tls(kafka_secure.ssl_port, kafka_secure.tls_dir / "ca.pem"), topic)


async def test_an_unknown_ca_is_its_own_tls_error(kafka_secure: KafkaSecureSettings) -> None:
    other_ca = kafka_secure.tls_dir / "other-ca.pem"
    error = await _refused(_tls(kafka_secure.ssl_port, other_ca))

    assert isinstance(error, TlsError)
    assert "certificate verify failed: unable to get local issuer certificate" in str(error)
    assert f"127.0.0.1:{kafka_secure.ssl_port}" in str(error)
    assert error.hint.startswith("The broker's certificate is not signed by the CA in ssl_cafile")
    assert str(other_ca) in error.hint


async def test_a_wrong_hostname_is_its_own_tls_error_naming_both_names(
    kafka_secure: KafkaSecureSettings,
) -> None:
    error = await _refused(_tls(kafka_secure.wrong_name_port, kafka_secure.tls_dir / "ca.pem"))

    assert isinstance(error, TlsError)
    assert "is not valid for '127.0.0.1'" in str(error)
    assert "'kafka.eventdesk.invalid'" in str(error)
    assert "ssl_check_hostname" in error.hint
    assert "unsafe" in error.hint
    assert "not signed" not in error.hint


async def test_without_hostname_checking_the_mismatch_connects(
    kafka_secure: KafkaSecureSettings, topic: str
) -> None:
    connector = _tls(
        kafka_secure.wrong_name_port, kafka_secure.tls_dir / "ca.pem", ssl_check_hostname=False
    )
    await _lists(connector, topic)


async def test_without_hostname_checking_the_ca_is_still_checked(
    kafka_secure: KafkaSecureSettings,
) -> None:
    connector = _tls(
        kafka_secure.wrong_name_port,
        kafka_secure.tls_dir / "other-ca.pem",
        ssl_check_hostname=False,
    )
    error = await _refused(connector)
    assert isinstance(error, TlsError)
    assert "unable to get local issuer certificate" in str(error)


async def test_a_client_certificate_opens_a_listener_that_requires_one(
    kafka_secure: KafkaSecureSettings, topic: str
) -> None:
    tls = kafka_secure.tls_dir
    connector = _tls(
        kafka_secure.mtls_port,
        tls / "ca.pem",
        ssl_certfile=str(tls / "client.pem"),
        ssl_keyfile=str(tls / "client.key"),
    )
    await _lists(connector, topic)


async def test_a_missing_client_certificate_is_a_tls_error_saying_so(
    kafka_secure: KafkaSecureSettings,
) -> None:
    error = await _refused(_tls(kafka_secure.mtls_port, kafka_secure.tls_dir / "ca.pem"))
    assert isinstance(error, TlsError)
    assert "no client certificate" in str(error)
    assert "ssl_certfile" in error.hint


async def test_an_unreadable_ca_file_is_a_configuration_error(
    kafka_secure: KafkaSecureSettings,
) -> None:
    missing = kafka_secure.tls_dir / "no-such-ca.pem"
    with pytest.raises(ConfigurationError, match=r"Cannot read ssl_cafile .*no-such-ca\.pem"):
        await _tls(kafka_secure.ssl_port, missing).connect(timeout=5)


# -- before any protocol: TCP and DNS ------------------------------------------------


async def test_nothing_listening_is_broker_unreachable(kafka_secure: KafkaSecureSettings) -> None:
    connector = KafkaConnector(
        "127.0.0.1:1",
        security=KafkaSecurity(
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=kafka_secure.username,
            sasl_password=kafka_secure.passwords["SCRAM-SHA-512"],
            ssl_cafile=str(kafka_secure.tls_dir / "ca.pem"),
        ),
    )
    error = await _refused(connector)
    assert isinstance(error, BrokerUnreachable)
    assert "127.0.0.1:1" in str(error)
    assert "refused" in str(error)


async def test_an_unresolvable_host_is_broker_unreachable_saying_dns() -> None:
    # .invalid never resolves (RFC 6761).
    error = await _refused(KafkaConnector("kafka.eventdesk.invalid:9092"))
    assert isinstance(error, BrokerUnreachable)
    assert "DNS cannot resolve kafka.eventdesk.invalid" in str(error)


# -- from a profile --------------------------------------------------------------------


async def test_a_profile_connects_with_scram_and_its_password_from_the_environment(
    kafka_secure: KafkaSecureSettings, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTDESK_TEST_SASL_PASSWORD", kafka_secure.passwords["SCRAM-SHA-512"])
    profile = ConnectionProfile(
        name="secured",
        kind=BrokerKind.KAFKA,
        settings={
            "bootstrap_servers": f"127.0.0.1:{kafka_secure.sasl_port}",
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": kafka_secure.username,
            "sasl_password_env": "EVENTDESK_TEST_SASL_PASSWORD",
        },
    )
    connector = create_connector(profile)
    assert isinstance(connector, KafkaConnector)
    await _lists(connector, topic)


def test_a_profile_with_tls_files_builds_their_security(
    kafka_secure: KafkaSecureSettings,
) -> None:
    ca = str(kafka_secure.tls_dir / "ca.pem")
    profile = ConnectionProfile(
        name="tls",
        kind=BrokerKind.KAFKA,
        settings={
            "bootstrap_servers": f"127.0.0.1:{kafka_secure.ssl_port}",
            "security_protocol": "ssl",
            "ssl_cafile": ca,
            "ssl_check_hostname": "false",
        },
    )
    connector = create_connector(profile)
    assert isinstance(connector, KafkaConnector)
    assert connector.security == KafkaSecurity(
        security_protocol="SSL", ssl_cafile=ca, ssl_check_hostname=False
    )


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"ssl_check_hostname": "maybe"}, "ssl_check_hostname is 'maybe'"),
        ({"security_protocol": "TLS"}, "security_protocol 'TLS' is not one of"),
        ({"ssl_cafile": "/ca.pem"}, "ssl_cafile set, but security_protocol PLAINTEXT"),
        ({"security_protocol": "SASL_SSL"}, "SASL_SSL needs a user name"),
    ],
)
def test_a_profile_with_inconsistent_security_is_refused(
    settings: dict[str, str], complaint: str
) -> None:
    profile = ConnectionProfile(
        name="odd", kind=BrokerKind.KAFKA, settings={"bootstrap_servers": "h:1", **settings}
    )
    with pytest.raises(ConfigurationError, match=complaint):
        create_connector(profile)


# -- authorization ---------------------------------------------------------------------


async def test_a_topic_the_user_may_not_describe_is_authorization_failed_not_missing(
    kafka_secure: KafkaSecureSettings, secure_admin: AIOKafkaAdminClient, secure_topic: str
) -> None:
    hidden = f"{secure_topic}.hidden"
    await secure_admin.create_topics([NewTopic(hidden, 1, 1)])
    user = kafka_secure.noacl_username
    connector = KafkaConnector(
        f"127.0.0.1:{kafka_secure.sasl_port}",
        security=KafkaSecurity(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=user,
            sasl_password=kafka_secure.noacl_passwords["SCRAM-SHA-512"],
        ),
    )
    try:
        async with describe_granted(secure_admin, secure_topic, f"User:{user}"), connector:
            assert [e.name for e in await connector.list_endpoints(timeout=15)] == [secure_topic]
            for topic in (hidden, f"{secure_topic}.never-made"):
                with pytest.raises(AuthorizationFailed) as refused:
                    await connector.browse(topic).next_page(timeout=10)
                error = refused.value
                assert f"denies user {user!r} Describe on topic {topic!r}" in str(error)
                assert "or it does not exist" in str(error)
                assert f"--operation Describe --topic '{topic}'" in error.hint
                assert kafka_secure.noacl_passwords["SCRAM-SHA-512"] not in _shown(error)
    finally:
        await secure_admin.delete_topics([hidden])


async def test_a_missing_topic_for_a_user_who_may_describe_all_is_not_found(
    kafka_secure: KafkaSecureSettings, secure_topic: str
) -> None:
    connector = _sasl(kafka_secure, "SCRAM-SHA-512", kafka_secure.passwords["SCRAM-SHA-512"])
    async with connector:
        with pytest.raises(EndpointNotFound, match="has no topic"):
            await connector.browse(f"{secure_topic}.never-made").next_page(timeout=10)
