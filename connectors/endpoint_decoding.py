"""How an operator said an endpoint's bodies decode (format, schema file, registry subject),
kept per connection in the config folder, and applied to bodies by EndpointDecoder.

Without a setting an endpoint decodes automatically; registry schemas named by framed
bodies are fetched before decoding, so `EndpointDecoder.decode` never waits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .decoding import HINTS, Decoded, DecodedKind, decode, framed_schema_id
from .errors import ConfigurationError, EventdeskError
from .json_file import REWRITTEN_ON_SAVE, read_json_file, write_json_file
from .protobuf_decoding import ProtobufError, ProtobufSchema
from .schema_registry import RegistryClient, SchemaNotFound
from .schemas import Schema, SchemaError, SchemaKind, load_schema, protobuf_schema
from .user_dirs import config_dir

FILE_NAME = "endpoint-decodings.json"
_FORMAT = "eventdesk-endpoint-decodings"
SCHEMA_FILE_SUFFIXES = (".json", ".avsc", ".desc")


@dataclass(frozen=True)
class EndpointDecoding:
    decoding: str | None = None  # None = automatic, else one of decoding.HINTS
    schema_file: str | None = None  # .json (JSON Schema) / .avsc / .desc (descriptor set)
    registry_subject: str | None = None
    registry_version: int | None = None  # None = latest
    protobuf_message: str | None = None  # full name of the message type to read

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ConfigurationError(
                f"Endpoint decoding: {problem}", hint="Change the endpoint's decoding."
            )

    @property
    def is_automatic(self) -> bool:
        return self == EndpointDecoding()

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Any) -> EndpointDecoding:
        if not isinstance(data, dict):
            raise ConfigurationError("Endpoint decoding: expected an object.")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigurationError(f"Endpoint decoding: unknown {', '.join(sorted(unknown))}.")
        return cls(**data)


def _problem(setting: EndpointDecoding) -> str:
    if setting.decoding is not None and setting.decoding not in HINTS:
        return f"unknown decoding {setting.decoding!r}; expected one of {', '.join(HINTS)}."
    if setting.schema_file and setting.registry_subject:
        return "map a schema file or a registry subject, not both."
    if setting.schema_file and Path(setting.schema_file).suffix not in SCHEMA_FILE_SUFFIXES:
        return f"{setting.schema_file}: expected a {', '.join(SCHEMA_FILE_SUFFIXES)} file."
    if setting.registry_version is not None and not setting.registry_subject:
        return "a registry version needs a registry subject."
    if setting.registry_version is not None and (
        not isinstance(setting.registry_version, int) or setting.registry_version < 1
    ):
        return f"registry version {setting.registry_version!r} is not a version number."
    return ""


def decodings_path() -> Path:
    return config_dir() / FILE_NAME


def load_endpoint_decodings(connection: str) -> dict[str, EndpointDecoding]:
    """The settings of one connection's endpoints; {} when none was saved."""
    connections = _read_all()
    entries = connections.get(connection) or {}
    if not isinstance(entries, dict):
        raise _unreadable(f"connection {connection!r} is not an object")
    settings = {}
    for endpoint, data in entries.items():
        try:
            settings[endpoint] = EndpointDecoding.from_json(data)
        except (ConfigurationError, TypeError) as exc:
            raise _unreadable(f"{connection} / {endpoint}: {exc}") from exc
    return settings


def save_endpoint_decoding(
    connection: str, endpoint: str, setting: EndpointDecoding | None
) -> None:
    """Keeps `setting` for the endpoint; None (or an automatic setting) removes it."""
    connections = _read_all()
    entries = dict(connections.get(connection) or {})
    if setting is None or setting.is_automatic:
        entries.pop(endpoint, None)
    else:
        entries[endpoint] = setting.to_json()
    if entries:
        connections[connection] = entries
    else:
        connections.pop(connection, None)
    try:
        write_json_file(decodings_path(), {"format": _FORMAT, "connections": connections})
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot save the endpoint decodings to {decodings_path()}: {exc}",
            hint="Check that the config folder is writable.",
        ) from exc


def _read_all() -> dict[str, Any]:
    path = decodings_path()
    if not path.exists():
        return {}
    data = read_json_file(path, what="the endpoint decodings", hint=REWRITTEN_ON_SAVE)
    if not isinstance(data, dict) or not isinstance(data.get("connections"), dict):
        raise _unreadable("not an endpoint decodings file")
    return dict(data["connections"])


def _unreadable(why: str) -> ConfigurationError:
    return ConfigurationError(
        f"Cannot read the endpoint decodings ({decodings_path()}): {why}", hint=REWRITTEN_ON_SAVE
    )


async def endpoint_schema(
    setting: EndpointDecoding, registry: RegistryClient | None = None
) -> Schema | None:
    """The schema mapped to the endpoint, from its file or the registry; None if none is."""
    if setting.schema_file:
        try:
            return load_schema(setting.schema_file, protobuf_message=setting.protobuf_message)
        except SchemaError as exc:
            raise ConfigurationError(str(exc), hint=SchemaError.hint) from exc
    if not setting.registry_subject:
        return None
    if registry is None:
        raise ConfigurationError(
            f"Subject {setting.registry_subject!r} needs a Schema Registry.",
            hint="Set the connection's Schema Registry URL, or map a schema file instead.",
        )
    _, schema = await registry.subject_version(
        setting.registry_subject, setting.registry_version or "latest"
    )
    if setting.protobuf_message and schema.kind is SchemaKind.PROTOBUF:
        chosen = ProtobufSchema(schema.compiled.file, setting.protobuf_message)
        try:
            chosen.descriptor()
        except ProtobufError as exc:
            raise ConfigurationError(
                str(exc), hint="Pick a message type the schema defines."
            ) from exc
        schema = protobuf_schema(chosen, name=schema.name, document=schema.document)
    return schema


class EndpointDecoder:
    """Decodes one endpoint's bodies the way its setting says; `prepare` fetches first."""

    def __init__(
        self,
        setting: EndpointDecoding | None = None,
        *,
        schema: Schema | None = None,
        registry: RegistryClient | None = None,
    ) -> None:
        self.setting = setting or EndpointDecoding()
        self.schema = schema
        self._registry = registry
        self._by_id: dict[int, Schema] = {}
        self._failed: dict[int, EventdeskError] = {}

    @classmethod
    async def open(
        cls, setting: EndpointDecoding | None, registry: RegistryClient | None = None
    ) -> EndpointDecoder:
        """Resolves the mapped schema; raises EventdeskError if it cannot be had."""
        setting = setting or EndpointDecoding()
        return cls(setting, schema=await endpoint_schema(setting, registry), registry=registry)

    async def prepare(self, bodies: Iterable[bytes]) -> dict[int, EventdeskError]:
        """Fetches the registry schemas the bodies name; returns the ids that failed, and why.

        Never raises for a schema: a body whose schema could not be had decodes as INVALID
        with the reason.
        """
        ids = {i for i in map(framed_schema_id, bodies) if i is not None} - set(self._by_id)
        if not ids or self._registry is None:
            return {}
        found, failed = await self._registry.schemas_by_ids(ids)
        self._by_id.update(found)
        for schema_id in found:
            self._failed.pop(schema_id, None)
        self._failed.update(failed)
        return failed

    def decode(self, body: bytes) -> Decoded:
        decoded = decode(
            body, hint=self.setting.decoding, schemas=self._by_id, default_schema=self.schema
        )
        schema_id = framed_schema_id(body)
        failure = self._failed.get(schema_id) if schema_id is not None else None
        if failure is None or decoded.kind not in (DecodedKind.INVALID, DecodedKind.BINARY):
            return decoded
        if isinstance(failure, SchemaNotFound) and self.setting.decoding is None:
            # Plain binary often starts with a zero byte; the registry just said it is not
            # framing, so do not call the body broken.
            note = f"Starts like Confluent framing (schema id {schema_id}), but {failure}"
            return Decoded(DecodedKind.BINARY, body, error=note)
        return Decoded(
            DecodedKind.INVALID,
            body,
            schema_id=schema_id,
            error=f"Schema id {schema_id} could not be fetched: {failure}",
            tried=decoded.tried,
        )
