"""Turns a connection profile (plus secrets held in memory) into a live-able Connector."""

from __future__ import annotations

import os
from collections.abc import Callable

from .base import Connector
from .errors import ConfigurationError
from .model import BrokerKind
from .profiles import ConnectionProfile

# Asked for a secret the profile does not point at: (profile, field) -> value or None.
SecretPrompt = Callable[[ConnectionProfile, str], str | None]


def _secret(
    profile: ConnectionProfile, env_key: str, field: str, prompt: SecretPrompt | None
) -> str | None:
    env_name = profile.get(env_key)
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            raise ConfigurationError(
                f"Connection {profile.name!r} reads its {field} from ${env_name}, "
                "which is not set.",
                hint=f"Set {env_name} in the environment Eventdesk starts from.",
            )
        return value
    return prompt(profile, field) if prompt else None


def create_connector(
    profile: ConnectionProfile, *, prompt: SecretPrompt | None = None
) -> Connector:
    """A connector for the profile, not yet connected."""
    if profile.kind is BrokerKind.KAFKA:
        from .kafka import KafkaConnector

        servers = profile.get("bootstrap_servers")
        if not servers:
            raise ConfigurationError(f"Connection {profile.name!r} has no bootstrap_servers.")
        return KafkaConnector(servers)
    if profile.kind is BrokerKind.RABBITMQ:
        from .rabbitmq import RabbitMQConnector

        return RabbitMQConnector(
            host=profile.get("host", "127.0.0.1"),
            port=int(profile.get("port", "5672")),
            vhost=profile.get("vhost", "/"),
            username=profile.get("username", "guest"),
            password=_secret(profile, "password_env", "password", prompt) or "",
            management_url=profile.get("management_url") or None,
        )
    if profile.kind is BrokerKind.SQS:
        from .sqs import SqsConnector

        return SqsConnector(
            region=profile.get("region", "us-east-1"),
            endpoint_url=profile.get("endpoint_url") or None,
            aws_profile=profile.get("aws_profile") or None,
            access_key_id=profile.get("access_key_id") or None,
            secret_access_key=(
                _secret(profile, "secret_access_key_env", "secret access key", prompt)
                if profile.get("access_key_id")
                else None
            ),
        )
    raise ConfigurationError(f"Unknown broker kind {profile.kind!r}.")
