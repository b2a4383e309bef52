"""Turns a message body into something readable: pretty JSON, text, or a hex dump (no Qt).

Bounded on purpose: a 10 MB body must not freeze the window, so only a prefix is
rendered and the view says so.
"""

from __future__ import annotations

import codecs
import enum
import json
from dataclasses import dataclass
from typing import Any

from eventdesk.connectors.decoding import Decoded, DecodedKind

from .display_format import human_size

# Characters a text view renders without strain (and a syntax highlighter too).
TEXT_LIMIT = 256 * 1024
# json.loads plus indenting stays well under a frame budget up to about here.
JSON_PARSE_LIMIT = 2 * 1024 * 1024
HEX_LIMIT = 64 * 1024
_HEX_WIDTH = 16
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")


class BodyKind(enum.StrEnum):
    EMPTY = "empty"
    JSON = "JSON"
    AVRO = "Avro"
    PROTOBUF = "Protobuf"
    TEXT = "text"
    BINARY = "binary"


@dataclass(frozen=True, slots=True)
class RenderedBody:
    kind: BodyKind
    text: str
    # Set when only part of the body is shown, or why it is shown the way it is.
    note: str = ""


def render_body(body: bytes) -> RenderedBody:
    if not body:
        return RenderedBody(BodyKind.EMPTY, "", "The body is empty.")
    text = _utf8_prefix(body, TEXT_LIMIT)
    if text is None or _looks_binary(text):
        return _hex_rendering(body)
    if len(body) <= JSON_PARSE_LIMIT and text.lstrip()[:1] in ("{", "["):
        pretty = _pretty_json(body)
        if pretty is not None:
            return _formatted(BodyKind.JSON, pretty)
    note = ""
    if len(text.encode("utf-8")) < len(body):
        note = f"Showing the first {human_size(TEXT_LIMIT)} of {human_size(len(body))}."
    return RenderedBody(BodyKind.TEXT, text, note)


def render_decoded(decoded: Decoded) -> RenderedBody:
    """Renders what `connectors.decoding` made of a body: Avro records and Protobuf messages
    as JSON, else the bytes."""
    if decoded.kind in (DecodedKind.AVRO, DecodedKind.PROTOBUF):
        pretty = json.dumps(decoded.value, indent=2, ensure_ascii=False, default=_avro_scalar)
        kind = BodyKind.AVRO if decoded.kind is DecodedKind.AVRO else BodyKind.PROTOBUF
        return _formatted(kind, pretty)
    if decoded.kind is DecodedKind.JSON and len(decoded.raw) <= JSON_PARSE_LIMIT:
        # Already parsed: indent the value instead of parsing the bytes a second time.
        return _formatted(BodyKind.JSON, json.dumps(decoded.value, indent=2, ensure_ascii=False))
    if decoded.kind is DecodedKind.INVALID and decoded.tried == "Avro":
        # Framed binary that did not read: the bytes are what the operator needs to see.
        return _hex_rendering(decoded.raw)
    return render_body(decoded.raw)


def _formatted(kind: BodyKind, pretty: str) -> RenderedBody:
    shown = pretty[:TEXT_LIMIT]
    note = ""
    if len(shown) < len(pretty):
        note = f"Showing the first {human_size(len(shown))} of the formatted {kind.value}."
    return RenderedBody(kind, shown, note)


def _avro_scalar(value: Any) -> str:
    # Avro bytes, fixed, decimals, dates and UUIDs have no JSON form; show them readably.
    if isinstance(value, bytes):
        return value.hex(" ")
    return str(value)


def hex_dump(data: bytes, *, start: int = 0) -> str:
    lines = []
    for offset in range(0, len(data), _HEX_WIDTH):
        chunk = data[offset : offset + _HEX_WIDTH]
        left = " ".join(f"{b:02x}" for b in chunk[:8])
        right = " ".join(f"{b:02x}" for b in chunk[8:])
        printable = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{start + offset:08x}  {left:<23}  {right:<23}  |{printable}|")
    return "\n".join(lines)


def _utf8_prefix(body: bytes, limit: int) -> str | None:
    """Decodes up to `limit` bytes, tolerating only a character cut at the limit."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        return decoder.decode(body[:limit], final=len(body) <= limit)
    except UnicodeDecodeError:
        return None


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    controls = sum(1 for ch in sample if ch < " " and ch not in _ALLOWED_CONTROLS)
    return "\x00" in sample or controls > len(sample) // 20


def _pretty_json(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return json.dumps(value, indent=2, ensure_ascii=False)


def _hex_rendering(body: bytes) -> RenderedBody:
    shown = body[:HEX_LIMIT]
    note = "Not UTF-8 text: shown as a hex dump."
    if len(shown) < len(body):
        note = (
            f"Not UTF-8 text: showing a hex dump of the first {human_size(len(shown))} "
            f"of {human_size(len(body))}."
        )
    return RenderedBody(BodyKind.BINARY, hex_dump(shown), note)
