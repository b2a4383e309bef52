"""Connection profiles: round trip through the config file, and never a secret in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import (
    ConnectionProfile,
    default_profiles_path,
    load_profiles,
    save_profiles,
)


def test_profiles_round_trip_through_the_user_config_dir(tmp_path: Path) -> None:
    profiles = [
        ConnectionProfile("Kafka prod", BrokerKind.KAFKA, {"bootstrap_servers": "k1:9092,k2:9092"}),
        ConnectionProfile(
            "Rabbit", BrokerKind.RABBITMQ, {"host": "mq", "password_env": "RABBIT_PASSWORD"}
        ),
    ]
    path = save_profiles(profiles)
    # conftest points EVENTDESK_CONFIG_DIR at a temporary folder.
    assert path == default_profiles_path()
    assert path.parent == tmp_path / "config"
    assert load_profiles() == profiles


def test_a_setting_that_looks_like_a_secret_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="looks like a secret"):
        ConnectionProfile("Rabbit", BrokerKind.RABBITMQ, {"password": "hunter2"})


def test_a_file_carrying_a_password_is_refused_not_read(tmp_path: Path) -> None:
    path = tmp_path / "connections.json"
    entry = {"name": "x", "kind": "rabbitmq", "settings": {"password": "hunter2"}}
    path.write_text(json.dumps({"connections": [entry]}))
    with pytest.raises(ConfigurationError) as caught:
        load_profiles(path)
    # Refused before anything is echoed back: the error must not repeat the secret.
    assert "hunter2" not in str(caught.value)


def test_unknown_settings_and_kinds_are_errors_that_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="bootstrap"):
        ConnectionProfile("k", BrokerKind.RABBITMQ, {"bootstrap_servers": "x"})
    path = tmp_path / "connections.json"
    path.write_text('{"connections": [{"name": "x", "kind": "mqtt"}]}')
    with pytest.raises(ConfigurationError, match="Malformed connection entry"):
        load_profiles(path)


def test_a_malformed_file_says_which_file(tmp_path: Path) -> None:
    path = tmp_path / "connections.json"
    path.write_bytes(b"{not json\xff")
    with pytest.raises(ConfigurationError, match=str(path)):
        load_profiles(path)


def test_the_password_comes_from_the_named_variable_at_connect_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = ConnectionProfile(
        "Rabbit", BrokerKind.RABBITMQ, {"username": "ops", "password_env": "EVENTDESK_T_PW"}
    )
    monkeypatch.delenv("EVENTDESK_T_PW", raising=False)
    with pytest.raises(ConfigurationError, match="EVENTDESK_T_PW"):
        create_connector(profile)
    monkeypatch.setenv("EVENTDESK_T_PW", "s3cret-value")
    connector = create_connector(profile)
    assert "s3cret-value" not in repr(connector)


def test_without_a_variable_the_prompt_is_asked_for_the_password() -> None:
    asked: list[tuple[str, str]] = []

    def prompt(profile: ConnectionProfile, field: str) -> str:
        asked.append((profile.name, field))
        return "typed-in"

    profile = ConnectionProfile("Rabbit", BrokerKind.RABBITMQ, {"username": "ops"})
    create_connector(profile, prompt=prompt)
    assert asked == [("Rabbit", "password")]
