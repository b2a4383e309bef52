"""Works out what a message body is (JSON, text, Avro, Protobuf, or bytes) and decodes it.

Confluent-framed bodies (magic byte 0, schema id) are read with the schema the id names;
fetching those schemas is async and happens before (schema_registry.py), so decoding stays
synchronous. `decode` never raises on bad bytes: a body that will not decode comes back with
its raw bytes and a one-line reason, because a dead letter is often on the DLQ precisely for
being malformed.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fastavro

from .protobuf_decoding import ProtobufError, ProtobufSchema, decode_message, read_message_indexes

if TYPE_CHECKING:
    from .schemas import Schema

# json.loads is linear, but a desktop view decodes on the UI thread: past this size the
# body is shown as text (bounded by the renderer) instead of parsed.
PARSE_LIMIT = 2 * 1024 * 1024
# Confluent wire format: magic byte 0, then the schema id as a big-endian uint32.
CONFLUENT_MAGIC = 0
_CONFLUENT_HEADER = struct.Struct(">bI")
_BINARY_SAMPLE = 4096
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")


class DecodedKind(enum.StrEnum):
    EMPTY = "empty"
    JSON = "json"
    TEXT = "text"
    AVRO = "avro"
    PROTOBUF = "protobuf"
    BINARY = "binary"
    # The format was asked for (or unmistakable) but the bytes do not hold it.
    INVALID = "invalid"


# What an operator may force per endpoint instead of the automatic choice.
HINTS = ("json", "text", "avro", "protobuf", "binary")


@dataclass(frozen=True, slots=True)
class Decoded:
    kind: DecodedKind
    raw: bytes
    # The parsed JSON value, the Avro record, the Protobuf message as JSON-shaped data, or
    # the text; None for bytes.
    value: Any = None
    schema_id: int | None = None
    # For Protobuf: the message type's full name ("acme.orders.Order").
    message_type: str = ""
    # Why the body is not what it looked like (or was said) to be; "" when it decoded.
    error: str = ""
    # For INVALID: what decoding was attempted ("JSON", "Avro").
    tried: str = ""

    @property
    def title(self) -> str:
        """The decoding as an operator reads it: "JSON", "Avro (schema 7)", "Text", "Binary"."""
        if self.kind is DecodedKind.AVRO:
            return f"Avro (schema {self.schema_id})"
        if self.kind is DecodedKind.PROTOBUF:
            where = f"schema {self.schema_id}, " if self.schema_id is not None else ""
            return f"Protobuf ({where}{self.message_type})"
        if self.kind is DecodedKind.JSON and self.schema_id is not None:
            return f"JSON (schema {self.schema_id})"
        if self.kind is DecodedKind.INVALID:
            what = self.tried or "body"
            if self.schema_id is not None:
                what += f" (schema {self.schema_id})"
            return f"Invalid {what}"
        return _TITLES[self.kind]

    @property
    def is_structured(self) -> bool:
        """Whether `value` is a document a schema can be checked against."""
        return self.kind in (DecodedKind.JSON, DecodedKind.AVRO, DecodedKind.PROTOBUF)


_TITLES = {
    DecodedKind.EMPTY: "Empty",
    DecodedKind.JSON: "JSON",
    DecodedKind.TEXT: "Text",
    DecodedKind.BINARY: "Binary",
}


def decode(
    body: bytes,
    *,
    hint: str | None = None,
    schemas: Mapping[int, Schema] | None = None,
    default_schema: Schema | None = None,
    avro_schemas: Mapping[int, Any] | None = None,
    default_avro_schema: Any = None,
    parse_limit: int = PARSE_LIMIT,
) -> Decoded:
    """Decodes `body`, automatically unless `hint` (one of HINTS) says which format it is.

    `schemas` maps Confluent schema ids to schemas of any kind (what a registry returned);
    `default_schema` is the one schema an operator mapped to the endpoint, used for an id
    `schemas` lacks and for unframed Protobuf. `avro_schemas` and `default_avro_schema` take
    parsed Avro schemas (fastavro.parse_schema) directly.
    """
    if hint is not None and hint not in HINTS:
        raise ValueError(f"unknown decoding {hint!r}; expected one of {', '.join(HINTS)}")
    if not body:
        return Decoded(DecodedKind.EMPTY, body)
    if hint == "binary":
        return Decoded(DecodedKind.BINARY, body)
    lookup = _Lookup(schemas or {}, default_schema, avro_schemas or {}, default_avro_schema)
    if hint == "protobuf" and not _is_confluent_framed(body):
        return _decode_plain_protobuf(body, lookup.default_protobuf())
    if hint in ("avro", "protobuf") or (hint in (None, "json") and _is_confluent_framed(body)):
        return _decode_framed(body, lookup, hint=hint, parse_limit=parse_limit)
    if hint == "json":
        return _decode_json(body, parse_limit, forced=True)
    text, text_error = _utf8(body)
    if text is None:
        if hint == "text":
            return Decoded(DecodedKind.INVALID, body, error=text_error, tried="UTF-8 text")
        return Decoded(DecodedKind.BINARY, body, error="")
    if hint is None and _looks_binary(text):
        return Decoded(DecodedKind.BINARY, body)
    if hint is None and text.lstrip()[:1] in ("{", "["):
        decoded = _decode_json(body, parse_limit, forced=False)
        if decoded.kind is DecodedKind.JSON:
            return decoded
        # Looked like JSON, is not: still readable as text, with the reason beside it.
        return Decoded(DecodedKind.TEXT, body, value=text, error=decoded.error)
    return Decoded(DecodedKind.TEXT, body, value=text)


@dataclass(frozen=True, slots=True)
class _Lookup:
    """Which schema reads a schema id: the registry's, else the endpoint's mapped one."""

    schemas: Mapping[int, Schema]
    default: Schema | None
    avro: Mapping[int, Any]
    default_avro: Any

    def find(self, schema_id: int) -> tuple[str, Any] | None:
        """(kind, compiled) for the id: kind is "Avro", "JSON Schema" or "Protobuf"."""
        schema = self.schemas.get(schema_id)
        if schema is not None:
            return str(schema.kind), schema.compiled
        if schema_id in self.avro:
            return "Avro", self.avro[schema_id]
        if self.default is not None and str(self.default.kind) in ("Avro", "Protobuf"):
            return str(self.default.kind), self.default.compiled
        if self.default_avro is not None:
            return "Avro", self.default_avro
        return None

    def any(self) -> bool:
        return bool(self.schemas or self.avro)

    def default_protobuf(self) -> ProtobufSchema | None:
        if self.default is not None and str(self.default.kind) == "Protobuf":
            return self.default.compiled
        return None


def _decode_framed(body: bytes, lookup: _Lookup, *, hint: str | None, parse_limit: int) -> Decoded:
    tried = {"avro": "Avro", "protobuf": "Protobuf", "json": "JSON"}.get(hint or "", "")
    if not _is_confluent_framed(body):
        return Decoded(
            DecodedKind.INVALID,
            body,
            error=f"Not Confluent {tried}: expected magic byte 0 and a 4-byte schema id.",
            tried=tried,
        )
    _, schema_id = _CONFLUENT_HEADER.unpack_from(body)
    found = lookup.find(schema_id)
    if found is None and hint == "json":
        return _decode_framed_json(body, schema_id, parse_limit)
    if found is None:
        if hint is None and not lookup.any():
            # A leading zero byte is common in plain binary; without any schema to try,
            # calling it Avro would only be a guess.
            return Decoded(DecodedKind.BINARY, body)
        if not tried and not lookup.schemas:
            tried = "Avro"
        return Decoded(
            DecodedKind.INVALID,
            body,
            schema_id=schema_id,
            error=f"No {tried + ' ' if tried else ''}schema for schema id {schema_id}.",
            tried=tried,
        )
    kind, compiled = found
    if kind == "Protobuf":
        return _decode_framed_protobuf(body, schema_id, compiled)
    if kind == "Avro":
        return _decode_avro(body, schema_id, compiled)
    return _decode_framed_json(body, schema_id, parse_limit)


def _decode_framed_json(body: bytes, schema_id: int, parse_limit: int) -> Decoded:
    decoded = _decode_json(body[_CONFLUENT_HEADER.size :], parse_limit, forced=True)
    return dataclasses.replace(decoded, raw=body, schema_id=schema_id)


def _decode_framed_protobuf(body: bytes, schema_id: int, schema: ProtobufSchema) -> Decoded:
    try:
        indexes, start = read_message_indexes(body, _CONFLUENT_HEADER.size)
        # An operator's explicit message type wins over the writer's index path.
        descriptor = schema.descriptor(() if schema.message else indexes)
        value = decode_message(body[start:], descriptor)
    except ProtobufError as exc:
        return Decoded(
            DecodedKind.INVALID, body, schema_id=schema_id, error=str(exc), tried="Protobuf"
        )
    return Decoded(
        DecodedKind.PROTOBUF,
        body,
        value=value,
        schema_id=schema_id,
        message_type=descriptor.full_name,
    )


def _decode_plain_protobuf(body: bytes, schema: ProtobufSchema | None) -> Decoded:
    if schema is None:
        return Decoded(
            DecodedKind.INVALID,
            body,
            error="No Protobuf message type is mapped to this endpoint.",
            tried="Protobuf",
        )
    try:
        descriptor = schema.descriptor()
        value = decode_message(body, descriptor)
    except ProtobufError as exc:
        return Decoded(DecodedKind.INVALID, body, error=str(exc), tried="Protobuf")
    return Decoded(DecodedKind.PROTOBUF, body, value=value, message_type=descriptor.full_name)


def _decode_json(body: bytes, parse_limit: int, *, forced: bool) -> Decoded:
    if len(body) > parse_limit:
        return Decoded(
            DecodedKind.INVALID if forced else DecodedKind.TEXT,
            body,
            error=(
                f"Too large to parse as JSON here ({_size(len(body))}; "
                f"the limit is {_size(parse_limit)})."
            ),
            tried="JSON",
        )
    try:
        value = json.loads(body)
    except RecursionError:
        # CPython's parser recurses per level; thousands of levels exhaust the stack.
        return Decoded(
            DecodedKind.INVALID,
            body,
            error="Not usable as JSON: nesting too deep.",
            tried="JSON",
        )
    except UnicodeDecodeError as exc:
        return Decoded(DecodedKind.INVALID, body, error=f"Not UTF-8: {exc.reason}", tried="JSON")
    except ValueError as exc:
        return Decoded(DecodedKind.INVALID, body, error=f"Not valid JSON: {exc}", tried="JSON")
    return Decoded(DecodedKind.JSON, body, value=value)


def _decode_avro(body: bytes, schema_id: int, schema: Any) -> Decoded:
    payload = io.BytesIO(body[_CONFLUENT_HEADER.size :])
    try:
        record = fastavro.schemaless_reader(payload, schema, None)
    except EOFError:
        return Decoded(
            DecodedKind.INVALID,
            body,
            schema_id=schema_id,
            error=f"Truncated Avro: the record ends early ({len(body)} bytes).",
            tried="Avro",
        )
    except Exception as exc:  # fastavro raises a wide, undocumented range on bad bytes
        return Decoded(
            DecodedKind.INVALID,
            body,
            schema_id=schema_id,
            error=f"Not readable with schema {schema_id}: {type(exc).__name__}: {exc}",
            tried="Avro",
        )
    left = len(body) - _CONFLUENT_HEADER.size - payload.tell()
    if left:
        return Decoded(
            DecodedKind.INVALID,
            body,
            value=record,
            schema_id=schema_id,
            error=f"{left} bytes left after the record: probably not written with this schema.",
            tried="Avro",
        )
    return Decoded(DecodedKind.AVRO, body, value=record, schema_id=schema_id)


def _is_confluent_framed(body: bytes) -> bool:
    return len(body) > _CONFLUENT_HEADER.size and body[0] == CONFLUENT_MAGIC


def _utf8(body: bytes) -> tuple[str | None, str]:
    try:
        return body.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        return None, f"Not UTF-8: {exc.reason} at byte {exc.start}."


def _looks_binary(text: str) -> bool:
    sample = text[:_BINARY_SAMPLE]
    controls = sum(1 for ch in sample if ch < " " and ch not in _ALLOWED_CONTROLS)
    return "\x00" in sample or controls > len(sample) // 20


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


def framed_schema_id(body: bytes) -> int | None:
    """The schema id a Confluent-framed body names, for fetching before decoding; else None."""
    if not _is_confluent_framed(body):
        return None
    return _CONFLUENT_HEADER.unpack_from(body)[1]
