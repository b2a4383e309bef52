"""Dead letters grouped by how they failed: one signature per exception (or broker reason).

Pure functions over browsed messages, in the spirit of ServicePulse's failure groups: the
exception type plus its message with the variable parts (numbers, UUIDs, ids, quoted
values) masked, so "Order ORD-17 not found" and "Order ORD-42 not found" are one group.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .model import Message

NO_FACTS = "(no failure facts)"

# Order matters: the most specific shapes are masked before the general ones eat them.
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "<uuid>",
    ),
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`"), "<value>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<n>"),
    # A token that mixes letters and digits (ORD-2025-17, user_42, a1b2c3d4...) is an id.
    (re.compile(r"\b(?=[\w.:/-]*[A-Za-z])(?=[\w.:/-]*\d)[\w:/-]+(?:\.[\w:/-]+)*\b"), "<id>"),
    (re.compile(r"\d+(?:[.,]\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
)


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Dead letters that failed the same way."""

    signature: str  # stable key: "java.lang.IllegalStateException: Order <id> not found"
    label: str  # for people: the short exception name, or the broker's reason
    exception_type: str | None
    reason: str | None
    count: int
    bytes: int
    first_seen: datetime | None
    last_seen: datetime | None
    endpoints: tuple[str, ...]  # the dead-letter endpoints holding them
    sources: tuple[str, ...]  # where they failed (original destinations)
    message_ids: tuple[str, ...]  # every member, in the order they were seen

    def sample_ids(self, limit: int = 3) -> tuple[str, ...]:
        return self.message_ids[:limit]


def mask_variables(text: str) -> str:
    """The text with numbers, UUIDs, ids and quoted values replaced by placeholders."""
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return text.strip()


def failure_signature(message: Message) -> str:
    """How the message failed, with its variable parts masked; the key of its group."""
    facts = message.dead_letter
    return _signature(facts.exception_type, facts.exception_message, facts.reason)


# Dead letters of one incident repeat the same texts: masking each once keeps grouping
# 100,000 of them quick.
@functools.lru_cache(maxsize=4096)
def _signature(
    exception_type: str | None, exception_message: str | None, reason: str | None
) -> str:
    if exception_type or exception_message:
        masked = mask_variables(exception_message or "")
        kind = exception_type or ""
        return f"{kind}: {masked}" if kind and masked else kind or masked
    if reason:
        return f"reason: {mask_variables(reason)}"
    return NO_FACTS


def _label(message: Message, signature: str) -> str:
    facts = message.dead_letter
    if facts.exception_type or facts.exception_message:
        short = (facts.exception_type or "").rsplit(".", 1)[-1]
        masked = mask_variables(facts.exception_message or "")
        return f"{short}: {masked}" if short and masked else short or masked
    return signature.removeprefix("reason: ")


def _failed_at(message: Message) -> datetime | None:
    facts = message.dead_letter
    return facts.last_failure or facts.first_failure or message.timestamp


def _first_failed_at(message: Message) -> datetime | None:
    facts = message.dead_letter
    return facts.first_failure or facts.last_failure or message.timestamp


class _Builder:
    def __init__(self, signature: str, first: Message) -> None:
        self.signature = signature
        self.label = _label(first, signature)
        self.exception_type = first.dead_letter.exception_type
        self.reason = first.dead_letter.reason
        self.count = 0
        self.bytes = 0
        self.first_seen: datetime | None = None
        self.last_seen: datetime | None = None
        self.endpoints: dict[str, None] = {}
        self.sources: dict[str, None] = {}
        self.ids: list[str] = []

    def add(self, message: Message) -> None:
        self.count += 1
        self.bytes += message.size
        self.ids.append(message.id)
        self.endpoints[message.endpoint] = None
        if message.dead_letter.original_destination:
            self.sources[message.dead_letter.original_destination] = None
        first, last = _first_failed_at(message), _failed_at(message)
        if first is not None and (self.first_seen is None or _earlier(first, self.first_seen)):
            self.first_seen = first
        if last is not None and (self.last_seen is None or _earlier(self.last_seen, last)):
            self.last_seen = last

    def build(self) -> FailureGroup:
        return FailureGroup(
            signature=self.signature,
            label=self.label,
            exception_type=self.exception_type,
            reason=self.reason,
            count=self.count,
            bytes=self.bytes,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            endpoints=tuple(self.endpoints),
            sources=tuple(self.sources),
            message_ids=tuple(self.ids),
        )


def _earlier(a: datetime, b: datetime) -> bool:
    # Headers mix naive and aware times; compare naive ones as UTC rather than raise.
    return a.timestamp() < b.timestamp()


class FailureGrouper:
    """Groups messages as they arrive, e.g. while a table loads page by page."""

    def __init__(self) -> None:
        self._builders: dict[str, _Builder] = {}

    def add(self, message: Message) -> str:
        """Counts the message in its group; returns the group's signature."""
        signature = failure_signature(message)
        builder = self._builders.get(signature)
        if builder is None:
            builder = self._builders[signature] = _Builder(signature, message)
        builder.add(message)
        return signature

    def groups(self) -> list[FailureGroup]:
        """Largest first (ties: the signature, for stable order)."""
        groups = [builder.build() for builder in self._builders.values()]
        return sorted(groups, key=lambda g: (-g.count, g.signature))


def group_failures(messages: Iterable[Message]) -> list[FailureGroup]:
    """Groups by `failure_signature`, largest first (ties: the signature, for stable order)."""
    grouper = FailureGrouper()
    for message in messages:
        grouper.add(message)
    return grouper.groups()


__all__ = [
    "NO_FACTS",
    "FailureGroup",
    "FailureGrouper",
    "failure_signature",
    "group_failures",
    "mask_variables",
]
