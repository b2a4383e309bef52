"""NATS JetStream behind the Connector interface: streams, and dead letters from advisories.

JetStream has no dead-letter queue. When a consumer gives up on a message (max deliveries,
or the client terminated it) the server publishes an advisory naming the stream sequence;
the message itself stays in its stream. Eventdesk captures those advisories in a stream of
its own (`ensure_advisory_capture`), shows one dead-letter endpoint per stream and consumer
("ORDERS/billing"), and resolves each advisory to the original message by sequence.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
import nats.errors
import nats.js.errors
import nkeys
from nats.aio.client import Client
from nats.js.api import RawStreamMsg, StorageType, StreamConfig

from .base import Browser, Connector
from .errors import (
    AuthenticationFailed,
    BrokerError,
    BrokerUnreachable,
    ConfigurationError,
    ConnectionLost,
    EndpointNotFound,
    EventdeskError,
    OperationTimeout,
)
from .model import (
    BrokerKind,
    DeadLetterFacts,
    Endpoint,
    EndpointKind,
    Message,
    Outcome,
    Outgoing,
    Page,
)
from .redaction import register_secret
from .sampling import ConsumerLag, JetStreamLagReport

log = logging.getLogger(__name__)

_ADVISORY_PREFIX = "$JS.EVENT.ADVISORY.CONSUMER."
_MAX_DELIVERIES = "MAX_DELIVERIES"
_TERMINATED = "MSG_TERMINATED"
ADVISORY_SUBJECTS = (
    f"{_ADVISORY_PREFIX}{_MAX_DELIVERIES}.>",
    f"{_ADVISORY_PREFIX}{_TERMINATED}.>",
)
_CONVENTIONS = {_MAX_DELIVERIES: "nats max_deliveries", _TERMINATED: "nats terminated"}
# Stream and consumer names cannot contain "/", so "STREAM/CONSUMER" never names a stream.
_DLQ_SEPARATOR = "/"
# JetStream API error codes (nats-server's errors.json).
_ERR_NO_MESSAGE = 10037
_ERR_STREAM_NOT_FOUND = 10059
_ERR_STREAM_NAME_IN_USE = 10058
_ERR_SUBJECTS_OVERLAP = 10065
# Headers a replay may carry whose value decides the de-duplication key.
_ORIGINAL_ID_HEADER = "eventdesk-original-id"
_MSG_ID_HEADER = "Nats-Msg-Id"
# What JetStream refuses in a stream name (nats-server's isValidName).
_BAD_STREAM_NAME = re.compile(r"[\s.*>/\\]")
_AUTH_REFUSAL = re.compile(r"authori[sz]ation violation|authentication", re.IGNORECASE)
# A user's public key: "U" and 55 more base32 letters (the nkeys spec).
_NKEY_USER = re.compile(r"^U[A-Z2-7]{55}$")
_NKEY_SEED_HINT = "Enter the user's seed as nsc or `nk -gen user` printed it: SU and 56 more."
# Go writes nanoseconds; datetime.fromisoformat takes at most microseconds.
_FRACTION = re.compile(r"(\.\d{6})\d+")


def dead_letter_endpoint(stream: str, consumer: str) -> str:
    """The endpoint name of a consumer's dead letters."""
    return f"{stream}{_DLQ_SEPARATOR}{consumer}"


def _split_dead_letter_endpoint(endpoint: str) -> tuple[str, str] | None:
    stream, sep, consumer = endpoint.partition(_DLQ_SEPARATOR)
    return (stream, consumer) if sep and stream and consumer else None


def _advisory_filter(stream: str, consumer: str) -> str:
    return f"{_ADVISORY_PREFIX}*.{stream}.{consumer}"


def _subject_covers(pattern: str, subject: str) -> bool:
    """Whether every subject `subject` matches is matched by `pattern` (NATS wildcards)."""
    wanted = subject.split(".")
    for i, token in enumerate(pattern.split(".")):
        if token == ">":
            return len(wanted) > i
        if i >= len(wanted) or wanted[i] == ">" or (token != "*" and token != wanted[i]):
            return False
    return len(wanted) == len(pattern.split("."))


def _subjects_overlap(a: str, b: str) -> bool:
    """Whether some subject matches both patterns."""
    left, right = a.split("."), b.split(".")
    for x, y in zip(left, right, strict=False):
        if ">" in (x, y):
            return True
        if "*" not in (x, y) and x != y:
            return False
    return len(left) == len(right)


def _is_wildcard(subject: str) -> bool:
    return any(token in ("*", ">") for token in subject.split("."))


def _captures_all(subjects: Iterable[str]) -> bool:
    subjects = list(subjects)
    return all(any(_subject_covers(s, a) for s in subjects) for a in ADVISORY_SUBJECTS)


@dataclass(frozen=True, slots=True)
class CaptureStream:
    """A stream that takes consumer advisories: a candidate to read dead letters from."""

    name: str
    subjects: tuple[str, ...]
    messages: int
    # Takes max-delivery and terminated advisories of every consumer, not just some.
    complete: bool


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
    except ValueError:
        return None


def nkey_public_key(seed: str) -> str:
    """The public key ("U…") of a NATS user seed ("SU…"); ConfigurationError if it is not one.

    The errors never quote the seed: it is a secret.
    """
    try:
        encoded = seed.strip().encode("ascii")
        raw = base64.b32decode(encoded + b"=" * (-len(encoded) % 8))
        prefix, _ = nkeys.decode_seed(bytearray(encoded))
        # nkeys does not check the checksum, so a mistyped seed would reach the server.
        if nkeys.crc16_checksum(bytearray(raw[:-2])) != raw[-2:]:
            raise ConfigurationError("The NKey seed has a wrong checksum.", hint=_NKEY_SEED_HINT)
        public_key = nkeys.from_seed(bytearray(encoded)).public_key.decode()
    except (nkeys.NkeysError, ValueError):  # binascii and encoding errors are ValueErrors
        raise ConfigurationError(
            "The NKey seed is not a NATS seed.", hint=_NKEY_SEED_HINT
        ) from None
    if prefix != nkeys.PREFIX_BYTE_USER:
        raise ConfigurationError("The NKey seed is not a user's seed.", hint=_NKEY_SEED_HINT)
    return public_key


def _header_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _translate(exc: BaseException, what: str) -> EventdeskError:
    """One nats-py failure as an Eventdesk error."""
    if isinstance(exc, EventdeskError):
        return exc
    if isinstance(exc, nats.js.errors.ServiceUnavailableError) or isinstance(
        exc, nats.errors.NoRespondersError
    ):
        return BrokerError(
            f"{what}: JetStream did not answer; it may not be enabled on this server.",
            hint="Start nats-server with JetStream (-js), or use an account that has it.",
        )
    if isinstance(exc, nats.js.errors.APIError):
        if exc.err_code == _ERR_STREAM_NOT_FOUND:
            return EndpointNotFound(f"{what}: the stream does not exist.")
        return BrokerError(f"{what} failed: {exc.description or exc} (code {exc.err_code}).")
    if isinstance(exc, (nats.errors.AuthorizationError, nats.errors.InvalidUserCredentialsError)):
        return AuthenticationFailed(
            f"The NATS server refused the credentials ({what}).",
            hint="Check the user and password, the token, the NKey or the creds file of the "
            "connection.",
        )
    if isinstance(exc, (nats.errors.TimeoutError, TimeoutError)):
        return OperationTimeout(f"{what}: the NATS server did not answer in time.")
    if isinstance(exc, (nats.errors.ConnectionClosedError, nats.errors.StaleConnectionError)):
        return ConnectionLost(f"{what}: the connection to NATS is gone.")
    if isinstance(exc, (nats.errors.NoServersError, OSError)):
        return BrokerUnreachable(f"{what}: cannot reach the NATS server ({exc}).")
    return BrokerError(f"{what} failed: {exc}")


@contextlib.asynccontextmanager
async def _boundary(what: str, seconds: float) -> AsyncIterator[None]:
    """A deadline, and nats-py's exceptions turned into Eventdesk's at the edge."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except nats.errors.Error as exc:  # before TimeoutError: nats' timeout subclasses it
        raise _translate(exc, what) from exc
    except TimeoutError as exc:
        raise OperationTimeout(f"{what} took longer than {seconds:g} s.") from exc
    except OSError as exc:
        raise _translate(exc, what) from exc


class NatsConnector(Connector):
    """One NATS server (or cluster) with JetStream, through nats-py."""

    kind = BrokerKind.NATS

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        creds_file: str | None = None,
        nkey: str | None = None,
        nkey_seed: str | None = None,
        advisory_stream: str = "EVENTDESK_ADVISORIES",
    ) -> None:
        if isinstance(servers, str):
            servers = [s.strip() for s in servers.split(",") if s.strip()]
        if not servers:
            raise ConfigurationError("A NATS connection needs at least one server URL.")
        self.servers = [s if "://" in s else f"nats://{s}" for s in servers]
        self.advisory_stream = advisory_stream
        self._user = user
        self._password = password
        self._token = token
        self._creds_file = creds_file
        self._nkey_seed = nkey_seed.strip() if nkey_seed else None
        register_secret(self._nkey_seed)  # the stripped form is the one in use
        self.nkey = self._checked_nkey(nkey)
        self._nc: Client | None = None

    def _checked_nkey(self, nkey: str | None) -> str | None:
        """The user the seed signs in as; a seed of another key fails here, not at the server."""
        if nkey and not _NKEY_USER.match(nkey):
            # Never quoted: it may be the seed, put where the public key belongs.
            raise ConfigurationError(
                "The connection's NKey is not a user's public key (U and 55 more).",
                hint="Set nkey to the public key; the seed (S…) belongs in the OS keyring.",
            )
        if not self._nkey_seed:
            if nkey:
                raise ConfigurationError(
                    f"NKey user {nkey} was given no seed.",
                    hint="Enter the seed, keep it in the OS keyring, or name its variable.",
                )
            return None
        public_key = nkey_public_key(self._nkey_seed)
        if nkey and public_key != nkey:
            raise ConfigurationError(
                f"The NKey seed is not the seed of {nkey}.",
                hint=f"Enter the seed of {nkey}, or change the public key to {public_key}.",
            )
        return public_key

    def __repr__(self) -> str:
        return f"NatsConnector({','.join(self.servers)!r})"

    @property
    def _js(self) -> Any:
        if self._nc is None or self._nc.is_closed:
            raise ConnectionLost("Not connected to NATS.", hint="Connect first.")
        return self._nc.jetstream()

    async def connect(self, *, timeout: float = 10.0) -> None:
        if self._nc is not None and self._nc.is_connected:
            return
        failures: list[BaseException] = []

        async def on_error(exc: Exception) -> None:
            # nats-py reports an auth refusal here and then a generic failure from connect().
            failures.append(exc)
            log.debug("nats: %s", exc)

        where = ", ".join(self.servers)
        try:
            async with asyncio.timeout(timeout):
                self._nc = await nats.connect(
                    servers=self.servers,
                    user=self._user,
                    password=self._password,
                    token=self._token,
                    user_credentials=self._creds_file,
                    nkeys_seed_str=self._nkey_seed,
                    name="eventdesk",
                    connect_timeout=min(timeout, 5.0),
                    allow_reconnect=False,
                    # nats-py reads 0 as "no limit" while choosing a server: one retry per
                    # server, soon after, then a clear "no servers" instead of a hang.
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.2,
                    error_cb=on_error,
                )
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            auth = next(
                (f for f in failures if isinstance(f, nats.errors.AuthorizationError)), None
            )
            # The server's -ERR 'Authorization Violation' reaches us as a plain nats Error.
            refused = _AUTH_REFUSAL.search(str(exc))
            if auth is not None or refused or isinstance(exc, nats.errors.AuthorizationError):
                raise self._refused(where) from exc
            if isinstance(exc, TimeoutError) and not isinstance(exc, nats.errors.Error):
                raise BrokerUnreachable(f"{where}: no answer within {timeout:g} s.") from exc
            if isinstance(exc, nats.errors.NoServersError | nats.errors.TimeoutError):
                raise BrokerUnreachable(f"Cannot reach the NATS server at {where}.") from exc
            raise _translate(exc, where) from exc

    def _refused(self, where: str) -> EventdeskError:
        if self.nkey is None:
            return _translate(nats.errors.AuthorizationError(), where)
        return AuthenticationFailed(
            f"The NATS server refused NKey user {self.nkey} ({where}).",
            hint="Check that the server's authorization lists this public key "
            "and that the seed is this user's.",
        )

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.close()

    async def ensure_advisory_capture(self, *, timeout: float = 10.0) -> bool:
        """Create the stream that keeps max-delivery and terminated advisories, unless a
        stream of that name already captures them. True if it was created.

        Without it the server's advisories are fire-and-forget and no dead letter is seen.
        If another stream already captures them, name that one as `advisory_stream`.
        """
        name = self.advisory_stream
        config = StreamConfig(
            name=name,
            subjects=list(ADVISORY_SUBJECTS),
            storage=StorageType.FILE,
            description="Eventdesk: consumer advisories, the dead letters of JetStream",
        )
        async with _boundary(f"Setting up stream {name}", timeout):
            try:
                info = await self._js.stream_info(name)
            except nats.js.errors.NotFoundError:
                info = None
            if info is not None:
                return self._accept_existing(name, info.config.subjects or ())
            try:
                await self._js.add_stream(config)
            except nats.js.errors.APIError as exc:
                if exc.err_code == _ERR_STREAM_NAME_IN_USE:  # created meanwhile
                    info = await self._js.stream_info(name)
                    return self._accept_existing(name, info.config.subjects or ())
                if exc.err_code == _ERR_SUBJECTS_OVERLAP:
                    raise await self._overlap_error(name) from exc
                raise
            return True

    async def use_advisory_capture(self, name: str, *, timeout: float = 10.0) -> bool:
        """Read dead letters from stream `name` from now on, creating it if it does not
        exist. True if it was created; on failure the previous stream stays in use."""
        name = name.strip()
        if not name or _BAD_STREAM_NAME.search(name):
            raise ConfigurationError(
                f"{name!r} is not a valid stream name.",
                hint="Use letters, digits, - and _; no spaces, dots, *, > or slashes.",
            )
        previous, self.advisory_stream = self.advisory_stream, name
        try:
            return await self.ensure_advisory_capture(timeout=timeout)
        except BaseException:
            self.advisory_stream = previous
            raise

    async def advisory_capture_streams(self, *, timeout: float = 10.0) -> list[CaptureStream]:
        """Streams on the server that take consumer advisories, complete ones first."""
        async with _boundary("Looking for advisory capture streams", timeout):
            found: list[CaptureStream] = []
            for info in await self._streams():
                subjects = tuple(info.config.subjects or ())
                if any(_subjects_overlap(s, a) for s in subjects for a in ADVISORY_SUBJECTS):
                    found.append(
                        CaptureStream(
                            name=info.config.name,
                            subjects=subjects,
                            messages=int(info.state.messages),
                            complete=_captures_all(subjects),
                        )
                    )
        return sorted(found, key=lambda c: (not c.complete, c.name))

    def _accept_existing(self, name: str, subjects: Iterable[str]) -> bool:
        subjects = list(subjects)
        if _captures_all(subjects):
            return False
        raise ConfigurationError(
            f"Stream {name} exists but does not capture consumer advisories "
            f"(its subjects: {', '.join(subjects) or 'none'}).",
            hint="Choose a stream that captures them, or a new name to create one.",
        )

    async def _overlap_error(self, name: str) -> ConfigurationError:
        holders = [c.name for c in await self.advisory_capture_streams() if c.name != name]
        if holders:
            return ConfigurationError(
                f"Stream {holders[0]} already takes consumer advisories, so {name} cannot "
                "take them too (JetStream gives each subject to one stream).",
                hint=f"Choose {holders[0]} as this connection's capture stream.",
            )
        return ConfigurationError(
            f"Another stream already takes consumer advisories, so {name} cannot.",
            hint="Choose that stream as this connection's capture stream.",
        )

    async def _streams(self) -> list[Any]:
        streams: list[Any] = []
        while True:
            page = await self._js.streams_info(offset=len(streams))
            streams.extend(page)
            if not page:
                return streams

    async def _advisory_counts(self, subject_filter: str = ">") -> dict[tuple[str, str], int]:
        """(stream, consumer) -> how many advisories the capture stream holds for it."""
        try:
            info = await self._js.stream_info(self.advisory_stream, subjects_filter=subject_filter)
        except nats.js.errors.NotFoundError:
            return {}
        counts: dict[tuple[str, str], int] = {}
        for subject, count in (info.state.subjects or {}).items():
            tokens = subject.removeprefix(_ADVISORY_PREFIX).split(".")
            if len(tokens) == 3:
                key = (tokens[1], tokens[2])
                counts[key] = counts.get(key, 0) + int(count)
        return counts

    async def list_endpoints(self, *, timeout: float = 30.0) -> list[Endpoint]:
        async with _boundary("Listing streams", timeout):
            streams = await self._streams()
            counts = await self._advisory_counts()
            endpoints: list[Endpoint] = []
            for info in streams:
                name = info.config.name
                details = {"subjects": ", ".join(info.config.subjects or ())}
                if name == self.advisory_stream:
                    details["role"] = "Eventdesk advisory capture"
                else:
                    consumers = await self._js.consumers_info(name)
                    if consumers:
                        # Lag per consumer: not yet delivered, and delivered but not acked.
                        details["consumers"] = ", ".join(
                            f"{c.name} (pending {c.num_pending}, ack pending {c.num_ack_pending})"
                            for c in consumers
                        )
                subjects = () if name == self.advisory_stream else info.config.subjects or ()
                endpoints.append(
                    Endpoint(
                        name,
                        EndpointKind.TOPIC,
                        depth=info.state.messages,
                        details=details,
                        # Wildcards take no publish; a replay can be typed a subject they match.
                        send_names=tuple(s for s in subjects if not _is_wildcard(s)),
                    )
                )
            for (stream, consumer), count in sorted(counts.items()):
                endpoints.append(
                    Endpoint(
                        dead_letter_endpoint(stream, consumer),
                        EndpointKind.QUEUE,
                        depth=count,
                        is_dead_letter=True,
                        fed_by=(stream,),
                        dead_letter_evidence=(
                            f"max-delivery/terminated advisories of consumer {consumer} "
                            f"captured in {self.advisory_stream}"
                        ),
                        details={"stream": stream, "consumer": consumer},
                        send_names=(),  # a view of advisories: nothing is published to it
                    )
                )
            return endpoints

    async def consumer_lag(self, *, timeout: float = 10.0) -> JetStreamLagReport:
        """Every durable consumer's num_pending and ack_pending, and the dead letters waiting."""
        async with _boundary("Reading consumer lag", timeout):
            consumers: list[ConsumerLag] = []
            for info in await self._streams():
                name = info.config.name
                if name == self.advisory_stream:
                    continue
                for c in await self._js.consumers_info(name):
                    consumers.append(_consumer_lag(name, c))
            counts = await self._advisory_counts()
        depths = {dead_letter_endpoint(*key): count for key, count in counts.items()}
        return JetStreamLagReport(tuple(consumers), depths)

    def server_version(self, *, timeout: float = 10.0) -> str | None:
        """The server's version as it said when the link opened, for incident reports."""
        if self._nc is None or not self._nc.is_connected:
            return None
        version = self._nc.connected_server_version
        return f"nats-server {version.major}.{version.minor}.{version.patch}"

    async def depth(self, endpoint: str, *, timeout: float = 10.0) -> int:
        async with _boundary(f"Reading the depth of {endpoint}", timeout):
            dlq = _split_dead_letter_endpoint(endpoint)
            if dlq is not None:
                return sum((await self._advisory_counts(_advisory_filter(*dlq))).values())
            info = await self._js.stream_info(endpoint)
            return int(info.state.messages)

    def browse(self, endpoint: str, *, page_size: int = 500) -> NatsBrowser:
        return NatsBrowser(self, endpoint, page_size=page_size)

    async def purge(self, endpoint: str, *, timeout: float = 30.0) -> int:
        """A dead-letter endpoint: every dead letter marked handled (its advisories removed,
        the messages stay in their stream). A stream: JetStream's purge of all its messages."""
        if _split_dead_letter_endpoint(endpoint) is None:
            async with _boundary(f"Purging stream {endpoint}", timeout):
                before = int((await self._js.stream_info(endpoint)).state.messages)
                await self._js.purge_stream(endpoint)
            return before
        handled = 0
        async with self.browse(endpoint) as browser:
            while True:
                page = await browser.next_page(timeout=timeout)
                outcomes = await browser.settle(page.messages, timeout=timeout)
                handled += sum(outcome.ok for outcome in outcomes)
                if not page.more:
                    return handled

    async def send(
        self, target: str, messages: Sequence[Outgoing], *, timeout: float = 30.0
    ) -> list[Outcome]:
        """Publish to the subject; ok once JetStream's PubAck arrives.

        `Nats-Msg-Id` is the replay's idempotency key, so the stream drops a second copy
        within its duplicate window; such a PubAck is ok and says "duplicate".
        """
        outcomes: list[Outcome] = []
        async with _boundary(f"Publishing to {target}", timeout):
            js = self._js
            for outgoing in messages:
                headers = {k: _header_text(v) for k, v in outgoing.headers}
                msg_id = headers.get(_ORIGINAL_ID_HEADER) or outgoing.source_id
                headers[_MSG_ID_HEADER] = msg_id
                try:
                    ack = await js.publish(
                        target, outgoing.body, timeout=min(timeout, 10.0), headers=headers
                    )
                except nats.js.errors.NoStreamResponseError:
                    outcomes.append(
                        Outcome(outgoing.source_id, False, f"no JetStream stream takes {target}")
                    )
                    continue
                except (nats.js.errors.APIError, nats.errors.TimeoutError) as exc:
                    outcomes.append(
                        Outcome(outgoing.source_id, False, str(_translate(exc, "publish")))
                    )
                    continue
                if ack.duplicate:
                    detail = (
                        f"duplicate: {_MSG_ID_HEADER} {msg_id} is already in {ack.stream} "
                        f"at seq {ack.seq}; not stored again"
                    )
                else:
                    detail = f"{ack.stream} seq {ack.seq}"
                outcomes.append(Outcome(outgoing.source_id, True, detail))
        return outcomes


def _consumer_lag(stream: str, info: Any) -> ConsumerLag:
    floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
    return ConsumerLag(
        stream=stream,
        consumer=info.name,
        num_pending=int(info.num_pending or 0),
        ack_pending=int(info.num_ack_pending or 0),
        ack_floor=int(floor or 0),
        waiting=int(info.num_waiting or 0) + (1 if info.push_bound else 0),
    )


class NatsBrowser(Browser):
    """Reads a stream, or a consumer's dead letters, by sequence: nothing is consumed.

    Direct reads (STREAM.MSG.GET) need no consumer, so browsing never acks, never moves
    a consumer and never redelivers anything. Settling removes the advisory from the
    capture stream (the dead letter is handled); the message stays in its stream, where
    retention, not Eventdesk, decides its fate.
    """

    def __init__(self, connector: NatsConnector, endpoint: str, *, page_size: int) -> None:
        self._connector = connector
        self.endpoint = endpoint
        self._page_size = max(1, page_size)
        self._dlq = _split_dead_letter_endpoint(endpoint)
        if self._dlq is not None:
            self._stream = connector.advisory_stream
            self._filter = _advisory_filter(*self._dlq)
            self.side_effect_note = (
                "Read by sequence: nothing is acked or consumed. Settling removes the "
                f"advisory from {connector.advisory_stream}; the message stays in "
                f"stream {self._dlq[0]}."
            )
        else:
            self._stream = endpoint
            self._filter = ">"
            self.side_effect_note = "Read by sequence: nothing is acked or consumed."
        self._next_seq = 1
        self._done = False
        # Message id -> advisory sequences that reported it (usually one).
        self._advisories: dict[str, list[int]] = {}

    async def _read_next(self) -> RawStreamMsg | None:
        try:
            raw = await self._connector._js.get_msg(
                self._stream, seq=self._next_seq, subject=self._filter, next=True
            )
        except nats.js.errors.NotFoundError as exc:
            if exc.err_code == _ERR_STREAM_NOT_FOUND and self._dlq is None:
                raise EndpointNotFound(f"Stream {self._stream} does not exist.") from exc
            return None  # past the last message, or no capture stream yet
        self._next_seq = int(raw.seq or self._next_seq) + 1
        return raw

    async def next_page(self, *, timeout: float = 10.0) -> Page:
        messages: list[Message] = []
        if self._done:
            return Page(messages, False)
        async with _boundary(f"Browsing {self.endpoint}", timeout):
            while len(messages) < self._page_size:
                raw = await self._read_next()
                if raw is None:
                    self._done = True
                    break
                if self._dlq is None:
                    messages.append(self._stream_message(raw))
                    continue
                message = await self._dead_letter(raw)
                if message is not None:
                    messages.append(message)
        return Page(messages, not self._done)

    def _stream_message(self, raw: RawStreamMsg) -> Message:
        return Message(
            endpoint=self.endpoint,
            id=f"{self._stream}:{raw.seq}",
            body=raw.data or b"",
            headers=tuple((raw.headers or {}).items()),
            timestamp=raw.time,
            attributes={"subject": raw.subject or "", "stream sequence": str(raw.seq)},
        )

    async def _dead_letter(self, advisory: RawStreamMsg) -> Message | None:
        """The original message an advisory names, with the advisory's facts."""
        assert self._dlq is not None
        try:
            data = json.loads(advisory.data or b"{}")
        except ValueError:
            data = {}
        stream = str(data.get("stream") or self._dlq[0])
        consumer = str(data.get("consumer") or self._dlq[1])
        stream_seq = int(data.get("stream_seq") or 0)
        message_id = f"{stream}:{stream_seq}"
        seen = message_id in self._advisories
        self._advisories.setdefault(message_id, []).append(int(advisory.seq or 0))
        if seen:
            return None  # the same message reported twice: one row, settled together
        kind = (advisory.subject or "").removeprefix(_ADVISORY_PREFIX).split(".", 1)[0]
        deliveries = data.get("deliveries")
        attributes = {
            "stream": stream,
            "stream sequence": str(stream_seq),
            "consumer": consumer,
            "advisory sequence": str(advisory.seq),
        }
        original: RawStreamMsg | None = None
        try:
            original = await self._connector._js.get_msg(stream, seq=stream_seq)
        except nats.js.errors.NotFoundError:
            attributes["note"] = (
                f"The message is no longer in stream {stream} (deleted, purged or expired); "
                "only the advisory remains."
            )
        if kind == _MAX_DELIVERIES:
            reason = f"max deliveries reached ({deliveries})"
        else:
            reason = str(data.get("reason") or "terminated by the consumer")
        facts = DeadLetterFacts(
            convention=_CONVENTIONS.get(kind, "nats advisory"),
            original_destination=original.subject if original else None,
            original_offset=stream_seq,
            reason=reason,
            attempts=int(deliveries) if isinstance(deliveries, int) else None,
            last_failure=_parse_time(data.get("timestamp")) or advisory.time,
            failed_service=consumer,
            extra={"stream": stream, "advisory id": str(data.get("id", ""))},
        )
        if original is not None:
            attributes["subject"] = original.subject or ""
        return Message(
            endpoint=self.endpoint,
            id=message_id,
            body=(original.data or b"") if original else b"",
            headers=tuple((original.headers or {}).items()) if original else (),
            timestamp=original.time if original else None,
            dead_letter=facts,
            attributes=attributes,
        )

    async def settle(self, messages: Sequence[Message], *, timeout: float = 30.0) -> list[Outcome]:
        """Remove these dead letters' advisories from the capture stream (mark handled)."""
        outcomes: list[Outcome] = []
        async with _boundary(f"Settling on {self.endpoint}", timeout):
            for message in messages:
                advisories = self._advisories.get(message.id)
                if self._dlq is None or advisories is None:
                    outcomes.append(
                        Outcome(message.id, False, "not a dead letter shown by this browser")
                    )
                    continue
                for seq in advisories:
                    try:
                        await self._connector._js.delete_msg(self._stream, seq)
                    except nats.js.errors.NotFoundError:
                        pass  # already removed: settling is idempotent
                del self._advisories[message.id]
                outcomes.append(
                    Outcome(
                        message.id,
                        True,
                        f"advisory removed from {self._stream}; the message stays in its stream",
                    )
                )
        return outcomes

    async def close(self) -> None:
        # Nothing is held: reads by sequence take no lease on any message.
        self._done = True
