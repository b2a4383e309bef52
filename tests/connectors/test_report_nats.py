"""An incident report over NATS JetStream dead letters, from the real nats-server."""

from __future__ import annotations

import time

import pytest
from eventdesk.connectors.metrics_store import MetricsStore
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.nats import dead_letter_endpoint
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.replay import discard
from eventdesk.connectors.report import EndpointRef, ReportRequest, gather_report
from eventdesk.connectors.report_render import render_html

from tests.connectors.conftest import NATS_DEAD_LETTERS

pytestmark = pytest.mark.nats


async def test_nats_dead_letters_and_their_discard_are_in_the_report(
    nats: str, nats_connector, nats_orders: str, journal, tmp_path
) -> None:
    started = time.time() - 5
    dlq = dead_letter_endpoint(nats_orders, "billing")
    async with nats_connector.browse(dlq) as browser:
        letters = list((await browser.next_page()).messages)
        result = await discard(browser, letters[:1], journal=journal, source_connection="js")
    assert result.ok

    profile = ConnectionProfile("js", BrokerKind.NATS, {"servers": nats})
    with MetricsStore(tmp_path / "metrics.sqlite3") as metrics:
        report = await gather_report(
            ReportRequest(start=started, end=time.time() + 5, endpoints=(EndpointRef("js", dlq),)),
            profiles=[profile],
            metrics=metrics,
            journal=journal,
            events=None,
        )
    grouped = sum(group["count"] for group in report["failure_groups"])
    assert grouped == NATS_DEAD_LETTERS - 1  # the discarded one is handled, not in the DLQ
    # The groups are those of the dead letters left after the discard, by reason.
    left = {(m.dead_letter.reason or "").split(" (")[0] for m in letters[1:]}
    reported = {group["label"].split(" (")[0] for group in report["failure_groups"]}
    assert reported == left
    [action] = report["actions"]
    assert action["kind"] == "discard" and action["source"] == dlq
    environment = report["environment"]
    assert environment["brokers"][0]["version"].startswith("nats-server ")
    assert dlq in render_html(report)
