"""`eventdesk --demo`: an in-process SQS/SNS emulator with services that make real dead letters.

moto serves SQS and SNS on a free loopback port. An order service publishes orders to an
SNS topic; a consumer of the `orders` queue fails a share of them (malformed JSON, a
missing field, a downstream timeout) by not deleting them, so SQS's own redrive moves them
to `orders-dlq`. A Lambda-style payment function hands its failures to `payments-dlq`
with the attributes Lambda writes. `fix_consumer(True)` makes both accept everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import socket
import threading
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import boto3
from botocore.config import Config

from .demo_local import Demo, DemoServices, start_local_demos
from .errors import ConfigurationError
from .model import BrokerKind
from .profiles import ConnectionProfile

log = logging.getLogger(__name__)

T = TypeVar("T")

REGION = "us-east-1"
ACCESS_KEY_ID = "demo"
# The profile names this variable; moto accepts any key, and naming it in the profile
# keeps the operator's own AWS credentials and profiles out of the demo (and vice versa).
SECRET_ENV = "EVENTDESK_DEMO_AWS_SECRET"
PROFILE_NAME = "Demo (SQS/SNS)"
MAX_RECEIVE_COUNT = 3
ORDERS_PER_SECOND = 5.0

_BOTO_CONFIG = Config(
    connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}
)
# A failed message comes back after this, so it reaches the DLQ within seconds.
_RETRY_AFTER_S = 1
_RECEIVE_WAIT_S = 1  # short, so stopping never waits long on a blocked receive
_WAREHOUSE_DOWN = "ams-2"  # its inventory service times out
_PRODUCTS = ["SKU-1001", "SKU-2040", "SKU-3307", "SKU-4410", "SKU-5128", "SKU-6601"]
_CUSTOMERS = ["cus_8f2a", "cus_19bd", "cus_77e0", "cus_c4a1", "cus_02fe", "cus_a9d3"]
_REQUIRED = ("order_id", "customer", "currency", "lines", "total")


@dataclass
class DemoStats:
    """Counters the services keep; read from the loop's thread only."""

    published: int = 0
    processed: int = 0
    failed_attempts: int = 0
    payments_processed: int = 0
    payments_dead_lettered: int = 0


class ConsumerError(Exception):
    """Why the simulated consumer gave up on a message."""


# -- the embedded endpoint ---------------------------------------------------------------


class _MotoServer:
    """moto's WSGI app on a loopback port, with every connection closed on stop.

    moto's ThreadedMotoServer leaves its listening socket open after stop() and its
    per-request threads wait on keep-alive connections; both would outlive the demo.
    """

    def __init__(self) -> None:
        try:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import ThreadedWSGIServer
        except ImportError as exc:
            raise ConfigurationError(
                f"The built-in demo needs moto's server, which is not installed ({exc.name}).",
                hint="Install it with: pip install 'eventdesk[demo]'",
            ) from exc

        class Server(ThreadedWSGIServer):
            # Tracked, not daemon: server_close() joins them, so none is left behind.
            daemon_threads = False
            block_on_close = True

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.open_requests: set[socket.socket] = set()
                self.requests_lock = threading.Lock()

            def process_request(self, request: Any, client_address: Any) -> None:
                with self.requests_lock:
                    self.open_requests.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                with self.requests_lock:
                    self.open_requests.discard(request)
                super().shutdown_request(request)

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass  # one line per request would drown the operator's log

        app = DomainDispatcherApplication(create_backend_app)
        self._server = Server("127.0.0.1", 0, app, handler=QuietHandler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="eventdesk-demo-moto", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # Forget everything the demo made: moto's state is process-wide.
        with contextlib.suppress(OSError):
            request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
            urllib.request.urlopen(request, timeout=5).close()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        with self._server.requests_lock:
            open_requests = list(self._server.open_requests)
        for request in open_requests:
            # Wakes handler threads waiting on a keep-alive connection someone left open.
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # closes the port and joins the handler threads


# -- the simulated world -----------------------------------------------------------------


def _order(n: int, rng: random.Random) -> dict[str, Any]:
    lines = [
        {
            "sku": rng.choice(_PRODUCTS),
            "qty": rng.randint(1, 4),
            "unit_price": round(rng.uniform(4, 120), 2),
        }
        for _ in range(rng.randint(1, 3))
    ]
    return {
        "order_id": f"ord-{100_000 + n}",
        "customer": rng.choice(_CUSTOMERS),
        "currency": "EUR",
        "lines": lines,
        "total": round(sum(line["qty"] * line["unit_price"] for line in lines), 2),
        "warehouse": rng.choice(["ber-1", "ber-1", "par-3", "par-3", "ams-1"]),
        "placed_at": _now_iso(),
    }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _order_body(n: int, rng: random.Random) -> str:
    """One order as the checkout service sends it, defects included now and then."""
    order = _order(n, rng)
    roll = rng.random()
    if roll < 0.04:
        # A serializer bug truncates the payload.
        text = json.dumps(order)
        return text[: len(text) // 2]
    if roll < 0.08:
        del order["customer"]  # an old client that predates the field
    elif roll < 0.12:
        order["warehouse"] = _WAREHOUSE_DOWN
    return json.dumps(order)


def check_order(body: str) -> dict[str, Any]:
    """What the fulfilment consumer does with an order, failures included."""
    try:
        order = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ConsumerError(f"MalformedPayload: {exc}") from exc
    if not isinstance(order, dict):
        raise ConsumerError("SchemaViolation: an order is a JSON object")
    missing = [name for name in _REQUIRED if name not in order]
    if missing:
        raise ConsumerError(f"SchemaViolation: required field(s) missing: {', '.join(missing)}")
    if order.get("warehouse") == _WAREHOUSE_DOWN:
        raise ConsumerError(
            f"DownstreamTimeout: inventory-service ({_WAREHOUSE_DOWN}) did not answer in 3000 ms"
        )
    return order


def _attribute(value: str, data_type: str = "String") -> dict[str, str]:
    return {"DataType": data_type, "StringValue": value}


class DemoEnvironment:
    """The demo's broker and services; `async with` starts them, leaving stops everything."""

    def __init__(
        self,
        *,
        orders_per_second: float = ORDERS_PER_SECOND,
        seed: int = 7,
        local_brokers: bool = True,
    ) -> None:
        self._rate = orders_per_second
        # Also run the services on the project's local Kafka and RabbitMQ when they answer.
        self._local_brokers = local_brokers
        self.local_demos: list[Demo] = []
        self._orders_made = 0
        self._rng = random.Random(seed)
        self._server: _MotoServer | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._clients: list[Any] = []
        self._sqs: Any = None
        self._sns: Any = None
        self._services = DemoServices()
        self._fixed = False
        self._set_secret_env = False
        self._served_at = ""
        self.urls: dict[str, str] = {}
        self.topic_arn = ""
        self.stats = DemoStats()

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("The demo is not running.")
        return self._server.url

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The demo is not running.")
        return self._server.port

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        if SECRET_ENV not in os.environ:
            os.environ[SECRET_ENV] = "demo"
            self._set_secret_env = True
        self._executor = ThreadPoolExecutor(4, thread_name_prefix="eventdesk-demo")
        try:
            self._server = _MotoServer()
            self._server.start()
            self._served_at = self._server.url
            await self._run(self._create_world)
        except BaseException:
            await self.close()
            raise
        self._services.spawn(self._order_service(), "eventdesk-demo:checkout")
        self._services.spawn(self._order_consumer(), "eventdesk-demo:fulfilment")
        self._services.spawn(self._payments(), "eventdesk-demo:payments")
        log.info("Demo SQS/SNS endpoint on %s", self._server.url)
        if self._local_brokers:
            # A third of the rate each: the local brokers add traffic, not triple it.
            self.local_demos = await start_local_demos(self, rate=max(self._rate / 3, 0.5))

    async def close(self) -> None:
        """Idempotent: cancels the services, closes their links, stops the endpoint."""
        local_demos, self.local_demos = self.local_demos, []
        for demo in local_demos:
            await demo.close()
        await self._services.cancel()
        executor, self._executor = self._executor, None
        if executor is not None:
            # Blocks for at most one receive's wait (a second): no worker is left behind.
            executor.shutdown(wait=True)
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._sqs = self._sns = None
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        if self._set_secret_env:
            os.environ.pop(SECRET_ENV, None)
            self._set_secret_env = False

    # -- what the window connects to ----------------------------------------------------

    def profiles(self) -> list[ConnectionProfile]:
        return [self._sqs_profile()] + [demo.profile() for demo in self.local_demos]

    def _sqs_profile(self) -> ConnectionProfile:
        return ConnectionProfile(
            PROFILE_NAME,
            BrokerKind.SQS,
            {
                "region": REGION,
                "endpoint_url": self.endpoint_url,
                "access_key_id": ACCESS_KEY_ID,
                "secret_access_key_env": SECRET_ENV,
            },
            environment="dev",
        )

    @property
    def consumer_fixed(self) -> bool:
        return self._fixed

    def next_order(self) -> str:
        """The next order the checkout service sends, defects included now and then."""
        self._orders_made += 1
        return _order_body(self._orders_made, self._rng)

    def check(self, body: str) -> None:
        """The fulfilment consumer's verdict: raises ConsumerError unless fixed."""
        if not self._fixed:
            check_order(body)

    def fix_consumer(self, fixed: bool = True) -> None:
        """True: the consumers accept every message, so replays succeed."""
        self._fixed = fixed
        log.info("Demo consumer %s", "fixed" if fixed else "failing again")

    # -- plumbing -----------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._executor is None:
            raise RuntimeError("The demo is not running.")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def _create_world(self) -> None:
        assert self._server is not None
        session = boto3.Session(
            region_name=REGION, aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key="demo"
        )
        kwargs = {"endpoint_url": self._server.url, "config": _BOTO_CONFIG}
        self._sqs = session.client("sqs", **kwargs)
        self._sns = session.client("sns", **kwargs)
        self._clients = [self._sqs, self._sns]
        for name in ("orders", "payments"):
            dlq_url = self._sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
            dlq_arn = self._sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
            url = self._sqs.create_queue(
                QueueName=name,
                Attributes={"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": "30"},
            )["QueueUrl"]
            self.urls[name], self.urls[f"{name}-dlq"] = url, dlq_url
        self.topic_arn = self._sns.create_topic(Name="order-events")["TopicArn"]
        orders_arn = self._sqs.get_queue_attributes(
            QueueUrl=self.urls["orders"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self._sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=orders_arn,
            Attributes={"RawMessageDelivery": "true"},
        )

    # -- the services -------------------------------------------------------------------

    async def _order_service(self) -> None:
        """checkout-service: publishes OrderPlaced events at a steady rate."""
        n = 0
        interval = 1.0 / self._rate
        while True:
            body = _order_body(n, self._rng)
            attributes = {
                "eventType": _attribute("OrderPlaced"),
                "schemaVersion": _attribute("3", "Number"),
                "correlationId": _attribute(str(uuid.uuid4())),
                "source": _attribute("checkout-service"),
            }
            try:
                await self._run(
                    self._sns.publish,
                    TopicArn=self.topic_arn,
                    Message=body,
                    MessageAttributes=attributes,
                )
                self.stats.published += 1
            except Exception:
                log.warning("Demo order service could not publish", exc_info=True)
            n += 1
            await asyncio.sleep(interval)

    async def _order_consumer(self) -> None:
        """fulfilment-service: takes orders; a failure leaves the message for a retry."""
        url = self.urls["orders"]
        while True:
            try:
                response = await self._run(
                    self._sqs.receive_message,
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=_RECEIVE_WAIT_S,
                    MessageAttributeNames=["All"],
                    AttributeNames=["All"],
                )
            except Exception:
                log.warning("Demo consumer could not receive", exc_info=True)
                await asyncio.sleep(1)
                continue
            done: list[dict[str, str]] = []
            retry: list[dict[str, Any]] = []
            payments: list[dict[str, Any]] = []
            for message in response.get("Messages", []):
                try:
                    order = {} if self._fixed else check_order(message["Body"])
                except ConsumerError as exc:
                    self.stats.failed_attempts += 1
                    log.debug("Demo consumer failed %s: %s", message["MessageId"], exc)
                    # Not deleted: SQS hands it back after the visibility timeout and, after
                    # maxReceiveCount receives, moves it to orders-dlq itself.
                    retry.append(
                        {
                            "Id": str(len(retry)),
                            "ReceiptHandle": message["ReceiptHandle"],
                            "VisibilityTimeout": _RETRY_AFTER_S,
                        }
                    )
                    continue
                self.stats.processed += 1
                done.append({"Id": str(len(done)), "ReceiptHandle": message["ReceiptHandle"]})
                if order:
                    payments.append(order)
            try:
                if retry:
                    await self._run(
                        self._sqs.change_message_visibility_batch, QueueUrl=url, Entries=retry
                    )
                if done:
                    await self._run(self._sqs.delete_message_batch, QueueUrl=url, Entries=done)
                for order in payments:
                    await self._request_payment(order)
            except Exception:
                log.warning("Demo consumer could not settle", exc_info=True)

    async def _request_payment(self, order: dict[str, Any]) -> None:
        body = {
            "payment_id": f"pay-{uuid.uuid4().hex[:12]}",
            "order_id": order["order_id"],
            "customer": order["customer"],
            "amount": order["total"],
            "currency": order["currency"],
        }
        await self._run(
            self._sqs.send_message,
            QueueUrl=self.urls["payments"],
            MessageBody=json.dumps(body),
            MessageAttributes={"eventType": _attribute("PaymentRequested")},
        )

    async def _payments(self) -> None:
        """payment-authorizer, a Lambda-style function: its failures go to payments-dlq.

        As Lambda does for an asynchronous invocation that ran out of retries, the dead
        letter carries RequestID, ErrorCode and ErrorMessage.
        """
        url, dlq_url = self.urls["payments"], self.urls["payments-dlq"]
        while True:
            try:
                response = await self._run(
                    self._sqs.receive_message,
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=_RECEIVE_WAIT_S,
                    MessageAttributeNames=["All"],
                )
            except Exception:
                log.warning("Demo payment function could not receive", exc_info=True)
                await asyncio.sleep(1)
                continue
            for message in response.get("Messages", []):
                try:
                    await self._settle_payment(url, dlq_url, message)
                except Exception:
                    log.warning("Demo payment function could not settle", exc_info=True)

    async def _settle_payment(self, url: str, dlq_url: str, message: dict[str, Any]) -> None:
        # One in twelve payments meets an issuer that never answers (unless fixed).
        declined = not self._fixed and self._rng.random() < 1 / 12
        if declined:
            attributes = dict(message.get("MessageAttributes") or {})
            attributes.update(
                {
                    "RequestID": _attribute(str(uuid.uuid4())),
                    "ErrorCode": _attribute("200", "Number"),
                    "ErrorMessage": _attribute(
                        "Task timed out after 6.00 seconds (card-issuer gateway)"
                    ),
                }
            )
            await self._run(
                self._sqs.send_message,
                QueueUrl=dlq_url,
                MessageBody=message["Body"],
                MessageAttributes=attributes,
            )
            self.stats.payments_dead_lettered += 1
        else:
            self.stats.payments_processed += 1
        await self._run(
            self._sqs.delete_message, QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
        )


__all__ = [
    "ConsumerError",
    "DemoEnvironment",
    "DemoStats",
    "check_order",
]
