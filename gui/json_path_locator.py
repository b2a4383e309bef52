"""Where the value at a JSON path ("$.lines[0].quantity") starts in JSON text, as written."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")
_DECODER = json.JSONDecoder()


def path_segments(path: str) -> list[str | int] | None:
    """ "$.lines[0].quantity" -> ["lines", 0, "quantity"]; None if it is not such a path."""
    if not path.startswith("$"):
        return None
    segments: list[str | int] = []
    at = 1
    while at < len(path):
        match = _SEGMENT.match(path, at)
        if match is None:
            return None
        name, index, quoted = match.groups()
        segments.append(int(index) if index is not None else (name if name is not None else quoted))
        at = match.end()
    return segments


def line_of_path(text: str, path: str) -> int | None:
    """The 1-based line where the value at a JSON path starts in `text`, as written."""
    segments = path_segments(path)
    if segments is None:
        return None
    try:
        offset = _value_offset(text, _skip_space(text, 0), segments)
    except (ValueError, IndexError, RecursionError):
        return None
    return None if offset is None else text.count("\n", 0, offset) + 1


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _value_offset(text: str, at: int, segments: Sequence[str | int]) -> int | None:
    if not segments:
        return at
    want, rest = segments[0], segments[1:]
    if text[at] == "{" and isinstance(want, str):
        at = _skip_space(text, at + 1)
        while text[at] != "}":
            key, at = _DECODER.raw_decode(text, at)
            at = _skip_space(text, _skip_space(text, at) + 1)  # past the colon
            if key == want:
                return _value_offset(text, at, rest)
            at = _skip_space(text, _DECODER.raw_decode(text, at)[1])
            if text[at] == ",":
                at = _skip_space(text, at + 1)
        return None
    if text[at] == "[" and isinstance(want, int):
        at = _skip_space(text, at + 1)
        index = 0
        while text[at] != "]":
            if index == want:
                return _value_offset(text, at, rest)
            at = _skip_space(text, _DECODER.raw_decode(text, at)[1])
            if text[at] == ",":
                at = _skip_space(text, at + 1)
            index += 1
    return None
