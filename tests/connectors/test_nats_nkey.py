"""NATS NKey authentication against a real nats-server whose users are NKeys.

Every test makes fresh user key pairs (tests/nats_nkeys.py).
"""

from __future__ import annotations

from pathlib import Path

import nkeys
import pytest
from eventdesk.connectors.errors import AuthenticationFailed, ConfigurationError
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.nats import NatsConnector, nkey_public_key
from eventdesk.connectors.profiles import ConnectionProfile, forget_profile_secrets, save_profiles
from eventdesk.connectors.redaction import MASK, redact
from eventdesk.connectors.secrets import SecretStore
from keyring.backend import KeyringBackend

from tests.connectors.test_secrets import secret_service  # noqa: F401  (fixture)
from tests.nats_nkeys import NKeyUser, new_seed

pytestmark = pytest.mark.nats

SEED_FIELD = "NKey seed"


def _profile(name: str, url: str, public_key: str, **settings: str) -> ConnectionProfile:
    return ConnectionProfile(
        name, BrokerKind.NATS, {"servers": url, "nkey": public_key, **settings}
    )


def _texts(exc: BaseException) -> str:
    return f"{exc} {getattr(exc, 'hint', '')} {exc!r}"


async def test_the_seed_from_the_keyring_connects_and_lists_endpoints(
    secret_service: KeyringBackend,  # noqa: F811
    nkey_nats: str,
    allowed: NKeyUser,
    unique_name: str,
    tmp_path: Path,
) -> None:
    profile = _profile(unique_name, nkey_nats, allowed.public_key)
    store = SecretStore()
    assert store.set(unique_name, SEED_FIELD, allowed.seed) is True
    saved = save_profiles([profile])
    try:
        connector = create_connector(profile, secrets=store)
        async with connector:
            assert isinstance(connector, NatsConnector)
            assert connector.nkey == allowed.public_key
            assert await connector.ensure_advisory_capture(timeout=10)
            names = {endpoint.name for endpoint in await connector.list_endpoints(timeout=10)}
        assert connector.advisory_stream in names
        assert store.served_fields(unique_name) == [SEED_FIELD]
        # The profile names the public key only; the seed is nowhere under the config dir.
        assert saved.is_relative_to(tmp_path / "config")
        assert allowed.public_key in saved.read_text(encoding="utf-8")
        for file in (tmp_path / "config").rglob("*"):
            if file.is_file():
                assert allowed.seed not in file.read_text(encoding="utf-8", errors="replace")
        assert redact(f"seed={allowed.seed}") == f"seed={MASK}"
    finally:
        assert forget_profile_secrets(unique_name, store)
    assert SecretStore().get(unique_name, SEED_FIELD) is None


async def test_the_seed_from_an_environment_variable_or_asked_connects(
    nkey_nats: str, allowed: NKeyUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTDESK_TEST_NKEY_SEED", f"{allowed.seed}\n")
    from_env = _profile(
        "env", nkey_nats, allowed.public_key, nkey_seed_env="EVENTDESK_TEST_NKEY_SEED"
    )
    async with create_connector(from_env) as connector:
        assert await connector.list_endpoints(timeout=10) == []

    asked: list[str] = []

    def prompt(_profile: ConnectionProfile, field: str) -> str:
        asked.append(field)
        return allowed.seed

    async with create_connector(_profile("asked", nkey_nats, allowed.public_key), prompt=prompt):
        pass
    assert asked == [SEED_FIELD]


async def test_a_seed_the_server_does_not_know_is_refused_with_a_hint(
    nkey_nats: str, stranger: NKeyUser
) -> None:
    profile = _profile("stranger", nkey_nats, stranger.public_key)
    connector = create_connector(profile, prompt=lambda _profile, _field: stranger.seed)
    with pytest.raises(AuthenticationFailed) as caught:
        await connector.connect(timeout=10)
    await connector.close()
    assert stranger.public_key in str(caught.value)
    assert "authorization lists this public key" in caught.value.hint
    assert stranger.seed not in _texts(caught.value)


async def test_without_any_nkey_the_server_refuses(nkey_nats: str) -> None:
    connector = NatsConnector(nkey_nats)
    with pytest.raises(AuthenticationFailed, match="refused the credentials") as caught:
        await connector.connect(timeout=10)
    assert "NKey" in caught.value.hint


def test_a_seed_of_another_key_is_caught_before_the_server(
    allowed: NKeyUser, stranger: NKeyUser
) -> None:
    profile = _profile("mixed", "nats://127.0.0.1:1", allowed.public_key)
    with pytest.raises(ConfigurationError) as caught:
        create_connector(profile, prompt=lambda _profile, _field: stranger.seed)
    assert allowed.public_key in str(caught.value)
    assert stranger.public_key in caught.value.hint
    assert stranger.seed not in _texts(caught.value)


def test_a_seed_put_where_the_public_key_belongs_is_refused_unquoted(
    allowed: NKeyUser,
) -> None:
    with pytest.raises(ConfigurationError, match="not a user's public key") as caught:
        NatsConnector("nats://127.0.0.1:1", nkey=allowed.seed, nkey_seed=allowed.seed)
    assert allowed.seed not in _texts(caught.value)


def _mistyped(seed: str) -> str:
    i = 20
    return seed[:i] + ("A" if seed[i] != "A" else "B") + seed[i + 1 :]


def _account_seed() -> str:
    return new_seed(nkeys.PREFIX_BYTE_ACCOUNT)


@pytest.mark.parametrize(
    ("make_bad", "says"),
    [
        (lambda seed: "not a seed at all", "not a NATS seed"),
        (lambda seed: seed[:30], "not a NATS seed"),
        (lambda seed: seed.replace("S", "é", 1), "not a NATS seed"),
        (_mistyped, "wrong checksum"),
        (lambda seed: _account_seed(), "not a user's seed"),
    ],
)
def test_a_malformed_seed_is_a_configuration_error_that_never_quotes_it(
    make_bad: object, says: str, allowed: NKeyUser
) -> None:
    bad = make_bad(allowed.seed)  # type: ignore[operator]
    with pytest.raises(ConfigurationError, match=says) as caught:
        NatsConnector("nats://127.0.0.1:1", nkey_seed=bad)
    assert caught.value.hint.startswith("Enter the user's seed")
    assert bad not in _texts(caught.value)


def test_the_public_key_of_a_seed_is_the_one_nkeys_derives(allowed: NKeyUser) -> None:
    assert nkey_public_key(f"  {allowed.seed}\n") == allowed.public_key
    assert allowed.public_key.startswith("U") and len(allowed.seed) == 58


def test_a_seed_variable_without_a_public_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, allowed: NKeyUser
) -> None:
    monkeypatch.setenv("EVENTDESK_TEST_NKEY_SEED", allowed.seed)
    profile = ConnectionProfile(
        "half",
        BrokerKind.NATS,
        {"servers": "nats://127.0.0.1:1", "nkey_seed_env": "EVENTDESK_TEST_NKEY_SEED"},
    )
    with pytest.raises(ConfigurationError, match="no NKey"):
        create_connector(profile)


def test_a_public_key_without_a_seed_is_refused(allowed: NKeyUser) -> None:
    profile = _profile("unsure", "nats://127.0.0.1:1", allowed.public_key)
    with pytest.raises(ConfigurationError, match="given no seed"):
        create_connector(profile, prompt=lambda _profile, _field: None)
