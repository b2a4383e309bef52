"""Connection profiles: what to connect to, stored as JSON in the user's config dir.

A profile never holds a secret. Passwords come from the OS keyring (see secrets.py),
from the operator at connect time, or from an environment variable whose *name* the
profile carries (`password_env`), for scripts and local brokers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigurationError
from .json_file import (
    REWRITTEN_ON_SAVE,
    json_text,
    read_json_file,
    write_json_file,
    write_text_atomically,
)
from .model import BrokerKind
from .redaction import REDACTOR, redact_url
from .secrets import SECRET_FIELDS, SecretStore
from .user_dirs import config_dir

# Settings each kind understands; anything else in a file is refused, not ignored.
KNOWN_SETTINGS: dict[BrokerKind, frozenset[str]] = {
    BrokerKind.KAFKA: frozenset(
        {
            "bootstrap_servers",
            "security_protocol",
            "sasl_mechanism",
            "sasl_username",
            "sasl_password_env",
            "ssl_cafile",
            "ssl_certfile",
            "ssl_keyfile",
            "ssl_check_hostname",
            # A Confluent-compatible Schema Registry; its password is in the keyring.
            "schema_registry_url",
            "schema_registry_username",
            "schema_registry_password_env",
        }
    ),
    BrokerKind.RABBITMQ: frozenset(
        {
            "host",
            "port",
            "vhost",
            "username",
            "password_env",
            "tls",
            "ssl_cafile",
            "management_url",
            "management_username",
            "management_password_env",
        }
    ),
    BrokerKind.SQS: frozenset(
        {
            "region",
            "endpoint_url",
            "aws_profile",
            "access_key_id",
            "secret_access_key_env",
            "role_arn",
            "browse_hold_seconds",
        }
    ),
    BrokerKind.NATS: frozenset(
        {
            "servers",
            "username",
            "password_env",
            "token_env",
            # "token": a token is used, kept in the keyring (or asked) when no token_env.
            "auth",
            "creds_file",
            # The NKey user's public key (U…); its seed is a secret like a password.
            "nkey",
            "nkey_seed_env",
            "advisory_stream",
        }
    ),
}
_SECRET_LOOKING = re.compile(r"pass(word)?$|secret(_access_key)?$|token$", re.IGNORECASE)
# Shared files are checked harder, at every level: a teammate's file is not our own.
_SECRET_LOOKING_ANYWHERE = re.compile(
    r"pass(word|phrase|wd)?$|secret(_access_key|_key)?$|token$|credentials?$|private_key$",
    re.IGNORECASE,
)

# Environment tags and the colour each is shown in; "" is untagged.
ENVIRONMENTS: tuple[str, ...] = ("", "dev", "staging", "production")
_ENVIRONMENT_COLOURS = {"dev": "#2e7d32", "staging": "#ef6c00", "production": "#c62828"}
EXPORT_FORMAT = "eventdesk-connections"


def environment_colour(environment: str) -> str | None:
    """The tag's colour as #rrggbb, or None for an untagged profile."""
    return _ENVIRONMENT_COLOURS.get(environment)


@dataclass(frozen=True, slots=True)
class ConnectionProfile:
    name: str
    kind: BrokerKind
    settings: Mapping[str, str] = field(default_factory=dict)
    environment: str = ""
    read_only: bool = False

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigurationError("A connection needs a name.")
        if self.environment not in ENVIRONMENTS:
            raise ConfigurationError(
                f"Connection {self.name!r}: unknown environment {self.environment!r}.",
                hint=f"Use one of: {', '.join(e for e in ENVIRONMENTS if e)}, or none.",
            )
        for key in self.settings:
            if _SECRET_LOOKING.search(key):
                raise ConfigurationError(
                    f"Connection {self.name!r}: {key!r} looks like a secret; "
                    "profiles never hold secrets.",
                    hint="Name an environment variable with password_env instead, "
                    "or enter it when connecting.",
                )
        for key, value in self.settings.items():
            if redact_url(str(value)) != str(value):
                raise ConfigurationError(
                    f"Connection {self.name!r}: {key!r} carries a password in its URL; "
                    "profiles never hold secrets.",
                    hint="Remove user:password@ from the URL; Eventdesk asks for the "
                    "password or reads it from the OS keyring.",
                )
        unknown = set(self.settings) - KNOWN_SETTINGS[self.kind]
        if unknown:
            raise ConfigurationError(
                f"Connection {self.name!r}: unknown setting(s) {', '.join(sorted(unknown))} "
                f"for {self.kind.value}."
            )

    def get(self, key: str, default: str = "") -> str:
        return str(self.settings.get(key, default))

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "environment": self.environment,
            "read_only": self.read_only,
            "settings": dict(self.settings),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ConnectionProfile:
        try:
            kind = BrokerKind(str(data["kind"]))
            settings = data.get("settings") or {}
            if not isinstance(settings, Mapping):
                raise TypeError("settings must be an object")
            read_only = data.get("read_only", False)
            if not isinstance(read_only, bool):
                raise TypeError("read_only must be true or false")
            return cls(
                name=str(data["name"]),
                kind=kind,
                settings={str(k): str(v) for k, v in settings.items()},
                environment=str(data.get("environment") or ""),
                read_only=read_only,
            )
        except (KeyError, ValueError, TypeError) as exc:
            # Name the entry, never echo it: a hand-edited file may hold what it should not.
            raise ConfigurationError(
                f"Malformed connection entry {str(data.get('name', '?'))!r}: {exc}"
            ) from exc


def default_profiles_path() -> Path:
    return config_dir() / "connections.json"


def load_profiles(path: Path | None = None) -> list[ConnectionProfile]:
    path = path or default_profiles_path()
    if not path.exists():
        return []
    data = read_json_file(path, hint=REWRITTEN_ON_SAVE)
    entries = data.get("connections") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigurationError(f"{path}: expected an object with a 'connections' list.")
    return [ConnectionProfile.from_json(entry) for entry in entries]


def save_profiles(profiles: Iterable[ConnectionProfile], path: Path | None = None) -> Path:
    path = path or default_profiles_path()
    return write_json_file(path, {"connections": [p.to_json() for p in profiles]})


def forget_profile_secrets(profile_name: str, secrets: SecretStore) -> bool:
    """Deletes the profile's keyring entries; call it when the profile is deleted.

    False if the keyring could not be reached and an entry may be left behind.
    """
    return secrets.delete_profile(profile_name, SECRET_FIELDS)


def _secret_looking_keys(data: object, where: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if _SECRET_LOOKING_ANYWHERE.search(str(key)):
                found.append(path)
            found.extend(_secret_looking_keys(value, path))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(_secret_looking_keys(item, f"{where}[{index}]"))
    return found


def export_profiles(path: Path, profiles: Iterable[ConnectionProfile]) -> Path:
    """Writes profiles for sharing with a team: settings only, never a secret."""
    payload = {"format": EXPORT_FORMAT, "connections": [p.to_json() for p in profiles]}
    suspicious = _secret_looking_keys(payload)
    if suspicious:
        raise ConfigurationError(
            f"Not exported: {', '.join(suspicious)} looks like a secret.",
            hint="Profiles are shared without secrets; remove the field first.",
        )
    text = json_text(payload)
    # A value the operator typed as a password this session, pasted into a setting.
    if REDACTOR.contains_secret(text):
        raise ConfigurationError(
            "Not exported: a setting contains a password in use this session.",
            hint="Remove the password from the connection's settings, then export again.",
        )
    return write_text_atomically(path, text)


def import_profiles(path: Path) -> list[ConnectionProfile]:
    """Reads a file written by export_profiles; refuses one that carries anything secret."""
    data = read_json_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("connections"), list):
        raise ConfigurationError(f"{path}: not an Eventdesk connections file.")
    suspicious = _secret_looking_keys(data)
    if suspicious:
        # Names the fields, never their values.
        raise ConfigurationError(
            f"Not imported: {path} carries {', '.join(suspicious)}, which looks like a secret.",
            hint="Ask for a file exported by Eventdesk; secrets are entered on each machine.",
        )
    return [ConnectionProfile.from_json(entry) for entry in data["connections"]]
