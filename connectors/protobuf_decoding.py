"""Protobuf message types from descriptor sets, and reading bodies with them.

A `.desc` file is what `protoc --include_imports --descriptor_set_out` writes; a Schema
Registry hands out the same FileDescriptorProto bytes for `?format=serialized`. Confluent's
wire format puts message indexes (zigzag varints) between the schema id and the message:
they say which message of the schema's file the body holds.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

# A message index path deeper than this is not a real schema; stop reading garbage early.
_MAX_INDEXES = 64


class ProtobufError(Exception):
    """A descriptor or a message type that cannot be used; the text says which and why."""


@dataclass(frozen=True, slots=True)
class ProtobufSchema:
    """One file's message types, and the one a body holds unless its framing names another."""

    file: FileDescriptor
    # Full name ("acme.orders.Order"); None means the file's first message.
    message: str | None = None

    def message_names(self) -> list[str]:
        """Every message type of the file, nested ones too: what an operator picks from."""
        return [d.full_name for d in _walk(self.file.message_types_by_name.values())]

    def descriptor(self, indexes: Iterable[int] = ()) -> Descriptor:
        """The message type for a Confluent index path; the chosen message for ()."""
        indexes = list(indexes)
        if indexes:
            return _by_indexes(self.file, indexes)
        if self.message is None:
            return _by_indexes(self.file, [0])
        try:
            return self.file.pool.FindMessageTypeByName(self.message)
        except KeyError:
            raise ProtobufError(f"No message type {self.message!r} in {self.file.name}.") from None


def load_descriptor_set(path: str | Path, *, message: str | None = None) -> ProtobufSchema:
    """Reads a FileDescriptorSet file; the schema's file is the one defining `message`, else
    the last file (protoc writes the named .proto after its imports)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProtobufError(f"{path.name}: cannot read: {exc}") from exc
    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.ParseFromString(data)
    except DecodeError as exc:
        raise ProtobufError(f"{path.name}: not a protobuf descriptor set: {exc}") from exc
    if not files.file:
        raise ProtobufError(f"{path.name}: not a protobuf descriptor set: it holds no files.")
    return build_schema(list(files.file), message=message, name=path.name)


def build_schema(
    files: list[descriptor_pb2.FileDescriptorProto], *, message: str | None = None, name: str = ""
) -> ProtobufSchema:
    """A schema over `files` (imports first, the schema's own file last), in a fresh pool."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()
    try:
        for proto in files:
            _add_well_known_imports(pool, proto, added)
            pool.Add(proto)
            added.add(proto.name)
        last = pool.FindFileByName(files[-1].name)
    except (TypeError, KeyError, ValueError) as exc:
        raise ProtobufError(f"{name or files[-1].name}: unusable descriptor: {exc}") from exc
    schema = ProtobufSchema(last, message)
    if message is not None:
        descriptor = schema.descriptor()
        schema = ProtobufSchema(descriptor.file, message)
    if not schema.message_names():
        raise ProtobufError(f"{name or last.name}: defines no message type.")
    return schema


def parse_file_descriptor(data: bytes, *, name: str) -> descriptor_pb2.FileDescriptorProto:
    """One serialized FileDescriptorProto, as a registry's `format=serialized` returns it."""
    proto = descriptor_pb2.FileDescriptorProto()
    try:
        proto.ParseFromString(data)
    except DecodeError as exc:
        raise ProtobufError(f"{name}: not a protobuf file descriptor: {exc}") from exc
    if not proto.name:
        proto.name = name
    return proto


def read_message_indexes(data: bytes, start: int) -> tuple[list[int], int]:
    """Confluent's message index path at `start`: (indexes, where the message begins).

    A single 0 byte is the common case: the first message, [0].
    """
    count, at = _read_zigzag(data, start)
    if count == 0:
        return [0], at
    if count < 0 or count > _MAX_INDEXES:
        raise ProtobufError(f"Not Confluent Protobuf: message index count {count}.")
    indexes = []
    for _ in range(count):
        index, at = _read_zigzag(data, at)
        indexes.append(index)
    return indexes, at


def write_message_indexes(indexes: list[int]) -> bytes:
    """The framing a producer writes for `indexes`; [0] is the single byte 0."""
    if indexes == [0]:
        return b"\x00"
    return b"".join(_zigzag(n) for n in [len(indexes), *indexes])


def decode_message(payload: bytes, descriptor: Descriptor) -> dict[str, Any]:
    """The message as JSON-shaped data (proto3 JSON names); ProtobufError if it will not parse."""
    message = message_factory.GetMessageClass(descriptor)()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise ProtobufError(f"Not a {descriptor.full_name}: {exc}") from exc
    return message_to_dict(message)


def check_document(value: Any, descriptor: Descriptor) -> list[tuple[str, str]]:
    """(path, message) problems that stop `value` from being a `descriptor` message in JSON."""
    message = message_factory.GetMessageClass(descriptor)()
    try:
        json_format.ParseDict(value, message)
    except json_format.ParseError as exc:
        return [("$", str(exc))]
    return []


def message_to_dict(message: Message) -> dict[str, Any]:
    # Fields at their default are shown: an operator asks "why is quantity 0?", not "where is it?"
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def _add_well_known_imports(
    pool: descriptor_pool.DescriptorPool, proto: descriptor_pb2.FileDescriptorProto, added: set[str]
) -> None:
    # Registries leave Google's well-known types (timestamp.proto, …) out of the references:
    # every protobuf runtime ships them.
    for dependency in proto.dependency:
        if dependency in added or not dependency.startswith("google/protobuf/"):
            continue
        try:
            known = _well_known_file(dependency)
        except KeyError:
            continue
        _add_well_known_imports(pool, known, added)
        pool.Add(known)
        added.add(dependency)


def _well_known_file(name: str) -> descriptor_pb2.FileDescriptorProto:
    module = name.removeprefix("google/protobuf/").removesuffix(".proto") + "_pb2"
    try:
        importlib.import_module(f"google.protobuf.{module}")
    except ImportError:
        raise KeyError(name) from None
    proto = descriptor_pb2.FileDescriptorProto()
    descriptor_pool.Default().FindFileByName(name).CopyToProto(proto)
    return proto


def _by_indexes(file: FileDescriptor, indexes: list[int]) -> Descriptor:
    choices = list(file.message_types_by_name.values())
    descriptor = None
    for index in indexes:
        if not 0 <= index < len(choices):
            raise ProtobufError(f"No message at index path {indexes} in {file.name}.")
        descriptor = choices[index]
        choices = list(descriptor.nested_types)
    assert descriptor is not None
    return descriptor


def _walk(descriptors: Iterable[Descriptor]) -> Iterable[Descriptor]:
    for descriptor in descriptors:
        yield descriptor
        yield from _walk(descriptor.nested_types)


def _read_zigzag(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise ProtobufError("Truncated Protobuf framing: the message indexes end early.")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 63:
            raise ProtobufError("Not Confluent Protobuf: a message index is too long.")
    return (value >> 1) ^ -(value & 1), at


def _zigzag(number: int) -> bytes:
    value = (number << 1) ^ (number >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
