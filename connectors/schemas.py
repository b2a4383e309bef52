"""Schemas mapped to endpoints, and checking decoded messages against them.

JSON Schema (draft 2020-12 unless `$schema` names another) through jsonschema, Avro through
fastavro and Protobuf through Google's protobuf: the reference implementations their
ecosystems test against, so "valid" here means what it means to the producer's own tooling.
"""

from __future__ import annotations

import enum
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import jsonschema
import referencing.exceptions
from fastavro.validation import ValidationError as AvroValidationError
from fastavro.validation import validate as avro_validate
from google.protobuf.descriptor import Descriptor

from .decoding import Decoded
from .protobuf_decoding import ProtobufError, ProtobufSchema, check_document, load_descriptor_set

# Errors a Validation keeps: enough to fix a message, few enough to read.
MAX_ERRORS = 5
# Errors collected before sorting; a document with thousands of errors is not walked to the end.
_COLLECT_LIMIT = 100
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "resources" / "schemas"


class SchemaError(Exception):
    """A schema file that cannot be used: unreadable, not JSON, or not a valid schema."""

    hint = "Pick another schema file, or fix this one."


class SchemaKind(enum.StrEnum):
    JSON_SCHEMA = "JSON Schema"
    AVRO = "Avro"
    PROTOBUF = "Protobuf"


@dataclass(frozen=True, slots=True)
class Schema:
    name: str  # what the operator recognises, usually the file name
    kind: SchemaKind
    document: Any  # the schema as written
    # A jsonschema validator, the schema as fastavro.parse_schema returns it, or a
    # protobuf_decoding.ProtobufSchema.
    compiled: Any


@dataclass(frozen=True, slots=True)
class Validation:
    valid: bool
    schema_name: str
    # (path, message), first errors first: "$.lines[0].quantity", "-1 is less than ...".
    errors: tuple[tuple[str, str], ...] = ()
    # How many errors were found in all (at least len(errors); capped while collecting).
    error_count: int = 0


def load_schema(path: str | Path, *, protobuf_message: str | None = None) -> Schema:
    """Reads a `.avsc` (Avro), `.desc` (Protobuf descriptor set) or `.json` (JSON Schema) file;
    raises SchemaError if unusable. `protobuf_message` picks the type in a descriptor set."""
    path = Path(path)
    if path.suffix in (".desc", ".pb", ".protoset"):
        try:
            compiled = load_descriptor_set(path, message=protobuf_message)
        except ProtobufError as exc:
            raise SchemaError(str(exc)) from exc
        return Schema(path.name, SchemaKind.PROTOBUF, str(path), compiled)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path.name}: cannot read: {exc}") from exc
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SchemaError(f"{path.name}: not JSON: {exc}") from exc
    kind = SchemaKind.AVRO if path.suffix == ".avsc" else SchemaKind.JSON_SCHEMA
    return parse_schema(document, name=path.name, kind=kind)


def parse_schema(document: Any, *, name: str, kind: SchemaKind) -> Schema:
    if kind is SchemaKind.AVRO:
        try:
            compiled = fastavro.parse_schema(document)
        except Exception as exc:  # fastavro raises several unrelated types for bad schemas
            raise SchemaError(f"{name}: not a valid Avro schema: {exc}") from exc
        return Schema(name, kind, document, compiled)
    validator = jsonschema.validators.validator_for(
        document, default=jsonschema.Draft202012Validator
    )
    try:
        validator.check_schema(document)
    except jsonschema.SchemaError as exc:
        where = exc.json_path if exc.path else "$"
        raise SchemaError(f"{name}: not a valid JSON Schema at {where}: {exc.message}") from exc
    except RecursionError as exc:
        raise SchemaError(f"{name}: nested too deeply to check") from exc
    return Schema(name, kind, document, validator(document))


def protobuf_schema(compiled: ProtobufSchema, *, name: str, document: Any = None) -> Schema:
    """A Schema around message types already built (from a registry or a descriptor set)."""
    return Schema(name, SchemaKind.PROTOBUF, document, compiled)


def validate(decoded: Decoded, schema: Schema, *, max_errors: int = MAX_ERRORS) -> Validation:
    """Checks a decoded body against a schema. Raises SchemaError only for a broken schema."""
    if not decoded.is_structured:
        reason = decoded.error or f"the body is {decoded.title.lower()}, not a document"
        return Validation(False, schema.name, (("$", f"Cannot validate: {reason}"),), 1)
    try:
        found = list(itertools.islice(_errors(decoded, schema), _COLLECT_LIMIT))
    except RecursionError:
        return Validation(False, schema.name, (("$", "Cannot validate: nesting too deep"),), 1)
    except referencing.exceptions.Unresolvable as exc:
        raise SchemaError(f"{schema.name}: unresolvable reference {exc}") from exc
    found.sort(key=lambda error: _path_key(error[0]))
    return Validation(not found, schema.name, tuple(found[:max_errors]), len(found))


def _errors(decoded: Decoded, schema: Schema) -> Iterator[tuple[str, str]]:
    value = decoded.value
    if schema.kind is SchemaKind.JSON_SCHEMA:
        for error in schema.compiled.iter_errors(value):
            yield error.json_path, error.message
        return
    if schema.kind is SchemaKind.PROTOBUF:
        try:
            yield from check_document(value, _protobuf_type(decoded, schema.compiled))
        except ProtobufError as exc:
            raise SchemaError(f"{schema.name}: {exc}") from exc
        return
    try:
        avro_validate(value, schema.compiled, raise_errors=True)
    except AvroValidationError as exc:
        for data in exc.errors:
            got = "missing (or null)" if data.datum is None else f"{_short(data.datum)} is"
            yield _avro_path(data.field), f"{got}, expected {_avro_type(data.schema)}"


def _protobuf_type(decoded: Decoded, compiled: ProtobufSchema) -> Descriptor:
    # A body framed for another message of the same schema is checked as that message.
    if decoded.message_type:
        try:
            return compiled.file.pool.FindMessageTypeByName(decoded.message_type)
        except KeyError:
            pass
    return compiled.descriptor()


def _path_key(path: str) -> tuple[int, str]:
    # Shallow problems first: a missing required field explains its missing children.
    return (path.count(".") + path.count("["), path)


def _avro_path(field: str | None) -> str:
    # fastavro names fields by their record's full name: "com.acme.orders.Order.customerId".
    if not field:
        return "$"
    return "$." + field.rsplit(".", 1)[-1]


def _avro_type(schema: Any) -> str:
    if isinstance(schema, dict):
        return schema.get("name") or schema.get("type") or "the schema's type"
    if isinstance(schema, list):
        return " or ".join(_avro_type(s) for s in schema)
    return f"a {schema}" if schema != "null" else "null"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


class SchemaRegistry:
    """Which schema applies to which endpoint, plus writer schemas by Confluent id.

    In memory: endpoint_decoding.py keeps the operator's choices on disk, and
    schema_registry.RegistryClient fetches the schemas by id that bodies name.
    """

    def __init__(self) -> None:
        self._by_endpoint: dict[str, Schema] = {}
        self._by_id: dict[int, Schema] = {}

    def map_file(self, endpoint: str, path: str | Path) -> Schema:
        """Maps a schema file to an endpoint; raises SchemaError and keeps the old mapping."""
        schema = load_schema(path)
        self._by_endpoint[endpoint] = schema
        return schema

    def map_schema(self, endpoint: str, schema: Schema) -> None:
        self._by_endpoint[endpoint] = schema

    def unmap(self, endpoint: str) -> None:
        self._by_endpoint.pop(endpoint, None)

    def schema_for(self, endpoint: str) -> Schema | None:
        return self._by_endpoint.get(endpoint)

    def add_avro(self, schema_id: int, schema: Schema) -> None:
        if schema.kind is not SchemaKind.AVRO:
            raise SchemaError(f"{schema.name}: schema id {schema_id} needs an Avro schema")
        self._by_id[schema_id] = schema

    def add_schema(self, schema_id: int, schema: Schema) -> None:
        """A registry schema of any kind, for bodies framed with its id."""
        self._by_id[schema_id] = schema

    def schemas_by_id(self) -> dict[int, Schema]:
        """Every schema by Confluent id, as `decoding.decode(schemas=...)` takes them."""
        return dict(self._by_id)


def sample_schema_path(name: str) -> Path:
    """A schema shipped in resources/schemas, e.g. "order.schema.json"."""
    return SCHEMAS_DIR / name
