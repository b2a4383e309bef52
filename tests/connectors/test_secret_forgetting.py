"""SecretStore forgets what it handed out for a profile, through the real Secret Service.

Run through `bash tests/secret-service.sh .venv/bin/pytest tests/connectors/...`.
"""

from __future__ import annotations

from eventdesk.connectors.secrets import SecretStore
from keyring.backend import KeyringBackend
from keyring.backends import fail

from tests.connectors.test_secrets import (  # noqa: F401  (fixtures)
    _read_in_another_process,
    profile_name,
    secret_service,
)


def test_only_the_fields_handed_out_are_forgotten(
    secret_service: KeyringBackend,  # noqa: F811
    profile_name: str,  # noqa: F811
) -> None:
    SecretStore().set(profile_name, "password", "refused-pw-1")
    SecretStore().set(profile_name, "management password", "kept-pw-2")
    store = SecretStore()
    assert store.served_fields(profile_name) == []

    assert store.get(profile_name, "password") == "refused-pw-1"
    assert store.get(profile_name, "SASL password") is None  # nothing stored: not handed out
    assert store.served_fields(profile_name) == ["password"]

    assert store.forget_served(profile_name) == ["password"]
    assert _read_in_another_process(f"{profile_name}/password") == ""
    assert SecretStore().get(profile_name, "management password") == "kept-pw-2"
    assert store.served_fields(profile_name) == []
    assert store.forget_served(profile_name) == []
    store.delete(profile_name, "management password")


def test_without_a_keyring_the_memory_copy_is_forgotten() -> None:
    store = SecretStore(fail.Keyring())
    store.set("p", "password", "memory-pw")
    assert store.get("p", "password") == "memory-pw"
    assert store.forget_served("p") == ["password"]
    assert store.get("p", "password") is None
