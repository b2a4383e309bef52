"""Connection profiles: what to connect to, stored as JSON in the user's config dir.

A profile never holds a secret. Passwords come from the operator at connect
time (kept in memory for the session), or from an environment variable whose
*name* the profile carries (`password_env`), for scripts and local brokers.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from .errors import ConfigurationError
from .model import BrokerKind

# Settings each kind understands; anything else in a file is refused, not ignored.
KNOWN_SETTINGS: dict[BrokerKind, frozenset[str]] = {
    BrokerKind.KAFKA: frozenset({"bootstrap_servers"}),
    BrokerKind.RABBITMQ: frozenset(
        {"host", "port", "vhost", "username", "management_url", "password_env"}
    ),
    BrokerKind.SQS: frozenset(
        {"region", "endpoint_url", "aws_profile", "access_key_id", "secret_access_key_env"}
    ),
}
_SECRET_LOOKING = re.compile(r"pass(word)?$|secret(_access_key)?$|token$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ConnectionProfile:
    name: str
    kind: BrokerKind
    settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigurationError("A connection needs a name.")
        for key in self.settings:
            if _SECRET_LOOKING.search(key):
                raise ConfigurationError(
                    f"Connection {self.name!r}: {key!r} looks like a secret; "
                    "profiles never hold secrets.",
                    hint="Name an environment variable with password_env instead, "
                    "or enter it when connecting.",
                )
        unknown = set(self.settings) - KNOWN_SETTINGS[self.kind]
        if unknown:
            raise ConfigurationError(
                f"Connection {self.name!r}: unknown setting(s) {', '.join(sorted(unknown))} "
                f"for {self.kind.value}."
            )

    def get(self, key: str, default: str = "") -> str:
        return str(self.settings.get(key, default))

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind.value, "settings": dict(self.settings)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ConnectionProfile:
        try:
            kind = BrokerKind(str(data["kind"]))
            settings = data.get("settings") or {}
            if not isinstance(settings, Mapping):
                raise TypeError("settings must be an object")
            return cls(
                name=str(data["name"]),
                kind=kind,
                settings={str(k): str(v) for k, v in settings.items()},
            )
        except (KeyError, ValueError, TypeError) as exc:
            # Name the entry, never echo it: a hand-edited file may hold what it should not.
            raise ConfigurationError(
                f"Malformed connection entry {str(data.get('name', '?'))!r}: {exc}"
            ) from exc


def default_profiles_path() -> Path:
    override = os.environ.get("EVENTDESK_CONFIG_DIR")
    base = Path(override) if override else Path(platformdirs.user_config_dir("eventdesk"))
    return base / "connections.json"


def load_profiles(path: Path | None = None) -> list[ConnectionProfile]:
    path = path or default_profiles_path()
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"Cannot read {path}: {exc}",
            hint="Fix or remove the file; Eventdesk rewrites it on save.",
        ) from exc
    entries = data.get("connections") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigurationError(f"{path}: expected an object with a 'connections' list.")
    return [ConnectionProfile.from_json(entry) for entry in entries]


def save_profiles(profiles: Iterable[ConnectionProfile], path: Path | None = None) -> Path:
    path = path or default_profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"connections": [p.to_json() for p in profiles]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves half a file
    return path
