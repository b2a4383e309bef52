"""RabbitMQ adapter: AMQP (aio-pika) to read queues, the management HTTP API to list them.

AMQP has no way to list queues or see their arguments, so listing and dead-letter
detection go through the management plugin; everything that touches messages uses AMQP.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aio_pika.abc
import aiormq.abc
import aiormq.exceptions
from aiormq.abc import DeliveredMessage

from .base import Browser, Connector
from .dead_letters import dead_letter_source_from_name, header_text, parse_dead_letter
from .errors import (
    CONNECTION_ERRORS,
    AuthenticationFailed,
    AuthorizationFailed,
    BrokerError,
    BrokerUnreachable,
    ConfigurationError,
    ConnectionLost,
    EndpointNotFound,
    EventdeskError,
    OperationTimeout,
)
from .model import BrokerKind, Endpoint, EndpointKind, Headers, Message, Outcome, Outgoing, Page
from .sampling import Metric, QueueStats

log = logging.getLogger(__name__)

BROWSE_NOTE = (
    "Browsing holds these messages unacknowledged until you leave the queue; "
    "they go back to it marked redelivered."
)
# Every held message costs broker memory and one delivery tag on our channel; past this
# many the operator should filter or move messages rather than page further.
MAX_HELD_MESSAGES = 50_000

# How long close() waits for the broker to show requeued messages as ready again.
_REQUEUE_WAIT = 3.0
# A browse that waited this long for a delivery, with the queue showing nothing ready,
# ends: the messages it expected were taken by another client. Shorter, and messages
# another client is just requeueing could be missed.
_QUIET_PERIOD = 2.0
# basic.qos carries the prefetch count in 16 bits.
_MAX_PREFETCH = 65_535
_MANAGEMENT_HINT = (
    "Check that the management plugin is enabled (rabbitmq-plugins enable "
    "rabbitmq_management) and that the connection's management URL is right."
)
# Headers that change each time the same message is dead-lettered again, left out of the
# content hash so a message keeps its identity across reject/replay cycles.
_VOLATILE_HEADERS = frozenset({"x-death", "x-delivery-count"})
_VOLATILE_PREFIXES = ("x-last-death-",)


def _redact(text: str, secret: str) -> str:
    """SDK text for an error message, or none of it if it contains the password anywhere."""
    if secret and secret in text:
        return "(details withheld: they contained the password)"
    return text


class ManagementClient:
    """A minimal client for the RabbitMQ management HTTP API.

    Uses urllib in a worker thread: the API is called a few times per refresh, which does
    not justify another HTTP dependency. Every call is bounded by `timeout`.
    """

    def __init__(self, base_url: str, *, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._authorization = f"Basic {token}"

    def __repr__(self) -> str:
        return f"ManagementClient({self.base_url!r}, username={self._username!r})"

    async def get(self, path: str, *, timeout: float = 10.0) -> Any:
        return await self.request("GET", path, timeout=timeout)

    async def put(self, path: str, body: Mapping[str, Any], *, timeout: float = 10.0) -> Any:
        return await self.request("PUT", path, body=body, timeout=timeout)

    async def delete(self, path: str, *, timeout: float = 10.0) -> Any:
        return await self.request("DELETE", path, timeout=timeout)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> Any:
        """The decoded JSON answer (None for an empty one); raises Eventdesk errors only."""
        try:
            # The thread's own socket timeout ends it; wait_for only stops us waiting longer.
            return await asyncio.wait_for(
                asyncio.to_thread(self._request_sync, method, path, body, timeout),
                timeout + 1.0,
            )
        except TimeoutError as exc:
            raise OperationTimeout(
                f"The RabbitMQ management API at {self.base_url} did not answer "
                f"{method} {path} within {timeout:g} s."
            ) from exc

    def _request_sync(
        self, method: str, path: str, body: Mapping[str, Any] | None, timeout: float
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", self._authorization)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, method, path) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise OperationTimeout(
                    f"The RabbitMQ management API at {self.base_url} did not answer "
                    f"{method} {path} within {timeout:g} s."
                ) from exc
            raise BrokerUnreachable(
                f"Cannot reach the RabbitMQ management API at {self.base_url}: "
                f"{_redact(str(exc.reason), self._password)}",
                hint=_MANAGEMENT_HINT,
            ) from exc
        except TimeoutError as exc:
            raise OperationTimeout(
                f"The RabbitMQ management API at {self.base_url} did not answer "
                f"{method} {path} within {timeout:g} s."
            ) from exc
        except OSError as exc:
            raise BrokerUnreachable(
                f"Lost the RabbitMQ management API at {self.base_url}: "
                f"{_redact(str(exc), self._password)}",
                hint=_MANAGEMENT_HINT,
            ) from exc
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise BrokerError(
                f"{self.base_url}{path} did not answer with JSON; is it the management API?",
                hint=_MANAGEMENT_HINT,
            ) from exc

    def _http_error(self, exc: urllib.error.HTTPError, method: str, path: str) -> EventdeskError:
        reason = ""
        try:
            answer = json.loads(exc.read() or b"{}")
            reason = str(answer.get("reason") or answer.get("error") or "")
        except (ValueError, OSError, AttributeError):
            pass
        reason = _redact(reason, self._password)
        where = f"{method} {self.base_url}{path}"
        if exc.code == 401:
            return AuthenticationFailed(
                f"The RabbitMQ management API refused user {self._username!r} ({where}).",
                hint=(
                    "Check the user name and password; to list queues the user also needs "
                    "the 'management' or 'monitoring' tag."
                ),
            )
        if exc.code == 403:
            return AuthorizationFailed(
                f"User {self._username!r} may not use {where}" + (f": {reason}" if reason else ".")
            )
        if exc.code == 404:
            return EndpointNotFound(f"Not found: {where}" + (f" ({reason})" if reason else ""))
        return BrokerError(
            f"The RabbitMQ management API answered {exc.code} to {where}"
            + (f": {reason}" if reason else "")
        )


@dataclass(frozen=True, slots=True)
class _DeadLetterRoute:
    """Where one queue sends its dead letters, and what configured that."""

    source: str
    exchange: str
    routing_key: str | None
    # "argument" or "policy <name>"
    origin: str


class ClosingConnection(aio_pika.Connection):
    """aio-pika's Connection, closed when its connect fails. `aio_pika.connect` drops a
    Connection whose connect failed, and its `__del__` then schedules a close that nobody
    awaits ("coroutine 'Connection.close' was never awaited" as the loop ends)."""

    async def connect(self, timeout: aio_pika.abc.TimeoutType = None) -> None:
        try:
            await super().connect(timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.close()
            raise


class RabbitMQConnector(Connector):
    """One RabbitMQ vhost, read over AMQP and the management API."""

    kind = BrokerKind.RABBITMQ

    def __init__(
        self,
        *,
        host: str,
        port: int = 5672,
        vhost: str = "/",
        username: str,
        password: str,
        management_url: str | None = None,
        tls: bool = False,
        ssl_cafile: str | None = None,
        management_username: str | None = None,
        management_password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.vhost = vhost
        self.username = username
        self._password = password
        # amqps: verified against ssl_cafile, or the system's CAs when none is given.
        self.tls = tls
        self.ssl_cafile = ssl_cafile
        # The management API may have its own account; by default it is the AMQP one.
        self.management = ManagementClient(
            management_url or f"http://{host}:15672",
            username=management_username or username,
            password=password if management_password is None else management_password,
        )
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._browsers: weakref.WeakSet[RabbitMQBrowser] = weakref.WeakSet()
        # One publisher-confirm channel per exchange sent to, kept open between batches.
        self._publishers: dict[str, aio_pika.abc.AbstractChannel] = {}
        self._publishers_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"RabbitMQConnector(host={self.host!r}, port={self.port}, vhost={self.vhost!r}, "
            f"username={self.username!r}, management_url={self.management.base_url!r})"
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """The amqps context: the CA file's certificates, or the system's, and name checks."""
        try:
            return ssl.create_default_context(cafile=self.ssl_cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"Cannot use the CA file {self.ssl_cafile} for amqps: {exc}.",
                hint="Point the CA file at the PEM certificate of the CA that signed the broker's.",
            ) from exc

    @property
    def _vhost_path(self) -> str:
        return urllib.parse.quote(self.vhost, safe="")

    # -- connection ------------------------------------------------------------------

    async def connect(self, *, timeout: float = 10.0) -> None:
        if self._connection is not None and not self._connection.is_closed:
            return
        try:
            async with asyncio.timeout(timeout):
                self._connection = await aio_pika.connect(
                    host=self.host,
                    port=self.port,
                    login=self.username,
                    password=self._password,
                    virtualhost=self.vhost,
                    timeout=timeout,
                    client_properties={"connection_name": "Eventdesk"},
                    ssl=self.tls,
                    ssl_context=self.ssl_context() if self.tls else None,
                    connection_class=ClosingConnection,
                )
        except Exception as exc:
            raise self._translate(exc, doing="connect", timeout=timeout) from exc

    async def close(self) -> None:
        for browser in list(self._browsers):
            await browser.close()
        # Closing the connection closes their channels.
        self._publishers.clear()
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed:
            return
        try:
            async with asyncio.timeout(5.0):
                await connection.close()
        except Exception as exc:
            # Closing is best effort: the broker drops the connection's state either way.
            log.debug("closing the RabbitMQ connection failed: %r", exc)

    def _require_connection(self) -> aio_pika.abc.AbstractConnection:
        if self._connection is None or self._connection.is_closed:
            raise ConnectionLost(f"Not connected to RabbitMQ at {self.address}.")
        return self._connection

    def _translate(
        self,
        exc: BaseException,
        *,
        doing: str,
        timeout: float | None = None,
        queue: str | None = None,
    ) -> EventdeskError:
        """One aio-pika/aiormq failure as an Eventdesk error; never quotes the password."""
        if isinstance(exc, EventdeskError):
            return exc
        resource = f"queue {queue!r} in vhost {self.vhost!r}" if queue else f"vhost {self.vhost!r}"
        detail = _redact(_reply_text(exc), self._password)
        if isinstance(exc, TimeoutError):
            within = f" within {timeout:g} s" if timeout else ""
            return OperationTimeout(f"RabbitMQ at {self.address} did not answer ({doing}){within}.")
        if isinstance(
            exc,
            aiormq.exceptions.ProbableAuthenticationError | aiormq.exceptions.AuthenticationError,
        ):
            return AuthenticationFailed(
                f"RabbitMQ at {self.address} refused the login of user {self.username!r}."
            )
        if isinstance(exc, aiormq.exceptions.ChannelAccessRefused):
            return AuthorizationFailed(
                f"User {self.username!r} may not access {resource} on {self.address}: {detail}"
            )
        if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
            what = f"Queue {queue!r}" if queue else "The requested object"
            return EndpointNotFound(f"{what} does not exist in vhost {self.vhost!r}.")
        if isinstance(exc, aiormq.exceptions.ConnectionNotAllowed) or (
            doing == "connect"
            and isinstance(exc, aiormq.exceptions.InvalidFrameError)
            and "Connection.Close" in str(exc)
        ):
            # The broker answers Connection.Open for an unknown or forbidden vhost with
            # Connection.Close; aiormq reports that as an unexpected frame.
            return AuthorizationFailed(
                f"RabbitMQ at {self.address} would not open vhost {self.vhost!r} for user "
                f"{self.username!r}: it does not exist or the user has no permission on it."
            )
        if doing == "connect" and isinstance(exc, OSError | aiormq.exceptions.AMQPConnectionError):
            return BrokerUnreachable(f"Cannot reach RabbitMQ at {self.address}: {detail}")
        if isinstance(
            exc,
            aiormq.exceptions.ConnectionClosed
            | aiormq.exceptions.ChannelInvalidStateError
            | aiormq.exceptions.AMQPConnectionError
            | ConnectionError,
        ):
            return ConnectionLost(
                f"The connection to RabbitMQ at {self.address} went away ({doing}): {detail}"
            )
        if isinstance(exc, aiormq.exceptions.AMQPError | OSError):
            return BrokerError(f"RabbitMQ at {self.address} failed to {doing}: {detail}")
        if (
            self._connection is None
            or self._connection.is_closed
            or (isinstance(exc, RuntimeError) and _names_the_link(str(exc)))
        ):
            # aio-pika reports a dropped or reconnecting link as a RuntimeError ("Connection
            # is not ready", "<connection> connection closed", "No active transport").
            return ConnectionLost(
                f"The connection to RabbitMQ at {self.address} went away ({doing}): {detail}"
            )
        return BrokerError(
            f"Unexpected failure from RabbitMQ at {self.address} ({doing}): "
            f"{type(exc).__name__}: {detail}"
        )

    # -- listing -----------------------------------------------------------------------

    async def list_endpoints(self, *, timeout: float = 30.0) -> list[Endpoint]:
        vhost = self._vhost_path
        columns = (
            "name,type,durable,consumers,messages,messages_ready,messages_unacknowledged,"
            "arguments,policy,effective_policy_definition,operator_policy"
        )
        try:
            async with asyncio.timeout(timeout):
                queues, exchanges, bindings = await asyncio.gather(
                    self.management.get(f"/api/queues/{vhost}?columns={columns}", timeout=timeout),
                    self.management.get(f"/api/exchanges/{vhost}", timeout=timeout),
                    self.management.get(f"/api/bindings/{vhost}", timeout=timeout),
                )
        except TimeoutError as exc:
            raise OperationTimeout(
                f"The RabbitMQ management API at {self.management.base_url} did not list "
                f"vhost {self.vhost!r} within {timeout:g} s."
            ) from exc
        except EndpointNotFound as exc:
            raise EndpointNotFound(
                f"Vhost {self.vhost!r} does not exist on {self.management.base_url}."
            ) from exc
        return build_endpoints(self.vhost, queues or [], exchanges or [], bindings or [])

    async def server_version(self, *, timeout: float = 10.0) -> str | None:
        """The version the management API reports ("RabbitMQ 3.x.y"), for incident reports."""
        overview = await self.management.get("/api/overview", timeout=timeout)
        version = overview.get("rabbitmq_version") if isinstance(overview, dict) else None
        return f"RabbitMQ {version}" if version else None

    async def depth(self, endpoint: str, *, timeout: float = 10.0) -> int:
        """Messages ready for delivery, exact and current (a passive declare).

        Messages held unacknowledged by consumers or browsers are not counted: AMQP does not
        report them. `list_endpoints` counts both, from statistics about a second old.
        """
        connection = self._require_connection()
        try:
            async with asyncio.timeout(timeout):
                async with connection.channel(publisher_confirms=False) as channel:
                    queue = await channel.declare_queue(endpoint, passive=True)
                    return int(queue.declaration_result.message_count or 0)
        except Exception as exc:
            raise self._translate(
                exc, doing=f"count queue {endpoint!r}", timeout=timeout, queue=endpoint
            ) from exc

    async def purge(self, endpoint: str, *, timeout: float = 30.0) -> int:
        """Drops the queue's ready messages; ones held unacknowledged by a consumer stay."""
        connection = self._require_connection()
        try:
            async with asyncio.timeout(timeout):
                async with connection.channel(publisher_confirms=False) as channel:
                    queue = await channel.declare_queue(endpoint, passive=True)
                    purged = await queue.purge()
                    return int(purged.message_count or 0)
        except Exception as exc:
            raise self._translate(
                exc, doing=f"purge queue {endpoint!r}", timeout=timeout, queue=endpoint
            ) from exc

    async def queue_stats(self, *, timeout: float = 10.0) -> list[QueueStats]:
        """Per queue: ready, unacked, consumers and publish/deliver/ack rates (msg/s).

        From the management API, whose statistics trail the broker by a few seconds.
        A rate the API has not reported yet (no traffic since the queue appeared) is absent.
        """
        columns = "name,consumers,messages_ready,messages_unacknowledged,message_stats"
        try:
            async with asyncio.timeout(timeout):
                rows = await self.management.get(
                    f"/api/queues/{self._vhost_path}?columns={columns}", timeout=timeout
                )
        except TimeoutError as exc:
            raise OperationTimeout(
                f"The RabbitMQ management API at {self.management.base_url} did not report "
                f"queue statistics within {timeout:g} s."
            ) from exc
        return [_queue_stats(row) for row in rows or [] if row.get("name")]

    async def send(
        self, target: str, messages: Sequence[Outgoing], *, timeout: float = 30.0
    ) -> list[Outcome]:
        """Publish with publisher confirms and `mandatory`, so an unroutable message fails.

        `target` is a queue name (published through the default exchange), or
        "exchange/routing-key"; a queue whose name holds "/" is written "/queue/name" (the
        empty exchange name is the default exchange). Raises only if nothing could be
        published (no connection, missing exchange); each message gets its own Outcome.
        """
        exchange_name, routing_key = split_target(target)
        self._require_connection()
        if not messages:
            return []
        try:
            async with asyncio.timeout(timeout):
                channel = await self._publisher(exchange_name)
        except Exception as exc:
            error = self._translate(exc, doing=f"open {target!r} to publish", timeout=timeout)
            if exchange_name and isinstance(error, EndpointNotFound):
                error = EndpointNotFound(f"Exchange {exchange_name!r} does not exist.")
            raise error from exc
        # Straight on aiormq: aio-pika's Message costs more than the publish itself, and
        # not waiting for each frame to drain lets the whole batch go out at once.
        tasks = [
            asyncio.ensure_future(
                channel.basic_publish(
                    outgoing.body,
                    exchange=exchange_name,
                    routing_key=routing_key,
                    properties=amqp_properties(outgoing),
                    mandatory=True,
                    wait=False,
                )
            )
            for outgoing in messages
        ]
        try:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
        except BaseException:
            # Cancelled: nothing is confirmed, so the caller settles none of them.
            await self._abandon(exchange_name, tasks)
            raise
        if pending:
            await self._abandon(exchange_name, pending)
        outcomes: list[Outcome] = []
        for outgoing, task in zip(messages, tasks, strict=True):
            if task in pending:
                outcomes.append(
                    Outcome(
                        outgoing.source_id,
                        False,
                        f"no confirmation within {timeout:g} s (it may have been delivered)",
                    )
                )
            elif task.exception() is not None:
                outcomes.append(
                    Outcome(outgoing.source_id, False, self._publish_failure(task.exception()))
                )
            else:
                outcomes.append(Outcome(outgoing.source_id, True, f"confirmed by {target}"))
        return outcomes

    async def _publisher(self, exchange_name: str) -> aiormq.Channel:
        """This connector's confirm channel for the exchange, opened if closed."""
        async with self._publishers_lock:
            channel = self._publishers.get(exchange_name)
            if channel is None or channel.is_closed:
                channel = await self._require_connection().channel(
                    publisher_confirms=True, on_return_raises=True
                )
                try:
                    if exchange_name:
                        # A missing exchange fails here, once, not on every publish.
                        await channel.get_exchange(exchange_name, ensure=True)
                except BaseException:
                    await self._close_channel(channel)
                    raise
                self._publishers[exchange_name] = channel
            underlay = await channel.get_underlay_channel()
            # The concrete channel: its basic_publish can skip waiting for each drain.
            assert isinstance(underlay, aiormq.Channel)
            return underlay

    async def _abandon(self, exchange_name: str, publishing: Iterable[asyncio.Future]) -> None:
        """Stop waiting for these publishes, on a fresh channel from now on: confirms still
        owed to the old one would arrive for futures given up."""
        for task in publishing:
            task.cancel()
        await self._drop_publisher(exchange_name)

    async def _drop_publisher(self, exchange_name: str) -> None:
        channel = self._publishers.pop(exchange_name, None)
        if channel is not None:
            await self._close_channel(channel)

    async def _close_channel(self, channel: aio_pika.abc.AbstractChannel) -> None:
        try:
            async with asyncio.timeout(5.0):
                await channel.close()
        except Exception as exc:
            log.debug("closing a publish channel failed: %r", exc)

    def _publish_failure(self, exc: BaseException | None) -> str:
        if isinstance(exc, aiormq.exceptions.PublishError):
            frame = exc.frame
            reply = getattr(frame, "reply_text", "") or "returned"
            return f"unroutable: the broker returned it ({reply})"
        if isinstance(exc, aiormq.exceptions.DeliveryError):
            return "the broker refused it (nack)"
        if exc is None:
            return "failed"
        error = self._translate(exc, doing="publish")
        if isinstance(error, CONNECTION_ERRORS):
            # Published, then the link went before the confirm came back.
            return f"{error} (it may have been delivered)"
        return str(error)

    def browse(self, endpoint: str, *, page_size: int = 500) -> RabbitMQBrowser:
        browser = RabbitMQBrowser(self, endpoint, page_size=page_size)
        self._browsers.add(browser)
        return browser


class RabbitMQBrowser(Browser):
    """Pages through a queue with a consumer, holding every message it showed unacked.

    RabbitMQ cannot show message 501 without holding 1..500, so nothing is given back
    until `close()`, which requeues all of it at once. Each page is read by one consumer
    whose prefetch is what the page still needs: as nothing is acked meanwhile, the broker
    delivers exactly that many, so the browse never holds more than it has shown.
    """

    side_effect_note = BROWSE_NOTE

    def __init__(
        self,
        connector: RabbitMQConnector,
        queue: str,
        *,
        page_size: int = 500,
        max_held: int = MAX_HELD_MESSAGES,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._connector = connector
        self.endpoint = queue
        self.page_size = page_size
        self.max_held = max_held
        self._channel: aio_pika.abc.AbstractChannel | None = None
        # Ready messages when browsing began: the end of the browse, so messages published
        # meanwhile (or our own requeues) never make it endless.
        self._expected: int | None = None
        self._read = 0
        # Deliveries not shown yet: a page cut short (timeout, cancelled) shows them next.
        self._arrived: list[DeliveredMessage] = []
        # Set when another consumer holds the queue exclusively: basic.get still reads it.
        self._get_only = False
        self._delivered = asyncio.Event()
        # Delivery tags held and not acked, oldest first; and those of what was shown, by
        # Message.id (a list: two identical messages without message_id share an id).
        self._unsettled: list[int] = []
        self._held_tags: dict[str, list[int]] = {}
        self._exhausted = False
        self._closed = False
        self._lock = asyncio.Lock()

    @property
    def held(self) -> int:
        """Messages this browser holds unacknowledged right now."""
        return len(self._unsettled)

    async def _open(self) -> aiormq.abc.AbstractChannel:
        if self._channel is None:
            connection = self._connector._require_connection()
            channel = await connection.channel(publisher_confirms=False)
            self._channel = channel
            try:
                queue = await channel.declare_queue(self.endpoint, passive=True)
            except BaseException:
                # The broker closes the channel of a failed declare; the next page starts over.
                self._channel = None
                raise
            self._expected = int(queue.declaration_result.message_count or 0)
        return await self._channel.get_underlay_channel()

    async def next_page(self, *, timeout: float = 10.0) -> Page:
        if self._closed or self._exhausted:
            return Page(messages=(), more=False)
        async with self._lock:
            deadline = asyncio.get_running_loop().time() + timeout
            try:
                async with asyncio.timeout(timeout):
                    channel = await self._open()
                wanted = self._page_wanted()
                if wanted > len(self._arrived):
                    await self._consume(channel, wanted - len(self._arrived), deadline)
            except Exception as exc:
                raise self._connector._translate(
                    exc,
                    doing=f"browse queue {self.endpoint!r}",
                    timeout=timeout,
                    queue=self.endpoint,
                ) from exc
            messages = [self._show(delivered) for delivered in self._arrived[:wanted]]
            del self._arrived[:wanted]
            # The end is checked again after the page, so a page that takes the last
            # message already says there is no more.
            self._page_wanted()
            return Page(messages=tuple(messages), more=not self._exhausted)

    def _page_wanted(self) -> int:
        """How many messages the next page shows; 0 (and the browse ends) at the end."""
        if self._closed:
            # close() ran meanwhile and gave everything back; stop reading.
            self._exhausted = True
        if self._exhausted or self._read >= (self._expected or 0):
            self._exhausted = True
            return 0
        if self._read >= self.max_held:
            self._exhausted = True
            self.side_effect_note = (
                f"{BROWSE_NOTE} Only the first {self.max_held:,} messages can be "
                "shown at once; the rest stay in the queue unseen."
            )
            return 0
        left = min((self._expected or 0), self.max_held) - self._read
        return min(self.page_size, left, _MAX_PREFETCH)

    async def _consume(
        self, channel: aiormq.abc.AbstractChannel, count: int, deadline: float
    ) -> None:
        """Have `count` more deliveries arrive: one consumer whose prefetch is `count`."""
        # Counted before consuming: deliveries can arrive before the consume-ok does.
        until = len(self._arrived) + count
        if self._get_only:
            await self._get(channel, until, deadline)
            return
        await channel.basic_qos(prefetch_count=count)
        try:
            consuming = await channel.basic_consume(self.endpoint, self._on_delivery, no_ack=False)
        except aiormq.exceptions.ChannelAccessRefused:
            if self._read or self._arrived:
                raise
            # "in exclusive use": another consumer holds the queue exclusively. The refusal
            # closed the channel (nothing was held on it); basic.get on a new one still works.
            self._get_only = True
            self._channel = None
            await self._get(await self._open(), until, deadline)
            return
        try:
            await self._wait_for_deliveries(channel, until, deadline)
        finally:
            # Deliveries sent before the cancel-ok still reach _on_delivery first, and the
            # prefetch keeps them within `count`: the next page shows them. A closed
            # channel (browse closed, queue deleted) took its consumer with it.
            if not self._closed and not channel.is_closed:
                await channel.basic_cancel(str(consuming.consumer_tag), timeout=5.0)

    async def _get(self, channel: aiormq.abc.AbstractChannel, count: int, deadline: float) -> None:
        """Like a consumer, one basic.get at a time, until `count` have arrived or the queue
        stays empty for a quiet period (one empty answer never ends the browse)."""
        loop = asyncio.get_running_loop()
        empty_since: float | None = None
        while len(self._arrived) < count and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if self._arrived:
                    return
                raise TimeoutError
            got = await channel.basic_get(self.endpoint, no_ack=False, timeout=remaining)
            if isinstance(got.delivery, aiormq.spec.Basic.GetOk):
                await self._on_delivery(got)
                empty_since = None
            elif empty_since is None:
                empty_since = loop.time()
            elif loop.time() - empty_since >= _QUIET_PERIOD:
                self._exhausted = True
                return
            else:
                await asyncio.sleep(0.05)

    async def _on_delivery(self, delivered: DeliveredMessage) -> None:
        self._arrived.append(delivered)
        self._unsettled.append(_delivery_tag(delivered))
        self._delivered.set()

    async def _wait_for_deliveries(
        self, channel: aiormq.abc.AbstractChannel, count: int, deadline: float
    ) -> None:
        """Until `count` have arrived, or a quiet queue shows the rest were taken elsewhere.

        Right after another client requeued messages the queue can look empty for a
        moment, so one look at it never ends the browse; a quiet period does.
        """
        loop = asyncio.get_running_loop()
        while len(self._arrived) < count and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if self._arrived:
                    # Give the operator what arrived; the next page goes on from here.
                    return
                raise TimeoutError
            self._delivered.clear()
            quiet = min(remaining, _QUIET_PERIOD)
            try:
                await asyncio.wait_for(self._delivered.wait(), quiet)
                continue
            except TimeoutError:
                if quiet < _QUIET_PERIOD:
                    continue
            declared = await channel.queue_declare(self.endpoint, passive=True, timeout=remaining)
            if not declared.message_count:
                # Another client took the rest for good: this is the end of the queue.
                self._exhausted = True
                return

    def _show(self, delivered: DeliveredMessage) -> Message:
        incoming = aio_pika.IncomingMessage(delivered, no_ack=False)
        message = message_from_amqp(self.endpoint, incoming)
        self._read += 1
        self._held_tags.setdefault(message.id, []).append(_delivery_tag(delivered))
        return message

    async def settle(self, messages: Sequence[Message], *, timeout: float = 30.0) -> list[Outcome]:
        """Ack the held deliveries of exactly these messages, so the broker drops them."""
        async with self._lock:
            outcomes: dict[int, Outcome] = {}
            acking: list[tuple[int, str, int]] = []  # (position, id, delivery tag)
            for position, message in enumerate(messages):
                pending = self._held_tags.get(message.id)
                if self._closed or self._channel is None or not pending:
                    outcomes[position] = Outcome(message.id, False, "not held by this browser")
                    continue
                acking.append((position, message.id, pending.pop(0)))
            if acking:
                channel = self._channel
                assert channel is not None
                tags = {tag for _, _, tag in acking}
                try:
                    async with asyncio.timeout(timeout):
                        underlay = await channel.get_underlay_channel()
                        await self._ack(underlay, tags)
                        # basic.ack has no reply; a synchronous call after it on the same
                        # channel returns only once the broker has processed the acks (or
                        # fails if one of them closed the channel).
                        await underlay.queue_declare(self.endpoint, passive=True)
                except Exception as exc:
                    error = self._connector._translate(
                        exc, doing=f"ack on queue {self.endpoint!r}", timeout=timeout
                    )
                    # A dead channel requeues what it held, so these are either acked or
                    # back in the queue; the replay treats them as not settled.
                    for position, message_id, _ in acking:
                        outcomes[position] = Outcome(
                            message_id, False, f"ack not confirmed: {error}"
                        )
                else:
                    for position, message_id, _ in acking:
                        outcomes[position] = Outcome(message_id, True, f"acked ({self.endpoint})")
                finally:
                    # Acked or in doubt, these tags may no longer be named by a nack.
                    self._unsettled = [tag for tag in self._unsettled if tag not in tags]
            return [outcomes[position] for position in range(len(messages))]

    async def _ack(self, channel: aiormq.abc.AbstractChannel, tags: set[int]) -> None:
        """Ack these held tags: the oldest run of them in one multiple ack, the rest one by one."""
        run = 0
        while run < len(self._unsettled) and self._unsettled[run] in tags:
            run += 1
        if run > 1:
            await channel.basic_ack(self._unsettled[run - 1], multiple=True)
            tags = tags - set(self._unsettled[:run])
        for tag in sorted(tags):
            await channel.basic_ack(tag)

    async def _give_back(self, channel: aio_pika.abc.AbstractChannel, held: list[int]) -> None:
        underlay = await channel.get_underlay_channel()
        before = await underlay.queue_declare(self.endpoint, passive=True)
        ready_before = int(before.message_count or 0)
        # One multiple-nack requeues every held delivery, in its original order. It must
        # name a tag still outstanding, or the broker closes the channel.
        await underlay.basic_nack(delivery_tag=held[-1], multiple=True, requeue=True)
        # basic.nack has no reply and the queue requeues in its own time, while it answers
        # a declare at once; wait until the messages are back, so that a depth read right
        # after close() counts them. The wait is bounded: a consumer may take them meanwhile.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _REQUEUE_WAIT
        while loop.time() < deadline:
            after = await underlay.queue_declare(self.endpoint, passive=True)
            if int(after.message_count or 0) >= ready_before + len(held):
                return
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        channel, self._channel = self._channel, None
        held, self._unsettled = self._unsettled, []
        self._arrived.clear()
        # A page waiting for deliveries stops waiting.
        self._delivered.set()
        if channel is None or channel.is_closed:
            return
        try:
            async with asyncio.timeout(10.0):
                if held:
                    await self._give_back(channel, held)
                await channel.close()
        except Exception as exc:
            # The broker requeues unacked deliveries of a closed channel or connection itself.
            log.debug("closing the browse channel of %r failed: %r", self.endpoint, exc)


# -- publishing ------------------------------------------------------------------------

# Outgoing.options that map onto AMQP basic properties; anything else is ignored.
_TEXT_PROPERTIES = (
    "content_type",
    "content_encoding",
    "message_id",
    "correlation_id",
    "type",
    "app_id",
    "reply_to",
    "user_id",
)
# Where the wire's field name differs from the option's.
_PROPERTY_FIELDS = {"type": "message_type"}


# Text with these is binary that happens to decode (big-endian integers, say).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _delivery_tag(delivered: DeliveredMessage) -> int:
    # Every basic.deliver carries one; the type allows None for other frames.
    return int(delivered.delivery_tag or 0)


def _names_the_link(text: str) -> bool:
    text = text.lower()
    return "connection" in text or "transport" in text


def split_target(target: str) -> tuple[str, str]:
    """(exchange, routing key) of a send target: "queue" or "exchange/routing-key"."""
    if "/" not in target:
        return "", target
    exchange, routing_key = target.split("/", 1)
    return exchange, routing_key


def amqp_properties(outgoing: Outgoing) -> aiormq.spec.Basic.Properties:
    """An Outgoing's AMQP basic properties, its headers among them."""
    options = outgoing.options
    properties: dict[str, Any] = {
        _PROPERTY_FIELDS.get(name, name): options[name]
        for name in _TEXT_PROPERTIES
        if options.get(name)
    }
    # A replayed message must survive a broker restart unless it said otherwise.
    mode = options.get("delivery_mode", "2")
    properties["delivery_mode"] = int(mode) if str(mode).isdigit() else 2
    priority = options.get("priority")
    if priority is not None and str(priority).isdigit():
        properties["priority"] = int(priority)
    headers: dict[str, Any] = {}
    for name, value in outgoing.headers:
        headers[name] = _table_value(value)
    return aiormq.spec.Basic.Properties(headers=headers or None, **properties)


def _table_value(value: Any) -> Any:
    """A header value pamqp can encode: it takes bytearray, not bytes, for binary."""
    if isinstance(value, bytes):
        # Kafka and SQS carry text headers as bytes; AMQP consumers expect text as strings.
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return bytearray(value)
        return bytearray(value) if _CONTROL_CHARS.search(text) else text
    if isinstance(value, list | tuple):
        return [_table_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _table_value(item) for key, item in value.items()}
    return value


# -- messages --------------------------------------------------------------------------


def message_from_amqp(endpoint: str, incoming: aio_pika.abc.AbstractIncomingMessage) -> Message:
    """One delivered AMQP message in Eventdesk's neutral form."""
    raw_headers = dict(incoming.headers or {})
    headers: Headers = tuple(raw_headers.items())
    attributes: dict[str, str] = {"redelivered": "true" if incoming.redelivered else "false"}
    for name, value in (
        ("delivery_tag", incoming.delivery_tag),
        ("exchange", incoming.exchange),
        ("routing_key", incoming.routing_key),
        ("message_id", incoming.message_id),
        ("correlation_id", incoming.correlation_id),
        ("content_type", incoming.content_type),
        ("content_encoding", incoming.content_encoding),
        ("type", incoming.type),
        ("app_id", incoming.app_id),
        ("user_id", incoming.user_id),
        ("reply_to", incoming.reply_to),
        ("expiration", incoming.expiration),
        ("priority", incoming.priority),
        ("delivery_mode", getattr(incoming.delivery_mode, "value", incoming.delivery_mode)),
    ):
        # The default exchange is named "", which says something; None says nothing.
        if value is not None and (value != "" or name == "exchange"):
            attributes[name] = header_text(value)
    if incoming.exchange == "":
        attributes["exchange"] = "(default)"

    facts = parse_dead_letter(headers, attributes=attributes)
    if not facts.original_destination:
        source = dead_letter_source_from_name(endpoint)
        if source:
            facts = replace(facts, original_destination=source)

    timestamp = (
        _aware(incoming.timestamp)
        or _death_time(raw_headers.get("x-death"))
        # Framework error queues (MassTransit) often carry no AMQP timestamp, only their own.
        or facts.last_failure
        or facts.first_failure
    )
    return Message(
        endpoint=endpoint,
        id=incoming.message_id or content_id(incoming.body, raw_headers),
        body=incoming.body,
        headers=headers,
        timestamp=timestamp,
        dead_letter=facts,
        attributes=attributes,
    )


def content_id(body: bytes, headers: Mapping[str, Any]) -> str:
    """A stable id for a message without message_id: a short hash of body and fixed headers."""
    digest = hashlib.sha256(body)
    stable = sorted(
        (key, repr(value))
        for key, value in headers.items()
        if key not in _VOLATILE_HEADERS and not key.startswith(_VOLATILE_PREFIXES)
    )
    digest.update(repr(stable).encode("utf-8", "backslashreplace"))
    return "sha256:" + digest.hexdigest()[:16]


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        # AMQP timestamps are seconds since the epoch; pamqp decodes them without a zone.
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _death_time(x_death: Any) -> datetime | None:
    if isinstance(x_death, list) and x_death and isinstance(x_death[0], Mapping):
        return _aware(x_death[0].get("time"))
    return None


def _reply_text(exc: BaseException) -> str:
    """The broker's own words for a failure (aiormq keeps them in args), or the exception."""
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, str) and arg:
            return arg
        reply = getattr(arg, "reply_text", None)
        if isinstance(reply, str) and reply:
            return reply
    return str(exc) or type(exc).__name__


# -- dead-letter detection ---------------------------------------------------------------


def _dead_letter_route(queue: Mapping[str, Any]) -> _DeadLetterRoute | None:
    """The queue's dead-letter target; a queue argument wins over a policy, as in RabbitMQ."""
    name = str(queue.get("name", ""))
    arguments = queue.get("arguments") or {}
    if "x-dead-letter-exchange" in arguments:
        key = arguments.get("x-dead-letter-routing-key")
        return _DeadLetterRoute(
            source=name,
            exchange=str(arguments["x-dead-letter-exchange"]),
            routing_key=str(key) if key is not None else None,
            origin="argument",
        )
    policy = queue.get("effective_policy_definition") or {}
    if isinstance(policy, Mapping) and "dead-letter-exchange" in policy:
        key = policy.get("dead-letter-routing-key")
        policy_name = queue.get("policy") or queue.get("operator_policy") or "?"
        return _DeadLetterRoute(
            source=name,
            exchange=str(policy["dead-letter-exchange"]),
            routing_key=str(key) if key is not None else None,
            origin=f"policy {policy_name}",
        )
    return None


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is one word, `#` is zero or more words."""
    words = routing_key.split(".") if routing_key else []
    parts = pattern.split(".") if pattern else []

    def match(i: int, j: int) -> bool:
        if i == len(parts):
            return j == len(words)
        if parts[i] == "#":
            return any(match(i + 1, k) for k in range(j, len(words) + 1))
        if j == len(words):
            return False
        return (parts[i] == "*" or parts[i] == words[j]) and match(i + 1, j + 1)

    return match(0, 0)


def _routed_queues(
    exchange: str,
    keys: Iterable[str],
    exchange_types: Mapping[str, str],
    bindings_by_source: Mapping[str, list[Mapping[str, Any]]],
    queue_names: set[str],
    _seen: frozenset[str] = frozenset(),
) -> set[str]:
    """Queues a message sent to `exchange` with any of `keys` could reach."""
    keys = list(keys)
    if exchange == "":
        return {key for key in keys if key in queue_names}
    if exchange in _seen or exchange not in exchange_types:
        return set()
    kind = exchange_types[exchange]
    found: set[str] = set()
    for binding in bindings_by_source.get(exchange, []):
        binding_key = str(binding.get("routing_key", ""))
        if kind == "direct":
            hit = binding_key in keys
        elif kind == "topic":
            hit = any(topic_matches(binding_key, key) for key in keys)
        else:
            # fanout routes everything; headers and plugin types depend on what we cannot
            # see, so every queue behind them may receive dead letters.
            hit = True
        if not hit:
            continue
        destination = str(binding.get("destination", ""))
        if binding.get("destination_type") == "exchange":
            found |= _routed_queues(
                destination,
                keys,
                exchange_types,
                bindings_by_source,
                queue_names,
                _seen | {exchange},
            )
        elif destination in queue_names:
            found.add(destination)
    return found


def _arguments_summary(arguments: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={header_text(value)}" for key, value in sorted(arguments.items()))


def build_endpoints(
    vhost: str,
    queues: list[Mapping[str, Any]],
    exchanges: list[Mapping[str, Any]],
    bindings: list[Mapping[str, Any]],
) -> list[Endpoint]:
    """Endpoints from the management API's queues, exchanges and bindings of one vhost."""
    queue_names = {str(q.get("name", "")) for q in queues}
    exchange_types = {str(e.get("name", "")): str(e.get("type", "")) for e in exchanges}
    bindings_by_source: dict[str, list[Mapping[str, Any]]] = {}
    keys_by_queue: dict[str, set[str]] = {}
    for binding in bindings:
        bindings_by_source.setdefault(str(binding.get("source", "")), []).append(binding)
        if binding.get("destination_type") == "queue":
            keys_by_queue.setdefault(str(binding.get("destination", "")), set()).add(
                str(binding.get("routing_key", ""))
            )

    fed_by: dict[str, dict[str, str]] = {}  # dlq -> source -> origin
    sends_to: dict[str, set[str]] = {}
    missing_dlx: dict[str, str] = {}
    for queue in queues:
        route = _dead_letter_route(queue)
        if route is None:
            continue
        if route.routing_key is not None:
            keys = {route.routing_key}
        else:
            # Without a dead-letter routing key a message keeps the keys it was published
            # with; the source's own binding keys (and its name, for the default exchange)
            # are the best guess at those.
            keys = keys_by_queue.get(route.source, set()) | {route.source}
        if route.exchange and route.exchange not in exchange_types:
            missing_dlx[route.source] = route.exchange
        targets = _routed_queues(
            route.exchange, keys, exchange_types, bindings_by_source, queue_names
        )
        targets.discard(route.source)
        sends_to[route.source] = targets
        for target in targets:
            fed_by.setdefault(target, {})[route.source] = route.origin

    endpoints: list[Endpoint] = []
    for queue in sorted(queues, key=lambda q: str(q.get("name", ""))):
        name = str(queue.get("name", ""))
        arguments = queue.get("arguments") or {}
        details: dict[str, str] = {
            "vhost": vhost,
            "type": str(queue.get("type") or arguments.get("x-queue-type") or "classic"),
            "consumers": str(queue.get("consumers", 0)),
            "durable": "yes" if queue.get("durable") else "no",
        }
        if arguments:
            details["arguments"] = _arguments_summary(arguments)
        if queue.get("policy"):
            details["policy"] = str(queue["policy"])
        if sends_to.get(name):
            details["dead letters go to"] = ", ".join(sorted(sends_to[name]))
        if name in missing_dlx:
            details["dead-letter exchange missing"] = (
                f"{missing_dlx[name]!r} does not exist: dead letters of this queue are dropped"
            )

        sources = fed_by.get(name, {})
        evidence: list[str] = []
        by_origin: dict[str, list[str]] = {}
        for source, origin in sorted(sources.items()):
            by_origin.setdefault(origin, []).append(source)
        for origin, names in by_origin.items():
            setting = "x-dead-letter-exchange" if origin == "argument" else "dead-letter-exchange"
            evidence.append(f"{setting} of {', '.join(names)} ({origin})")
        feeders = set(sources)
        named_source = dead_letter_source_from_name(name)
        if named_source is not None:
            if named_source in queue_names and named_source != name:
                feeders.add(named_source)
            if not sources:
                evidence.append(
                    f"name suggests it holds the failures of {named_source!r}"
                    if named_source
                    else "name marks a shared error queue"
                )

        endpoints.append(
            Endpoint(
                name=name,
                kind=EndpointKind.QUEUE,
                depth=_queue_depth(queue),
                is_dead_letter=bool(sources) or named_source is not None,
                fed_by=tuple(sorted(feeders)),
                dead_letter_evidence="; ".join(evidence),
                details=details,
            )
        )
    return endpoints


def _queue_depth(queue: Mapping[str, Any]) -> int | None:
    ready = queue.get("messages_ready")
    unacked = queue.get("messages_unacknowledged")
    if isinstance(ready, int) and isinstance(unacked, int):
        return ready + unacked
    total = queue.get("messages")
    # A queue declared a moment ago has no statistics yet: unknown, not zero.
    return total if isinstance(total, int) else None


__all__ = [
    "BROWSE_NOTE",
    "MAX_HELD_MESSAGES",
    "ManagementClient",
    "RabbitMQBrowser",
    "RabbitMQConnector",
    "amqp_properties",
    "build_endpoints",
    "message_from_amqp",
    "split_target",
    "topic_matches",
]


_STAT_FIELDS = {
    "messages_ready": Metric.READY,
    "messages_unacknowledged": Metric.UNACKED,
    "consumers": Metric.CONSUMERS,
}
_RATE_FIELDS = {
    "publish_details": Metric.PUBLISH_RATE,
    "deliver_get_details": Metric.DELIVER_RATE,
    "ack_details": Metric.ACK_RATE,
}


def _queue_stats(row: Mapping[str, Any]) -> QueueStats:
    metrics: dict[Metric, float] = {}
    for name, metric in _STAT_FIELDS.items():
        if isinstance(row.get(name), int | float):
            metrics[metric] = float(row[name])
    stats = row.get("message_stats") or {}
    for name, metric in _RATE_FIELDS.items():
        rate = (stats.get(name) or {}).get("rate")
        if isinstance(rate, int | float):
            metrics[metric] = float(rate)
    return QueueStats(str(row["name"]), metrics)
