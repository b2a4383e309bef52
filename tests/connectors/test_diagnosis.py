"""diagnose(): each failure kind, against the real local brokers, stops at its own step.

Every case checks which step failed, that the steps before it passed, that the detail
names the problem, and that no password appears in anything shown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient
from eventdesk.connectors.diagnosis import (
    STEP_AUTHENTICATION,
    STEP_AUTHORIZATION,
    STEP_DNS,
    STEP_MANAGEMENT,
    STEP_SETTINGS,
    STEP_TCP,
    STEP_TLS,
    StepResult,
    diagnose,
    planned_steps,
)
from eventdesk.connectors.errors import CONNECTION_ERRORS, AuthorizationFailed
from eventdesk.connectors.kafka import translate_error
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.rabbitmq import ManagementClient

from tests.conftest import KafkaSecureSettings, RabbitMQSettings, SqsSettings
from tests.seed.rabbitmq_accounts import RabbitMQAccount, temporary_account

from .conftest import describe_granted


def _kafka(servers: str, **settings: str) -> ConnectionProfile:
    return ConnectionProfile("diag", BrokerKind.KAFKA, {"bootstrap_servers": servers, **settings})


def _kafka_tls(
    kafka_secure: KafkaSecureSettings, port: int, ca: str = "ca.pem", **settings: str
) -> ConnectionProfile:
    """One SSL listener of the secured Kafka, trusting `ca` from its TLS folder."""
    return _kafka(
        f"127.0.0.1:{port}",
        security_protocol="SSL",
        ssl_cafile=str(kafka_secure.tls_dir / ca),
        **settings,
    )


def _kafka_scram(kafka_secure: KafkaSecureSettings, mechanism: str) -> ConnectionProfile:
    """The secured Kafka's SASL_PLAINTEXT listener as its user, by `mechanism`."""
    return _kafka(
        f"127.0.0.1:{kafka_secure.sasl_port}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_username=kafka_secure.username,
    )


def _kafka_noacl(kafka_secure: KafkaSecureSettings) -> ConnectionProfile:
    """The secured Kafka's SASL listener as the user that has no ACLs at all."""
    return _kafka(
        f"127.0.0.1:{kafka_secure.sasl_port}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=kafka_secure.noacl_username,
    )


def _rabbitmq(
    rabbitmq: RabbitMQSettings, username: str, vhost: str = "/", **settings: str
) -> ConnectionProfile:
    return ConnectionProfile(
        "diag",
        BrokerKind.RABBITMQ,
        {
            "host": rabbitmq.host,
            "port": str(rabbitmq.port),
            "username": username,
            "vhost": vhost,
            "management_url": rabbitmq.management_url,
            **settings,
        },
    )


def _rabbitmq_as(
    rabbitmq: RabbitMQSettings, account: RabbitMQAccount, **settings: str
) -> ConnectionProfile:
    """The local RabbitMQ as a throwaway `account`, on its own vhost."""
    return _rabbitmq(rabbitmq, account.username, account.vhost, **settings)


async def _diagnose(profile: ConnectionProfile, password: str | None = None) -> list[StepResult]:
    heard: list[StepResult] = []
    results = await diagnose(
        profile, prompt=lambda _p, _f: password, timeout=8, on_step=heard.append
    )
    assert heard == results, "on_step hears every result, in order"
    return results


def _stopped_at(results: list[StepResult], step: str, *secrets: str) -> StepResult:
    """The failed step, after checking that it is `step`, the last one, after passes only."""
    *passed, failed = results
    assert [r.name for r in passed if not r.ok] == []
    assert failed.name == step and not failed.ok, results
    assert failed.hint, "every failure says what to do"
    shown = "\n".join(f"{r.detail}\n{r.hint}" for r in results)
    for secret in secrets:
        assert secret not in shown
    return failed


@pytest.fixture
async def no_permission_account(
    rabbitmq_admin: ManagementClient, unique_name: str
) -> AsyncIterator[RabbitMQAccount]:
    async with temporary_account(rabbitmq_admin, unique_name, tags="monitoring") as account:
        yield account


# -- the steps planned -------------------------------------------------------------------


def test_the_tls_step_is_planned_only_for_tls_links() -> None:
    plain = planned_steps(_kafka("h:9092"))
    assert plain == [STEP_SETTINGS, STEP_DNS, STEP_TCP, STEP_AUTHENTICATION, STEP_AUTHORIZATION]
    assert STEP_TLS in planned_steps(_kafka("h:9092", security_protocol="SASL_SSL"))
    rabbit = ConnectionProfile("r", BrokerKind.RABBITMQ, {"tls": "true"})
    assert planned_steps(rabbit)[3:] == [
        STEP_TLS,
        STEP_AUTHENTICATION,
        STEP_MANAGEMENT,
        STEP_AUTHORIZATION,
    ]
    moto = ConnectionProfile("s", BrokerKind.SQS, {"endpoint_url": "http://127.0.0.1:5055"})
    assert STEP_TLS not in planned_steps(moto)
    assert STEP_TLS in planned_steps(ConnectionProfile("aws", BrokerKind.SQS, {}))


async def test_bad_settings_stop_before_the_network() -> None:
    profile = _kafka("127.0.0.1:9092", security_protocol="SASL_PLAINTEXT")
    failed = _stopped_at(await _diagnose(profile), STEP_SETTINGS)
    assert "needs a user name" in failed.detail


# -- before any protocol ----------------------------------------------------------------


@pytest.mark.parametrize("kind", [BrokerKind.KAFKA, BrokerKind.RABBITMQ])
async def test_an_unresolvable_host_fails_name_resolution(kind: BrokerKind) -> None:
    # .invalid never resolves (RFC 6761).
    settings = (
        {"bootstrap_servers": "kafka.eventdesk.invalid:9092"}
        if kind is BrokerKind.KAFKA
        else {"host": "rabbit.eventdesk.invalid", "username": "ops"}
    )
    profile = ConnectionProfile("diag", kind, settings)
    failed = _stopped_at(await _diagnose(profile, "unused-pw"), STEP_DNS)
    assert "eventdesk.invalid cannot be resolved" in failed.detail
    assert "DNS" in failed.hint


async def test_a_closed_port_fails_the_tcp_step(rabbitmq: RabbitMQSettings) -> None:
    profile = _rabbitmq(rabbitmq, "ops", port="1")
    results = await _diagnose(profile, "unused-pw")
    failed = _stopped_at(results, STEP_TCP)
    assert "127.0.0.1:1: connection refused" in failed.detail
    assert [r.name for r in results] == [STEP_SETTINGS, STEP_DNS, STEP_TCP]


async def test_one_dead_bootstrap_server_of_two_is_reported_but_not_fatal(
    kafka_bootstrap: str,
) -> None:
    results = await _diagnose(_kafka(f"127.0.0.1:1,{kafka_bootstrap}"))
    tcp = next(r for r in results if r.name == STEP_TCP)
    assert tcp.ok
    assert f"Connected to {kafka_bootstrap}" in tcp.detail
    assert "127.0.0.1:1: connection refused" in tcp.detail
    assert all(r.ok for r in results)


# -- TLS on the secured Kafka node ------------------------------------------------------


async def test_an_unknown_ca_fails_the_tls_step(kafka_secure: KafkaSecureSettings) -> None:
    profile = _kafka_tls(kafka_secure, kafka_secure.ssl_port, "other-ca.pem")
    failed = _stopped_at(await _diagnose(profile), STEP_TLS)
    assert failed.detail.startswith("Unknown CA:")
    assert "unable to get local issuer certificate" in failed.detail
    assert "CA file" in failed.hint


async def test_a_hostname_mismatch_fails_the_tls_step_naming_both_names(
    kafka_secure: KafkaSecureSettings,
) -> None:
    profile = _kafka_tls(kafka_secure, kafka_secure.wrong_name_port)
    failed = _stopped_at(await _diagnose(profile), STEP_TLS)
    assert failed.detail.startswith("Hostname mismatch:")
    assert "not valid for '127.0.0.1'" in failed.detail
    assert "'kafka.eventdesk.invalid'" in failed.detail
    assert "unsafe" in failed.hint


async def test_without_hostname_checking_tls_passes_and_says_it_is_unsafe(
    kafka_secure: KafkaSecureSettings,
) -> None:
    profile = _kafka_tls(kafka_secure, kafka_secure.wrong_name_port, ssl_check_hostname="false")
    results = await _diagnose(profile)
    assert all(r.ok for r in results), results
    tls = next(r for r in results if r.name == STEP_TLS)
    assert "NOT checked (unsafe)" in tls.detail
    assert "issued by 'Eventdesk Test CA'" in tls.detail


async def test_a_listener_that_requires_a_client_certificate_says_so(
    kafka_secure: KafkaSecureSettings,
) -> None:
    profile = _kafka_tls(kafka_secure, kafka_secure.mtls_port)
    failed = _stopped_at(await _diagnose(profile), STEP_TLS)
    assert "requires a client certificate" in failed.detail
    assert "client certificate and key" in failed.hint


async def test_tls_against_a_plain_port_says_it_is_not_tls(rabbitmq: RabbitMQSettings) -> None:
    profile = _rabbitmq(rabbitmq, "ops", tls="true", port=str(rabbitmq.port))
    failed = _stopped_at(await _diagnose(profile, "unused-pw"), STEP_TLS)
    assert "does not speak TLS" in failed.detail
    assert "plain-text port" in failed.hint


# -- authentication ---------------------------------------------------------------------


async def test_a_wrong_sasl_password_fails_authentication_on_the_secured_kafka(
    kafka_secure: KafkaSecureSettings,
) -> None:
    wrong = "not-the-sasl-password-4417"
    profile = _kafka_scram(kafka_secure, "SCRAM-SHA-512")
    failed = _stopped_at(
        await _diagnose(profile, wrong),
        STEP_AUTHENTICATION,
        wrong,
        *kafka_secure.passwords.values(),
    )
    assert f"user {kafka_secure.username!r} (SCRAM-SHA-512)" in failed.detail
    assert "password" in failed.hint


async def test_the_right_sasl_password_passes_every_step(
    kafka_secure: KafkaSecureSettings,
) -> None:
    password = kafka_secure.passwords["SCRAM-SHA-256"]
    profile = _kafka_scram(kafka_secure, "SCRAM-SHA-256")
    results = await _diagnose(profile, password)
    assert [(r.name, r.ok) for r in results] == [
        (STEP_SETTINGS, True),
        (STEP_DNS, True),
        (STEP_TCP, True),
        (STEP_AUTHENTICATION, True),
        (STEP_AUTHORIZATION, True),
    ]
    assert "accepted user 'eventdesk' (SCRAM-SHA-256)" in results[3].detail
    assert all(password not in r.detail for r in results)


async def test_a_wrong_rabbitmq_password_fails_authentication(
    rabbitmq: RabbitMQSettings, rabbitmq_full_account: RabbitMQAccount
) -> None:
    account = rabbitmq_full_account
    wrong = "not-the-rabbit-password-9921"
    profile = _rabbitmq_as(rabbitmq, account)
    failed = _stopped_at(
        await _diagnose(profile, wrong), STEP_AUTHENTICATION, wrong, account.password
    )
    assert f"refused the login of user {account.username!r}" in failed.detail


# -- authorization ----------------------------------------------------------------------


async def test_a_user_without_permission_on_the_vhost_fails_authorization(
    rabbitmq: RabbitMQSettings, no_permission_account: RabbitMQAccount
) -> None:
    account = no_permission_account
    results = await _diagnose(_rabbitmq_as(rabbitmq, account), account.password)
    failed = _stopped_at(results, STEP_AUTHORIZATION, account.password)
    authentication = next(r for r in results if r.name == STEP_AUTHENTICATION)
    assert authentication.ok, "the login itself was accepted"
    assert f"would not open vhost {account.vhost!r}" in failed.detail
    assert f"set_permissions -p {account.vhost} {account.username}" in failed.hint


async def test_a_kafka_user_without_acls_fails_authorization_naming_the_permission(
    kafka_secure: KafkaSecureSettings, secure_topic: str
) -> None:
    password = kafka_secure.noacl_passwords["SCRAM-SHA-512"]
    results = await _diagnose(_kafka_noacl(kafka_secure), password)
    failed = _stopped_at(
        results, STEP_AUTHORIZATION, password, *kafka_secure.noacl_passwords.values()
    )
    authentication = next(r for r in results if r.name == STEP_AUTHENTICATION)
    assert authentication.ok, "the login itself was accepted"
    assert f"accepted user {kafka_secure.noacl_username!r}" in authentication.detail
    assert f"denies user {kafka_secure.noacl_username!r} Describe on topics" in failed.detail
    assert (
        f"kafka-acls --bootstrap-server 127.0.0.1:{kafka_secure.sasl_port} --add "
        f"--allow-principal User:{kafka_secure.noacl_username} --operation Describe --topic '*'"
    ) in failed.hint


async def test_a_describe_acl_on_a_topic_lets_the_same_kafka_user_pass(
    kafka_secure: KafkaSecureSettings, secure_admin: AIOKafkaAdminClient, secure_topic: str
) -> None:
    principal = f"User:{kafka_secure.noacl_username}"
    async with describe_granted(secure_admin, secure_topic, principal):
        results = await _diagnose(
            _kafka_noacl(kafka_secure), kafka_secure.noacl_passwords["SCRAM-SHA-512"]
        )
    assert all(r.ok for r in results), results
    # Only the granted topic: the others on this broker stay hidden from this user.
    assert "May list topics: 1 found" in results[-1].detail


@pytest.mark.parametrize(
    ("refused", "named", "option"),
    [
        (kafka_errors.TopicAuthorizationFailedError, "a topic", "--topic <topic>"),
        (kafka_errors.GroupAuthorizationFailedError, "a consumer group", "--group <group>"),
        (kafka_errors.ClusterAuthorizationFailedError, "the cluster", "--cluster"),
    ],
)
def test_kafka_authorization_errors_name_what_was_refused_and_the_acl_to_ask_for(
    refused: type[Exception], named: str, option: str
) -> None:
    error = translate_error(refused(), servers="k1:9092", doing="listing topics")
    assert isinstance(error, AuthorizationFailed)
    assert f"denied a permission on {named} while listing topics" in str(error)
    assert "kafka-acls --bootstrap-server k1:9092 --add --allow-principal" in error.hint
    assert error.hint.endswith(f"{option}.")


@pytest.mark.parametrize(
    "starting",
    [
        kafka_errors.CoordinatorNotAvailableError,
        kafka_errors.CoordinatorLoadInProgressError,
        kafka_errors.NotCoordinatorForGroupError,
    ],
)
def test_a_group_coordinator_not_ready_yet_is_transient_not_a_failure(
    starting: type[Exception],
) -> None:
    # A broker just restarted: the replay must stop "interrupted" (resumable), not "failed".
    error = translate_error(starting(), servers="k1:9092", doing="replaying orders.DLT")
    assert isinstance(error, CONNECTION_ERRORS)
    assert "no group coordinator ready while replaying orders.DLT" in str(error)


async def test_a_user_without_a_management_tag_fails_the_management_step(
    rabbitmq: RabbitMQSettings, rabbitmq_untagged_account: RabbitMQAccount
) -> None:
    account = rabbitmq_untagged_account
    results = await _diagnose(_rabbitmq_as(rabbitmq, account), account.password)
    failed = _stopped_at(results, STEP_MANAGEMENT, account.password)
    assert "lacks a management tag" in failed.detail
    assert f"set_user_tags {account.username} monitoring" in failed.hint


async def test_a_rabbitmq_user_with_permissions_passes_every_step(
    rabbitmq: RabbitMQSettings, rabbitmq_full_account: RabbitMQAccount
) -> None:
    account = rabbitmq_full_account
    results = await _diagnose(_rabbitmq_as(rabbitmq, account), account.password)
    assert all(r.ok for r in results), results
    assert [r.name for r in results][-3:] == [
        STEP_AUTHENTICATION,
        STEP_MANAGEMENT,
        STEP_AUTHORIZATION,
    ]
    assert "(tags: monitoring)" in results[-2].detail


async def test_separate_management_credentials_are_checked_on_their_own(
    rabbitmq: RabbitMQSettings,
    rabbitmq_full_account: RabbitMQAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = rabbitmq_full_account
    monkeypatch.setenv("EVENTDESK_TEST_MANAGEMENT_PASSWORD", "wrong-management-pw-5150")
    profile = _rabbitmq_as(
        rabbitmq,
        account,
        management_username=rabbitmq.username,
        management_password_env="EVENTDESK_TEST_MANAGEMENT_PASSWORD",
    )
    failed = _stopped_at(
        await _diagnose(profile, account.password),
        STEP_MANAGEMENT,
        "wrong-management-pw-5150",
        account.password,
    )
    assert "management API refused user" in failed.detail


async def test_sqs_with_moto_passes_every_step(sqs: SqsSettings) -> None:
    profile = ConnectionProfile(
        "moto", BrokerKind.SQS, {"region": sqs.region, "endpoint_url": sqs.endpoint_url}
    )
    results = await _diagnose(profile)
    assert all(r.ok for r in results), results
    assert results[-1].name == STEP_AUTHORIZATION
    assert "May list queues" in results[-1].detail
