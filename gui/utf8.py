"""Whether bytes are UTF-8 text, the test for what the message editor lets be typed over."""

from __future__ import annotations


def is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
