"""SecretStore against a real Secret Service, and without any keyring at all.

The real round trip needs gnome-keyring on a session bus: run these tests through
`bash tests/secret-service.sh .venv/bin/pytest tests/connectors/test_secrets.py`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import (
    ConnectionProfile,
    environment_colour,
    export_profiles,
    forget_profile_secrets,
    import_profiles,
    save_profiles,
)
from eventdesk.connectors.redaction import register_secret
from eventdesk.connectors.secrets import SERVICE, SecretStore
from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.backends import SecretService, fail
from keyring.errors import KeyringLocked


def _no_secret_service(why: str) -> None:
    # The same policy as the brokers in tests/conftest.py.
    allowed = (
        os.environ.get("EVENTDESK_SKIP_MISSING_BROKERS") == "1" and os.environ.get("CI") != "true"
    )
    message = (
        f"No Secret Service: {why}. Run the tests through "
        "`bash tests/secret-service.sh <pytest command>`"
    )
    if allowed:
        pytest.skip(message)
    pytest.fail(
        message + " (set EVENTDESK_SKIP_MISSING_BROKERS=1 on a developer machine to skip)",
        pytrace=False,
    )


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    """Tests that swap keyring's global backend put the real one back."""
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def secret_service() -> KeyringBackend:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        _no_secret_service("DBUS_SESSION_BUS_ADDRESS is not set")
    backend = keyring.get_keyring()
    if not isinstance(backend, SecretService.Keyring):
        _no_secret_service(f"keyring chose {backend!r}, not the Secret Service")
    return backend


@pytest.fixture
def profile_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def _read_in_another_process(user: str) -> str:
    """What a fresh process finds in the keyring: proves it was stored outside this one."""
    code = "import keyring, sys; print(keyring.get_password(sys.argv[1], sys.argv[2]) or '')"
    result = subprocess.run(
        [sys.executable, "-c", code, SERVICE, user],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


def test_a_secret_round_trips_through_the_real_secret_service(
    secret_service: KeyringBackend, profile_name: str
) -> None:
    store = SecretStore()
    assert store.persistent
    assert isinstance(keyring.get_keyring(), SecretService.Keyring)

    assert store.get(profile_name, "password") is None
    assert store.set(profile_name, "password", "s3cret-round-trip") is True

    assert store.persistent and store.unavailable_reason == ""
    assert _read_in_another_process(f"{profile_name}/password") == "s3cret-round-trip"
    assert SecretStore().get(profile_name, "password") == "s3cret-round-trip"

    store.set(profile_name, "password", "changed")
    assert SecretStore().get(profile_name, "password") == "changed"

    assert store.delete(profile_name, "password")
    assert SecretStore().get(profile_name, "password") is None
    assert _read_in_another_process(f"{profile_name}/password") == ""
    assert store.delete(profile_name, "password")  # twice is fine


def test_deleting_a_profile_removes_all_of_its_entries_and_only_its(
    secret_service: KeyringBackend, profile_name: str
) -> None:
    store = SecretStore()
    other = profile_name + "-other"
    store.set(profile_name, "password", "pw-1")
    store.set(profile_name, "secret access key", "key-1")
    store.set(profile_name, "SASL password", "sasl-1")
    store.set(other, "password", "pw-other")

    assert forget_profile_secrets(profile_name, store)

    fresh = SecretStore()
    for field in ("password", "secret access key", "SASL password"):
        assert fresh.get(profile_name, field) is None
        assert _read_in_another_process(f"{profile_name}/{field}") == ""
    assert fresh.get(other, "password") == "pw-other"
    fresh.delete_profile(other, ["password"])
    assert fresh.get(other, "password") is None


def test_the_connector_reads_the_stored_password_and_does_not_prompt(
    secret_service: KeyringBackend, profile_name: str
) -> None:
    store = SecretStore()
    store.set(profile_name, "password", "from-the-keyring")
    profile = ConnectionProfile(profile_name, BrokerKind.RABBITMQ, {"username": "ops"})

    def prompt(_profile: ConnectionProfile, _field: str) -> str:
        raise AssertionError("asked although the keyring has the password")

    try:
        connector = create_connector(profile, prompt=prompt, secrets=SecretStore())
        assert connector._password == "from-the-keyring"  # type: ignore[attr-defined]
    finally:
        store.delete_profile(profile_name)


# -- no usable keyring ------------------------------------------------------------------


def _isolate_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every folder a library might write to lies under tmp_path, so a scan sees it all."""
    for variable, folder in {
        "HOME": "home",
        "XDG_CONFIG_HOME": "xdg-config",
        "XDG_DATA_HOME": "xdg-data",
        "XDG_CACHE_HOME": "xdg-cache",
        "XDG_STATE_HOME": "xdg-state",
    }.items():
        (tmp_path / folder).mkdir(exist_ok=True)
        monkeypatch.setenv(variable, str(tmp_path / folder))


def _files_containing(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_without_a_backend_secrets_stay_in_memory_and_never_reach_a_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_keyring: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _isolate_user_dirs(tmp_path, monkeypatch)
    log_file = tmp_path / "data" / "eventdesk.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file)
    logging.getLogger().addHandler(handler)
    keyring.set_keyring(fail.Keyring())
    secret = f"no-keyring-{uuid.uuid4().hex}"
    try:
        store = SecretStore()
        assert store.persistent is False
        assert "No OS keyring" in store.unavailable_reason
        assert "memory" in store.unavailable_reason

        assert store.set("Rabbit", "password", secret) is False
        assert store.get("Rabbit", "password") == secret

        profile = ConnectionProfile("Rabbit", BrokerKind.RABBITMQ, {"username": "ops"})
        save_profiles([profile])
        create_connector(profile, secrets=store)
        logging.getLogger("eventdesk.test").warning("connected %s", profile.name)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()

    # Told once per session, then quiet.
    assert store.take_unavailable_notice() == store.unavailable_reason
    assert store.take_unavailable_notice() is None

    assert store.delete_profile("Rabbit")
    assert store.get("Rabbit", "password") is None

    assert (tmp_path / "config" / "connections.json").exists()
    assert _files_containing(tmp_path, secret) == []
    assert secret not in caplog.text


class _BrokenBackend(KeyringBackend):
    """A keyring that looks fine until it is used, like a Secret Service that went away."""

    # Every KeyringBackend subclass joins keyring's own search; one that is not viable
    # (its priority raises) is never picked for the rest of the session.
    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("a test stand-in, used only when passed in")

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (KeyringLocked("Failed to unlock the collection!"), "locked"),
        (ConnectionRefusedError("D-Bus socket refused"), "could not be used"),
    ],
)
def test_a_keyring_that_fails_on_use_falls_back_to_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, reason: str
) -> None:
    _isolate_user_dirs(tmp_path, monkeypatch)
    store = SecretStore(_BrokenBackend(error))
    assert store.persistent  # nothing has failed yet

    assert store.set("Kafka", "SASL password", "sasl-in-memory") is False

    assert store.persistent is False
    assert reason in store.unavailable_reason
    assert store.get("Kafka", "SASL password") == "sasl-in-memory"
    assert _files_containing(tmp_path, "sasl-in-memory") == []


def test_reading_from_a_keyring_that_fails_asks_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SecretStore(_BrokenBackend(KeyringLocked("locked")))
    profile = ConnectionProfile("Rabbit", BrokerKind.RABBITMQ, {"username": "ops"})
    asked: list[str] = []

    def prompt(_profile: ConnectionProfile, field: str) -> str:
        asked.append(field)
        return "typed"

    create_connector(profile, prompt=prompt, secrets=store)

    assert asked == ["password"]
    assert store.persistent is False


def test_the_environment_variable_wins_over_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    store = SecretStore(fail.Keyring())
    store.set("Rabbit", "password", "stored")
    monkeypatch.setenv("EVENTDESK_T_SECRET_PW", "from-env")
    profile = ConnectionProfile(
        "Rabbit", BrokerKind.RABBITMQ, {"password_env": "EVENTDESK_T_SECRET_PW"}
    )

    def prompt(_profile: ConnectionProfile, _field: str) -> str:
        raise AssertionError("asked although the environment has the password")

    connector = create_connector(profile, prompt=prompt, secrets=store)
    assert connector._password == "from-env"  # type: ignore[attr-defined]


# -- sharing profiles -------------------------------------------------------------------


def test_profiles_are_exported_and_imported_with_their_tags_and_no_secret(
    tmp_path: Path, restore_keyring: None
) -> None:
    store = SecretStore(fail.Keyring())
    store.set("Rabbit prod", "password", "exported-never-7")
    profiles = [
        ConnectionProfile(
            "Rabbit prod",
            BrokerKind.RABBITMQ,
            {"host": "mq", "username": "ops"},
            environment="production",
            read_only=True,
        ),
        ConnectionProfile("Kafka dev", BrokerKind.KAFKA, {"bootstrap_servers": "k:9092"}),
    ]
    path = export_profiles(tmp_path / "share" / "team.json", profiles)

    assert import_profiles(path) == profiles
    assert b"exported-never-7" not in path.read_bytes()
    assert environment_colour("production") != environment_colour("staging")
    assert environment_colour("") is None


def test_an_import_carrying_a_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "team.json"
    entry = {
        "name": "Rabbit",
        "kind": "rabbitmq",
        "settings": {"host": "mq"},
        "extra": {"management": {"api_token": "tok-hunter2"}},
    }
    path.write_text(json.dumps({"format": "eventdesk-connections", "connections": [entry]}))

    with pytest.raises(ConfigurationError) as caught:
        import_profiles(path)

    assert "connections[0].extra.management.api_token" in str(caught.value)
    assert "tok-hunter2" not in str(caught.value)


def test_an_export_with_a_password_pasted_into_a_setting_is_refused(tmp_path: Path) -> None:
    register_secret("pasted-pw-991")
    profile = ConnectionProfile("Rabbit", BrokerKind.RABBITMQ, {"vhost": "pasted-pw-991"})
    with pytest.raises(ConfigurationError, match="password in use"):
        export_profiles(tmp_path / "team.json", [profile])
    assert not (tmp_path / "team.json").exists()


def test_a_url_with_a_password_in_it_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError, match="password in its URL") as caught:
        ConnectionProfile(
            "Rabbit", BrokerKind.RABBITMQ, {"management_url": "http://ops:url-pw-3@mq:15672"}
        )
    assert "url-pw-3" not in str(caught.value)


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="environment"):
        ConnectionProfile("k", BrokerKind.KAFKA, {"bootstrap_servers": "k:1"}, environment="prd")
