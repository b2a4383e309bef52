"""How envelope values read on screen: sizes, keys, times, counts (no Qt)."""

from __future__ import annotations

from datetime import datetime

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_size(size: int) -> str:
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def key_text(key: bytes | None, *, limit: int = 64) -> str:
    """UTF-8 keys as text; anything else as hex, since a mangled key cannot be searched for."""
    if key is None:
        return ""
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    else:
        if text.isprintable():
            return text if len(text) <= limit else text[: limit - 1] + "…"
    hexed = key[: limit // 2].hex(" ")
    return f"0x {hexed}{' …' if len(key) > limit // 2 else ''}"


def time_text(moment: datetime | None) -> str:
    if moment is None:
        return ""
    # Brokers give UTC; the operator reads their own clock.
    local = moment.astimezone() if moment.tzinfo is not None else moment
    return local.strftime("%Y-%m-%d %H:%M:%S")


def count_text(count: int | None) -> str:
    return "" if count is None else f"{count:,}"
