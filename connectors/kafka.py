"""The Kafka adapter: topics with their depth, dead-letter topics found, read-only browsing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import socket
import ssl
import sys
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.conn import create_conn
from aiokafka.protocol.metadata import MetadataRequest

from .base import Browser, Connector
from .dead_letters import dead_letter_source_from_name, is_dead_letter_header, parse_dead_letter
from .errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    BrokerError,
    BrokerUnreachable,
    ConfigurationError,
    ConnectionLost,
    EndpointNotFound,
    EventdeskError,
    OperationTimeout,
    TlsError,
)
from .kafka_review import (
    COORDINATOR_STARTING_ERRORS,
    HandledState,
    ReviewLedger,
    Span,
    message_offset,
    reviewed_topic,
    send_record,
)
from .model import (
    NO_DEAD_LETTER_FACTS,
    BrokerKind,
    Endpoint,
    EndpointKind,
    Headers,
    Message,
    Outcome,
    Outgoing,
    Page,
)
from .sampling import GroupLag, KafkaLagReport, PartitionLag

# Brokers of some versions do not flag every one of these as internal in metadata.
_INTERNAL_TOPICS = frozenset(
    {"__consumer_offsets", "__transaction_state", "__share_group_state", "__cluster_metadata"}
)

# Peeking is one fetch per broker for all partitions at once, but a cluster with
# thousands of topics must not turn a refresh into a scan: past these bounds (or
# the time budget) a topic is judged by its name alone.
_PEEK_MAX_TOPICS = 512
# Up to 10 s (20 x 0.5 s) for a topic's partitions to get leaders again.
_LEADER_WAIT_ROUNDS = 20
_PEEK_MAX_PARTITIONS = 4096
_PEEK_BUDGET_S = 3.0
# Asked about by name when a user sees no topic at all: an all-topics request silently
# leaves out the topics a user may not describe, a request naming one says so.
_DESCRIBE_PROBE_TOPIC = "eventdesk-permission-check"
_PEEK_BACK = 4
# getmany waits out its whole timeout when a fetch brings only transaction markers,
# so waits are sliced short and the position is checked between slices.
_WAIT_SLICE_MS = 50

# One partition is read at a time, so this bounds a browser's buffer; 1 MiB holds
# about two pages of 1 KB records, so the next page is usually already here.
_BROWSE_PARTITION_FETCH_BYTES = 1024 * 1024
# The newest record is all a peek needs; the broker still returns a whole first
# batch when it is larger than this.
_PEEK_PARTITION_FETCH_BYTES = 64 * 1024
_PEEK_FETCH_BYTES = 16 * 1024 * 1024

_TIMESTAMP_TYPES = {0: "CreateTime", 1: "LogAppendTime"}
T = TypeVar("T")

# A group's coordinator moved, or is starting: find it again.
_MOVED_COORDINATOR_ERRORS = (
    *COORDINATOR_STARTING_ERRORS,
    kafka_errors.NodeNotReadyError,
    kafka_errors.KafkaConnectionError,
)
# Offset fetches in flight at once when sampling many consumer groups.
_LAG_CONCURRENCY = 16

_AUTHENTICATION_ERRORS = (
    kafka_errors.AuthenticationFailedError,
    kafka_errors.AuthenticationMethodNotSupported,
    kafka_errors.SaslAuthenticationFailed,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.IllegalSaslStateError,
)
_AUTHORIZATION_ERRORS = (
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.TransactionalIdAuthorizationFailed,
)
_TIMEOUT_ERRORS = (kafka_errors.KafkaTimeoutError, kafka_errors.RequestTimedOutError)
_LINK_ERRORS = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.NoBrokersAvailable,
    kafka_errors.NodeNotReadyError,
    kafka_errors.KafkaUnavailableError,
    ConnectionError,
)

_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# OpenSSL's verify codes (X509_V_ERR_*) that name what is wrong with a broker's certificate.
_CERT_NAME_MISMATCH = frozenset({62, 64})  # hostname, IP address
_CERT_UNKNOWN_ISSUER = frozenset({2, 18, 19, 20, 21})
_CERT_EXPIRED, _CERT_NOT_YET_VALID = 10, 9


@dataclasses.dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How a connector authenticates to Kafka and protects the link; plain TCP by default.

    Passwords are held only for the life of the connector and never shown by repr.
    """

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = dataclasses.field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: str | None = dataclasses.field(default=None, repr=False)
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.security_protocol not in _SECURITY_PROTOCOLS:
            raise ConfigurationError(
                f"Kafka security_protocol {self.security_protocol!r} is not one of "
                f"{', '.join(_SECURITY_PROTOCOLS)}."
            )
        if self.uses_sasl:
            if self.sasl_mechanism not in _SASL_MECHANISMS:
                raise ConfigurationError(
                    f"Kafka sasl_mechanism {self.sasl_mechanism!r} is not one of "
                    f"{', '.join(_SASL_MECHANISMS)}."
                )
            if not self.sasl_username:
                raise ConfigurationError(
                    f"{self.security_protocol} needs a user name.", hint="Set sasl_username."
                )
            if self.sasl_password is None:
                raise ConfigurationError(
                    f"{self.security_protocol} needs the password of user {self.sasl_username!r}.",
                    hint="Enter it when connecting, or name a variable with sasl_password_env.",
                )
        tls_files = [
            name for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile") if getattr(self, name)
        ]
        if tls_files and not self.uses_tls:
            raise ConfigurationError(
                f"{', '.join(tls_files)} set, but security_protocol {self.security_protocol} "
                "does not use TLS.",
                hint="Choose SSL or SASL_SSL, or clear the TLS files.",
            )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ConfigurationError(
                "ssl_keyfile is set without ssl_certfile.",
                hint="A client key needs the client certificate that goes with it.",
            )

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext:
        """A new context from the CA, client certificate and hostname settings.

        ConfigurationError names the file that cannot be used.
        """
        try:
            context = ssl.create_default_context(cafile=self.ssl_cafile)
        except ssl.SSLError as exc:
            raise ConfigurationError(
                f"ssl_cafile {self.ssl_cafile} holds no usable PEM certificate ({exc.reason}).",
                hint="Point ssl_cafile at the PEM file of the CA that signed the broker's "
                "certificate.",
            ) from exc
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read ssl_cafile {self.ssl_cafile}: {exc.strerror or exc}."
            ) from exc
        if self.ssl_certfile:
            try:
                context.load_cert_chain(
                    self.ssl_certfile, self.ssl_keyfile, password=self.ssl_key_password
                )
            except ssl.SSLError as exc:
                if "BAD_DECRYPT" in str(exc.reason) or "bad decrypt" in str(exc):
                    problem = "the key could not be decrypted (is ssl_key_password right?)"
                else:
                    problem = f"they are not a PEM certificate and its key ({exc.reason})"
                raise ConfigurationError(
                    f"Cannot use ssl_certfile {self.ssl_certfile} with ssl_keyfile "
                    f"{self.ssl_keyfile or '(in the certificate file)'}: {problem}."
                ) from exc
            except OSError as exc:
                raise ConfigurationError(
                    f"Cannot read the client certificate or key ({self.ssl_certfile}, "
                    f"{self.ssl_keyfile or '-'}): {exc.strerror or exc}."
                ) from exc
        # Still verifies the chain; only the name check goes (the UI marks this unsafe).
        context.check_hostname = self.ssl_check_hostname
        return context


class KafkaConnector(Connector):
    """One Kafka cluster: an admin client for metadata and a group-less consumer for offsets.

    Nothing here joins a consumer group or commits an offset, so looking at a
    cluster never shows up as a consumer in it.
    """

    kind = BrokerKind.KAFKA

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "eventdesk",
        security: KafkaSecurity | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.security = security or KafkaSecurity()
        self._ssl_context: ssl.SSLContext | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._peeker: AIOKafkaConsumer | None = None
        self._peek_lock = asyncio.Lock()
        # Topics seen without a leader on some partition at the last metadata read.
        self._leaderless: frozenset[str] = frozenset()
        self._browsers: weakref.WeakSet[KafkaBrowser] = weakref.WeakSet()
        # group -> its coordinator's node id: sampling asks every group each round, and a
        # FindCoordinator request before each group request doubled the round's requests.
        self._coordinators: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------

    async def connect(self, *, timeout: float = 10.0) -> None:
        if self._admin is not None:
            return
        started = time.monotonic()
        hosts = _parse_bootstrap(self.bootstrap_servers)
        admin = AIOKafkaAdminClient(
            **self._client_settings(), request_timeout_ms=_request_timeout_ms(timeout)
        )
        offsets = self._new_consumer(request_timeout_ms=_request_timeout_ms(timeout))
        try:
            async with asyncio.timeout(timeout):
                async with asyncio.TaskGroup() as group:
                    group.create_task(admin.start())
                    group.create_task(offsets.start())
        except BaseException as exc:
            await _quietly_stop(admin, offsets)
            # Both clients usually fail the same way; the first one's reason is the story.
            while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
                exc = exc.exceptions[0]
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, TimeoutError):
                raise BrokerUnreachable(
                    f"Kafka at {self.bootstrap_servers} did not answer within {timeout:g} s."
                ) from exc
            # aiokafka only logs why a bootstrap failed (DNS, TCP, TLS, SASL): ask again.
            if isinstance(exc, (*_LINK_ERRORS, *_TIMEOUT_ERRORS, OSError)):
                left = timeout - (time.monotonic() - started)
                raise await self._diagnose(hosts, exc, timeout=min(max(left, 1.0), 5.0)) from exc
            raise translate_error(exc, servers=self.bootstrap_servers, doing="connecting") from exc
        self._admin, self._offsets = admin, offsets

    async def close(self) -> None:
        browsers = list(self._browsers)
        self._browsers.clear()
        for browser in browsers:
            await browser.close()
        await self._close_replay_clients()
        clients = (self._peeker, self._offsets, self._admin)
        self._admin = self._offsets = self._peeker = None
        await _quietly_stop(*clients)

    # -- endpoints ---------------------------------------------------------------

    async def list_endpoints(self, *, timeout: float = 30.0) -> list[Endpoint]:
        started = time.monotonic()
        async with self._translated("listing topics", timeout):
            topics = await self._topic_partitions()
            if not topics:
                await self._check_topic_describe()
            depths = await self._depths(topics)
        names = set(topics)
        named_sources = {name: dead_letter_source_from_name(name) for name in topics}

        # Name-matched DLQs are peeked too: their headers name sources that the
        # name alone cannot (a Connect DLQ is named after its connector). Among the
        # rest, small topics first: a DLQ is usually far smaller than what feeds it.
        named = sorted(n for n in topics if named_sources[n] is not None and depths.get(n))
        unnamed = sorted(
            (n for n in topics if named_sources[n] is None and depths.get(n)),
            key=lambda n: (depths[n], n),
        )
        remaining = timeout - (time.monotonic() - started)
        newest = await self._peek_newest(
            _bounded_peek(named + unnamed, topics), budget=min(_PEEK_BUDGET_S, remaining)
        )

        unhandled: dict[str, int] = {}
        remaining = timeout - (time.monotonic() - started)
        # Review state is extra detail, like the peek: it never fails the listing.
        with contextlib.suppress(TimeoutError, kafka_errors.KafkaError, EventdeskError, OSError):
            async with asyncio.timeout(max(0.0, min(_PEEK_BUDGET_S, remaining))):
                unhandled = await self._unhandled_counts(topics)

        endpoints = []
        for name in sorted(topics):
            source = named_sources[name]
            seen = newest.get(name, [])
            dead_headers = [h for headers in seen for h, _ in headers if is_dead_letter_header(h)]
            fed_by: list[str] = []
            if source and source in names:
                fed_by.append(source)
            for headers in seen:
                original = parse_dead_letter(headers).original_destination
                if original and original != name and original not in fed_by:
                    fed_by.append(original)
            evidence = []
            if source is not None:
                evidence.append(_name_evidence(name, source))
            if dead_headers:
                evidence.append(f"records carry {_header_family(dead_headers)} headers")
            endpoints.append(
                Endpoint(
                    name=name,
                    kind=EndpointKind.TOPIC,
                    depth=depths.get(name),
                    is_dead_letter=bool(evidence),
                    fed_by=tuple(fed_by),
                    dead_letter_evidence="; ".join(evidence),
                    details={"partitions": str(len(topics[name]))}
                    | ({"unhandled": str(unhandled[name])} if name in unhandled else {}),
                )
            )
        return endpoints

    async def depth(self, endpoint: str, *, timeout: float = 10.0) -> int:
        async with self._translated(f"reading the depth of {endpoint}", timeout):
            partitions = await self._partitions(endpoint)
            depths = await self._depths({endpoint: partitions})
        if endpoint not in depths:
            raise EndpointNotFound(f"Topic {endpoint} went away while its depth was read.")
        return depths[endpoint]

    def browse(self, endpoint: str, *, page_size: int = 500) -> Browser:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        browser = KafkaBrowser(self, endpoint, page_size=page_size)
        self._browsers.add(browser)
        return browser

    # -- internals shared with the browser ---------------------------------------

    def _client_settings(self) -> dict[str, object]:
        """What every aiokafka client of this connector is built with: address and security."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            **self._security_settings(),
        }

    def _security_settings(self) -> dict[str, object]:
        security = self.security
        settings: dict[str, object] = {"security_protocol": security.security_protocol}
        if security.uses_tls:
            if self._ssl_context is None:
                self._ssl_context = security.ssl_context()
            settings["ssl_context"] = self._ssl_context
        if security.uses_sasl:
            settings["sasl_mechanism"] = security.sasl_mechanism
            settings["sasl_plain_username"] = security.sasl_username
            settings["sasl_plain_password"] = security.sasl_password
        return settings

    async def _diagnose(
        self, hosts: Sequence[tuple[str, int]], exc: BaseException, *, timeout: float
    ) -> EventdeskError:
        """Why the clients could not start, found by repeating their first steps per host.

        Only runs after a failed connect: a certificate or password problem wins over
        an unreachable host, since it is what the operator has to fix.
        """
        found = await asyncio.gather(*(self._probe(h, p, timeout=timeout) for h, p in hosts))
        for problem in found:
            if isinstance(problem, EventdeskError):
                return problem
        reasons = [
            reason if len(hosts) == 1 else f"{host}:{port}: {reason}"
            for (host, port), reason in zip(hosts, found, strict=True)
            if reason is not None
        ]
        if reasons:
            return BrokerUnreachable(
                f"Cannot reach Kafka at {self.bootstrap_servers}: {'; '.join(reasons)}.",
                hint="Check the host name, and that this machine's DNS (or VPN) knows it."
                if all(reason.startswith("DNS") for reason in reasons)
                else None,
            )
        return BrokerUnreachable(
            f"Kafka at {self.bootstrap_servers} answered a probe, but its clients could not "
            f"start: {exc}",
            hint="The brokers it advertises may be unreachable from here.",
        )

    async def _probe(self, host: str, port: int, *, timeout: float) -> EventdeskError | str | None:
        """One host's problem: an error to raise, a reason it is unreachable, or None if fine."""
        unreachable = await _tcp_unreachable(host, port, timeout=timeout)
        if unreachable is not None:
            return unreachable
        where = f"{host}:{port}"
        security = self.security
        try:
            async with asyncio.timeout(timeout):
                conn = await create_conn(
                    host,
                    port,
                    client_id=self.client_id,
                    request_timeout_ms=_request_timeout_ms(timeout),
                    **self._security_settings(),
                )
                try:
                    await conn.send(MetadataRequest([]))
                finally:
                    conn.close()
        except ssl.SSLCertVerificationError as exc:
            return await self._certificate_error(host, port, exc)
        except ssl.SSLError as exc:
            return TlsError(
                f"The TLS handshake with Kafka at {where} failed: {exc.reason or exc}.",
                hint=f"Check that {where} is a TLS listener and that it accepts this client.",
            )
        except (
            kafka_errors.SaslAuthenticationFailed,
            kafka_errors.AuthenticationFailedError,
        ) as exc:
            return AuthenticationFailed(
                f"SASL authentication failed for user {security.sasl_username!r} "
                f"({security.sasl_mechanism}) at Kafka {where}: {_broker_message(exc)}",
                hint="Check the user name and password. A user's SCRAM-SHA-256 and "
                "SCRAM-SHA-512 credentials are set separately on the broker.",
            )
        except kafka_errors.UnsupportedSaslMechanismError as exc:
            return AuthenticationFailed(
                f"Kafka at {where} does not offer {security.sasl_mechanism}: {exc}",
                hint="Set sasl_mechanism to one the broker lists.",
            )
        except kafka_errors.IllegalSaslStateError:
            return ConfigurationError(
                f"Kafka at {where} refused the SASL handshake; its listener is probably "
                f"not {security.security_protocol}.",
                hint="Set security_protocol to what the listener on this port speaks.",
            )
        except (TimeoutError, kafka_errors.KafkaError, OSError) as exc:
            return self._closed_early(where, exc)
        return None

    def _closed_early(self, where: str, exc: BaseException) -> EventdeskError:
        """TCP connected, then the broker hung up or went quiet: usually a protocol mismatch."""
        security = self.security
        what = "did not answer" if isinstance(exc, TimeoutError) else "closed the connection"
        if security.uses_tls:
            client = "a client certificate" if security.ssl_certfile else "no client certificate"
            return TlsError(
                f"Kafka at {where} {what} in or right after the TLS handshake "
                f"({security.security_protocol}, {client}).",
                hint=f"Check that {where} is a TLS listener. If it is, it may require a "
                "client certificate (ssl_certfile, ssl_keyfile) signed by a CA it trusts, "
                "or SASL on top (SASL_SSL).",
            )
        return BrokerUnreachable(
            f"Kafka at {where} accepts connections but {what} at the first request "
            f"(security_protocol {security.security_protocol}).",
            hint="Check that security_protocol matches the listener on this port "
            "(is it TLS or SASL, or not Kafka?).",
        )

    async def _certificate_error(
        self, host: str, port: int, exc: ssl.SSLCertVerificationError
    ) -> TlsError:
        where = f"{host}:{port}"
        reason = f"certificate verify failed: {exc.verify_message}"
        cafile = self.security.ssl_cafile
        if exc.verify_code in _CERT_NAME_MISMATCH:
            names = await _certificate_names(host, port, self.security, timeout=2.0)
            return TlsError(
                f"The certificate of Kafka at {where} is not valid for {host!r}; it names "
                f"{names or 'other hosts'} ({reason}).",
                hint="Connect by a name the certificate lists, or have it reissued for "
                f"{host}. Turning ssl_check_hostname off would accept any certificate "
                "from the CA for this connection (unsafe).",
            )
        if exc.verify_code in _CERT_UNKNOWN_ISSUER:
            signer = f"the CA in ssl_cafile ({cafile})" if cafile else "a CA this system trusts"
            hint = (
                f"The broker's certificate is not signed by {signer}; set ssl_cafile to "
                "the CA that signed it."
            )
        elif exc.verify_code == _CERT_EXPIRED:
            hint = "The broker's certificate has expired; it needs renewing."
        elif exc.verify_code == _CERT_NOT_YET_VALID:
            hint = "The broker's certificate is not valid yet; check this machine's clock."
        else:
            hint = "The broker's certificate was refused; see the reason above."
        return TlsError(f"The certificate of Kafka at {where} was refused: {reason}.", hint=hint)

    def _new_consumer(self, **overrides: object) -> AIOKafkaConsumer:
        settings: dict[str, object] = {
            **self._client_settings(),
            # No group: nothing can be committed and no group appears on the broker.
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "exclude_internal_topics": True,
        }
        settings.update(overrides)
        return AIOKafkaConsumer(**settings)

    async def _partitions(self, topic: str) -> list[int]:
        """The partition ids of a topic; EndpointNotFound if the cluster has no such topic."""
        topics = await self._topic_partitions()
        # Right after a broker restart leaders are still being elected: give it a moment.
        for _ in range(_LEADER_WAIT_ROUNDS):
            if topic not in self._leaderless:
                break
            await asyncio.sleep(0.5)
            topics = await self._topic_partitions()
        if topic not in topics:
            raise await self._why_not_listed(topic)
        if topic in self._leaderless:
            # Transient (a broker restarting, leaders being elected): a replay that meets it
            # stops "interrupted", to be resumed, not "failed".
            raise BrokerUnreachable(
                f"Topic {topic} has a partition without a leader right now.",
                hint="The cluster is electing leaders or lost a broker; try again shortly.",
            )
        return topics[topic]

    def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            raise ConnectionLost(
                f"Not connected to Kafka at {self.bootstrap_servers}.",
                hint="Connect first, or reconnect.",
            )
        return self._admin, self._offsets

    async def _topic_partitions(self) -> dict[str, list[int]]:
        """Every user topic and its partitions, from one all-topics metadata request.

        Asking for named topics instead would let a broker with topic
        auto-creation create a topic the operator merely mistyped.
        """
        described = await self._clients()[0].describe_topics()
        topics: dict[str, list[int]] = {}
        leaderless: set[str] = set()
        for topic in described:
            name = topic["topic"]
            if topic.get("is_internal") or name in _INTERNAL_TOPICS:
                continue
            error = kafka_errors.for_code(topic["error_code"])
            if error is kafka_errors.TopicAuthorizationFailedError:
                continue
            topics[name] = sorted(p["partition"] for p in topic["partitions"])
            if not topic["partitions"] or any(p["leader"] < 0 for p in topic["partitions"]):
                leaderless.add(name)
        self._leaderless = frozenset(leaderless)
        return topics

    async def _check_topic_describe(self) -> None:
        """Raises AuthorizationFailed if the broker refuses this user Describe on topics."""
        if await self._may_not_describe(_DESCRIBE_PROBE_TOPIC):
            raise AuthorizationFailed(
                f"Kafka at {self.bootstrap_servers} denies {self._who()} Describe on topics: "
                f"it lists no topics, and refuses to describe topic {_DESCRIBE_PROBE_TOPIC!r}.",
                hint=_acl_hint(self.bootstrap_servers, self.security, "Describe", "--topic '*'")
                + " (or, for some topics only, a prefix with --resource-pattern-type prefixed).",
            )

    async def _may_not_describe(self, topic: str) -> bool:
        """Whether the broker refuses this user Describe on `topic`, asked for by name."""
        # Never auto-create: the question must not make the topic it asks about.
        request = MetadataRequest([topic], allow_auto_topic_creation=False)
        response = await self._clients()[0]._send_request(request)
        errors = {kafka_errors.for_code(t["error_code"]) for t in response.to_object()["topics"]}
        return kafka_errors.TopicAuthorizationFailedError in errors

    async def _why_not_listed(self, topic: str) -> EventdeskError:
        """A topic left out of the all-topics listing: missing, or this user may not see it.

        Asked for by name, a broker says "not authorized" where the user lacks Describe on
        it, and does so whether the topic exists or not (it does not tell such a user).
        """
        if await self._may_not_describe(topic):
            return AuthorizationFailed(
                f"Kafka at {self.bootstrap_servers} denies {self._who()} Describe on topic "
                f"{topic!r} (or it does not exist: Kafka does not say which to a user it "
                "refuses).",
                hint=_acl_hint(
                    self.bootstrap_servers, self.security, "Describe", f"--topic '{topic}'"
                )
                + ", and Read to browse it.",
            )
        return EndpointNotFound(f"Kafka at {self.bootstrap_servers} has no topic {topic!r}.")

    def _who(self) -> str:
        if self.security.uses_sasl:
            return f"user {self.security.sasl_username!r}"
        return "this connection"

    async def _depths(self, topics: dict[str, list[int]]) -> dict[str, int]:
        """Messages held per topic (end minus beginning offsets); topics it cannot ask are left out.

        Compacted topics and transaction markers make this an upper bound.
        """
        ranges = await self._offset_ranges(topics)
        depths: dict[str, int] = {}
        for name, parts in topics.items():
            tps = [TopicPartition(name, p) for p in parts]
            if all(tp in ranges for tp in tps):
                depths[name] = sum(max(0, ranges[tp][1] - ranges[tp][0]) for tp in tps)
        return depths

    async def _offset_ranges(
        self, topics: dict[str, list[int]]
    ) -> dict[TopicPartition, tuple[int, int]]:
        """(beginning, end) offsets of every partition of the topics that can be asked now.

        A topic without a leader somewhere, or deleted since it was listed, is left
        out: asking would stall until the timeout.
        """
        offsets = self._clients()[1]
        if any(offsets.partitions_for_topic(t) is None for t in topics):
            # Left alone, aiokafka learns unknown topics one per round trip, each after a
            # 100 ms back-off. With no topics tracked, this refresh reads them all (and,
            # unlike a request naming topics, never makes a broker auto-create one).
            await offsets._client.force_metadata_update()
        tps = [
            TopicPartition(t, p)
            for t, parts in topics.items()
            if t not in self._leaderless and offsets.partitions_for_topic(t) is not None
            for p in parts
        ]
        if not tps:
            return {}
        begin, end = await asyncio.gather(offsets.beginning_offsets(tps), offsets.end_offsets(tps))
        return {tp: (begin[tp], end[tp]) for tp in tps}

    async def _peek_newest(
        self, topics: dict[str, list[int]], *, budget: float
    ) -> dict[str, list[Headers]]:
        """The headers of the newest record of each non-empty partition, as far as budget allows.

        A peek that runs out of time leaves topics unjudged by headers; it never
        fails the listing.
        """
        if not topics or budget <= 0:
            return {}
        newest: dict[TopicPartition, ConsumerRecord] = {}
        async with self._peek_lock:
            try:
                async with asyncio.timeout(budget):
                    peeker = await self._started_peeker()
                    ranges = await self._offset_ranges(topics)
                    ends = {tp: end for tp, (begin, end) in ranges.items() if end > begin}
                    peeker.assign(list(ends))
                    for tp, (begin, end) in ranges.items():
                        if tp in ends:
                            # A few back, not one: under transactions the last offsets
                            # are commit markers, which hold no record.
                            peeker.seek(tp, max(begin, end - _PEEK_BACK))
                    pending = set(ends)
                    try:
                        while pending:
                            batch = await peeker.getmany(*pending, timeout_ms=_WAIT_SLICE_MS)
                            for tp, records in batch.items():
                                if records:
                                    newest[tp] = records[-1]
                            for tp in list(pending):
                                if await peeker.position(tp) >= ends[tp]:
                                    pending.discard(tp)
                    finally:
                        peeker.unsubscribe()
            except (TimeoutError, kafka_errors.KafkaError, OSError):
                pass
        found: dict[str, list[Headers]] = {}
        for tp, record in sorted(newest.items()):
            found.setdefault(tp.topic, []).append(tuple(record.headers))
        return found

    async def _started_peeker(self) -> AIOKafkaConsumer:
        if self._peeker is None:
            peeker = self._new_consumer(
                max_partition_fetch_bytes=_PEEK_PARTITION_FETCH_BYTES,
                fetch_max_bytes=_PEEK_FETCH_BYTES,
                fetch_max_wait_ms=100,
            )
            try:
                await peeker.start()
            except BaseException:
                await _quietly_stop(peeker)
                raise
            self._peeker = peeker
        return self._peeker

    @contextlib.asynccontextmanager
    async def _translated(
        self, doing: str, timeout: float | None, *, step: Callable[[], str | None] | None = None
    ) -> AsyncIterator[None]:
        """Bounds a step by `timeout` (None: unbounded) and turns aiokafka's errors into ours.

        `step`, when given, names what the work was waiting on: a timeout says so.
        """
        try:
            async with asyncio.timeout(timeout):
                yield
        except EventdeskError:
            raise
        except TimeoutError as exc:
            waiting = step() if step is not None else None
            raise OperationTimeout(
                f"Kafka at {self.bootstrap_servers} did not answer within {timeout or 0:g} s "
                f"while {doing}" + (f", waiting on {waiting}." if waiting else ".")
            ) from exc
        except Exception as exc:
            raise translate_error(exc, servers=self.bootstrap_servers, doing=doing) from exc

    # -- replay, discard and the review group (kafka_review.py) ----------------------

    # Made on first use, so connecting stays as cheap as before for read-only work.
    _ledger: ReviewLedger | None = None
    _sender: AIOKafkaProducer | None = None

    async def send(
        self, target: str, messages: Sequence[Outgoing], *, timeout: float = 30.0
    ) -> list[Outcome]:
        """Publish with an idempotent producer (acks=all); ok carries "partition:offset"."""
        async with self._translated(f"sending to {target}", timeout):
            if target not in await self._topic_partitions():
                # Asked first: with auto-creation off, a send would wait out its whole timeout.
                return [Outcome(m.source_id, False, f"no topic {target!r}") for m in messages]
            if self._sender is None:
                sender = self._new_producer(enable_idempotence=True, acks="all")
                try:
                    await sender.start()
                except BaseException:
                    await _quietly_stop(sender)
                    raise
                self._sender = sender
            futures = [await send_record(self._sender, target, m) for m in messages]
            delivered = await asyncio.gather(*futures, return_exceptions=True)
        return [
            Outcome(m.source_id, False, f"{type(d).__name__}: {d}")
            if isinstance(d, BaseException)
            else Outcome(m.source_id, True, f"{d.partition}:{d.offset}")
            for m, d in zip(messages, delivered, strict=True)
        ]

    async def send_and_settle(
        self,
        target: str,
        messages: Sequence[Outgoing],
        browser: Browser,
        dead_letters: Sequence[Message],
        *,
        timeout: float = 30.0,
    ) -> list[Outcome]:
        """Replay as one Kafka transaction: the records and the review group move together.

        Dead letters already handled are refused, not sent again, so re-running a replay
        never duplicates. Only a browser of this connector takes this path; any other
        source falls back to send-then-settle.
        """
        if len(messages) != len(dead_letters):
            raise ValueError("messages and dead_letters must pair up")
        if not isinstance(browser, KafkaBrowser) or browser._connector is not self:
            return await super().send_and_settle(
                target, messages, browser, dead_letters, timeout=timeout
            )
        doing = f"replaying {browser.topic} to {target}"
        step = functools.partial(self._review_ledger().step, browser.topic)
        async with self._translated(doing, timeout, step=step):
            if target not in await self._topic_partitions():
                return [Outcome(m.id, False, f"no topic {target!r}") for m in dead_letters]
            return await browser._settle(dead_letters, target=target, outgoing=messages)

    async def handled_offsets(
        self, topic: str, *, timeout: float = 10.0
    ) -> dict[int, HandledState]:
        """Per partition, what the topic's review group marks handled (replayed or discarded)."""
        async with self._translated(f"reading the review state of {topic}", timeout):
            return await self._review_ledger().read(topic, await self._partitions(topic))

    async def delete_records_before(
        self, topic: str, offsets: Mapping[int, int], *, timeout: float = 30.0
    ) -> dict[int, int]:
        """Delete every record below `offsets[partition]`; returns each new log start offset.

        For retention clean-up of handled dead letters. Irreversible, so it is never part
        of a replay or discard: the operator asks for it.
        """
        async with self._translated(f"deleting records of {topic}", timeout):
            partitions = await self._partitions(topic)
            unknown = sorted(set(offsets) - set(partitions))
            if unknown:
                raise EndpointNotFound(f"Topic {topic} has no partition {unknown[0]}.")
            starts = await self._clients()[0].delete_records(
                {TopicPartition(topic, p): RecordsToDelete(o) for p, o in offsets.items()},
                timeout_ms=_request_timeout_ms(timeout),
            )
        return {tp.partition: start for tp, start in starts.items()}

    async def purge(self, endpoint: str, *, timeout: float = 30.0) -> int:
        """Deletes every record of the topic up to its end offsets; returns how many."""
        async with self._translated(f"reading the offsets of {endpoint}", timeout):
            partitions = await self._partitions(endpoint)
            ranges = await self._offset_ranges({endpoint: partitions})
        if len(ranges) < len(partitions):
            raise EndpointNotFound(
                f"Topic {endpoint} has partitions without a leader now; nothing was deleted.",
                hint="Try again once every partition has a leader.",
            )
        ends = {tp.partition: end for tp, (_begin, end) in ranges.items()}
        await self.delete_records_before(endpoint, ends, timeout=timeout)
        return sum(end - begin for begin, end in ranges.values())

    async def delete_handled(self, endpoint: str, *, timeout: float = 30.0) -> int:
        """Retention clean-up: delete each partition's records below its first unhandled one.

        Only what the review group marks handled (replayed or discarded) goes; a handled
        record above an unhandled one stays, since Kafka deletes only up to an offset.
        Returns how many records were deleted.
        """
        async with self._translated(f"reading the offsets of {endpoint}", timeout):
            partitions = await self._partitions(endpoint)
            ranges = await self._offset_ranges({endpoint: partitions})
        handled = await self.handled_offsets(endpoint, timeout=timeout)
        upto: dict[int, int] = {}
        for tp, (begin, end) in ranges.items():
            state = handled.get(tp.partition)
            limit = min(state.committed, end) if state is not None else begin
            if limit > begin:
                upto[tp.partition] = limit
        if not upto:
            return 0
        starts = await self.delete_records_before(endpoint, upto, timeout=timeout)
        return sum(starts[p] - ranges[TopicPartition(endpoint, p)][0] for p in starts)

    async def _unhandled_counts(self, topics: Mapping[str, list[int]]) -> dict[str, int]:
        """Records not yet handled, for those of `topics` that have a review group."""
        admin = self._clients()[0]
        groups = {reviewed_topic(g[0]) for g in await admin.list_consumer_groups()}
        reviewed = {t: parts for t, parts in topics.items() if t in groups}
        ranges = await self._offset_ranges(reviewed)
        counts = {}
        ledger = self._review_ledger()
        for topic, partitions in reviewed.items():
            if any(TopicPartition(topic, p) not in ranges for p in partitions):
                continue  # deleted or without a leader since it was listed: count unknown
            states = await ledger.read(topic, partitions)
            total = 0
            for p in partitions:
                begin, end = ranges[TopicPartition(topic, p)]
                total += max(0, end - begin) - states[p].handled_between(begin, end)
            counts[topic] = total
        return counts

    def _review_ledger(self) -> ReviewLedger:
        if self._ledger is None:
            self._ledger = ReviewLedger(self)
        return self._ledger

    def _new_producer(self, **overrides: object) -> AIOKafkaProducer:
        settings: dict[str, object] = self._client_settings()
        settings.update(overrides)
        return AIOKafkaProducer(**settings)

    async def _close_replay_clients(self) -> None:
        ledger, sender = self._ledger, self._sender
        self._ledger = self._sender = None
        if ledger is not None:
            await ledger.close()
        await _quietly_stop(sender)

    def _forget(self, browser: KafkaBrowser) -> None:
        self._browsers.discard(browser)

    # -- monitoring (sampling.py) ---------------------------------------------------

    async def consumer_group_lag(
        self, *, dead_letter_topics: Iterable[str] = (), timeout: float = 10.0
    ) -> KafkaLagReport:
        """Every consumer group's state, members and lag per partition, and DLQ depths.

        Eventdesk's own review groups are not reported as consumers; they give the depth
        of their DLQ instead (records not yet replayed or discarded). Other dead-letter
        topics (`dead_letter_topics`, and topics named like a DLQ) count end − start.
        End offsets are read once for all topics.
        """
        async with self._translated("reading consumer group lag", timeout):
            admin = self._clients()[0]
            names = sorted({g[0] for g in await admin.list_consumer_groups()})
            reviewed = {t for g in names if (t := reviewed_topic(g)) is not None}
            watched = [g for g in names if reviewed_topic(g) is None]
            topics = await self._topic_partitions()
            described, commits = await asyncio.gather(
                self._describe_groups(watched), self._group_commits(watched)
            )
            dead_letters = {
                t
                for t in topics
                if t in reviewed
                or t in set(dead_letter_topics)
                or dead_letter_source_from_name(t) is not None
            }
            wanted = {tp.topic for found in commits.values() for tp in found} | dead_letters
            ranges = await self._offset_ranges({t: topics[t] for t in wanted if t in topics})
            groups = []
            for group in watched:
                state, members = described.get(group, ("Unknown", 0))
                partitions = tuple(
                    PartitionLag(tp.topic, tp.partition, offset, ranges[tp][1])
                    for tp, offset in sorted(commits.get(group, {}).items())
                    if tp in ranges and offset >= 0
                )
                groups.append(GroupLag(group, state, members, partitions))
            depths: dict[str, int] = {}
            for topic in sorted(dead_letters):
                tps = [TopicPartition(topic, p) for p in topics[topic]]
                if not all(tp in ranges for tp in tps):
                    continue
                total = sum(max(0, ranges[tp][1] - ranges[tp][0]) for tp in tps)
                if topic in reviewed:
                    states = await self._review_ledger().read(topic, topics[topic])
                    total -= sum(states[tp.partition].handled_between(*ranges[tp]) for tp in tps)
                depths[topic] = total
        return KafkaLagReport(tuple(groups), depths)

    async def _describe_groups(self, groups: Sequence[str]) -> dict[str, tuple[str, int]]:
        """group -> (state, member count), from the raw DescribeGroups responses."""
        admin = self._clients()[0]
        gate = asyncio.Semaphore(_LAG_CONCURRENCY)

        async def one(group: str) -> list[tuple[str, tuple[str, int]]]:
            # One group per request: with several, aiokafka 0.14 misreads every group after
            # the first (seen against Kafka 4: the fields shift by one Int32).
            async with gate:
                responses = await self._at_coordinator(
                    group,
                    lambda node: admin.describe_consumer_groups([group], group_coordinator_id=node),
                )
            found = []
            for response in responses:
                # Every version starts error_code, group, state, protocol_type, protocol,
                # members.
                for entry in response.groups[:1]:
                    error_code, name, state, members = entry[0], entry[1], entry[2], entry[5]
                    if error_code == 0 and name == group:
                        found.append((name, (state, len(members))))
            return found

        described = await asyncio.gather(*(one(g) for g in groups))
        return dict(item for found in described for item in found)

    async def _at_coordinator(self, group: str, request: Callable[[int], Awaitable[T]]) -> T:
        """`request` sent to `group`'s coordinator, found once and remembered; found
        again, once, when the broker says it no longer is (or is not yet)."""
        admin = self._clients()[0]
        node = self._coordinators.get(group)
        if node is not None:
            try:
                return await request(node)
            except _MOVED_COORDINATOR_ERRORS:
                self._coordinators.pop(group, None)
        self._coordinators[group] = node = await admin.find_coordinator(group)
        return await request(node)

    async def _group_commits(self, groups: Sequence[str]) -> dict[str, dict[TopicPartition, int]]:
        """group -> committed offset per partition; groups we may not read are left out."""
        admin = self._clients()[0]
        gate = asyncio.Semaphore(_LAG_CONCURRENCY)

        async def one(group: str) -> tuple[str, dict[TopicPartition, int] | None]:
            async with gate:
                try:
                    offsets = await self._at_coordinator(
                        group,
                        lambda node: admin.list_consumer_group_offsets(
                            group, group_coordinator_id=node
                        ),
                    )
                except (
                    kafka_errors.GroupAuthorizationFailedError,
                    kafka_errors.GroupIdNotFound,
                ):
                    return group, None
            return group, {tp: meta.offset for tp, meta in offsets.items()}

        found = await asyncio.gather(*(one(g) for g in groups))
        return {group: offsets for group, offsets in found if offsets is not None}


class KafkaBrowser(Browser):
    """Reads one topic partition by partition, oldest first, up to where it ended on opening.

    Its consumer has no group and commits nothing; closing it only drops a
    connection.
    """

    side_effect_note = "Read-only: Kafka browsing commits no offsets."

    def __init__(self, connector: KafkaConnector, topic: str, *, page_size: int) -> None:
        self._connector = connector
        self.topic = topic
        self.page_size = page_size
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        # (partition, stop offset) still to read, in partition order.
        self._remaining: list[tuple[TopicPartition, int]] = []
        self._opened = False
        # "" (a shared error queue) names no source, so it implies nothing.
        self._implied_source = dead_letter_source_from_name(topic) or None
        # Per partition: where reading began, the offset after the last record shown, and
        # offsets found to hold no record. Together they say what this browser has shown
        # without keeping every id.
        self._first: dict[int, int] = {}
        self._read_to: dict[int, int] = {}
        self._gaps: dict[int, list[Span]] = {}
        # The review group's state when the browser opened, kept up to date by settle();
        # None when it could not be read. Messages carry "handled" only once the topic has
        # review state: on a topic nobody replayed from, "no" everywhere says nothing.
        self._handled: dict[int, HandledState] | None = None
        self._reviewed = False

    async def next_page(self, *, timeout: float = 10.0) -> Page:
        async with self._lock:
            if self._closed:
                raise ConnectionLost(f"The browser over {self.topic} is closed.")
            deadline = time.monotonic() + timeout
            if not self._opened:
                async with self._connector._translated(f"opening {self.topic}", timeout):
                    await self._open()
            # Not cancelled from outside: records taken from the consumer must reach the
            # page, so the read loop keeps to the deadline itself.
            async with self._connector._translated(f"browsing {self.topic}", None):
                return await self._read_page(deadline, timeout)

    async def settle(self, messages: Sequence[Message], *, timeout: float = 30.0) -> list[Outcome]:
        """Mark shown dead letters handled in the review group (discard); sends nothing."""
        doing = f"settling records of {self.topic}"
        step = functools.partial(self._connector._review_ledger().step, self.topic)
        async with self._connector._translated(doing, timeout, step=step):
            return await self._settle(messages)

    async def _settle(
        self,
        messages: Sequence[Message],
        *,
        target: str | None = None,
        outgoing: Sequence[Outgoing] | None = None,
    ) -> list[Outcome]:
        outcomes = await self._connector._review_ledger().settle(
            self.topic,
            messages,
            shown=self._has_shown,
            gaps=self._gaps,
            target=target,
            outgoing=outgoing,
        )
        if self._handled is not None:
            # Per partition at once: a transaction settles up to a thousand records.
            handled: dict[int, list[int]] = {}
            for outcome, message in zip(outcomes, messages, strict=True):
                where = message_offset(message)
                if outcome.ok and where is not None and where[0] in self._handled:
                    handled.setdefault(where[0], []).append(where[1])
            for partition, offsets in handled.items():
                self._handled[partition] = self._handled[partition].with_handled(offsets)
                self._reviewed = True
        return outcomes

    # -- for a bulk reader in another thread (kafka_scan.py) --------------------------

    @property
    def connector(self) -> KafkaConnector:
        return self._connector

    @property
    def opened(self) -> bool:
        """Whether the browser has read its offset ranges (a bulk read starts only before)."""
        return self._opened

    async def open_for_bulk_read(self, timeout: float) -> dict[int, tuple[int, int]]:
        """Opens the browser if needed: partition -> (next offset to read, stop offset).

        The browser's own consumer then sits idle until it closes (it buffers one fetch
        at most); the bulk reader reports what it read through note_read_run and
        note_partition_done, so settle and replay know what was shown.
        """
        async with self._lock:
            if not self._opened:
                async with self._connector._translated(f"opening {self.topic}", timeout):
                    await self._open()
            return {
                tp.partition: (self._read_to[tp.partition], stop) for tp, stop in self._remaining
            }

    def note_read_run(self, partition: int, first: int, last: int) -> None:
        """Records `first`..`last` of `partition` were read (offsets before, up to where
        the browser had read, held none)."""
        self._note_read(partition, first)
        self._read_to[partition] = last + 1

    def note_partition_done(self, partition: int) -> None:
        """`partition` was read to its stop offset."""
        stops = {tp.partition: stop for tp, stop in self._remaining}
        self._note_read(partition, stops.get(partition, self._read_to[partition]))
        self._remaining = [(tp, stop) for tp, stop in self._remaining if tp.partition != partition]

    def message_from(self, record: ConsumerRecord, *, with_facts: bool = True) -> Message:
        """The Message this browser would show for `record` (facts parsed only when asked)."""
        return self._message(record, with_facts=with_facts)

    def _has_shown(self, partition: int, offset: int) -> bool:
        if not self._first.get(partition, 0) <= offset < self._read_to.get(partition, 0):
            return False
        return not any(low <= offset <= high for low, high in self._gaps.get(partition, ()))

    def _note_read(self, partition: int, upto: int) -> None:
        """Everything before `upto` has been read; offsets skipped on the way hold no record."""
        start = self._read_to.get(partition, upto)
        if upto > start:
            gaps = self._gaps.setdefault(partition, [])
            if gaps and gaps[-1][1] + 1 == start:
                gaps[-1] = (gaps[-1][0], upto - 1)
            else:
                gaps.append((start, upto - 1))
        self._read_to[partition] = max(start, upto)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._connector._forget(self)
        consumer, self._consumer = self._consumer, None
        await _quietly_stop(consumer)
        ledger = self._connector._ledger
        if ledger is not None:
            # Replays commit without waiting for the group's offsets to show it; readers
            # elsewhere (a resume in another process) see it once this returns.
            with contextlib.suppress(Exception):
                await ledger.await_visible(self.topic)

    async def _open(self) -> None:
        partitions = await self._connector._partitions(self.topic)
        spans = await self._connector._offset_ranges({self.topic: partitions})
        if len(spans) < len(partitions):
            raise EndpointNotFound(f"Topic {self.topic} went away while the browser opened.")
        ranges = [(tp, begin, end) for tp, (begin, end) in sorted(spans.items()) if end > begin]
        self._remaining = [(tp, stop) for tp, _, stop in ranges]
        self._first = {tp.partition: begin for tp, begin, _ in ranges}
        self._read_to = dict(self._first)
        # A group it may not read (ACLs) costs the handled marks, not the browse.
        with contextlib.suppress(kafka_errors.KafkaError, EventdeskError):
            self._handled = await self._connector._review_ledger().read(self.topic, partitions)
            self._reviewed = any(state != HandledState() for state in self._handled.values())
        if ranges:
            consumer = self._connector._new_consumer(
                max_partition_fetch_bytes=_BROWSE_PARTITION_FETCH_BYTES,
                fetch_max_bytes=4 * _BROWSE_PARTITION_FETCH_BYTES,
                fetch_max_wait_ms=100,
            )
            try:
                await consumer.start()
            except BaseException:
                await _quietly_stop(consumer)
                raise
            self._consumer = consumer
            consumer.assign([tp for tp, _, _ in ranges])
            for tp, start, _ in ranges:
                consumer.seek(tp, start)
            # Paused before the fetcher first runs, so only the partition being
            # read is ever fetched and buffered.
            consumer.pause(*[tp for tp, _, _ in ranges[1:]])
        self._opened = True

    async def _read_page(self, deadline: float, timeout: float) -> Page:
        messages: list[Message] = []
        consumer = self._consumer
        while self._remaining and len(messages) < self.page_size:
            assert consumer is not None
            tp, stop = self._remaining[0]
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                if messages:
                    break
                raise OperationTimeout(
                    f"Kafka at {self._connector.bootstrap_servers} sent nothing from "
                    f"{self.topic} within {timeout:g} s."
                )
            batch = await consumer.getmany(
                tp,
                timeout_ms=min(left_ms, _WAIT_SLICE_MS),
                max_records=self.page_size - len(messages),
            )
            records = batch.get(tp, [])
            reached_stop = False
            for record in records:
                if record.offset >= stop:
                    reached_stop = True
                    break
                self._note_read(tp.partition, record.offset)
                self._read_to[tp.partition] = record.offset + 1
                messages.append(self._message(record))
                if record.offset + 1 >= stop:
                    reached_stop = True
                    break
            if not records and await consumer.position(tp) >= stop:
                reached_stop = True
            if reached_stop:
                self._note_read(tp.partition, stop)
                self._remaining.pop(0)
                consumer.pause(tp)
                if self._remaining:
                    consumer.resume(self._remaining[0][0])
        return Page(messages=messages, more=bool(self._remaining))

    def _message(self, record: ConsumerRecord, *, with_facts: bool = True) -> Message:
        # Every dead letter repeats the same dozen header names; one copy of each keeps a
        # 100,000-message browse some 70 MB smaller.
        headers: Headers = tuple((sys.intern(name), value) for name, value in record.headers)
        # A search matches without facts first (kafka_scan.py), then parses them for matches.
        facts = parse_dead_letter(headers) if with_facts else NO_DEAD_LETTER_FACTS
        if with_facts and facts.original_destination is None and self._implied_source is not None:
            facts = dataclasses.replace(
                facts,
                original_destination=self._implied_source,
                convention=facts.convention or "topic name",
            )
        timestamp = None
        if record.timestamp is not None and record.timestamp >= 0:
            timestamp = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
        return Message(
            endpoint=self.topic,
            id=f"{record.partition}:{record.offset}",
            body=record.value if record.value is not None else b"",
            key=record.key,
            headers=headers,
            timestamp=timestamp,
            dead_letter=facts,
            attributes={
                "partition": str(record.partition),
                "offset": str(record.offset),
                "timestamp-type": _TIMESTAMP_TYPES.get(
                    record.timestamp_type, str(record.timestamp_type)
                ),
                **self._handled_attribute(record),
            },
        )

    def _handled_attribute(self, record: ConsumerRecord) -> dict[str, str]:
        if not self._reviewed or self._handled is None or record.partition not in self._handled:
            return {}
        handled = self._handled[record.partition].is_handled(record.offset)
        return {"handled": "yes" if handled else "no"}


def translate_error(exc: BaseException, *, servers: str, doing: str) -> EventdeskError:
    """The Eventdesk error for an aiokafka failure while `doing` something."""
    where = f"Kafka at {servers}"
    if isinstance(exc, _AUTHENTICATION_ERRORS):
        return AuthenticationFailed(f"{where} refused the credentials while {doing}: {exc}")
    if isinstance(exc, _AUTHORIZATION_ERRORS):
        resource, option = _refused_resource(exc)
        return AuthorizationFailed(
            f"{where} denied a permission on {resource} while {doing}: {exc}",
            hint=_acl_hint(servers, None, "<Describe, Read or Write>", option) + ".",
        )
    if isinstance(exc, kafka_errors.UnknownTopicOrPartitionError):
        return EndpointNotFound(f"{where} does not know the topic while {doing}.")
    if isinstance(exc, COORDINATOR_STARTING_ERRORS):
        # Transient, like a partition without a leader: a replay stops "interrupted".
        return BrokerUnreachable(
            f"{where} had no group coordinator ready while {doing}: {exc}",
            hint="The broker is starting or moving a coordinator; try again shortly.",
        )
    if isinstance(exc, _TIMEOUT_ERRORS):
        return OperationTimeout(f"{where} did not answer in time while {doing}.")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TlsError(f"{where} presented a certificate that was refused while {doing}: {exc}")
    if isinstance(exc, (*_LINK_ERRORS, OSError)):
        return ConnectionLost(f"Lost the link to {where} while {doing}: {exc}")
    if isinstance(exc, kafka_errors.KafkaConfigurationError):
        return ConfigurationError(f"The Kafka connection is misconfigured: {exc}")
    return BrokerError(f"{where} failed while {doing}: {type(exc).__name__}: {exc}")


def _refused_resource(exc: BaseException) -> tuple[str, str]:
    """(what was refused, its kafka-acls option) for one of aiokafka's authorization errors."""
    if isinstance(exc, kafka_errors.TopicAuthorizationFailedError):
        return "a topic", "--topic <topic>"
    if isinstance(exc, kafka_errors.GroupAuthorizationFailedError):
        return "a consumer group", "--group <group>"
    if isinstance(exc, kafka_errors.ClusterAuthorizationFailedError):
        return "the cluster", "--cluster"
    return "a transactional id", "--transactional-id <id>"


def _acl_hint(
    servers: str, security: KafkaSecurity | None, operation: str, resource_option: str
) -> str:
    """What to ask the Kafka administrator for, as the kafka-acls command that grants it."""
    user = security.sasl_username if security is not None and security.uses_sasl else None
    principal = f"User:{user}" if user else "User:<principal>"
    return (
        f"Ask the Kafka administrator to grant it: kafka-acls --bootstrap-server {servers} "
        f"--add --allow-principal {principal} --operation {operation} {resource_option}"
    )


def _parse_bootstrap(servers: str) -> list[tuple[str, int]]:
    """host:port pairs, checked up front so a typo reads as a typo, not as a dead broker."""
    hosts = []
    for item in servers.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(
                f"Kafka bootstrap server {item!r} is not host:port.",
                hint="Write bootstrap servers as host:port, separated by commas.",
            )
        hosts.append((host.strip("[]"), int(port)))
    if not hosts:
        raise ConfigurationError("The Kafka connection has no bootstrap servers.")
    return hosts


async def _tcp_unreachable(host: str, port: int, *, timeout: float) -> str | None:
    """The operating system's reason no TCP connection is possible, or None if one is."""
    try:
        async with asyncio.timeout(max(timeout, 0.1)):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return "no answer"
    except socket.gaierror as exc:
        return f"DNS cannot resolve {host} ({exc.strerror})"
    except OSError as exc:
        return os.strerror(exc.errno).lower() if exc.errno else str(exc)
    writer.close()
    return None


async def _certificate_names(
    host: str, port: int, security: KafkaSecurity, *, timeout: float
) -> str:
    """The names a broker's certificate is valid for, as far as a second look can tell."""
    context = security.ssl_context()
    context.check_hostname = False
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context)
        try:
            cert = writer.get_extra_info("peercert") or {}
        finally:
            writer.close()
        names = [value for _, value in cert.get("subjectAltName", ())]
        if not names:
            names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
        return ", ".join(repr(name) for name in names)
    return ""


def _broker_message(exc: BaseException) -> str:
    # aiokafka's text is "[Error 58] SaslAuthenticationFailed: <the broker's words>".
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text and text.startswith("[Error") else text


def _request_timeout_ms(timeout: float) -> int:
    # aiokafka's own per-request limit sits a little above ours, so ours fires
    # first and reports which step ran out of time.
    return int(max(timeout, 1.0) * 1000) + 1000


async def _quietly_stop(
    *clients: AIOKafkaConsumer | AIOKafkaProducer | AIOKafkaAdminClient | None,
) -> None:
    for client in clients:
        if client is None:
            continue
        # Closing is best effort: the link may already be gone, which is fine.
        with contextlib.suppress(Exception):
            if isinstance(client, AIOKafkaAdminClient):
                await client.close()
            else:
                await client.stop()


def _bounded_peek(names: Iterable[str], topics: dict[str, list[int]]) -> dict[str, list[int]]:
    chosen: dict[str, list[int]] = {}
    partitions = 0
    for name in names:
        if len(chosen) >= _PEEK_MAX_TOPICS:
            break
        if partitions + len(topics[name]) > _PEEK_MAX_PARTITIONS:
            continue
        chosen[name] = topics[name]
        partitions += len(topics[name])
    return chosen


def _name_evidence(name: str, source: str) -> str:
    """Why the name marks a DLQ: "name ends in .DLT" for orders.DLT, "name starts with dlq-"."""
    if not source:
        return "named like a shared error queue"
    if name.startswith(source) and name != source:
        return f"name ends in {name[len(source) :]}"
    if name.endswith(source) and name != source:
        return f"name starts with {name[: len(name) - len(source)]}"
    return "name follows a dead-letter naming convention"


def _header_family(names: Sequence[str]) -> str:
    """Dead-letter header names as an operator reads them: "kafka_dlt-*", not ten names."""
    distinct = sorted(set(names))
    if len(distinct) == 1:
        return distinct[0]
    first, last = distinct[0], distinct[-1]
    shared = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first)
    )
    prefix = first[:shared]
    if len(prefix) >= 3:
        return f"{prefix}*"
    return ", ".join(distinct[:3]) + (", ..." if len(distinct) > 3 else "")


__all__ = ["KafkaBrowser", "KafkaConnector", "translate_error"]
