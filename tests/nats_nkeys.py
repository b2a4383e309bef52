"""Fresh NATS NKey users, and a private nats-server that admits only the ones named.

nkeys (0.2) has no call that creates a key, so a seed is built as the nkeys spec says:
an Ed25519 private seed from PyNaCl, encoded by nkeys.encode_seed with the user prefix byte.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import nkeys

from tests.private_nats import private_jetstream


@dataclass(frozen=True)
class NKeyUser:
    seed: str
    public_key: str


def new_nkey_user() -> NKeyUser:
    seed = new_seed(nkeys.PREFIX_BYTE_USER)
    public_key = nkeys.from_seed(bytearray(seed.encode())).public_key.decode()
    return NKeyUser(seed, public_key)


def new_seed(prefix: int) -> str:
    """A seed of a new key of the given kind (nkeys.PREFIX_BYTE_USER, _ACCOUNT, …)."""
    private_seed = nacl.signing.SigningKey.generate().encode()
    return nkeys.encode_seed(private_seed, prefix).decode()


@contextlib.contextmanager
def nkey_jetstream(store: Path, *users: NKeyUser) -> Iterator[str]:
    """A private nats-server with JetStream whose only users are `users`; yields its URL."""
    entries = ", ".join(f"{{ nkey: {user.public_key} }}" for user in users)
    config = f"authorization {{\n  users = [ {entries} ]\n}}\n"
    with private_jetstream(store, config=config) as url:
        yield url
