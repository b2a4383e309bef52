"""Turns a connection profile (plus its secrets, read now) into a live-able Connector."""

from __future__ import annotations

import os
from collections.abc import Callable

from .base import Connector
from .errors import ConfigurationError
from .model import BrokerKind
from .profiles import ConnectionProfile
from .redaction import register_secret
from .secrets import SecretStore

# Asked for a secret the profile does not point at: (profile, field) -> value or None.
SecretPrompt = Callable[[ConnectionProfile, str], str | None]


def _secret(
    profile: ConnectionProfile,
    env_key: str,
    field: str,
    prompt: SecretPrompt | None,
    *,
    secrets: SecretStore | None = None,
) -> str | None:
    """The secret from the named variable, else the store, else the prompt.

    Whatever is found is registered with the redactor before anyone can log it.
    """
    env_name = profile.get(env_key)
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            raise ConfigurationError(
                f"Connection {profile.name!r} reads its {field} from ${env_name}, "
                "which is not set.",
                hint=f"Set {env_name} in the environment Eventdesk starts from.",
            )
        register_secret(value)
        return value
    value = secrets.get(profile.name, field) if secrets is not None else None
    if value is None and prompt is not None:
        value = prompt(profile, field)
    register_secret(value)
    return value


def _flag(profile: ConnectionProfile, key: str, *, default: bool) -> bool:
    value = profile.get(key, "true" if default else "false").lower()
    if value not in ("true", "false"):
        raise ConfigurationError(
            f"Connection {profile.name!r}: {key} is {value!r}, not true or false."
        )
    return value == "true"


def _port(profile: ConnectionProfile, *, default: int) -> int:
    text = profile.get("port", str(default))
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigurationError(
            f"Connection {profile.name!r}: port {text!r} is not a number from 1 to 65535."
        )
    return int(text)


def _whole_seconds(profile: ConnectionProfile, key: str, default: int) -> int:
    text = profile.get(key, str(default)).strip()
    if not text.isdigit():
        raise ConfigurationError(
            f"Connection {profile.name!r}: {key} {text!r} is not a whole number of seconds."
        )
    return int(text)


def create_connector(
    profile: ConnectionProfile,
    *,
    prompt: SecretPrompt | None = None,
    secrets: SecretStore | None = None,
) -> Connector:
    """A connector for the profile, not yet connected.

    Secrets come from the profile's environment variables, then `secrets`, then `prompt`;
    storing a prompted one is the caller's choice.
    """
    if profile.kind is BrokerKind.KAFKA:
        from .kafka import KafkaConnector, KafkaSecurity

        servers = profile.get("bootstrap_servers")
        if not servers:
            raise ConfigurationError(f"Connection {profile.name!r} has no bootstrap_servers.")
        protocol = profile.get("security_protocol", "PLAINTEXT").upper()
        check_hostname = _flag(profile, "ssl_check_hostname", default=True)
        username = profile.get("sasl_username") or None
        # Asked only when it will be used, and after the user name it belongs to.
        password = (
            _secret(profile, "sasl_password_env", "SASL password", prompt, secrets=secrets)
            if protocol.startswith("SASL_") and username
            else None
        )
        try:
            security = KafkaSecurity(
                security_protocol=protocol,
                sasl_mechanism=profile.get("sasl_mechanism", "PLAIN").upper(),
                sasl_username=username,
                sasl_password=password,
                ssl_cafile=profile.get("ssl_cafile") or None,
                ssl_certfile=profile.get("ssl_certfile") or None,
                ssl_keyfile=profile.get("ssl_keyfile") or None,
                ssl_check_hostname=check_hostname,
            )
        except ConfigurationError as exc:
            raise ConfigurationError(f"Connection {profile.name!r}: {exc}", hint=exc.hint) from exc
        return KafkaConnector(servers, security=security)
    if profile.kind is BrokerKind.RABBITMQ:
        from .rabbitmq import RabbitMQConnector

        tls = _flag(profile, "tls", default=False)
        if profile.get("ssl_cafile") and not tls:
            raise ConfigurationError(
                f"Connection {profile.name!r}: ssl_cafile is set, but tls is off.",
                hint="Turn TLS (amqps) on, or clear the CA file.",
            )
        management_username = profile.get("management_username") or None
        return RabbitMQConnector(
            host=profile.get("host", "127.0.0.1"),
            port=_port(profile, default=5671 if tls else 5672),
            vhost=profile.get("vhost", "/"),
            username=profile.get("username", "guest"),
            password=_secret(profile, "password_env", "password", prompt, secrets=secrets) or "",
            management_url=profile.get("management_url") or None,
            tls=tls,
            ssl_cafile=profile.get("ssl_cafile") or None,
            management_username=management_username,
            # Asked only when the management API has its own user.
            management_password=(
                _secret(
                    profile,
                    "management_password_env",
                    "management password",
                    prompt,
                    secrets=secrets,
                )
                or ""
                if management_username
                else None
            ),
        )
    if profile.kind is BrokerKind.SQS:
        from .sqs import BROWSE_HOLD_SECONDS, SqsConnector

        return SqsConnector(
            region=profile.get("region", "us-east-1"),
            endpoint_url=profile.get("endpoint_url") or None,
            aws_profile=profile.get("aws_profile") or None,
            access_key_id=profile.get("access_key_id") or None,
            secret_access_key=(
                _secret(
                    profile,
                    "secret_access_key_env",
                    "secret access key",
                    prompt,
                    secrets=secrets,
                )
                if profile.get("access_key_id")
                else None
            ),
            role_arn=profile.get("role_arn") or None,
            browse_hold_seconds=_whole_seconds(profile, "browse_hold_seconds", BROWSE_HOLD_SECONDS),
        )
    if profile.kind is BrokerKind.NATS:
        from .nats import NatsConnector

        servers = profile.get("servers")
        if not servers:
            raise ConfigurationError(f"Connection {profile.name!r} has no servers.")
        username = profile.get("username") or None
        nkey = profile.get("nkey") or None
        if profile.get("nkey_seed_env") and not nkey:
            raise ConfigurationError(
                f"Connection {profile.name!r} names an NKey seed variable but no NKey.",
                hint="Set nkey to the user's public key (U…) the seed belongs to.",
            )
        return NatsConnector(
            servers,
            user=username,
            # Asked only when it will be used: a password belongs to a user name.
            password=(
                _secret(profile, "password_env", "password", prompt, secrets=secrets)
                if username
                else None
            ),
            token=(
                _secret(profile, "token_env", "token", prompt, secrets=secrets)
                if profile.get("token_env") or profile.get("auth") == "token"
                else None
            ),
            creds_file=profile.get("creds_file") or None,
            nkey=nkey,
            # Asked only when it will be used: a seed belongs to an NKey public key.
            nkey_seed=(
                _secret(profile, "nkey_seed_env", "NKey seed", prompt, secrets=secrets)
                if nkey
                else None
            ),
            advisory_stream=profile.get("advisory_stream") or "EVENTDESK_ADVISORIES",
        )
    raise ConfigurationError(f"Unknown broker kind {profile.kind!r}.")
