"""Amazon SQS (and its SNS topics) behind the Connector interface, with boto3 kept off the loop."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from .base import Browser, Connector
from .dead_letters import dead_letter_source_from_name, parse_dead_letter
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
from .model import BrokerKind, Endpoint, EndpointKind, Message, Outcome, Outgoing, Page
from .redaction import register_secret
from .sampling import Metric, QueueStats

log = logging.getLogger(__name__)

T = TypeVar("T")

# botocore retries on its own; two attempts ride out a blip without making a dead
# endpoint look alive for long. The read timeout must outlast WaitTimeSeconds.
_BOTO_CONFIG = Config(
    connect_timeout=5,
    read_timeout=20,
    retries={"max_attempts": 2, "mode": "standard"},
    max_pool_connections=16,
)
_WORKERS = 8
# Attribute reads fan out per queue; a bounded fan-out keeps thousands of queues
# from queueing thousands of futures at once.
_ATTRIBUTE_CONCURRENCY = 8
# SNS is a bonus: an SQS-only endpoint (ElasticMQ, a narrow IAM role) must not
# make the queue list slow or fail.
_SNS_BUDGET = 10.0

_RECEIVE_MAX = 10  # SQS's own cap per ReceiveMessage
_PARALLEL_RECEIVES = 4
# If the app dies while browsing, held messages come back on their own after this
# (a profile's "browse_hold_seconds" changes it). While the browser is open, a keeper task
# re-hides what it holds every third of it, so a long browse or replay never hands them
# back to consumers (or to itself, as duplicates) half-way.
BROWSE_HOLD_SECONDS = 300
# Short polling samples only some SQS servers, so one empty answer proves
# nothing; this many in a row (the later ones long-polling) means the end.
_EMPTY_RECEIVES_AT_END = 3
_END_WAIT_SECONDS = 1
_BATCH_MAX = 10  # entries per SendMessageBatch / DeleteMessageBatch
# The whole batch's payload (bodies and attributes) may not exceed this.
MAX_BATCH_BYTES = 256 * 1024
_MAX_ATTRIBUTES = 10
# SQS attribute names: letters, digits, "-", "_", "."; no "AWS."/"Amazon." prefix.
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_\-](?:[A-Za-z0-9_\-]|\.(?!\.))*(?<!\.)")
# Characters SQS accepts in a message body (XML 1.0's), as a negated class.
_INVALID_BODY_CHARS = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Headers a replay adds; they go first so the 10-attribute cap never drops them.
_FIRST_HEADERS = ("eventdesk-",)
# Each held message is a receipt handle in memory and a hidden message on the broker.
MAX_HELD = 20_000

_AUTHENTICATION_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClient",
        "UnrecognizedClientException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidAccessKeyId",
        "InvalidSecurity",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
_AUTHORIZATION_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "AuthorizationError", "KmsAccessDenied"}
)
_NOT_FOUND_CODES = frozenset(
    {
        "NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",
        "NotFoundException",
        "ResourceNotFoundException",
    }
)


def _error_code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    # SQS's JSON protocol says "AWS.SimpleQueueService.NonExistentQueue" or
    # "com.amazonaws.sqs#QueueDoesNotExist"; the last segment is the stable part.
    code = str(error.get("QueryErrorCode") or error.get("Code") or "")
    return code.rsplit("#", 1)[-1].rsplit(".", 1)[-1]


def _translate(
    exc: BotoCoreError | ClientError, *, service: str, where: str, target: str | None
) -> EventdeskError:
    """One botocore failure as an Eventdesk error; `where` names the endpoint URL."""
    on = f" on {target}" if target else ""
    if isinstance(exc, ClientError):
        code = _error_code(exc)
        action = f"{service}:{exc.operation_name}"
        text = str(exc.response.get("Error", {}).get("Message") or code)
        if code in _AUTHENTICATION_CODES:
            return AuthenticationFailed(
                f"{where} refused the AWS credentials ({code}).",
                hint="Check the access key, the secret key or the AWS profile of the connection.",
            )
        if code in _AUTHORIZATION_CODES:
            return AuthorizationFailed(f"Not permitted: {action}{on} ({text}).")
        if code in _NOT_FOUND_CODES:
            return EndpointNotFound(f"{target or 'The queue'} does not exist at {where}.")
        if code.isdigit():
            # A bare HTTP status with no AWS error code: something else answered.
            return BrokerError(
                f"{where} answered {action} with HTTP {code}; it may not be an SQS endpoint.",
                hint="Check the endpoint URL of the connection.",
            )
        return BrokerError(f"{action}{on} failed: {code}: {text}")
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return OperationTimeout(f"{where} did not answer in time ({service}{on}).")
    if isinstance(exc, ConnectionClosedError):
        return ConnectionLost(f"{where} closed the connection ({service}{on}).")
    if isinstance(exc, BotoConnectionError):
        return BrokerUnreachable(f"Cannot reach {where}.")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return AuthenticationFailed(
            "No usable AWS credentials were found.",
            hint="Give the connection an access key, or an AWS profile that has credentials.",
        )
    if isinstance(exc, ProfileNotFound):
        return ConfigurationError(f"{exc}.", hint="Name an AWS profile that exists in ~/.aws.")
    return BrokerError(f"{service}{on} failed: {exc}")


@contextlib.asynccontextmanager
async def _deadline(seconds: float, what: str) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise OperationTimeout(f"{what} took longer than {seconds:g} s.") from exc


def _name_from_url(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _name_from_arn(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _redrive_target(policy: str | None) -> tuple[str, str] | None:
    """(deadLetterTargetArn, maxReceiveCount) from a RedrivePolicy, if it names one."""
    if not policy:
        return None
    try:
        data = json.loads(policy)
    except ValueError:
        return None
    if not isinstance(data, dict) or not data.get("deadLetterTargetArn"):
        return None
    return str(data["deadLetterTargetArn"]), str(data.get("maxReceiveCount", ""))


def _convention_source(name: str) -> str | None:
    base = name.removesuffix(".fifo")
    source = dead_letter_source_from_name(base)
    if source and name.endswith(".fifo") and not source.endswith(".fifo"):
        source += ".fifo"
    return source


@dataclasses.dataclass
class _Feeder:
    """Something whose failures land in a DLQ: a queue's or a subscription's RedrivePolicy."""

    name: str  # the source queue, or the topic for a subscription
    evidence: str
    max_receive_count: str = ""
    subscribed_queue: str | None = None  # set for an SNS subscription
    subscription_arn: str | None = None  # set for an SNS subscription


@dataclasses.dataclass(frozen=True, slots=True)
class SnsSubscription:
    """One confirmed SNS subscription, and the queue its failed deliveries go to."""

    topic: str
    arn: str
    protocol: str
    endpoint: str
    dead_letter_target_arn: str | None = None

    @property
    def dead_letter_queue(self) -> str | None:
        arn = self.dead_letter_target_arn
        return _name_from_arn(arn) if arn else None

    @property
    def subscribed_queue(self) -> str | None:
        return _name_from_arn(self.endpoint) if self.protocol == "sqs" else None

    @property
    def route(self) -> str:
        """Where it delivers, e.g. sqs → orders-updates."""
        return f"{self.protocol} → {self.subscribed_queue or self.endpoint}"

    @property
    def summary(self) -> str:
        """The route and the DLQ, e.g. sqs → orders-updates · DLQ orders-updates-dlq."""
        dlq = self.dead_letter_queue
        return f"{self.route} · " + (f"DLQ {dlq}" if dlq else "no redrive policy")


@dataclasses.dataclass
class _Topic:
    name: str
    arn: str
    subscriptions: list[SnsSubscription] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class MoveTask:
    """One StartMessageMoveTask as ListMessageMoveTasks reports it."""

    handle: str
    status: str  # RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED
    moved: int
    to_move: int | None
    failure_reason: str = ""

    @property
    def finished(self) -> bool:
        return self.status in ("COMPLETED", "CANCELLED", "FAILED")

    @classmethod
    def from_reply(cls, result: Mapping[str, Any]) -> MoveTask:
        to_move = result.get("ApproximateNumberOfMessagesToMove")
        return cls(
            handle=str(result.get("TaskHandle", "")),
            status=str(result.get("Status", "")),
            moved=int(result.get("ApproximateNumberOfMessagesMoved", 0)),
            to_move=int(to_move) if to_move is not None else None,
            failure_reason=str(result.get("FailureReason", "")),
        )


class SqsConnector(Connector):
    """One AWS account and region (or a local emulator) through boto3.

    boto3 blocks, so every call runs on a small thread pool owned by the
    connector. botocore clients are thread-safe; the session is not, so it is
    used once, in connect().
    """

    kind = BrokerKind.SQS

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        aws_profile: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        role_arn: str | None = None,
        browse_hold_seconds: int = BROWSE_HOLD_SECONDS,
    ) -> None:
        if bool(access_key_id) != bool(secret_access_key):
            raise ConfigurationError(
                "An AWS access key needs both its id and its secret.",
                hint="Give both, or neither to use the AWS profile or environment.",
            )
        self.region = region
        self.endpoint_url = endpoint_url
        self.aws_profile = aws_profile
        self.access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        # Assumed with the credentials above (or the profile's) when connecting.
        self.role_arn = role_arn
        if not 3 <= browse_hold_seconds <= 43_200:
            raise ConfigurationError(
                f"A browse hold of {browse_hold_seconds} s is out of range.",
                hint="SQS visibility timeouts run from 3 s to 12 hours (43,200 s).",
            )
        self.browse_hold_seconds = browse_hold_seconds
        self._executor: ThreadPoolExecutor | None = None
        self._sqs: Any = None
        self._sns: Any = None
        self._where = endpoint_url or f"SQS in {region}"
        self._urls: dict[str, str] = {}
        self._topic_names: set[str] = set()  # SNS topics seen by the last listing
        # DLQ name -> what feeds it, as seen by the last list_endpoints.
        self._feeders: dict[str, list[_Feeder]] = {}
        self._feeders_known = False
        self._browsers: set[SqsBrowser] = set()

    def __repr__(self) -> str:
        key = self.access_key_id
        shown = f"{key[:4]}…{key[-4:]}" if key else None
        return (
            f"SqsConnector(region={self.region!r}, endpoint_url={self.endpoint_url!r}, "
            f"aws_profile={self.aws_profile!r}, access_key_id={shown!r})"
        )

    # -- plumbing -------------------------------------------------------------

    async def _call(
        self, fn: Callable[..., T], *args: Any, service: str = "sqs", target: str | None = None
    ) -> T:
        """Run a blocking boto3 call on the pool; its failures come back as Eventdesk errors."""
        if self._executor is None:
            raise self._closed_error()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except RuntimeError as exc:  # the pool was shut down by a concurrent close()
            raise self._closed_error() from exc
        try:
            return await future
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, service=service, where=self._where, target=target) from exc

    def _closed_error(self) -> ConnectionLost:
        return ConnectionLost(
            f"The connection to {self._where} is closed.", hint="Reconnect to continue."
        )

    def _build_clients(self) -> tuple[Any, Any]:
        try:
            session = boto3.Session(
                region_name=self.region,
                profile_name=self.aws_profile,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self._secret_access_key,
            )
            kwargs = {"endpoint_url": self.endpoint_url, "config": _BOTO_CONFIG}
            if self.role_arn:
                session = self._assumed_role_session(session, kwargs)
            return session.client("sqs", **kwargs), session.client("sns", **kwargs)
        except ValueError as exc:
            # botocore rejects a malformed endpoint URL with a bare ValueError.
            raise ConfigurationError(f"Invalid SQS endpoint {self.endpoint_url!r}: {exc}") from exc

    def _assumed_role_session(self, session: Any, kwargs: dict[str, Any]) -> Any:
        """A session with the role's temporary credentials (blocking: runs on the pool)."""
        try:
            answer = session.client("sts", **kwargs).assume_role(
                RoleArn=self.role_arn, RoleSessionName="eventdesk"
            )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, service="sts", where=self._where, target=self.role_arn) from exc
        credentials = answer["Credentials"]
        register_secret(credentials["SecretAccessKey"])
        register_secret(credentials["SessionToken"])
        return boto3.Session(
            region_name=self.region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    # -- Connector ------------------------------------------------------------

    async def connect(self, *, timeout: float = 10.0) -> None:
        if self._sqs is not None:
            return
        self._executor = ThreadPoolExecutor(_WORKERS, thread_name_prefix="eventdesk-sqs")
        try:
            async with _deadline(timeout, f"Connecting to {self._where}"):
                sqs, sns = await self._call(self._build_clients)
                self._where = self.endpoint_url or str(sqs.meta.endpoint_url)
                await self._call(functools.partial(sqs.list_queues, MaxResults=1))
        except BaseException:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            raise
        self._sqs, self._sns = sqs, sns

    async def close(self) -> None:
        for browser in list(self._browsers):
            await browser.close()
        executor, self._executor = self._executor, None
        self._sqs = self._sns = None
        if executor is not None:
            # Calls already queued still run (and end within botocore's timeouts),
            # so whoever awaits them gets an answer rather than a stray cancel.
            executor.shutdown(wait=False)

    def _client(self) -> Any:
        if self._sqs is None:
            raise self._closed_error()
        return self._sqs

    async def queue_url(self, name: str) -> str:
        """The URL of a queue by name (a URL is passed through)."""
        if name.startswith(("http://", "https://")):
            return name
        url = self._urls.get(name)
        if url is None:
            sqs = self._client()
            reply = await self._call(
                functools.partial(sqs.get_queue_url, QueueName=name), target=name
            )
            url = self._urls[name] = str(reply["QueueUrl"])
        return url

    async def depth(self, endpoint: str, *, timeout: float = 10.0) -> int:
        """Visible plus in-flight messages.

        In-flight counts too, so messages an open browser holds (or a consumer is
        working on) do not vanish from the count; delayed messages do not count
        until they can be received.
        """
        sqs = self._client()
        async with _deadline(timeout, f"Reading the depth of {endpoint}"):
            url = await self.queue_url(endpoint)
            try:
                attributes = await self._queue_attributes(
                    sqs,
                    url,
                    ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                    endpoint,
                )
            except EndpointNotFound:
                self._urls.pop(endpoint, None)
                raise
        return _depth(attributes)

    async def purge(self, endpoint: str, *, timeout: float = 30.0) -> int:
        """PurgeQueue; returns the depth just before. AWS allows one purge per minute."""
        before = await self.depth(endpoint, timeout=timeout)
        sqs = self._client()
        async with _deadline(timeout, f"Purging {endpoint}"):
            url = await self.queue_url(endpoint)
            await self._call(functools.partial(sqs.purge_queue, QueueUrl=url), target=endpoint)
        return before

    # -- message move tasks (SQS's own redrive of a whole DLQ) ----------------------------

    async def start_move_task(
        self,
        dlq: str,
        *,
        destination: str | None = None,
        max_per_second: int | None = None,
        timeout: float = 30.0,
    ) -> str:
        """StartMessageMoveTask: SQS moves every message of `dlq` back; returns the handle.

        Without `destination` each message goes back to the queue it was dead-lettered from.
        """
        sqs = self._client()
        async with _deadline(timeout, f"Starting the move of {dlq}"):
            request: dict[str, Any] = {"SourceArn": await self._queue_arn(sqs, dlq)}
            if destination is not None:
                request["DestinationArn"] = await self._queue_arn(sqs, destination)
            if max_per_second is not None:
                request["MaxNumberOfMessagesPerSecond"] = max_per_second
            call = functools.partial(sqs.start_message_move_task, **request)
            reply = await self._move_task_call(call, dlq)
        return str(reply["TaskHandle"])

    async def move_tasks(self, dlq: str, *, timeout: float = 10.0) -> list[MoveTask]:
        """The DLQ's move tasks, newest first (SQS keeps the last ten)."""
        sqs = self._client()
        async with _deadline(timeout, f"Reading the move tasks of {dlq}"):
            arn = await self._queue_arn(sqs, dlq)
            call = functools.partial(sqs.list_message_move_tasks, SourceArn=arn, MaxResults=10)
            reply = await self._move_task_call(call, dlq)
        return [MoveTask.from_reply(result) for result in reply.get("Results", [])]

    async def cancel_move_task(self, handle: str, *, timeout: float = 10.0) -> int:
        """CancelMessageMoveTask; returns how many messages were moved before it stopped."""
        sqs = self._client()
        async with _deadline(timeout, "Cancelling a move task"):
            call = functools.partial(sqs.cancel_message_move_task, TaskHandle=handle)
            reply = await self._move_task_call(call, None)
        return int(reply.get("ApproximateNumberOfMessagesMoved", 0))

    async def _queue_arn(self, sqs: Any, name: str) -> str:
        url = await self.queue_url(name)
        return (await self._queue_attributes(sqs, url, ["QueueArn"], name))["QueueArn"]

    async def _move_task_call(self, call: Callable[[], Any], target: str | None) -> Any:
        try:
            return await self._call(call, target=target)
        except BrokerError as exc:
            cause = exc.__cause__
            code = _error_code(cause) if isinstance(cause, ClientError) else ""
            if code.isdigit() or code in ("UnsupportedOperation", "InvalidAction"):
                raise BrokerError(
                    f"{self._where} does not offer SQS message move tasks (HTTP/code {code}).",
                    hint="Replay a selection instead; AWS SQS and ElasticMQ offer move tasks,"
                    " some emulators (moto) do not.",
                ) from exc
            raise

    async def _queue_attributes(
        self, sqs: Any, url: str, names: list[str], target: str
    ) -> dict[str, str]:
        reply = await self._call(
            functools.partial(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=names),
            target=target,
        )
        return dict(reply.get("Attributes", {}))

    async def list_endpoints(self, *, timeout: float = 30.0) -> list[Endpoint]:
        sqs = self._client()
        async with _deadline(timeout, f"Listing the queues of {self._where}"):
            sns_task = asyncio.create_task(self._topics_best_effort())
            try:
                urls = await self._call(functools.partial(_all_queue_urls, sqs))
                queues = await self._all_attributes(sqs, urls)
            except BaseException:
                sns_task.cancel()
                raise
            topics, subscription_feeders = await sns_task
            feeders = _queue_feeders(queues)
            for dlq, found in subscription_feeders.items():
                feeders.setdefault(dlq, []).extend(found)
            endpoints = [
                await self._queue_endpoint(sqs, name, attributes, feeders.get(name, []), queues)
                for name, attributes in sorted(queues.items())
            ]
        self._urls = {name: attributes["_url"] for name, attributes in queues.items()}
        self._feeders = feeders
        self._feeders_known = True
        self._topic_names = {topic.name for topic in topics}
        endpoints.extend(_topic_endpoint(topic) for topic in sorted(topics, key=lambda t: t.name))
        return endpoints

    async def _all_attributes(self, sqs: Any, urls: list[str]) -> dict[str, dict[str, str]]:
        gate = asyncio.Semaphore(_ATTRIBUTE_CONCURRENCY)

        async def one(url: str) -> tuple[str, dict[str, str] | None]:
            name = _name_from_url(url)
            async with gate:
                try:
                    attributes = await self._queue_attributes(sqs, url, ["All"], name)
                except EndpointNotFound:
                    return name, None  # deleted between the listing and now
                except AuthorizationFailed as exc:
                    # Still worth listing: the operator sees it exists and why it is blank.
                    attributes = {"_denied": str(exc)}
            attributes["_url"] = url
            return name, attributes

        found = await asyncio.gather(*(one(url) for url in urls))
        return {name: attributes for name, attributes in found if attributes is not None}

    async def _queue_endpoint(
        self,
        sqs: Any,
        name: str,
        attributes: Mapping[str, str],
        feeders: list[_Feeder],
        queues: Mapping[str, Mapping[str, str]],
    ) -> Endpoint:
        details = _queue_details(attributes)
        evidence = "; ".join(feeder.evidence for feeder in feeders)
        fed_by = [feeder.name for feeder in feeders]
        source = None if feeders else _convention_source(name)
        if source is not None:
            # Sources whose attributes we may not read still show up here.
            sources = await self._dead_letter_sources_best_effort(sqs, attributes["_url"], name)
            if sources:
                fed_by = sources
                evidence = "ListDeadLetterSourceQueues names " + ", ".join(sources)
            else:
                fed_by = [source] if source in queues else []
                evidence = "name follows a dead-letter naming convention" + (
                    f" (source {source})" if source else ""
                )
        _feeder_details(details, feeders)
        denied = attributes.get("_denied")
        if denied:
            details["attributes"] = denied
        return Endpoint(
            name=name,
            kind=EndpointKind.QUEUE,
            depth=None if denied else _depth(attributes),
            is_dead_letter=bool(evidence),
            fed_by=tuple(dict.fromkeys(fed_by)),
            dead_letter_evidence=evidence,
            details=details,
        )

    async def _dead_letter_sources_best_effort(self, sqs: Any, url: str, name: str) -> list[str]:
        try:
            return await self._call(functools.partial(_dead_letter_sources, sqs, url), target=name)
        except EventdeskError as exc:
            log.debug("ListDeadLetterSourceQueues on %s: %s", name, exc)
            return []

    async def _known_feeders(self, dlq: str) -> list[_Feeder]:
        """What feeds this queue as the last listing saw it; SNS asked if never listed."""
        if not self._feeders_known:
            # Opened without a listing first (the CLI): only SNS says which subscription
            # dead-letters here, so a browse can still name the original destination.
            _topics, feeders = await self._topics_best_effort()
            for name, found in feeders.items():
                self._feeders.setdefault(name, found)
            self._feeders_known = True
        return self._feeders.get(dlq, [])

    async def dead_letter_sources(self, endpoint: str) -> list[str]:
        """Queues whose RedrivePolicy points at this one (ListDeadLetterSourceQueues)."""
        sqs = self._client()
        url = await self.queue_url(endpoint)
        return await self._call(functools.partial(_dead_letter_sources, sqs, url), target=endpoint)

    async def _topics_best_effort(self) -> tuple[list[_Topic], dict[str, list[_Feeder]]]:
        try:
            async with asyncio.timeout(_SNS_BUDGET):
                return await self._topics()
        except (EventdeskError, TimeoutError) as exc:
            log.info("SNS topics skipped at %s: %s", self._where, exc or "timed out")
            return [], {}

    async def _topics(self) -> tuple[list[_Topic], dict[str, list[_Feeder]]]:
        sns = self._sns
        topic_arns = await self._call(functools.partial(_all_topic_arns, sns), service="sns")
        topics = {arn: _Topic(name=_name_from_arn(arn), arn=arn) for arn in topic_arns}
        try:
            subscriptions = await self._call(
                functools.partial(_all_subscriptions, sns), service="sns"
            )
        except AuthorizationFailed as exc:
            # The topics are still worth listing without their dead-letter links.
            log.info("SNS subscriptions skipped at %s: %s", self._where, exc)
            subscriptions = []
        gate = asyncio.Semaphore(_ATTRIBUTE_CONCURRENCY)

        async def redrive_of(arn: str) -> str | None:
            async with gate:
                try:
                    reply = await self._call(
                        functools.partial(sns.get_subscription_attributes, SubscriptionArn=arn),
                        service="sns",
                        target=arn,
                    )
                except (EndpointNotFound, AuthorizationFailed):
                    return None
            return reply.get("Attributes", {}).get("RedrivePolicy")

        # A subscription pending confirmation has no ARN yet, and delivers nothing.
        # Any protocol may dead-letter into a queue, so all the others count.
        confirmed = [s for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")]
        policies = await asyncio.gather(*(redrive_of(s["SubscriptionArn"]) for s in confirmed))
        feeders: dict[str, list[_Feeder]] = {}
        for raw, policy in zip(confirmed, policies, strict=True):
            topic = topics.get(raw.get("TopicArn", ""))
            if topic is None:
                continue
            target = _redrive_target(policy)
            subscription = SnsSubscription(
                topic=topic.name,
                arn=raw["SubscriptionArn"],
                protocol=raw.get("Protocol", "?"),
                endpoint=raw.get("Endpoint", ""),
                dead_letter_target_arn=target[0] if target else None,
            )
            topic.subscriptions.append(subscription)
            dlq = subscription.dead_letter_queue
            if dlq is not None:
                feeders.setdefault(dlq, []).append(_subscription_feeder(subscription))
        return list(topics.values()), feeders

    # -- sending -----------------------------------------------------------------

    async def send(
        self, target: str, messages: Sequence[Outgoing], *, timeout: float = 30.0
    ) -> list[Outcome]:
        """SendMessageBatch to a queue, or Publish to an SNS topic (an ARN or a topic's name).

        An Outcome is ok only for an entry SQS accepted (or a Publish that returned an id).
        A queue of the name wins over a topic of the same name.
        """
        self._client()
        if not messages:
            return []
        async with _deadline(timeout, f"Sending {len(messages)} messages to {target}"):
            if target.startswith("arn:") and ":sns:" in target:
                return await self._publish(target, messages)
            try:
                url = await self.queue_url(target)
            except EndpointNotFound:
                topic_arn = await self._topic_arn(target)
                if topic_arn is None:
                    raise
                return await self._publish(topic_arn, messages)
            return await self._send_batches(url, target, messages)

    def as_sent(self, target: str, outgoing: Outgoing) -> Outgoing:
        """To an SNS topic (an ARN, or a listed topic no queue shares a name with), a
        subscription DLQ's envelope goes as the message inside it."""
        to_topic = (target.startswith("arn:") and ":sns:" in target) or (
            target in self._topic_names and target not in self._urls
        )
        return unwrap_sns_envelope(outgoing)[0] if to_topic else outgoing

    async def _topic_arn(self, name: str) -> str | None:
        if self._sns is None:
            return None
        try:
            arns = await self._call(functools.partial(_all_topic_arns, self._sns), service="sns")
        except (AuthorizationFailed, BrokerError):
            return None
        return next((arn for arn in arns if _name_from_arn(arn) == name), None)

    async def _send_batches(
        self, url: str, target: str, messages: Sequence[Outgoing]
    ) -> list[Outcome]:
        sqs = self._client()
        fifo = target.endswith(".fifo") or url.endswith(".fifo")
        outcomes: dict[int, Outcome] = {}
        batches: list[list[tuple[int, dict[str, Any]]]] = [[]]
        batch_bytes = 0
        for position, outgoing in enumerate(messages):
            entry, problem = _send_entry(str(position), outgoing, fifo=fifo)
            if entry is None:
                outcomes[position] = Outcome(outgoing.source_id, False, problem)
                continue
            size = _entry_size(entry)
            if batches[-1] and (
                len(batches[-1]) >= _BATCH_MAX or batch_bytes + size > MAX_BATCH_BYTES
            ):
                batches.append([])
                batch_bytes = 0
            batches[-1].append((position, entry))
            batch_bytes += size

        lost: list[EventdeskError] = []

        async def one(batch: list[tuple[int, dict[str, Any]]]) -> None:
            if not batch:
                return
            try:
                reply = await self._call(
                    functools.partial(
                        sqs.send_message_batch, QueueUrl=url, Entries=[_wire(e) for _, e in batch]
                    ),
                    target=target,
                )
            except EventdeskError as exc:
                # SendMessageBatch is all-or-nothing only on a call failure like this one.
                detail = str(exc)
                if isinstance(exc, CONNECTION_ERRORS):
                    lost.append(exc)
                    # boto3 retries a call whose answer was lost: the first try may have
                    # been delivered even when the retry could not reach SQS at all.
                    detail += " (it may have been delivered)"
                for position, _ in batch:
                    outcomes[position] = Outcome(messages[position].source_id, False, detail)
                return
            for ok in reply.get("Successful", []):
                position = int(ok["Id"])
                note = _skipped_note(batch, position)
                outcomes[position] = Outcome(
                    messages[position].source_id, True, f"MessageId {ok['MessageId']}{note}"
                )
            for failed in reply.get("Failed", []):
                position = int(failed["Id"])
                outcomes[position] = Outcome(
                    messages[position].source_id,
                    False,
                    f"{failed.get('Code', '?')}: {failed.get('Message', '')}".strip(": "),
                )

        await asyncio.gather(*(one(batch) for batch in batches))
        if lost and not any(o.ok for o in outcomes.values()):
            # Nothing got through because SQS could not be reached: the caller stops here
            # (a replay ends "interrupted", resumable) instead of failing message by message.
            raise lost[0]
        return [
            outcomes.get(position)
            or Outcome(outgoing.source_id, False, "SQS did not answer for this entry")
            for position, outgoing in enumerate(messages)
        ]

    async def _publish(self, topic_arn: str, messages: Sequence[Outgoing]) -> list[Outcome]:
        sns = self._sns
        gate = asyncio.Semaphore(_WORKERS)

        async def one(outgoing: Outgoing) -> Outcome:
            outgoing, unwrapped = unwrap_sns_envelope(outgoing)
            body, problem = _text_body(outgoing.body)
            if body is None:
                return Outcome(outgoing.source_id, False, problem)
            attributes, skipped = message_attributes(outgoing.headers)
            request: dict[str, Any] = {"TopicArn": topic_arn, "Message": body}
            if attributes:
                request["MessageAttributes"] = attributes
            if topic_arn.endswith(".fifo"):
                request.update(_fifo_fields(outgoing))
            async with gate:
                try:
                    reply = await self._call(
                        functools.partial(sns.publish, **request), service="sns", target=topic_arn
                    )
                except EventdeskError as exc:
                    return Outcome(outgoing.source_id, False, str(exc))
            note = "; the SNS envelope's message was published" if unwrapped else ""
            note += f"; not carried: {', '.join(skipped)}" if skipped else ""
            return Outcome(outgoing.source_id, True, f"MessageId {reply.get('MessageId')}{note}")

        return list(await asyncio.gather(*(one(outgoing) for outgoing in messages)))

    async def queue_stats(self, *, timeout: float = 10.0) -> list[QueueStats]:
        """Per queue: visible, in flight and delayed messages (SQS's approximate counts).

        SNS subscriptions' DLQs are SQS queues, so they are here too.
        """
        sqs = self._client()
        async with _deadline(timeout, f"Reading queue statistics of {self._where}"):
            urls = await self._call(functools.partial(_all_queue_urls, sqs))
            queues = await self._all_attributes(sqs, urls)
        return [
            QueueStats(
                name,
                {metric: float(_count(attributes, field)) for field, metric in _SQS_STATS.items()},
            )
            for name, attributes in sorted(queues.items())
            if "_denied" not in attributes
        ]

    def browse(self, endpoint: str, *, page_size: int = 500) -> SqsBrowser:
        self._client()
        browser = SqsBrowser(self, endpoint, page_size=page_size)
        self._browsers.add(browser)
        return browser

    def _forget_browser(self, browser: SqsBrowser) -> None:
        self._browsers.discard(browser)


# -- sending helpers ---------------------------------------------------------------


def message_attributes(
    headers: Iterable[tuple[str, Any]],
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """SQS/SNS message attributes from headers, and the names of the headers left out (why).

    str becomes String, bytes Binary, int and float Number; anything else (AMQP tables,
    lists, timestamps, booleans) and names SQS refuses are left out, as is all past ten.
    """
    latest: dict[str, Any] = {}
    for name, value in headers:
        latest[name] = value  # a repeated header: the newest wins, as Message.header()
    ordered = sorted(latest.items(), key=lambda item: not item[0].startswith(_FIRST_HEADERS))
    attributes: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for name, value in ordered:
        if (
            len(name) > 256
            or not _ATTRIBUTE_NAME.fullmatch(name)
            or name.lower().startswith(("aws.", "amazon."))
        ):
            skipped.append(f"{name} (name not allowed)")
            continue
        if isinstance(value, bool) or value is None:
            skipped.append(f"{name} ({type(value).__name__} value)")
            continue
        if isinstance(value, str):
            if not value or _INVALID_BODY_CHARS.search(value):
                skipped.append(f"{name} (empty or invalid text)")
                continue
            attribute = {"DataType": "String", "StringValue": value}
        elif isinstance(value, bytes | bytearray):
            if not value:
                skipped.append(f"{name} (empty)")
                continue
            attribute = {"DataType": "Binary", "BinaryValue": bytes(value)}
        elif isinstance(value, int | float):
            attribute = {"DataType": "Number", "StringValue": str(value)}
        else:
            skipped.append(f"{name} ({type(value).__name__} value)")
            continue
        if len(attributes) >= _MAX_ATTRIBUTES:
            skipped.append(f"{name} (over the limit of {_MAX_ATTRIBUTES} attributes)")
            continue
        attributes[name] = attribute
    return attributes, skipped


def unwrap_sns_envelope(outgoing: Outgoing) -> tuple[Outgoing, bool]:
    """The message inside an SNS notification envelope, for publishing to a topic again.

    A subscription's DLQ (without raw delivery) holds SNS's JSON envelope; publishing it as
    it is would wrap it twice. The envelope's message attributes come back as headers, and
    the outgoing headers (the replay's own) win over them. Anything else is left alone.
    """
    try:
        envelope = json.loads(outgoing.body)
    except ValueError:
        return outgoing, False
    if not (
        isinstance(envelope, dict)
        and envelope.get("Type") == "Notification"
        and isinstance(envelope.get("Message"), str)
        and envelope.get("TopicArn")
    ):
        return outgoing, False
    headers = [*_envelope_attributes(envelope.get("MessageAttributes")), *outgoing.headers]
    body = envelope["Message"].encode("utf-8")
    return dataclasses.replace(outgoing, body=body, headers=tuple(headers)), True


def _envelope_attributes(raw: object) -> list[tuple[str, Any]]:
    """SNS envelope attributes ({"name": {"Type": ..., "Value": ...}}) as header pairs."""
    if not isinstance(raw, dict):
        return []
    headers: list[tuple[str, Any]] = []
    for name, attribute in raw.items():
        if not isinstance(attribute, dict) or not isinstance(attribute.get("Value"), str):
            continue
        kind, value = str(attribute.get("Type", "String")), attribute["Value"]
        if kind.startswith("Binary"):
            try:
                headers.append((str(name), base64.b64decode(value, validate=True)))
            except (binascii.Error, ValueError):
                continue
        elif kind.startswith("Number"):
            headers.append((str(name), _number(value)))
        else:
            headers.append((str(name), value))
    return headers


def _number(text: str) -> int | float | str:
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def _text_body(body: bytes) -> tuple[str | None, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, "SQS and SNS carry text only; this body is not UTF-8"
    if _INVALID_BODY_CHARS.search(text):
        return None, "the body holds characters SQS does not accept"
    return text, ""


def _dedup_id(text: str) -> str:
    # At most 128 characters of letters, digits and punctuation; anything else is hashed.
    if len(text) <= 128 and re.fullmatch(r"[!-~]+", text):
        return text
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fifo_fields(outgoing: Outgoing) -> dict[str, str]:
    options = outgoing.options
    group = options.get("MessageGroupId") or (
        outgoing.key.decode("utf-8", "replace") if outgoing.key else "eventdesk-replay"
    )
    dedup = options.get("MessageDeduplicationId")
    if not dedup:
        key = _header_text(outgoing.headers, "eventdesk-original-id") or outgoing.source_id
        count = _header_text(outgoing.headers, "eventdesk-replay-count")
        # A replay round of its own gets a fresh id, or SQS would drop a message replayed
        # again within its five-minute window; a resumed round reuses the same one.
        dedup = f"{key}#{count}" if count else key
    return {"MessageGroupId": group[:128], "MessageDeduplicationId": _dedup_id(dedup)}


def _header_text(headers: Iterable[tuple[str, Any]], name: str) -> str | None:
    found = None
    for key, value in headers:
        if key == name:
            found = value
    if isinstance(found, bytes):
        return found.decode("utf-8", "replace")
    return None if found is None else str(found)


def _send_entry(
    entry_id: str, outgoing: Outgoing, *, fifo: bool
) -> tuple[dict[str, Any] | None, str]:
    body, problem = _text_body(outgoing.body)
    if body is None:
        return None, problem
    attributes, skipped = message_attributes(outgoing.headers)
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": body}
    if attributes:
        entry["MessageAttributes"] = attributes
    if fifo:
        entry.update(_fifo_fields(outgoing))
    if skipped:
        entry["_skipped"] = skipped
    if _entry_size(entry) > MAX_BATCH_BYTES:
        return None, f"larger than SQS's {MAX_BATCH_BYTES // 1024} KB message limit"
    return entry, ""


def _entry_size(entry: Mapping[str, Any]) -> int:
    size = len(str(entry["MessageBody"]).encode("utf-8"))
    for name, attribute in entry.get("MessageAttributes", {}).items():
        value = attribute.get("StringValue", attribute.get("BinaryValue", b""))
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        size += len(name.encode("utf-8")) + len(attribute["DataType"]) + len(raw)
    return size


def _wire(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if not key.startswith("_")}


def _skipped_note(batch: list[tuple[int, dict[str, Any]]], position: int) -> str:
    for candidate, entry in batch:
        if candidate == position and entry.get("_skipped"):
            return "; not carried: " + ", ".join(entry["_skipped"])
    return ""


# -- blocking helpers, run on the connector's pool ------------------------------


def _all_queue_urls(sqs: Any) -> list[str]:
    urls: list[str] = []
    for page in sqs.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 1000}):
        urls.extend(page.get("QueueUrls", []))
    return urls


def _dead_letter_sources(sqs: Any, url: str) -> list[str]:
    names: list[str] = []
    paginator = sqs.get_paginator("list_dead_letter_source_queues")
    for page in paginator.paginate(QueueUrl=url, PaginationConfig={"PageSize": 1000}):
        names.extend(_name_from_url(u) for u in page.get("queueUrls", []))
    return names


def _all_topic_arns(sns: Any) -> list[str]:
    arns: list[str] = []
    for page in sns.get_paginator("list_topics").paginate():
        arns.extend(t["TopicArn"] for t in page.get("Topics", []))
    return arns


def _all_subscriptions(sns: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for page in sns.get_paginator("list_subscriptions").paginate():
        found.extend(page.get("Subscriptions", []))
    return found


# -- pure helpers ------------------------------------------------------------------


def _count(attributes: Mapping[str, str], name: str) -> int:
    try:
        return int(attributes.get(name, "0"))
    except ValueError:
        return 0


def _depth(attributes: Mapping[str, str]) -> int:
    return _count(attributes, "ApproximateNumberOfMessages") + _count(
        attributes, "ApproximateNumberOfMessagesNotVisible"
    )


def _queue_feeders(queues: Mapping[str, Mapping[str, str]]) -> dict[str, list[_Feeder]]:
    feeders: dict[str, list[_Feeder]] = {}
    for name, attributes in sorted(queues.items()):
        target = _redrive_target(attributes.get("RedrivePolicy"))
        if target is None:
            continue
        arn, max_receive = target
        feeders.setdefault(_name_from_arn(arn), []).append(
            _Feeder(
                name=name,
                evidence=f"RedrivePolicy of {name} (maxReceiveCount {max_receive or '?'})",
                max_receive_count=max_receive,
            )
        )
    return feeders


def _queue_details(attributes: Mapping[str, str]) -> dict[str, str]:
    details = {
        "url": attributes.get("_url", ""),
        "arn": attributes.get("QueueArn", ""),
        "fifo": "yes" if attributes.get("FifoQueue") == "true" else "no",
        "visible": attributes.get("ApproximateNumberOfMessages", "?"),
        "in_flight": attributes.get("ApproximateNumberOfMessagesNotVisible", "?"),
        "delayed": attributes.get("ApproximateNumberOfMessagesDelayed", "?"),
        "visibility_timeout": attributes.get("VisibilityTimeout", "?"),
    }
    target = _redrive_target(attributes.get("RedrivePolicy"))
    if target is not None:
        details["dead_letter_target"] = _name_from_arn(target[0])
        details["max_receive_count"] = target[1]
    if attributes.get("RedriveAllowPolicy"):
        details["redrive_allow_policy"] = attributes["RedriveAllowPolicy"]
    return details


def _feeder_details(details: dict[str, str], feeders: Iterable[_Feeder]) -> None:
    feeders = list(feeders)
    counts = [f"{f.name}: {f.max_receive_count}" for f in feeders if f.max_receive_count]
    if counts:
        details["feeders_max_receive_count"] = ", ".join(counts)
    subscriptions = [f.subscription_arn for f in feeders if f.subscription_arn]
    if subscriptions:
        details["sns_subscriptions"] = ", ".join(subscriptions)


def _subscription_feeder(subscription: SnsSubscription) -> _Feeder:
    short_id = subscription.arn.rsplit(":", 1)[-1]
    return _Feeder(
        name=subscription.topic,
        evidence=(
            f"redrive DLQ of SNS subscription {short_id} "
            f"(topic {subscription.topic}, {subscription.route})"
        ),
        subscribed_queue=subscription.subscribed_queue,
        subscription_arn=subscription.arn,
    )


def _topic_endpoint(topic: _Topic) -> Endpoint:
    """A topic, with one "subscription N" detail per subscription: where to, and its DLQ."""
    details = {"arn": topic.arn, "subscriptions": str(len(topic.subscriptions))}
    ordered = sorted(topic.subscriptions, key=lambda s: (s.protocol, s.endpoint, s.arn))
    for number, subscription in enumerate(ordered, start=1):
        details[f"subscription {number}"] = subscription.summary
    dead_letter_queues = [s.dead_letter_queue for s in ordered if s.dead_letter_queue]
    if dead_letter_queues:
        details["subscription_dead_letter_queues"] = ", ".join(dead_letter_queues)
    return Endpoint(name=topic.name, kind=EndpointKind.TOPIC, depth=None, details=details)


# -- browsing ----------------------------------------------------------------------


@dataclasses.dataclass
class _Held:
    receipt_handle: str
    received_at: float


class SqsBrowser(Browser):
    """Shows a queue by receiving its messages and holding them invisible until close().

    SQS has no peek: the only way to see a message is to receive it. Held
    messages are released (visibility 0) on close, and come back by themselves
    after the visibility timeout if Eventdesk dies first.
    """

    side_effect_note = (
        "Browsing hides these messages from consumers until you leave the queue "
        "(then they are released at once) and raises their receive count."
    )

    def __init__(self, connector: SqsConnector, endpoint: str, *, page_size: int) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.endpoint = endpoint
        self.page_size = page_size
        # Why the last page (more=False) is not the end of the queue, if it is not:
        # MAX_HELD reached, or FIFO groups blocked behind messages we hold.
        self.incomplete: str | None = None
        self._fifo = False
        self._connector = connector
        self._url: str | None = None
        # What fed this DLQ, when exactly one thing did: fills in messages that
        # do not say where they came from.
        self._source_arn: str | None = None
        self._subscribed_queue: str | None = None
        self._lock = threading.Lock()  # receives write from pool threads
        self._held: dict[str, _Held] = {}
        self._buffer: list[Message] = []
        self._empty_streak = 0
        self._exhausted = False
        self._closed = False
        self._keeper: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        """How many messages this browser keeps hidden right now."""
        return len(self._held)

    async def next_page(self, *, timeout: float = 10.0) -> Page:
        if self._closed:
            return Page(messages=(), more=False)
        async with _deadline(timeout, f"Browsing {self.endpoint}"):
            if self._url is None:
                await self._start()
            # One message past the page tells whether another page follows.
            while len(self._buffer) <= self.page_size and not self._exhausted:
                if len(self._held) >= MAX_HELD:
                    self.incomplete = f"Browsing stops at {MAX_HELD:,} held messages."
                    break
                await self._receive_round(self.page_size + 1 - len(self._buffer))
            if self._exhausted and self._fifo and self.incomplete is None:
                await self._check_fifo_blocked()
        with self._lock:
            self._buffer.sort(key=_age_key)
            page = self._buffer[: self.page_size]
            del self._buffer[: self.page_size]
            more = bool(self._buffer) or not (self._exhausted or self.incomplete)
        return Page(messages=tuple(page), more=more)

    async def settle(self, messages: Sequence[Message], *, timeout: float = 30.0) -> list[Outcome]:
        """DeleteMessageBatch of exactly these messages' held receipt handles."""
        outcomes: dict[int, Outcome] = {}
        deleting: list[tuple[int, str, str]] = []  # (position, id, receipt handle)
        with self._lock:
            for position, message in enumerate(messages):
                held = None if self._closed else self._held.get(message.id)
                if held is None:
                    outcomes[position] = Outcome(message.id, False, "not held by this browser")
                else:
                    deleting.append((position, message.id, held.receipt_handle))
        if deleting:
            sqs = self._connector._client()
            url = self._url

            async def one(batch: list[tuple[int, str, str]]) -> None:
                entries = [
                    {"Id": str(position), "ReceiptHandle": handle} for position, _, handle in batch
                ]
                try:
                    reply = await self._connector._call(
                        functools.partial(sqs.delete_message_batch, QueueUrl=url, Entries=entries),
                        target=self.endpoint,
                    )
                except EventdeskError as exc:
                    for position, message_id, _ in batch:
                        outcomes[position] = Outcome(message_id, False, str(exc))
                    return
                ids = {position: message_id for position, message_id, _ in batch}
                for ok in reply.get("Successful", []):
                    position = int(ok["Id"])
                    with self._lock:
                        self._held.pop(ids[position], None)
                    outcomes[position] = Outcome(
                        ids[position], True, f"deleted from {self.endpoint}"
                    )
                for failed in reply.get("Failed", []):
                    position = int(failed["Id"])
                    outcomes[position] = Outcome(
                        ids[position],
                        False,
                        f"{failed.get('Code', '?')}: {failed.get('Message', '')}".strip(": "),
                    )

            async with _deadline(timeout, f"Deleting {len(deleting)} messages of {self.endpoint}"):
                await asyncio.gather(
                    *(one(deleting[i : i + _BATCH_MAX]) for i in range(0, len(deleting), 10))
                )
        return [
            outcomes.get(position)
            or Outcome(message.id, False, "SQS did not answer for this entry")
            for position, message in enumerate(messages)
        ]

    async def _check_fifo_blocked(self) -> None:
        # A FIFO queue hands out nothing more of a message group while one of its
        # messages is in flight, so "no more to receive" may leave messages unseen.
        connector = self._connector
        attributes = await connector._queue_attributes(
            connector._client(), self._url or "", ["ApproximateNumberOfMessages"], self.endpoint
        )
        unseen = _count(attributes, "ApproximateNumberOfMessages")
        if unseen:
            self.incomplete = (
                f"About {unseen} more messages wait behind the shown ones in their FIFO "
                "message groups; SQS shows them only once the shown ones are released."
            )

    async def _start(self) -> None:
        connector = self._connector
        url = await connector.queue_url(self.endpoint)
        sqs = connector._client()
        attributes = await connector._queue_attributes(
            sqs, url, ["QueueArn", "RedrivePolicy", "FifoQueue"], self.endpoint
        )
        self._fifo = attributes.get("FifoQueue") == "true"
        if _redrive_target(attributes.get("RedrivePolicy")) is not None:
            self.side_effect_note = (
                SqsBrowser.side_effect_note
                + " This queue has a redrive policy: a message received maxReceiveCount times "
                "moves to its dead-letter queue."
            )
        known = await connector._known_feeders(self.endpoint)
        try:
            sources = await connector.dead_letter_sources(self.endpoint)
        except (AuthorizationFailed, BrokerError):
            # Not allowed to ask: fall back on the RedrivePolicies the listing saw.
            sources = [f.name for f in known if f.subscribed_queue is None]
        subscribed = {f.subscribed_queue for f in known if f.subscribed_queue}
        arn = attributes.get("QueueArn", "")
        if len(sources) == 1 and not subscribed and arn.count(":") == 5:
            # SQS redrives only within one account and region, so the source's
            # ARN differs from this queue's in the name alone.
            self._source_arn = f"{arn.rsplit(':', 1)[0]}:{sources[0]}"
        elif len(subscribed) == 1 and not sources:
            self._subscribed_queue = subscribed.pop()
        self._url = url
        self._keeper = asyncio.create_task(self._keep_hidden(), name=f"keep {self.endpoint} hidden")

    async def _receive_round(self, wanted: int) -> None:
        sqs = self._connector._client()
        if self._empty_streak:
            counts, wait = [_RECEIVE_MAX], _END_WAIT_SECONDS
        else:
            counts, wait = [], 0
            while wanted > 0 and len(counts) < _PARALLEL_RECEIVES:
                counts.append(min(_RECEIVE_MAX, wanted))
                wanted -= counts[-1]
        got = await asyncio.gather(
            *(
                self._connector._call(
                    functools.partial(self._receive, sqs, count, wait), target=self.endpoint
                )
                for count in counts
            )
        )
        if sum(got):
            self._empty_streak = 0
        else:
            self._empty_streak += 1
            self._exhausted = self._empty_streak >= _EMPTY_RECEIVES_AT_END

    def _receive(self, sqs: Any, count: int, wait: int) -> int:
        """Receive and hold; runs on a pool thread, so a timed-out page loses nothing."""
        reply = sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=count,
            VisibilityTimeout=self._connector.browse_hold_seconds,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        received = reply.get("Messages", [])
        messages = [self._message(raw) for raw in received]
        now = time.monotonic()
        with self._lock:
            closed = self._closed
            for raw, message in zip(received, messages, strict=True):
                if closed:
                    break
                # At-least-once delivery can hand us one we hold already: keep the
                # newest handle (the old one may no longer be valid) and show it once.
                seen = message.id in self._held
                self._held[message.id] = _Held(raw["ReceiptHandle"], now)
                if not seen:
                    self._buffer.append(message)
        if closed:
            # close() ran while this receive was in flight and cannot see these.
            _release_quietly(sqs, self._url, [raw["ReceiptHandle"] for raw in received])
        return len(received)

    def _message(self, raw: Mapping[str, Any]) -> Message:
        attributes = {str(k): str(v) for k, v in raw.get("Attributes", {}).items()}
        headers = tuple(
            (str(name), value.get("StringValue", value.get("BinaryValue")))
            for name, value in raw.get("MessageAttributes", {}).items()
        )
        facts_from = attributes
        if self._source_arn and "DeadLetterQueueSourceArn" not in attributes:
            # AWS stamps moved messages with their source; emulators do not, and
            # the RedrivePolicy names the same queue.
            facts_from = {**attributes, "DeadLetterQueueSourceArn": self._source_arn}
        facts = parse_dead_letter(headers, attributes=facts_from)
        if self._subscribed_queue and not facts.original_destination:
            facts = dataclasses.replace(
                facts,
                convention=facts.convention or "sns subscription redrive",
                original_destination=self._subscribed_queue,
                reason=facts.reason or "SNS could not deliver it to the subscribed queue",
            )
        sent = attributes.get("SentTimestamp")
        # A FIFO message group does what a key does elsewhere: it orders and partitions.
        group = attributes.get("MessageGroupId")
        return Message(
            endpoint=self.endpoint,
            id=str(raw["MessageId"]),
            body=str(raw.get("Body", "")).encode("utf-8"),
            key=group.encode("utf-8") if group else None,
            headers=headers,
            timestamp=datetime.fromtimestamp(int(sent) / 1000, tz=UTC) if sent else None,
            dead_letter=facts,
            attributes=attributes,
        )

    async def _keep_hidden(self) -> None:
        """While open, re-hide every held message before its hold runs out."""
        hold = self._connector.browse_hold_seconds
        while not self._closed:
            await asyncio.sleep(hold / 3)
            cutoff = time.monotonic() - hold / 3
            with self._lock:
                stale = [h for h in self._held.values() if h.received_at <= cutoff]
                now = time.monotonic()
                for held in stale:
                    held.received_at = now
            if not stale or self._closed:
                continue
            try:
                await self._change_visibility([h.receipt_handle for h in stale], hold)
            except EventdeskError as exc:
                # Not fatal: the next round tries again; at worst they reappear (nothing lost).
                log.warning(
                    "Could not keep %d browsed messages of %s hidden: %s",
                    len(stale),
                    self.endpoint,
                    exc,
                )

    async def _change_visibility(self, handles: list[str], seconds: int) -> None:
        sqs = self._connector._client()
        batches = [handles[i : i + 10] for i in range(0, len(handles), 10)]
        await asyncio.gather(
            *(
                self._connector._call(
                    functools.partial(_change_visibility_batch, sqs, self._url, batch, seconds),
                    target=self.endpoint,
                )
                for batch in batches
            )
        )

    async def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            handles = [h.receipt_handle for h in self._held.values()]
            self._held.clear()
            self._buffer.clear()
        if self._keeper is not None:
            self._keeper.cancel()
        self._connector._forget_browser(self)
        if not handles:
            return
        try:
            # Shielded: a cancelled close must still give the messages back.
            await asyncio.shield(self._change_visibility(handles, 0))
        except EventdeskError as exc:
            # Nothing is lost: they reappear when the visibility timeout ends.
            log.warning(
                "Could not release %d browsed messages of %s (back within %d s): %s",
                len(handles),
                self.endpoint,
                self._connector.browse_hold_seconds,
                exc,
            )


def _change_visibility_batch(sqs: Any, url: str | None, handles: list[str], seconds: int) -> None:
    reply = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
            for i, handle in enumerate(handles)
        ],
    )
    for failure in reply.get("Failed", []):
        # Deleted by a consumer meanwhile, or a handle superseded by a redelivery.
        log.debug("ChangeMessageVisibility %s: %s", failure.get("Code"), failure.get("Message"))


def _release_quietly(sqs: Any, url: str | None, handles: list[str]) -> None:
    for i in range(0, len(handles), 10):
        with contextlib.suppress(BotoCoreError, ClientError):
            _change_visibility_batch(sqs, url, handles[i : i + 10], 0)


def _age_key(message: Message) -> int:
    # Ties keep receive order (the sort is stable), which in a FIFO queue is the
    # group's order.
    sent = message.attributes.get("SentTimestamp", "0")
    return int(sent) if sent.isdigit() else 0


_SQS_STATS = {
    "ApproximateNumberOfMessages": Metric.VISIBLE,
    "ApproximateNumberOfMessagesNotVisible": Metric.IN_FLIGHT,
    "ApproximateNumberOfMessagesDelayed": Metric.DELAYED,
}
