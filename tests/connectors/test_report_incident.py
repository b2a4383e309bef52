"""An incident scripted on the real local RabbitMQ, and the report written about it.

A consumer fails nine orders: seven the way Spring AMQP's RepublishMessageRecoverer
does (exception headers, republished to the DLQ), two by rejecting them so the broker
dead-letters them with x-death. A Sampler records real samples into the metrics history
and an alert rule fires; two dead letters are replayed and one discarded through the
journaled engine. The report for that window must tell exactly that story, redacted,
in every format.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import aio_pika
import pytest
from eventdesk.connectors.alerts import AlertEvaluator, AlertRule, EventLog, RuleKind
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.metrics_store import MetricsStore
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile, save_profiles
from eventdesk.connectors.redaction import MASK
from eventdesk.connectors.replay import ReplayOptions, discard, replay
from eventdesk.connectors.report import EndpointRef, ReportRequest, gather_report
from eventdesk.connectors.report_redaction import rules_from
from eventdesk.connectors.report_render import render_html, render_json, render_markdown
from eventdesk.connectors.sampling import Metric, Sampler, Snapshot

from tests.conftest import RabbitMQSettings
from tests.connectors.pages import all_pages

pytestmark = pytest.mark.rabbitmq

PASSWORD_ENV = "EVENTDESK_TEST_REPORT_RABBITMQ_PASSWORD"
# A profile whose secret must never reach a report; its broker does not exist.
BAD_SECRET = "Sup3r-Secret-Pw-7f3a!"
BAD_SECRET_ENV = "EVENTDESK_TEST_REPORT_BAD_PASSWORD"
SCRIPT_PAYLOAD = "<script>alert('x')</script><img src=x onerror=alert(1)><b>bold</b>"
HEADER_MARKER = "secret-marker-hdr-1"
NOTES = "Checkout stopped validating customers at 10:02. Contact jane@example.com. " + (
    "secret-marker-notes-2"
)
REDACTION = {
    "field_paths": ["customer.email", "**.card"],
    "patterns": [r"secret-marker-\w+(-\d+)?"],
    "presets": ["email", "card"],
}
HIDDEN = ("jane@example.com", "4111 1111 1111 1111", "secret-marker-", BAD_SECRET)


@dataclass
class Incident:
    start: float
    end: float
    source: str
    dlq: str
    profiles: list[ConnectionProfile]
    replay_id: str
    discard_id: str


def profiles_for(settings: RabbitMQSettings) -> list[ConnectionProfile]:
    good = ConnectionProfile(
        "rmq",
        BrokerKind.RABBITMQ,
        {
            "host": settings.host,
            "port": str(settings.port),
            "username": settings.username,
            "management_url": settings.management_url,
            "password_env": PASSWORD_ENV,
        },
        environment="staging",
    )
    bad = ConnectionProfile(
        "rmq-elsewhere",
        BrokerKind.RABBITMQ,
        {"host": "127.0.0.1", "port": "1", "username": "ops", "password_env": BAD_SECRET_ENV},
        environment="production",
    )
    return [good, bad]


def _order(n: int, **extra: object) -> bytes:
    document = {"orderId": f"ORD-2025-{100000 + n}", "total": "42.00", **extra}
    return json.dumps(document).encode()


def _failure(n: int) -> tuple[bytes, str | None, str | None]:
    """Body, exception trace (None: the consumer rejects it) and message of order n."""
    if n < 4:
        customer = {"email": "jane@example.com", "card": "4111 1111 1111 1111"}
        text = f"Order ORD-2025-{100000 + n} has no customerId"
        trace = f"java.lang.IllegalArgumentException: {text}\n\tat com.example.Checkout.place"
        return _order(n, customer=customer), trace, text
    if n < 7:
        text = f"Read timed out after {1000 * (n - 3)} ms"
        trace = f"java.net.SocketTimeoutException: {text}\n\tat com.example.Stock.reserve"
        return _order(n), trace, text
    if n == 7:
        return _order(n, note=SCRIPT_PAYLOAD), None, None
    return b"{not json", None, None


async def _fail_orders(channel: aio_pika.abc.AbstractChannel, source: str, dlq: str) -> None:
    """Publish nine orders and fail each the way its consumer framework would."""
    for n in range(9):
        await channel.default_exchange.publish(
            aio_pika.Message(
                _failure(n)[0],
                message_id=str(uuid.uuid4()),
                timestamp=datetime.now(UTC),
                headers={"x-trace-note": HEADER_MARKER},
            ),
            routing_key=source,
        )
    queue = await channel.get_queue(source)
    for n in range(9):  # one queue, one consumer: they come back in publishing order
        incoming = await queue.get(no_ack=False, fail=True, timeout=10)
        _, trace, text = _failure(n)
        if trace is None:
            await incoming.reject(requeue=False)
            continue
        # Spring AMQP's RepublishMessageRecoverer: the same message, the failure in headers.
        headers = dict(incoming.headers or {})
        headers.update(
            {
                "x-exception-message": text,
                "x-exception-stacktrace": trace,
                "x-original-exchange": "",
                "x-original-routingKey": source,
            }
        )
        await channel.default_exchange.publish(
            aio_pika.Message(
                incoming.body,
                headers=headers,
                message_id=incoming.message_id,
                timestamp=datetime.now(UTC),
            ),
            routing_key=dlq,
        )
        await incoming.ack()


async def _wait_depth(samples: asyncio.Queue[Snapshot], dlq: str, depth: int) -> None:
    async with asyncio.timeout(30):
        while True:
            snapshot = await samples.get()
            if snapshot.value(Metric.DLQ_DEPTH, dlq) == depth:
                return


def use_incident_profiles(settings: RabbitMQSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets in the environment, profiles in connections.json (the isolated config dir)."""
    monkeypatch.setenv(PASSWORD_ENV, settings.password)
    monkeypatch.setenv(BAD_SECRET_ENV, BAD_SECRET)
    save_profiles(profiles_for(settings))


async def script_incident(settings: RabbitMQSettings) -> Incident:
    """Runs the incident against the broker, recording into this data dir's default stores.

    The queues stay for the test to look at; `remove_incident` deletes them.
    """
    profiles = profiles_for(settings)
    prefix = f"t-report-{uuid.uuid4().hex[:8]}"
    source, dlq = f"{prefix}.orders", f"{prefix}.orders.dlq"
    amqp = await aio_pika.connect(
        host=settings.host, port=settings.port, login=settings.username, password=settings.password
    )
    try:
        channel = await amqp.channel()
        await channel.declare_queue(dlq, durable=True)
        await channel.declare_queue(
            source,
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq},
        )
        start = time.time() - 2
        replay_id, discard_id = await _fail_and_handle(channel, profiles[0], source, dlq)
    finally:
        await amqp.close()
    return Incident(start, time.time() + 1, source, dlq, profiles, replay_id, discard_id)


async def _fail_and_handle(
    channel: aio_pika.abc.AbstractChannel, profile: ConnectionProfile, source: str, dlq: str
) -> tuple[str, str]:
    """Fail nine orders while sampling; replay two dead letters and discard one."""
    snapshots: asyncio.Queue[Snapshot] = asyncio.Queue()
    evaluator = AlertEvaluator([AlertRule(RuleKind.DLQ_DEPTH, "rmq", dlq, threshold=5)])
    with MetricsStore() as store, EventLog() as events, Journal.open() as journal:

        def record(snapshot: Snapshot) -> None:
            if not snapshot.stale:
                store.add(snapshot.samples)
                events.record(evaluator.evaluate(snapshot))
                snapshots.put_nowait(snapshot)

        sampler = Sampler(
            {"rmq": lambda: create_connector(profile)},
            interval=0.3,
            dead_letters={"rmq": [dlq]},
            on_snapshot=record,
        )
        async with sampler:
            await _wait_depth(snapshots, dlq, 0)
            await _fail_orders(channel, source, dlq)
            await _wait_depth(snapshots, dlq, 9)
            async with create_connector(profile) as connector:
                async with connector.browse(dlq) as browser:
                    letters = await all_pages(browser, timeout=30)
                    timeouts = [
                        m for m in letters if "Timeout" in (m.dead_letter.exception_type or "")
                    ]
                    plain_reject = [m for m in letters if m.body == b"{not json"]
                    replayed = await replay(
                        connector,
                        browser,
                        timeouts[:2],
                        connector,
                        None,
                        options=ReplayOptions(),
                        journal=journal,
                        source_connection="rmq",
                        target_connection="rmq",
                    )
                    discarded = await discard(
                        browser, plain_reject, journal=journal, source_connection="rmq"
                    )
            assert replayed.ok and discarded.ok, (replayed, discarded)
            await _wait_depth(snapshots, dlq, 6)
    return replayed.action_id, discarded.action_id


async def remove_incident(settings: RabbitMQSettings, incident: Incident) -> None:
    amqp = await aio_pika.connect(
        host=settings.host, port=settings.port, login=settings.username, password=settings.password
    )
    try:
        channel = await amqp.channel()
        await channel.queue_delete(incident.source)
        await channel.queue_delete(incident.dlq)
    finally:
        await amqp.close()


@pytest.fixture
async def incident(
    rabbitmq: RabbitMQSettings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Incident]:
    use_incident_profiles(rabbitmq, monkeypatch)
    scripted = await script_incident(rabbitmq)
    yield scripted
    await remove_incident(rabbitmq, scripted)


def request_for(incident: Incident) -> ReportRequest:
    return ReportRequest(
        start=incident.start,
        end=incident.end,
        endpoints=(EndpointRef("rmq", incident.dlq), EndpointRef("rmq-elsewhere", "orders.dlq")),
        rules=rules_from(**REDACTION),
        notes=NOTES,
        title="Checkout incident",
    )


class _Tags(HTMLParser):
    """Every tag and attribute name the HTML really contains (not text that looks like one)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def check_html_is_inert(html: str) -> None:
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags
    assert not {a for a in parser.attributes if a.startswith("on")}
    assert "img" not in parser.tags  # charts are inline SVG; the payload's <img> is text
    assert "&lt;script&gt;alert(" in html  # shown to the reader, as text


def check_markdown_is_inert(markdown: str) -> None:
    """Payloads sit in code fences (shown, never rendered); nothing outside them is a tag."""
    outside = re.sub(r"(?ms)^(`{3,})text\n.*?^\1$", "", markdown)
    assert "<script" not in outside.lower() and "<img" not in outside.lower()
    assert "<script" in markdown  # the payload is shown, inside its fence


def check_story(report: dict, incident: Incident) -> None:
    summary = report["summary"]
    assert summary["dead_lettered"] == 9
    assert summary["dead_letters_now"] == 6
    assert summary["peak_dlq_depth"]["value"] == 9
    assert summary["peak_dlq_depth"]["endpoint"] == incident.dlq
    assert summary["peak_lag_messages"]["endpoint"] == incident.source
    assert summary["peak_lag_messages"]["value"] >= 2  # the replayed two wait there
    assert (summary["replayed"], summary["discarded"], summary["action_failures"]) == (2, 1, 0)
    assert summary["alerts"] == 1
    groups = [(g["label"], g["count"]) for g in report["failure_groups"]]
    assert groups == [
        ("IllegalArgumentException: Order <id> has no customerId", 4),
        ("SocketTimeoutException: Read timed out after <n> ms", 1),
        ("rejected", 1),
    ]
    for group in report["failure_groups"]:
        assert group["sources"] == [incident.source]
        assert group["first_seen"] and group["last_seen"]
        assert len(group["samples"]) == min(3, group["count"])
    actions = {a["id"]: a for a in report["actions"]}
    assert actions[incident.replay_id]["kind"] == "replay"
    assert actions[incident.replay_id]["counts"] == {"settled": 2}
    assert actions[incident.discard_id]["kind"] == "discard"
    assert actions[incident.discard_id]["status"] == "completed"
    kinds = [e["kind"] for e in report["timeline"]]
    assert kinds == ["alert", "replay", "discard"]
    assert [e["at"] for e in report["timeline"]] == sorted(e["at"] for e in report["timeline"])
    charts = {c["id"]: c["svg"] for c in report["charts"]}
    assert charts["dlq_depth"].startswith("<svg") and "<polyline" in charts["dlq_depth"]
    assert f"rmq/{incident.dlq} (peak 9)" in charts["dlq_depth"]
    assert "<polyline" in charts["lag"]
    assert f"rmq/{incident.source} ready" in charts["lag"]
    assert incident.dlq not in charts["lag"]  # a DLQ's depth is not lag
    env = report["environment"]
    assert [p["name"] for p in env["profiles"]] == ["rmq", "rmq-elsewhere"]
    assert env["profiles"][0]["settings"]["password_env"] == MASK
    assert env["app_version"]
    versions = {b["connection"]: b["version"] for b in env["brokers"]}
    assert versions["rmq"].startswith("RabbitMQ 3.")  # read from the management API
    assert versions["rmq-elsewhere"] is None  # unreachable: not reported, not guessed
    assert any("rmq-elsewhere: dead letters not read" in n for n in report["notices"])


def check_no_leak(text: str, where: str) -> None:
    for hidden in HIDDEN:
        assert hidden not in text, f"{hidden!r} leaked into the {where}"


def check_hidden(text: str, where: str) -> None:
    check_no_leak(text, f"{where} report")
    assert MASK in text, where


async def test_report_tells_the_incident_in_json_markdown_and_html(incident: Incident) -> None:
    with MetricsStore() as store, EventLog() as events, Journal.open() as journal:
        steps: list[float] = []
        report = await gather_report(
            request_for(incident),
            profiles=incident.profiles,
            metrics=store,
            journal=journal,
            events=events,
            progress=lambda _text, fraction: steps.append(fraction),
        )
    assert steps == sorted(steps) and steps[-1] >= 0.9
    check_story(report, incident)
    data = json.loads(render_json(report))
    assert data["schema_version"] == 1 and data["format"] == "eventdesk-incident-report"
    assert data["summary"] == report["summary"]
    markdown = render_markdown(report)
    html = render_html(report)
    for text, where in ((render_json(report), "JSON"), (markdown, "Markdown"), (html, "HTML")):
        check_hidden(text, where)
        assert "has no customerId" in text and "Read timed out after" in text
    assert "## Failure groups" in markdown and "data:image/svg+xml;base64," in markdown
    check_markdown_is_inert(markdown)
    check_html_is_inert(html)
    assert html.count("<svg") == len(report["charts"]) >= 2


def test_cli_writes_every_format_and_the_pdf_holds_the_figures(
    incident: Incident, tmp_path: Path
) -> None:
    outputs = {}
    for fmt in ("json", "md", "html", "pdf"):
        out = tmp_path / f"incident.{fmt}"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "eventdesk.connectors.cli",
                "report",
                "--from",
                datetime.fromtimestamp(incident.start, UTC).isoformat(),
                "--to",
                datetime.fromtimestamp(incident.end, UTC).isoformat(),
                "--format",
                fmt,
                "--out",
                str(out),
                "--endpoint",
                f"rmq/{incident.dlq}",
                "--endpoint",
                "rmq-elsewhere/orders.dlq",
                "--redact-preset",
                "email",
                "--redact-preset",
                "card",
                "--redact-field",
                "customer.email",
                "--redact-field",
                "**.card",
                "--redact-pattern",
                REDACTION["patterns"][0],
                "--notes",
                NOTES,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
        assert result.returncode == 0, result.stderr
        assert "rmq-elsewhere" in result.stderr  # the unreachable connection is named
        check_no_leak(result.stderr + result.stdout, f"{fmt} command output")
        outputs[fmt] = out
    report = json.loads(outputs["json"].read_text(encoding="utf-8"))
    check_story(report, incident)
    for fmt in ("json", "md", "html"):
        check_hidden(outputs[fmt].read_text(encoding="utf-8"), fmt)
    check_html_is_inert(outputs["html"].read_text(encoding="utf-8"))

    assert outputs["pdf"].read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", str(outputs["pdf"]), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for heading in (
        "Summary",
        "Charts",
        "Failure groups",
        "Operator actions",
        "Timeline",
        "Operator notes",
        "Environment",
    ):
        assert heading in text
    flat = " ".join(text.split())
    assert "Messages dead-lettered 9" in flat
    assert "Dead letters still waiting 6" in flat
    assert "2 replayed, 1 discarded" in flat
    for hidden in HIDDEN:
        assert hidden not in flat
    images = subprocess.run(
        ["pdfimages", "-list", str(outputs["pdf"])], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert len(images) == len(report["charts"])  # every chart rendered as an image
