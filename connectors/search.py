"""Search in one endpoint: a query of filters, checked once, and a scan that never consumes.

The scan pages through a browser of its own and keeps what matches, so a search over a
100,000-message DLQ streams its matches while it reads, and stops when told to.
"""

from __future__ import annotations

import asyncio
import bisect
import enum
import functools
import itertools
import json
import operator
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jmespath
import jmespath.exceptions
import jmespath.visitor

from .base import Browser
from .decoding import PARSE_LIMIT, Decoded, DecodedKind, decode
from .errors import EventdeskError
from .failure_groups import failure_signature
from .kafka_scan import bulk_scan_for
from .model import HeaderValue, Message, Outcome, Page
from .schemas import Schema, SchemaError, SchemaKind, validate

# Page size for scans with no window to keep responsive (tests, scripts): fewer round trips.
# The GUI scans with its table's page size, so one page never stalls the window for long.
SCAN_PAGE_SIZE = 2000


class InvalidQuery(EventdeskError):
    """A search that cannot run: a broken expression, an empty header name, a reversed range."""

    hint = "Fix the search and run it again."


class HeaderMatch(enum.StrEnum):
    EQUALS = "equals"
    CONTAINS = "contains"


class Validity(enum.StrEnum):
    VALID = "valid"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class HeaderFilter:
    """A header (by name, any case) whose value equals, or contains, `value`."""

    name: str
    value: str
    match: HeaderMatch = HeaderMatch.EQUALS


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for; every filter given must hold (AND). Empty matches everything."""

    text: str = ""  # in the body, headers, attributes, key and id; any case
    headers: tuple[HeaderFilter, ...] = ()
    expression: str = ""  # JMESPath over the decoded payload; a truthy result matches
    since: datetime | None = None  # message time (or its last failure), inclusive
    until: datetime | None = None
    failure_group: str | None = None  # a failure_groups.failure_signature
    validity: Validity | None = None  # against the endpoint's mapped schema

    @property
    def is_empty(self) -> bool:
        return self == SearchQuery()

    def describe(self) -> str:
        """One line for a status label: "text "timeout" · header x-tenant = gold"."""
        parts = [f'text "{self.text}"'] if self.text else []
        for f in self.headers:
            sign = "=" if f.match == HeaderMatch.EQUALS else "contains"
            parts.append(f"header {f.name} {sign} {f.value}")
        if self.expression:
            parts.append(f"JMESPath {self.expression}")
        if self.since is not None:
            parts.append(f"from {self.since.isoformat(timespec='seconds')}")
        if self.until is not None:
            parts.append(f"to {self.until.isoformat(timespec='seconds')}")
        if self.failure_group is not None:
            parts.append(f"group {self.failure_group}")
        if self.validity is not None:
            parts.append(str(self.validity))
        return " · ".join(parts) or "everything"


@dataclass(frozen=True, slots=True)
class BodyDecoding:
    """How an endpoint's bodies decode: the operator's format (None: automatic), the
    registry's schemas by Confluent id, and the schema mapped to the endpoint."""

    hint: str | None = None
    schemas: Mapping[int, Schema] = field(default_factory=dict)
    schema: Schema | None = None

    @property
    def binary_bodies(self) -> bool:
        """Whether bodies may be read as Avro or Protobuf without a Confluent frame: then
        the raw bytes say nothing of the strings an expression compares."""
        kind = self.schema.kind if self.schema is not None else None
        return self.hint in ("avro", "protobuf") or kind in (SchemaKind.AVRO, SchemaKind.PROTOBUF)

    def decode(self, body: bytes) -> Decoded:
        # Most dead letters are JSON: parse them straight away instead of sniffing first.
        if self.hint in (None, "json") and body[:1] in (b"{", b"[") and len(body) <= PARSE_LIMIT:
            try:
                return Decoded(DecodedKind.JSON, body, value=json.loads(body))
            except (ValueError, RecursionError):
                pass
        return decode(body, hint=self.hint, schemas=self.schemas, default_schema=self.schema)


class _Payload:
    """A message's body decoded at most once, however many filters look at it."""

    def __init__(self, body: bytes, decoding: BodyDecoding):
        self._body = body
        self._decoding = decoding

    @functools.cached_property
    def decoded(self) -> Decoded:
        return self._decoding.decode(self._body)


_Predicate = Callable[[Message, _Payload], bool]
_BodyPredicate = Callable[[_Payload], bool]


@dataclass(frozen=True, slots=True)
class Matcher:
    """A query checked and compiled once; call it on a message."""

    query: SearchQuery
    predicates: tuple[_Predicate, ...]
    decoding: BodyDecoding
    # False for a body that cannot match, told from its raw bytes; None: no such test.
    prefilter: BodyPrefilter | None = None
    # The filters that read only the body (expression, validity); `body_test` needs them.
    body_predicates: tuple[_BodyPredicate, ...] = ()

    @property
    def needs_dead_letter(self) -> bool:
        """Whether matching reads the dead-letter facts (time and failure-group filters)."""
        query = self.query
        return query.failure_group is not None or query.since is not None or query.until is not None

    @property
    def reads_body_only(self) -> bool:
        """Whether the query looks at nothing but the body: then `body_test` decides."""
        return len(self.body_predicates) == len(self.predicates)

    def __call__(self, message: Message) -> bool:
        if self.prefilter is not None and not self.prefilter(message.body):
            return False
        payload = _Payload(message.body, self.decoding)
        return all(predicate(message, payload) for predicate in self.predicates)

    def body_test(self, body: bytes, *, prefiltered: bool = False) -> bool:
        """What calling the matcher on a message with this body says, for a query that
        `reads_body_only`: a scan need not build a Message for bodies that do not match.
        `prefiltered`: the prefilter has passed this body already (`candidates`)."""
        assert self.reads_body_only, "the query reads more than the body"
        if not prefiltered and self.prefilter is not None and not self.prefilter(body):
            return False
        payload = _Payload(body, self.decoding)
        for predicate in self.body_predicates:
            if not predicate(payload):
                return False
        return True


def compile_query(
    query: SearchQuery,
    *,
    decoding: BodyDecoding | None = None,
) -> Matcher:
    """The query ready to run; raises InvalidQuery, with a hint, for anything that cannot.

    Expressions and validity read bodies as `decoding` says (the endpoint's format and
    schemas; automatic when None); validity checks against its mapped schema.
    """
    decoding = decoding or BodyDecoding()
    schema = decoding.schema
    predicates: list[_Predicate] = []
    if query.since is not None or query.until is not None:
        predicates.append(_time_predicate(query.since, query.until))
    predicates += [_header_predicate(f) for f in query.headers]
    if query.failure_group is not None:
        wanted = query.failure_group
        predicates.append(lambda message, _payload: failure_signature(message) == wanted)
    if query.text.strip():
        predicates.append(_text_predicate(query.text.strip()))
    prefilter = None
    body_predicates: list[_BodyPredicate] = []
    if query.expression.strip():
        body_predicates.append(_expression_predicate(query.expression.strip()))
        if not decoding.binary_bodies:
            prefilter = body_prefilter(query.expression.strip())
    if query.validity is not None:
        body_predicates.append(_validity_predicate(query.validity, schema))
    predicates += [_on_body(predicate) for predicate in body_predicates]
    return Matcher(query, tuple(predicates), decoding, prefilter, tuple(body_predicates))


def _on_body(predicate: _BodyPredicate) -> _Predicate:
    return lambda _message, payload: predicate(payload)


# -- filters ------------------------------------------------------------------------


def _time_predicate(since: datetime | None, until: datetime | None) -> _Predicate:
    low = _utc(since) if since is not None else None
    high = _utc(until) if until is not None else None
    if low is not None and high is not None and low > high:
        raise InvalidQuery(
            f"The time range ends ({high.isoformat()}) before it starts ({low.isoformat()}).",
            hint="Swap the two times, or clear one of them.",
        )

    def in_range(message: Message, _payload: _Payload) -> bool:
        moment = message.timestamp or message.dead_letter.last_failure
        if moment is None:
            return False
        moment = _utc(moment)
        return (low is None or low <= moment) and (high is None or moment <= high)

    return in_range


def _utc(moment: datetime) -> datetime:
    # Headers mix naive and aware times; a naive one is read as UTC rather than refused.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def header_text(value: HeaderValue) -> str:
    """A header value as an operator would type it: bytes as UTF-8, the rest as str()."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _header_predicate(wanted: HeaderFilter) -> _Predicate:
    name = wanted.name.strip().casefold()
    if not name:
        raise InvalidQuery(
            "A header filter has no header name.",
            hint="Type the header's name (e.g. x-tenant), or remove the filter.",
        )
    value = wanted.value
    if wanted.match == HeaderMatch.EQUALS:  # == also takes the plain text Qt hands back

        def test(text: str) -> bool:
            return text == value
    else:
        needle = value.casefold()

        def test(text: str) -> bool:
            return needle in text.casefold()

    def has_header(message: Message, _payload: _Payload) -> bool:
        return any(key.casefold() == name and test(header_text(v)) for key, v in message.headers)

    return has_header


def _text_predicate(text: str) -> _Predicate:
    needle = text.casefold()

    def contains(message: Message, _payload: _Payload) -> bool:
        if needle in message.body.decode("utf-8", "replace").casefold():
            return True
        return needle in _envelope_text(message).casefold()

    return contains


def _envelope_text(message: Message) -> str:
    parts = [message.id]
    if message.key is not None:
        parts.append(message.key.decode("utf-8", "replace"))
    parts += [f"{key}: {header_text(value)}" for key, value in message.headers]
    parts += [f"{key}: {value}" for key, value in message.attributes.items()]
    return "\n".join(parts)


# Runtime failures that show the expression itself is wrong, whatever the payload.
_EXPRESSION_BUGS = (jmespath.exceptions.UnknownFunctionError, jmespath.exceptions.ArityError)


def _expression_predicate(expression: str) -> _BodyPredicate:
    try:
        compiled = jmespath.compile(expression)
        compiled.search({})
    except jmespath.exceptions.JMESPathError as exc:
        if isinstance(exc, (jmespath.exceptions.ParseError, *_EXPRESSION_BUGS)):
            raise _invalid_expression(expression, exc) from exc
        # A type error on an empty document (e.g. length(null)) says nothing about the rest.

    # What compiled.search does, less making an interpreter per document (a tenth of a
    # scan's matching); it keeps no state between documents.
    interpreter, parsed = jmespath.visitor.TreeInterpreter(), compiled.parsed

    def holds(payload: _Payload) -> bool:
        decoded = payload.decoded
        if not decoded.is_structured:
            return False
        try:
            return _truthy(interpreter.visit(parsed, decoded.value))
        except (jmespath.exceptions.JMESPathError, TypeError):
            # This document has the wrong shape for the expression: it does not match.
            # (jmespath 1.x lets `"12" > \`10\`` through as a bare TypeError.)
            return False

    return holds


# -- the raw-bytes prefilter --------------------------------------------------------

# Nodes whose value is taken from the document as it is: a string they yield is in the body.
_DOCUMENT_PATHS = frozenset(
    {
        "field",
        "subexpression",
        "index_expression",
        "index",
        "current",
        "identity",
        "slice",
        "flatten",
        "projection",
        "value_projection",
        "filter_projection",
        "pipe",
    }
)
_SUBSTRING_FUNCTIONS = frozenset({"contains", "starts_with", "ends_with"})


def body_prefilter(expression: str) -> BodyPrefilter | None:
    """A cheap test on a body's raw bytes that is False only where `expression` cannot hold.

    A JSON body with no backslash (so no escapes) holds each of its strings as their UTF-8
    bytes: when the expression needs a string literal (`status == 'rejected'`, `contains(
    tags, 'vip')`) and the body lacks it, the body cannot match. Anything else (escapes,
    NUL bytes that hint at UTF-16, non-JSON) goes on to the exact evaluation.
    """
    try:
        needles = _needles(jmespath.compile(expression).parsed)
    except jmespath.exceptions.JMESPathError:
        return None
    if not needles:
        return None
    return BodyPrefilter(tuple(sorted(needle.encode() for needle in needles)))


_JSON_STARTS = (b"{", b"[")
_JSON_START_SET = frozenset(_JSON_STARTS)
_FIRST_BYTE = operator.itemgetter(slice(0, 1))
# Between bodies joined for a batch: neither a backslash nor a NUL (each makes a body pass).
_SEPARATOR = b"\n"
_PLUS_SEPARATOR = len(_SEPARATOR).__add__


@dataclass(frozen=True, slots=True)
class BodyPrefilter:
    """`body_prefilter`'s test: called on one body, or `candidates` for a batch of them."""

    needles: tuple[bytes, ...]

    def __call__(self, body: bytes) -> bool:
        """Whether the body may match: it has a needle, or is not plain JSON."""
        if body[:1] not in _JSON_STARTS or b"\\" in body or b"\x00" in body:
            return True
        return any(needle in body for needle in self.needles)

    def candidates(self, bodies: Sequence[bytes]) -> list[int]:
        """The indexes of the bodies that may match, as calling it on each would say.

        A scan's hot path: the bodies are joined once and searched at C speed, so the cost
        goes with the few that may match, not with every body (a per-body call was most of
        a 1,000,000-record scan's Python time). Every step is one pass in C; counting
        two-byte sequences in the joined bytes instead of taking first bytes cost 0.7 s
        per million bodies here.
        """
        joined = _SEPARATOR.join(bodies)
        # ends[i]: where body i's separator ends, i.e. where body i + 1 starts.
        ends = list(itertools.accumulate(map(_PLUS_SEPARATOR, map(len, bodies))))
        found: set[int] = set()
        for needle in (*self.needles, b"\\", b"\x00"):
            at = joined.find(needle)
            while at != -1:
                index = bisect.bisect_right(ends, at)
                found.add(index)
                at = joined.find(needle, ends[index]) if index + 1 < len(ends) else -1
        if not set(map(_FIRST_BYTE, bodies)) <= _JSON_START_SET:
            found.update(i for i, body in enumerate(bodies) if body[:1] not in _JSON_STARTS)
        return sorted(found)


def _needles(node: dict[str, Any]) -> frozenset[str] | None:
    """Strings of which the document must hold one for `node` to be truthy; None: unknown."""
    kind = node.get("type")
    children = node.get("children", [])
    if kind == "comparator" and node.get("value") == "eq":
        left, right = children
        return _literal_beside_path(left, right) or _literal_beside_path(right, left)
    if kind == "function_expression" and node.get("value") in _SUBSTRING_FUNCTIONS:
        if len(children) == 2:
            return _literal_beside_path(children[1], children[0])
        return None
    if kind == "and_expression":
        left, right = (_needles(child) for child in children)
        return left if left is not None else right
    if kind == "or_expression":
        left, right = (_needles(child) for child in children)
        return left | right if left is not None and right is not None else None
    if kind == "filter_projection":  # a non-empty result needs one item to pass the filter
        left, right, condition = children
        return _needles(condition) if _is_path(left) and _is_path(right) else None
    if kind == "pipe" and _is_path(children[0]):
        return _needles(children[1])
    return None


def _literal_beside_path(literal: dict[str, Any], path: dict[str, Any]) -> frozenset[str] | None:
    value = literal.get("value")
    if literal.get("type") == "literal" and isinstance(value, str) and _is_path(path):
        return frozenset({value})
    return None


def _is_path(node: dict[str, Any]) -> bool:
    if node.get("type") not in _DOCUMENT_PATHS:
        return False
    children = node.get("children", [])
    if node.get("type") == "filter_projection":
        children = children[:2]  # the condition filters; it yields nothing itself
    return all(_is_path(child) for child in children if isinstance(child, dict))


def _invalid_expression(expression: str, exc: Exception) -> InvalidQuery:
    position = getattr(exc, "lex_position", None)
    reason = getattr(exc, "message", None) or getattr(exc, "msg", None) or str(exc)
    if isinstance(exc, jmespath.exceptions.IncompleteExpressionError):
        reason = "the expression ends too early"
    where = f" at character {position + 1}" if isinstance(position, int) else ""
    return InvalidQuery(
        f"The JMESPath expression {expression!r} is not valid{where}: {reason}.",
        hint=(
            "Write it as in jmespath.org, e.g. customer.tier == 'gold' or "
            "length(lines) > `2`; quote literal strings with '…' and numbers with `…`."
        ),
    )


def _truthy(value: Any) -> bool:
    # JMESPath's truth: false, null and empty strings, lists and objects are false; 0 is true.
    return not (value is None or value is False or value in ("", [], {}))


def _validity_predicate(wanted: Validity, schema: Schema | None) -> _BodyPredicate:
    if schema is None:
        raise InvalidQuery(
            "No schema is mapped to this endpoint, so valid/invalid cannot be told.",
            hint="Map a schema to the endpoint in the Body tab of a message, then search again.",
        )
    want_valid = wanted == Validity.VALID

    def has_validity(payload: _Payload) -> bool:
        try:
            return validate(payload.decoded, schema).valid is want_valid
        except SchemaError:
            return False

    return has_validity


# -- scanning -----------------------------------------------------------------------


class SearchBrowser(Browser):
    """The matches of an endpoint, page by page, read through a browser of its own.

    Each `next_page` reads one page of `source` and returns what matches (often nothing),
    so progress is seen page by page. A Kafka source is read in bulk off the event loop
    (kafka_scan.py), a page's worth of records at a time. The source browser holds what
    was scanned (RabbitMQ, SQS), which is what lets matches be replayed or discarded;
    `close` gives it all back.
    """

    def __init__(self, source: Browser, matcher: Matcher, *, total: int | None = None) -> None:
        self.source = source
        self.matcher = matcher
        self.total = total
        self.scanned = 0
        self.matched = 0
        self.finished = False
        self._bulk = bulk_scan_for(source, matcher)
        self._mirror_source()

    def _mirror_source(self) -> None:
        # Browsers sharpen these once they have read (RabbitMQ, SQS); show theirs as they are.
        self.side_effect_note = self.source.side_effect_note
        self.incomplete = self.source.incomplete

    @property
    def endpoint(self) -> str:
        return getattr(self.source, "endpoint", "") or getattr(self.source, "topic", "")

    async def next_page(self, *, timeout: float = 10.0) -> Page:
        if self._bulk is not None:
            chunk = await self._bulk.next_chunk(timeout=timeout)
            scanned, matches, more = chunk.scanned, chunk.matches, not chunk.done
        else:
            page = await self.source.next_page(timeout=timeout)
            scanned, more = len(page.messages), page.more
            matches = [message for message in page.messages if self.matcher(message)]
        self._mirror_source()
        self.scanned += scanned
        self.matched += len(matches)
        self.finished = not more
        if self.finished:
            # The end is the truth: a depth read earlier may be off by what arrived since.
            self.total = self.scanned
        return Page(matches, more)

    async def settle(self, messages: Sequence[Message], *, timeout: float = 30.0) -> list[Outcome]:
        return await self.source.settle(messages, timeout=timeout)

    async def close(self) -> None:
        if self._bulk is not None:
            await self._bulk.close()
        await self.source.close()


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """One step of a scan: the matches found in it and the counts so far."""

    matches: tuple[Message, ...]
    scanned: int
    matched: int
    total: int | None
    done: bool = False
    cancelled: bool = False


async def scan(
    browser: Browser,
    matcher: Matcher,
    *,
    total: int | None = None,
    cancel: asyncio.Event | None = None,
    timeout: float = 10.0,
) -> AsyncIterator[ScanProgress]:
    """Reads `browser` to its end and yields the matches of each page as they are found.

    The caller owns the browser (open it with `async with`): closing it gives back what
    the scan held. Setting `cancel` stops the scan before its next page; the last
    progress then says `cancelled`.
    """
    search = SearchBrowser(browser, matcher, total=total)
    while True:
        if cancel is not None and cancel.is_set():
            yield ScanProgress((), search.scanned, search.matched, search.total, True, True)
            return
        page = await search.next_page(timeout=timeout)
        yield ScanProgress(
            tuple(page.messages), search.scanned, search.matched, search.total, not page.more
        )
        if not page.more:
            return


__all__ = [
    "SCAN_PAGE_SIZE",
    "BodyDecoding",
    "HeaderFilter",
    "HeaderMatch",
    "InvalidQuery",
    "Matcher",
    "ScanProgress",
    "SearchBrowser",
    "SearchQuery",
    "Validity",
    "body_prefilter",
    "compile_query",
    "header_text",
    "scan",
]
