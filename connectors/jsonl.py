"""Messages to and from JSON Lines files: one message per line, bodies byte-exact.

A body is written as text when it is valid UTF-8 and as base64 otherwise, with
`body_encoding` saying which; header values keep their type (bytes, text, numbers, times,
AMQP tables), so an imported file replays the very bytes and headers that were exported.
Import checks every line and names each bad one by its number; nothing is skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .base import Browser
from .errors import EventdeskError
from .model import DeadLetterFacts, HeaderValue, Message, Outcome, Page
from .replay import IMPORTED_SOURCE_PREFIX

FORMAT = "eventdesk.message/1"
# Problems listed in one error: enough to fix a file, few enough to read.
MAX_PROBLEMS = 20

_TEXT_FACTS = {
    "convention",
    "original_destination",
    "reason",
    "exception_type",
    "exception_message",
    "stack_trace",
    "failed_service",
}
_INT_FACTS = {"original_partition", "original_offset", "attempts"}
_TIME_FACTS = {"first_failure", "last_failure"}


class JsonlError(EventdeskError):
    """A JSON Lines file that cannot be read or written; `problems` are (line, reason)."""

    hint = "Fix or remove the lines named above and import the file again; nothing was imported."

    def __init__(
        self, message: str, *, problems: Sequence[tuple[int, str]] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems)


# -- export -------------------------------------------------------------------------


def message_to_json(message: Message) -> dict[str, Any]:
    """One message as a JSON object (see the module docstring for the encodings)."""
    body, body_encoding = _bytes_to_json(message.body)
    document: dict[str, Any] = {
        "format": FORMAT,
        "endpoint": message.endpoint,
        "id": message.id,
        "key": None,
        "timestamp": message.timestamp.isoformat() if message.timestamp else None,
        "headers": [{"name": name, **_value_to_json(value)} for name, value in message.headers],
        "attributes": dict(message.attributes),
        "dead_letter": _facts_to_json(message.dead_letter),
        "size": message.size,
        "body_encoding": body_encoding,
        "body": body,
    }
    if message.key is not None:
        document["key"], document["key_encoding"] = _bytes_to_json(message.key)
    return document


def write_jsonl(messages: Iterable[Message], path: str | Path) -> int:
    """Writes the messages to `path` (replacing it only once all are written); returns the count.

    Raises JsonlError when the file cannot be written; an existing file is then untouched.
    """
    path = Path(path)
    count = 0
    try:
        handle = tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        )
    except OSError as exc:
        raise JsonlError(
            f"Cannot write {path}: {exc.strerror or exc}",
            hint="Choose a folder you can write to.",
        ) from exc
    try:
        with handle:
            for message in messages:
                # ASCII escapes: no header text, however odd, can fail to encode mid-file.
                handle.write(json.dumps(message_to_json(message)))
                handle.write("\n")
                count += 1
        os.replace(handle.name, path)
    except OSError as exc:
        Path(handle.name).unlink(missing_ok=True)
        raise JsonlError(
            f"Cannot write {path}: {exc.strerror or exc}",
            hint="Check the free space and permissions of the folder.",
        ) from exc
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return count


def _bytes_to_json(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def _value_to_json(value: HeaderValue) -> dict[str, Any]:
    """A header value (or an element of one) as {"type": ..., "value": ...}."""
    if value is None:
        return {"type": "null", "value": None}
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, int):
        return {"type": "int", "value": value}
    if isinstance(value, float):
        # repr round-trips every float, NaN and infinities included, which JSON numbers cannot.
        return {"type": "float", "value": repr(value)}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    if isinstance(value, bytes | bytearray | memoryview):
        text, encoding = _bytes_to_json(bytes(value))
        return {"type": "bytes", "encoding": encoding, "value": text}
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, list | tuple):
        return {"type": "list", "value": [_value_to_json(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "table", "value": {str(k): _value_to_json(v) for k, v in value.items()}}
    # Nothing a broker adapter delivers today; kept readable rather than refused.
    return {"type": "str", "value": str(value)}


def _facts_to_json(facts: DeadLetterFacts) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for field in fields(DeadLetterFacts):
        value = getattr(facts, field.name)
        if field.name == "extra":
            if value:
                document["extra"] = dict(value)
        elif isinstance(value, datetime):
            document[field.name] = value.isoformat()
        elif value is not None:
            document[field.name] = value
    return document


# -- import -------------------------------------------------------------------------


class _BadLine(ValueError):
    """Why one line is not a message."""


def read_jsonl(path: str | Path) -> list[Message]:
    """Every message in the file, in file order; raises JsonlError naming each bad line.

    Blank lines are allowed (a trailing newline is common); every other line must be a
    message object as `message_to_json` writes it, and ids must not repeat.
    """
    path = Path(path)
    messages: list[Message] = []
    problems: list[tuple[int, str]] = []
    first_line_of: dict[str, int] = {}
    try:
        with path.open("r", encoding="utf-8", newline="") as handle:
            for number, line in enumerate(_lines(handle, path), 1):
                if not line.strip():
                    continue
                try:
                    message = message_from_json(_json_object(line))
                except _BadLine as exc:
                    problems.append((number, str(exc)))
                    continue
                if message.id in first_line_of:
                    problems.append(
                        (number, f"id {message.id!r} repeats line {first_line_of[message.id]}")
                    )
                    continue
                first_line_of[message.id] = number
                messages.append(message)
    except OSError as exc:
        raise JsonlError(
            f"Cannot read {path}: {exc.strerror or exc}",
            hint="Check that the file exists and that you may read it.",
        ) from exc
    if problems:
        raise _problems_error(path, problems)
    if not messages:
        raise JsonlError(
            f"{path.name} holds no messages.",
            hint="Choose a file exported by Eventdesk (one JSON message per line).",
        )
    return messages


def _lines(handle: Iterable[str], path: Path) -> Iterable[str]:
    try:
        yield from handle
    except UnicodeDecodeError as exc:
        raise JsonlError(
            f"{path.name} is not UTF-8 text (byte {exc.start} of the file): {exc.reason}.",
            hint="Choose a JSON Lines file; bodies that are not text are inside it as base64.",
        ) from exc


def _problems_error(path: Path, problems: list[tuple[int, str]]) -> JsonlError:
    shown = "; ".join(f"line {number}: {reason}" for number, reason in problems[:MAX_PROBLEMS])
    more = len(problems) - MAX_PROBLEMS
    if more > 0:
        shown += f"; and {more} more"
    count = len(problems)
    return JsonlError(
        f"{path.name}: {count} bad line{'s' if count != 1 else ''}: {shown}", problems=problems
    )


def _json_object(line: str) -> dict[str, Any]:
    try:
        document = json.loads(line)
    except ValueError as exc:
        raise _BadLine(f"not JSON ({exc})") from exc
    except RecursionError as exc:
        raise _BadLine("not usable JSON: nested too deeply") from exc
    if not isinstance(document, dict):
        raise _BadLine(f"expected a JSON object, found {type(document).__name__}")
    return document


def message_from_json(document: dict[str, Any]) -> Message:
    """The message a `message_to_json` object describes; raises ValueError saying what is wrong."""
    found = document.get("format", FORMAT)
    if found != FORMAT:
        raise _BadLine(f"format {found!r} is not {FORMAT!r}")
    message_id = document.get("id")
    if not isinstance(message_id, str) or not message_id:
        raise _BadLine("no id (a non-empty string)")
    if "body" not in document:
        raise _BadLine("no body")
    body = _bytes_from_json(document["body"], document.get("body_encoding", "utf-8"), "body")
    size = document.get("size")
    if size is not None and size != len(body):
        raise _BadLine(f"body is {len(body)} bytes but size says {size}")
    key = document.get("key")
    endpoint = document.get("endpoint", "")
    attributes = document.get("attributes") or {}
    if not isinstance(endpoint, str):
        raise _BadLine("endpoint must be a string")
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise _BadLine("attributes must map strings to strings")
    return Message(
        endpoint=endpoint,
        id=message_id,
        body=body,
        key=None if key is None else _bytes_from_json(key, document.get("key_encoding"), "key"),
        headers=_headers_from_json(document.get("headers") or []),
        timestamp=_time(document.get("timestamp"), "timestamp"),
        dead_letter=_facts_from_json(document.get("dead_letter") or {}),
        attributes=attributes,
    )


def _bytes_from_json(text: Any, encoding: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise _BadLine(f"{what} must be a string")
    if encoding in (None, "utf-8"):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _BadLine(f"{what} is not encodable as UTF-8 ({exc.reason})") from exc
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _BadLine(f"{what} is not valid base64 ({exc})") from exc
    raise _BadLine(f"{what}_encoding must be utf-8 or base64, not {encoding!r}")


def _headers_from_json(items: Any) -> tuple[tuple[str, HeaderValue], ...]:
    if not isinstance(items, list):
        raise _BadLine("headers must be a list")
    headers = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise _BadLine(f"header {number} must be an object with a name")
        headers.append((item["name"], _value_from_json(item, f"header {item['name']!r}")))
    return tuple(headers)


def _value_from_json(item: Any, where: str) -> HeaderValue:
    if not isinstance(item, dict) or "type" not in item:
        raise _BadLine(f"{where} has no type")
    kind, value = item["type"], item.get("value")
    try:
        return _decode_value(kind, value, item, where)
    except (TypeError, ValueError, InvalidOperation) as exc:
        if isinstance(exc, _BadLine):
            raise
        raise _BadLine(f"{where}: {value!r} is not a {kind}") from exc


def _decode_value(kind: Any, value: Any, item: dict[str, Any], where: str) -> HeaderValue:
    simple = {"null": type(None), "bool": bool, "str": str}
    if kind in simple:
        if not isinstance(value, simple[kind]):
            raise TypeError(kind)
        return value
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(kind)
        return value
    if kind == "float":
        return float(value)
    if kind == "decimal":
        return Decimal(value)
    if kind == "bytes":
        return _bytes_from_json(value, item.get("encoding"), where)
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "list":
        if not isinstance(value, list):
            raise TypeError(kind)
        return [_value_from_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind == "table":
        if not isinstance(value, dict):
            raise TypeError(kind)
        return {k: _value_from_json(v, f"{where}.{k}") for k, v in value.items()}
    raise _BadLine(f"{where} has an unknown type {kind!r}")


def _time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadLine(f"{what} must be an ISO 8601 string")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise _BadLine(f"{what} {value!r} is not an ISO 8601 time") from exc


def _facts_from_json(document: Any) -> DeadLetterFacts:
    if not isinstance(document, dict):
        raise _BadLine("dead_letter must be an object")
    values: dict[str, Any] = {}
    for name, value in document.items():
        if name in _TEXT_FACTS and isinstance(value, str):
            values[name] = value
        elif name in _INT_FACTS and isinstance(value, int) and not isinstance(value, bool):
            values[name] = value
        elif name in _TIME_FACTS:
            values[name] = _time(value, f"dead_letter.{name}")
        elif name == "extra" and isinstance(value, dict):
            values[name] = {str(k): str(v) for k, v in value.items()}
        else:
            raise _BadLine(f"dead_letter.{name} is unknown or of the wrong type")
    return DeadLetterFacts(**values)


# -- replaying an imported file -----------------------------------------------------


class ImportedMessages(Browser):
    """Messages read from a file, as the source of a replay.

    There is no dead-letter queue to take them off afterwards, so settling one always
    succeeds and changes nothing; the file is left as it is.
    """

    side_effect_note = "Read from a file: replaying sends copies and changes nothing else."

    def __init__(self, path: str | Path, messages: Sequence[Message]) -> None:
        self.path = Path(path)
        self.endpoint = f"{IMPORTED_SOURCE_PREFIX}{self.path.name}"
        self.messages = list(messages)
        self._shown = False

    async def next_page(self, *, timeout: float = 10.0) -> Page:
        if self._shown:
            return Page((), False)
        self._shown = True
        return Page(tuple(self.messages), False)

    async def settle(self, messages: Sequence[Message], *, timeout: float = 30.0) -> list[Outcome]:
        return [Outcome(m.id, True, f"imported from {self.path.name}") for m in messages]

    async def close(self) -> None:
        return None


__all__ = [
    "FORMAT",
    "ImportedMessages",
    "JsonlError",
    "message_from_json",
    "message_to_json",
    "read_jsonl",
    "write_jsonl",
]
