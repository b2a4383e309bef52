"""Alerts: rules on disk, one ALERT per crossing on a real DLQ, health changes, the event log."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

import boto3
import pytest
from eventdesk.connectors.alerts import (
    AlertEvaluator,
    AlertRule,
    EventKind,
    EventLog,
    RuleKind,
    TimelineEvent,
    default_events_path,
    default_rules_path,
    load_rules,
    save_rules,
)
from eventdesk.connectors.dlq_inflow import InflowRate
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.health import Health, HealthState
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.sampling import Metric, Reachability, Sample, Sampler, Snapshot
from eventdesk.connectors.sqs import SqsConnector

from tests.conftest import SqsSettings

# -- helpers ---------------------------------------------------------------------------


def _snapshot(
    at: float,
    *,
    depth: float | None = None,
    health: dict[str, Health] | None = None,
    stale: bool = False,
    endpoint: str = "orders.DLQ",
) -> Snapshot:
    samples = ()
    if depth is not None:
        samples = (
            Sample("local", BrokerKind.SQS, endpoint, None, None, Metric.DLQ_DEPTH, depth, at),
        )
    return Snapshot(
        connection="local",
        kind=BrokerKind.SQS,
        at=at,
        reachability=Reachability.UNREACHABLE if stale else Reachability.OK,
        samples=samples,
        health=health or {},
    )


def _kinds(events: list[TimelineEvent]) -> list[EventKind]:
    return [e.kind for e in events]


async def _until(
    sampler: Sampler, done: Callable[[Snapshot], bool], seen: list[Snapshot], timeout: float = 20
) -> Snapshot:
    """Collect snapshots into `seen` until `done` holds for one; fail otherwise."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            async for snapshot in sampler:
                seen.append(snapshot)
                if done(snapshot):
                    return snapshot
    pytest.fail(f"condition not met in {timeout} s; last: {seen[-1] if seen else None}")


# -- a real DLQ crossing its threshold ------------------------------------------------


@pytest.mark.sqs
async def test_a_growing_sqs_dlq_raises_one_alert_per_crossing(
    sqs: SqsSettings, unique_name: str
) -> None:
    client = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    dlq = f"{unique_name}-dlq"
    url = client.create_queue(QueueName=dlq)["QueueUrl"]
    # Fires at 5; recovers only below 3.5, so 4 and 5 after a crossing are jitter.
    rule = AlertRule(
        RuleKind.DLQ_DEPTH, connection="moto", endpoint=dlq, threshold=5, hysteresis=0.3
    )
    evaluator = AlertEvaluator([rule])
    seen: list[Snapshot] = []

    def send(count: int) -> None:
        entries = [{"Id": str(i), "MessageBody": f"failed order {i}"} for i in range(count)]
        client.send_message_batch(QueueUrl=url, Entries=entries)

    def drain(count: int) -> None:
        taken = 0
        while taken < count:
            got = client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=min(10, count - taken)
            ).get("Messages", [])
            if got:
                client.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(got)
                    ],
                )
            taken += len(got)

    def depth_is(n: int) -> Callable[[Snapshot], bool]:
        return lambda s: s.value(Metric.DLQ_DEPTH, dlq) == n

    def factory() -> SqsConnector:
        return SqsConnector(region=sqs.region, endpoint_url=sqs.endpoint_url)

    try:
        async with Sampler(
            {"moto": factory}, interval=0.2, timeout=5.0, dead_letters={"moto": [dlq]}
        ) as sampler:
            for step, depth in [(send, 3), (send, 6), (drain, 4), (send, 5), (drain, 1), (send, 8)]:
                current = seen[-1].value(Metric.DLQ_DEPTH, dlq) if seen else 0
                step(abs(depth - int(current or 0)))
                await _until(sampler, depth_is(depth), seen)
    finally:
        client.delete_queue(QueueUrl=url)

    events = [e for s in seen for e in evaluator.evaluate(s)]
    assert _kinds(events) == [EventKind.ALERT, EventKind.RECOVERED, EventKind.ALERT]
    first, recovered, second = events
    depth_at = {s.at: s.value(Metric.DLQ_DEPTH, dlq) or 0 for s in seen}
    assert depth_at[first.at] >= 5 and depth_at[second.at] >= 5 and depth_at[recovered.at] < 3.5
    assert first.title == f"{dlq} depth {depth_at[first.at]:.0f} crossed 5"
    assert recovered.title == f"{dlq} depth {depth_at[recovered.at]:.0f} back below 5"
    assert (first.connection, first.endpoint, first.group) == ("moto", dlq, "")
    assert first.at < recovered.at < second.at
    # Inflow was derived from the rises and sampled next to the depth.
    inflows = [s.value(Metric.DLQ_INFLOW, dlq) for s in seen]
    assert any(v is not None and v > 0 for v in inflows)

    with EventLog() as log:
        log.record(events)
        assert log.events(0, 2e9, connection="moto") == events
        assert log.events(0, 2e9, connection="other") == []
    assert default_events_path().exists()


# -- hysteresis and staleness (pure logic) --------------------------------------------


def test_a_value_jittering_around_the_threshold_does_not_storm():
    rule = AlertRule(RuleKind.DLQ_DEPTH, endpoint="orders.DLQ", threshold=100, hysteresis=0.1)
    evaluator = AlertEvaluator([rule])
    depths = [90, 100, 99, 101, 95, 100, 91, 89, 100]
    events = [e for i, d in enumerate(depths) for e in evaluator.evaluate(_snapshot(i, depth=d))]
    assert _kinds(events) == [EventKind.ALERT, EventKind.RECOVERED, EventKind.ALERT]
    assert [e.at for e in events] == [1, 7, 8]
    assert [a.endpoint for a in evaluator.active()] == ["orders.DLQ"]


def test_an_unreachable_broker_neither_raises_nor_clears_a_threshold_alert():
    rule = AlertRule(RuleKind.DLQ_DEPTH, threshold=10)
    evaluator = AlertEvaluator([rule])
    assert _kinds(evaluator.evaluate(_snapshot(0, depth=20))) == [EventKind.ALERT]
    assert evaluator.evaluate(_snapshot(1, depth=0, stale=True)) == []
    assert len(evaluator.active()) == 1
    assert _kinds(evaluator.evaluate(_snapshot(2, depth=0))) == [EventKind.RECOVERED]


def test_rules_match_their_connection_and_endpoint_only():
    rule = AlertRule(RuleKind.DLQ_DEPTH, connection="other", threshold=1)
    assert AlertEvaluator([rule]).evaluate(_snapshot(0, depth=50)) == []
    rule = AlertRule(RuleKind.DLQ_DEPTH, endpoint="payments.DLQ", threshold=1)
    assert AlertEvaluator([rule]).evaluate(_snapshot(0, depth=50)) == []
    disabled = AlertRule(RuleKind.DLQ_DEPTH, threshold=1, enabled=False)
    assert AlertEvaluator([disabled]).evaluate(_snapshot(0, depth=50)) == []


def test_health_changes_are_events_and_health_rules_alert_once():
    rule = AlertRule(RuleKind.HEALTH, group="billing", health=HealthState.STALLED)
    evaluator = AlertEvaluator([rule])
    ok = Health(HealthState.OK, "Caught up.")
    warning = Health(HealthState.WARNING, "Lag grew.")
    stalled = Health(HealthState.STALLED, "Offsets have not moved.")
    states = [ok, ok, warning, stalled, stalled, Health(HealthState.STOPPED, "Gone."), ok]
    events = [
        e
        for i, h in enumerate(states)
        for e in evaluator.evaluate(_snapshot(i, health={"billing": h}))
    ]
    assert [(e.kind, e.title) for e in events] == [
        (EventKind.HEALTH, "group billing is WARNING (was OK)"),
        (EventKind.HEALTH, "group billing is STALLED (was WARNING)"),
        (EventKind.ALERT, "group billing is STALLED"),
        (EventKind.HEALTH, "group billing is STOPPED (was STALLED)"),
        (EventKind.HEALTH, "group billing is OK (was STOPPED)"),
        (EventKind.RECOVERED, "group billing is OK again"),
    ]
    assert events[1].severity == "critical" and events[1].detail == "Offsets have not moved."


def test_dlq_growth_rule_reads_the_inflow_rate():
    rule = AlertRule(RuleKind.DLQ_GROWTH, threshold=30)
    evaluator = AlertEvaluator([rule])
    rate = InflowRate(window=60)
    events = []
    for at, depth in [(0, 0), (10, 2), (20, 4), (30, 20), (40, 20), (90, 20)]:
        inflow = rate.add(at, depth)
        samples = ()
        if inflow is not None:
            samples = (
                Sample("local", BrokerKind.SQS, "q.DLQ", None, None, Metric.DLQ_INFLOW, inflow, at),
            )
        snapshot = Snapshot("local", BrokerKind.SQS, at, Reachability.OK, samples)
        events += evaluator.evaluate(snapshot)
    assert _kinds(events) == [EventKind.ALERT, EventKind.RECOVERED]
    assert events[0].title == "q.DLQ inflow/min 40 crossed 30"  # 20 in 30 s
    assert events[1].at == 90  # the rise left the 60 s window


def test_inflow_counts_rises_only():
    rate = InflowRate(window=60)
    assert rate.add(0, 10) is None
    assert rate.add(30, 40) == 60.0  # 30 in half a minute
    assert rate.add(60, 0) == 30.0  # a replay emptied it: 30 arrived over the minute
    assert rate.add(60, 5) == 30.0  # a repeated timestamp adds nothing


# -- rules on disk ---------------------------------------------------------------------


def test_rules_round_trip_through_the_config_dir():
    rules = [
        AlertRule(RuleKind.DLQ_DEPTH, connection="Kafka", endpoint="orders.DLT", threshold=100),
        AlertRule(RuleKind.LAG_SECONDS, group="billing", threshold=30, severity="critical"),
        AlertRule(RuleKind.HEALTH, connection="Kafka", health=HealthState.STOPPED),
    ]
    path = save_rules(rules)
    assert path == default_rules_path() and path.name == "alerts.json"
    assert load_rules() == rules
    assert json.loads(path.read_text())["rules"][2]["health"] == "stopped"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "Cannot read the alert rules"),
        ('{"rules": {}}', "expected an object with a 'rules' list"),
        ('{"rules": [{"kind": "lag", "threshold": 5, "colour": "red"}]}', "Unknown field"),
        ('{"rules": [{"kind": "volume", "threshold": 5}]}', "Unknown alert kind"),
        ('{"rules": [{"threshold": 5}]}', "Malformed alert rule"),
        ('{"rules": [{"kind": "lag", "threshold": 5, "endpoint": 7}]}', "must be text"),
        ('{"rules": [{"kind": "health", "health": "sad"}]}', "health state"),
        ('{"rules": [{"kind": "lag", "threshold": -1}]}', "threshold above 0"),
        ('{"rules": [{"kind": "lag", "threshold": "many"}]}', "Malformed alert rule"),
    ],
)
def test_bad_rule_files_give_a_clear_error(text: str, says: str):
    path = default_rules_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        load_rules()
    assert says in str(caught.value)
    assert caught.value.hint


def test_the_event_log_reads_windows_oldest_first_and_survives_reopening(tmp_path):
    path = tmp_path / "events.sqlite3"
    made = [
        TimelineEvent(30.0, EventKind.RECOVERED, "a", "q", "", "q depth 1 back below 5"),
        TimelineEvent(10.0, EventKind.ALERT, "a", "q", "", "q depth 6 crossed 5"),
        TimelineEvent(20.0, EventKind.HEALTH, "b", "", "g", "group g is STALLED", "why", "info"),
    ]
    with EventLog(path) as log:
        log.record(made)
    log = EventLog(path)
    try:
        assert [e.at for e in log.events(0, 100)] == [10.0, 20.0, 30.0]
        assert log.events(15, 25) == [made[2]]
        assert log.events(0, 100, connection="a") == [made[1], made[0]]
        assert log.latest(2) == [made[2], made[0]]
    finally:
        log.close()
        log.close()  # idempotent
    with pytest.raises(ConfigurationError):
        log.record(made)


def test_an_unwritable_event_log_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigurationError) as caught:
        EventLog(blocker / "events.sqlite3")
    assert "EVENTDESK_DATA_DIR" in caught.value.hint
