"""Works out what a message body is (JSON, text, Confluent-framed Avro, or bytes) and decodes it.

`decode` never raises: a body that will not decode comes back with its raw bytes and a
one-line reason, because a dead letter is often on the DLQ precisely for being malformed.
"""

from __future__ import annotations

import enum
import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastavro

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
    BINARY = "binary"
    # The format was asked for (or unmistakable) but the bytes do not hold it.
    INVALID = "invalid"


# What an operator may force per endpoint instead of the automatic choice.
HINTS = ("json", "text", "avro", "binary")


@dataclass(frozen=True, slots=True)
class Decoded:
    kind: DecodedKind
    raw: bytes
    # The parsed JSON value, the Avro record, or the text; None for bytes.
    value: Any = None
    schema_id: int | None = None
    # Why the body is not what it looked like (or was said) to be; "" when it decoded.
    error: str = ""
    # For INVALID: what decoding was attempted ("JSON", "Avro").
    tried: str = ""

    @property
    def title(self) -> str:
        """The decoding as an operator reads it: "JSON", "Avro (schema 7)", "Text", "Binary"."""
        if self.kind is DecodedKind.AVRO:
            return f"Avro (schema {self.schema_id})"
        if self.kind is DecodedKind.INVALID:
            what = self.tried or "body"
            if self.schema_id is not None:
                what += f" (schema {self.schema_id})"
            return f"Invalid {what}"
        return _TITLES[self.kind]

    @property
    def is_structured(self) -> bool:
        """Whether `value` is a document a schema can be checked against."""
        return self.kind in (DecodedKind.JSON, DecodedKind.AVRO)


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
    avro_schemas: Mapping[int, Any] | None = None,
    default_avro_schema: Any = None,
    parse_limit: int = PARSE_LIMIT,
) -> Decoded:
    """Decodes `body`, automatically unless `hint` (one of HINTS) says which format it is.

    `avro_schemas` maps Confluent schema ids to parsed schemas (fastavro.parse_schema);
    `default_avro_schema` is used for an id that is not in it, e.g. the one .avsc file
    an operator mapped to the endpoint.
    """
    if hint is not None and hint not in HINTS:
        raise ValueError(f"unknown decoding {hint!r}; expected one of {', '.join(HINTS)}")
    if not body:
        return Decoded(DecodedKind.EMPTY, body)
    if hint == "binary":
        return Decoded(DecodedKind.BINARY, body)
    if hint == "avro" or (hint is None and _is_confluent_framed(body)):
        return _decode_avro(body, avro_schemas or {}, default_avro_schema, forced=hint == "avro")
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


def _decode_avro(body: bytes, schemas: Mapping[int, Any], default: Any, *, forced: bool) -> Decoded:
    if not _is_confluent_framed(body):
        return Decoded(
            DecodedKind.INVALID,
            body,
            error="Not Confluent Avro: expected magic byte 0 and a 4-byte schema id.",
            tried="Avro",
        )
    _, schema_id = _CONFLUENT_HEADER.unpack_from(body)
    schema = schemas.get(schema_id, default)
    if schema is None:
        if not forced and not schemas:
            # A leading zero byte is common in plain binary; without any Avro schema to
            # try, calling it Avro would only be a guess.
            return Decoded(DecodedKind.BINARY, body)
        return Decoded(
            DecodedKind.INVALID,
            body,
            schema_id=schema_id,
            error=f"No Avro schema for schema id {schema_id}.",
            tried="Avro",
        )
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
