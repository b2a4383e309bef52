"""One transformation applied to many JSON dead letters: a JSON Patch, checked per message.

Simple set / rename / remove-field operations are JSON Patch operations too, so there is
one way to apply them. Each result is validated against the endpoint's schema; a message
whose patch fails or whose result is invalid is reported and kept out of the replay.
Fixed bodies are re-serialized JSON: compact if the original was one line, else indented.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer

from .decoding import Decoded, DecodedKind, decode
from .errors import EventdeskError
from .model import Message
from .replay import MessageEdit
from .schemas import Schema, SchemaError, validate

OPERATIONS = ("set", "rename", "remove")
# The member each RFC 6902 operation needs besides "op" and "path".
_MEMBERS = {"add": "value", "replace": "value", "test": "value", "move": "from", "copy": "from"}


class PatchError(EventdeskError):
    """The transformation itself is unusable: not JSON, not a JSON Patch, a bad field path."""

    hint = (
        'A JSON Patch is a list like [{"op": "replace", "path": "/total", "value": "10.00"}] '
        "(RFC 6902); field paths are dotted (customer.id) or JSON Pointers (/customer/id)."
    )


@dataclass(frozen=True, slots=True)
class FixResult:
    """One message after the transformation: its new body, or why it has none."""

    message: Message
    body: bytes | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.body is not None


@dataclass(frozen=True, slots=True)
class BulkFix:
    results: tuple[FixResult, ...]

    @property
    def fixed(self) -> list[FixResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[FixResult]:
        return [r for r in self.results if not r.ok]

    def edits(self) -> dict[str, MessageEdit]:
        """What the replay sends instead, for the fixed messages only."""
        return {r.message.id: MessageEdit(r.body) for r in self.fixed if r.body is not None}


def parse_patch(text: str) -> jsonpatch.JsonPatch:
    """A JSON Patch from its text; raises PatchError saying what is wrong with it."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PatchError(f"The patch is not JSON: {exc}") from exc
    return patch_from_operations(document)


def patch_from_operations(operations: Any) -> jsonpatch.JsonPatch:
    if not isinstance(operations, list) or not operations:
        raise PatchError("A JSON Patch is a non-empty list of operations.")
    for number, op in enumerate(operations, 1):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f'Operation {number} needs an "op" and a "path".')
        # jsonpatch checks these only when applying: reported here once, not per message.
        needed = _MEMBERS.get(op["op"])
        if needed and needed not in op:
            raise PatchError(f'Operation {number} ({op["op"]}) needs a "{needed}".')
    try:
        return jsonpatch.JsonPatch(operations)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(f"Not a usable JSON Patch: {exc}") from exc


def field_pointer(path: str) -> str:
    """A field path as a JSON Pointer: "customer.id" and "/customer/id" both give the latter."""
    path = path.strip()
    if not path:
        raise PatchError("A field path is needed.")
    if path.startswith("/"):
        try:
            jsonpointer.JsonPointer(path)
        except jsonpointer.JsonPointerException as exc:
            raise PatchError(f"Not a JSON Pointer: {path}: {exc}") from exc
        return path
    parts = path.removeprefix("$.").split(".")
    if any(not part for part in parts):
        raise PatchError(f"Empty field name in {path!r}.")
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def field_value(text: str) -> Any:
    """A value typed for "set": JSON if it reads as JSON (42, true, "x", {...}), else text."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def operation(kind: str, path: str, argument: str = "") -> dict[str, Any]:
    """One simple operation as a JSON Patch operation.

    set: the field gets `argument` (parsed by field_value), created if missing;
    rename: the field moves to the sibling named `argument`; remove: the field goes.
    """
    pointer = field_pointer(path)
    if kind == "set":
        return {"op": "add", "path": pointer, "value": field_value(argument)}
    if kind == "rename":
        name = argument.strip()
        if not name or "." in name or "/" in name:
            raise PatchError(f"Rename needs a plain new field name, not {argument!r}.")
        parent = pointer.rsplit("/", 1)[0]
        new = f"{parent}/{name.replace('~', '~0')}"
        return {"op": "move", "from": pointer, "path": new}
    if kind == "remove":
        return {"op": "remove", "path": pointer}
    raise PatchError(f"Unknown operation {kind!r}; expected one of {', '.join(OPERATIONS)}.")


def fix_message(
    message: Message, patch: jsonpatch.JsonPatch, schema: Schema | None = None
) -> FixResult:
    """Applies the patch to one message and validates the result; never raises for the message."""
    decoded = decode(message.body)
    if decoded.kind is not DecodedKind.JSON:
        reason = decoded.error or f"the body is {decoded.title.lower()}"
        return FixResult(message, None, f"not JSON: {reason}")
    compact = "\n" not in message.body.decode("utf-8").strip()
    try:
        value = patch.apply(decoded.value)
        body = _serialized(value, compact=compact)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        # A failed "test" operation lands here too: a patch can pick the messages it fixes.
        return FixResult(message, None, f"patch failed: {exc}")
    except RecursionError:
        return FixResult(message, None, "nested too deeply to patch")
    if schema is not None:
        problem = _schema_problem(body, value, schema)
        if problem:
            return FixResult(message, None, problem)
    return FixResult(message, body)


def fix_all(
    messages: Sequence[Message], patch: jsonpatch.JsonPatch, schema: Schema | None = None
) -> BulkFix:
    return BulkFix(tuple(fix_message(m, patch, schema) for m in messages))


def _serialized(value: Any, *, compact: bool) -> bytes:
    if compact:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8")


def _schema_problem(body: bytes, value: Any, schema: Schema) -> str:
    try:
        checked = validate(Decoded(DecodedKind.JSON, body, value=value), schema)
    except SchemaError as exc:
        return f"schema not usable: {exc}"
    if checked.valid:
        return ""
    path, reason = checked.errors[0]
    more = checked.error_count - 1
    return f"invalid against {schema.name}: {path}: {reason}" + (
        f" (and {more} more)" if more > 0 else ""
    )


__all__ = [
    "OPERATIONS",
    "BulkFix",
    "FixResult",
    "PatchError",
    "field_pointer",
    "field_value",
    "fix_all",
    "fix_message",
    "operation",
    "parse_patch",
    "patch_from_operations",
]
