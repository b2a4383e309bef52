"""The incident report model: what happened in a time window, gathered from every record.

`gather_report` reads the monitoring history (MetricsStore), the event log (alerts and
health changes), the journal (replays and discards) and the dead-letter endpoints
themselves (browsed, never consumed), and returns one JSON-able dict, already redacted,
that report_render.py turns into HTML, Markdown, JSON or (gui/report_pdf.py) PDF.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import platform
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from .alerts import EventKind, EventLog, TimelineEvent
from .base import Connector
from .dead_letters import header_text
from .errors import ConfigurationError, EventdeskError
from .factory import create_connector
from .failure_groups import FailureGroup, failure_signature, group_failures
from .journal import ActionRecord, Journal
from .metrics_store import DAY, MetricsStore
from .model import Message
from .profiles import ConnectionProfile, load_profiles
from .redaction import MASK
from .report_charts import ChartSeries, line_chart_svg
from .report_redaction import RedactionRules, ReportRedactor

SCHEMA_VERSION = 1
REPORT_FORMAT = "eventdesk-incident-report"
SECTIONS = (
    "summary",
    "charts",
    "failure_groups",
    "samples",
    "actions",
    "timeline",
    "notes",
    "environment",
)
_LAG_METRICS = ("lag", "ready", "visible")
_SECRET_SETTING = ("password", "secret", "token", "_env", "access_key")
_SAMPLE_BODY_LIMIT = 4000
# A day at a 5 s interval is 17,280 samples a series; charts and JSON keep the peaks of runs.
MAX_CHART_POINTS = 1000

Progress = Callable[[str, float], None]
SeriesName = tuple[str, str, str, str]  # connection, endpoint, group, metric
ConnectorFactory = Callable[[ConnectionProfile], Connector]


@dataclass(frozen=True, slots=True)
class EndpointRef:
    connection: str
    endpoint: str

    @classmethod
    def parse(cls, text: str) -> EndpointRef:
        """ "CONNECTION/NAME"; the name may itself hold slashes."""
        connection, sep, endpoint = text.partition("/")
        if not sep or not connection.strip() or not endpoint.strip():
            raise ConfigurationError(
                f"{text!r} does not name an endpoint.",
                hint='Write CONNECTION/NAME, e.g. "prod-kafka/orders.DLT".',
            )
        return cls(connection.strip(), endpoint.strip())

    def __str__(self) -> str:
        return f"{self.connection}/{self.endpoint}"


@dataclass(frozen=True, slots=True)
class ReportRequest:
    start: float  # Unix seconds
    end: float
    endpoints: tuple[EndpointRef, ...] = ()  # empty: every dead-letter endpoint of `profiles`
    sections: tuple[str, ...] = SECTIONS
    rules: RedactionRules = field(default_factory=RedactionRules)
    notes: str = ""
    max_messages: int = 500  # browsed per dead-letter endpoint
    samples_per_group: int = 3
    title: str = "Incident report"
    # Failure signatures (connectors/failure_groups.py) to keep; empty: every failure.
    failure_groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ConfigurationError(
                "The report window ends before it starts.",
                hint="Choose a start time earlier than the end time.",
            )
        unknown = set(self.sections) - set(SECTIONS)
        if unknown:
            raise ConfigurationError(
                f"Unknown report section(s): {', '.join(sorted(unknown))}.",
                hint=f"Use any of: {', '.join(SECTIONS)}.",
            )
        if self.max_messages < 1 or self.samples_per_group < 0:
            raise ConfigurationError("Messages per endpoint must be at least 1.")


@dataclass(slots=True)
class ReportInputs:
    """Everything read for a report, before any of it is summarised or redacted."""

    request: ReportRequest
    profiles: list[ConnectionProfile]
    series: dict[SeriesName, list[tuple[float, float]]]
    baselines: dict[SeriesName, float]  # the last DLQ depth before the window
    dead_letter_endpoints: list[EndpointRef]
    messages: list[Message]
    actions: list[ActionRecord]
    events: list[TimelineEvent]
    broker_versions: dict[str, str | None]
    notices: list[str]
    generated_at: float


# -- gathering ---------------------------------------------------------------------------


async def gather_report(
    request: ReportRequest,
    *,
    profiles: Sequence[ConnectionProfile],
    metrics: MetricsStore,
    journal: Journal,
    events: EventLog | None,
    connector_factory: ConnectorFactory = create_connector,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """The redacted report for the request, as a JSON-able dict (see `build_report`)."""
    inputs = await gather_inputs(
        request,
        profiles=profiles,
        metrics=metrics,
        journal=journal,
        events=events,
        connector_factory=connector_factory,
        progress=progress,
        timeout=timeout,
    )
    _step(progress, "Writing the report", 0.95)
    return build_report(inputs)


async def gather_saved_report(
    request: ReportRequest,
    *,
    profiles: Sequence[ConnectionProfile] | None = None,
    progress: Progress | None = None,
    connector_factory: ConnectorFactory = create_connector,
) -> dict[str, Any]:
    """The report from this machine's own records: connections.json, the metrics history,
    the journal and the event log in the user dirs (EVENTDESK_* overrides honoured)."""
    _step(progress, "Opening the history, journal and event log", 0.02)
    profiles = load_profiles() if profiles is None else profiles
    with contextlib.ExitStack() as stack:
        metrics = stack.enter_context(MetricsStore())
        journal = stack.enter_context(Journal.open())
        events = stack.enter_context(EventLog())
        return await gather_report(
            request,
            profiles=profiles,
            metrics=metrics,
            journal=journal,
            events=events,
            connector_factory=connector_factory,
            progress=progress,
        )


async def gather_inputs(
    request: ReportRequest,
    *,
    profiles: Sequence[ConnectionProfile],
    metrics: MetricsStore,
    journal: Journal,
    events: EventLog | None,
    connector_factory: ConnectorFactory = create_connector,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> ReportInputs:
    used = _profiles_in_scope(request, profiles)
    notices: list[str] = []
    messages: list[Message] = []
    dead_letter_endpoints: list[EndpointRef] = []
    versions: dict[str, str | None] = {}
    for index, profile in enumerate(used):
        _step(progress, f"Reading dead letters on {profile.name}", 0.1 + 0.6 * index / len(used))
        found = await _read_connection(
            profile, request, connector_factory, notices, versions, timeout=timeout
        )
        for ref, browsed in found:
            dead_letter_endpoints.append(ref)
            messages.extend(browsed)
    _step(progress, "Reading the monitoring history", 0.75)
    names = {p.name for p in used}
    sources = {d for m in messages if (d := m.dead_letter.original_destination)}
    series, baselines = _read_series(metrics, request, names, sources)
    _step(progress, "Reading the journal and the event log", 0.85)
    actions = _read_actions(journal, request, names)
    timeline = _read_events(events, request, names)
    return ReportInputs(
        request=request,
        profiles=list(used),
        series=series,
        baselines=baselines,
        dead_letter_endpoints=dead_letter_endpoints,
        messages=messages,
        actions=actions,
        events=timeline,
        broker_versions=versions,
        notices=notices,
        generated_at=datetime.now(UTC).timestamp(),
    )


def _step(progress: Progress | None, text: str, fraction: float) -> None:
    if progress is not None:
        progress(text, fraction)


def _profiles_in_scope(
    request: ReportRequest, profiles: Sequence[ConnectionProfile]
) -> list[ConnectionProfile]:
    by_name = {p.name: p for p in profiles}
    if not request.endpoints:
        return list(profiles)
    wanted = dict.fromkeys(ref.connection for ref in request.endpoints)
    missing = [name for name in wanted if name not in by_name]
    if missing:
        known = ", ".join(by_name) or "none"
        raise ConfigurationError(
            f"No connection named {', '.join(map(repr, missing))} (known: {known}).",
            hint="Write endpoints as CONNECTION/NAME with a connection from connections.json.",
        )
    return [by_name[name] for name in wanted]


async def _read_connection(
    profile: ConnectionProfile,
    request: ReportRequest,
    connector_factory: ConnectorFactory,
    notices: list[str],
    versions: dict[str, str | None],
    *,
    timeout: float,
) -> list[tuple[EndpointRef, list[Message]]]:
    """Each dead-letter endpoint in scope on this connection with its browsed messages.

    A broker that cannot be reached becomes a notice: the history still tells the story.
    """
    wanted = {ref.endpoint for ref in request.endpoints if ref.connection == profile.name}
    found: list[tuple[EndpointRef, list[Message]]] = []
    connector = connector_factory(profile)
    try:
        await connector.connect(timeout=timeout)
        versions[profile.name] = await _broker_version(connector, timeout=timeout)
        endpoints = await connector.list_endpoints(timeout=timeout)
        known = {e.name: e for e in endpoints}
        for name in sorted(wanted - set(known)):
            notices.append(f"{profile.name}/{name} does not exist (any more); not browsed.")
        chosen = [e for e in endpoints if e.is_dead_letter and (not wanted or e.name in wanted)]
        for endpoint in chosen:
            ref = EndpointRef(profile.name, endpoint.name)
            browsed, note = await _browse(connector, endpoint.name, request.max_messages, timeout)
            if note:
                notices.append(f"{ref}: {note}")
            found.append((ref, browsed))
    except (EventdeskError, TimeoutError, OSError, NotImplementedError) as exc:
        hint = getattr(exc, "hint", "")
        reason = str(exc) or type(exc).__name__
        notices.append(
            f"{profile.name}: dead letters not read: {reason}." + (f" {hint}" if hint else "")
        )
    finally:
        with contextlib.suppress(Exception):
            await connector.close()
    return found


async def _browse(
    connector: Connector, endpoint: str, limit: int, timeout: float
) -> tuple[list[Message], str | None]:
    """Up to `limit` messages, oldest first; the browser gives every one of them back."""
    messages: list[Message] = []
    async with connector.browse(endpoint, page_size=min(500, limit)) as browser:
        while len(messages) < limit:
            page = await browser.next_page(timeout=timeout)
            messages.extend(page.messages)
            if not page.more:
                return messages[:limit], browser.incomplete
    return messages[:limit], f"only the first {limit} messages were read for this report"


async def _broker_version(connector: Connector, *, timeout: float) -> str | None:
    """The broker's version where the connector can tell (an optional `server_version`)."""
    probe = getattr(connector, "server_version", None)
    if probe is None:
        return None
    try:
        value = probe(timeout=timeout) if callable(probe) else probe
        if inspect.isawaitable(value):
            value = await asyncio.wait_for(value, timeout)
    except (EventdeskError, TimeoutError, OSError):
        return None
    return str(value) if value else None


def _read_series(
    metrics: MetricsStore, request: ReportRequest, names: set[str], sources: set[str]
) -> tuple[dict[SeriesName, list[tuple[float, float]]], dict[SeriesName, float]]:
    wanted = {(ref.connection, ref.endpoint) for ref in request.endpoints}
    series: dict[SeriesName, list[tuple[float, float]]] = {}
    baselines: dict[SeriesName, float] = {}
    for key in metrics.series():
        if key.connection not in names or key.partition is not None:
            continue
        metric = str(key.metric)
        if metric not in (*_LAG_METRICS, "lag_seconds", "dlq_depth"):
            continue
        # The DLQs chosen, and the endpoints that feed them (their lag tells the cause).
        in_scope = not wanted or (key.connection, key.endpoint) in wanted
        if not in_scope and key.endpoint not in sources:
            continue
        name = (key.connection, key.endpoint, key.group, metric)
        points = metrics.query(key, request.start, request.end)
        if points:
            series[name] = points
        if metric == "dlq_depth":
            before = metrics.query(key, request.start - DAY, request.start - 1e-6)
            if before:
                baselines[name] = before[-1][1]
    return series, baselines


def _read_actions(journal: Journal, request: ReportRequest, names: set[str]) -> list[ActionRecord]:
    wanted = {(ref.connection, ref.endpoint) for ref in request.endpoints}
    chosen = []
    for record in journal.actions(limit=100_000):
        at = _iso_to_unix(record.started_at)
        if at is None or not request.start <= at <= request.end:
            continue
        if record.source_connection not in names and record.target_connection not in names:
            continue
        touches = {(record.source_connection, record.source)}
        if record.target:
            touches.add((record.target_connection or record.source_connection, record.target))
        if wanted and not touches & wanted:
            continue
        full = journal.action(record.id)
        chosen.append(full or record)
    return sorted(chosen, key=lambda r: r.started_at)


def _read_events(
    events: EventLog | None, request: ReportRequest, names: set[str]
) -> list[TimelineEvent]:
    if events is None:
        return []
    wanted = {(ref.connection, ref.endpoint) for ref in request.endpoints}
    return [
        e
        for e in events.events(request.start, request.end)
        if e.connection in names
        and (not wanted or not e.endpoint or (e.connection, e.endpoint) in wanted)
    ]


# -- building ----------------------------------------------------------------------------


def build_report(inputs: ReportInputs) -> dict[str, Any]:
    """The report as a JSON-able dict, every text redacted by the request's rules.

    Keys: schema_version, format, title, generated_at, window, scope, sections, summary,
    charts, failure_groups, actions, timeline, notes, environment, redaction, notices.
    Sections not asked for are present but empty, so readers need not test for keys.
    """
    request = inputs.request
    redactor = ReportRedactor(request.rules)
    in_window = [
        m
        for m in inputs.messages
        if _failed_in_window(m, request)
        and (not request.failure_groups or failure_signature(m) in request.failure_groups)
    ]
    groups = group_failures(in_window)
    wanted = set(request.sections)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "format": REPORT_FORMAT,
        "title": request.title,
        "generated_at": _iso(inputs.generated_at),
        "window": {
            "start": _iso(request.start),
            "end": _iso(request.end),
            "start_unix": request.start,
            "end_unix": request.end,
        },
        "scope": {
            "endpoints": [str(ref) for ref in request.endpoints] or ["every dead-letter endpoint"],
            "dead_letter_endpoints": [str(ref) for ref in inputs.dead_letter_endpoints],
            "failure_groups": list(request.failure_groups) or ["every failure"],
        },
        "sections": [s for s in SECTIONS if s in wanted],
        "summary": _summary(inputs, in_window, groups) if "summary" in wanted else {},
        "series": _series_json(inputs) if "charts" in wanted else [],
        "failure_groups": (
            [_group_json(g, inputs, redactor, "samples" in wanted) for g in groups]
            if "failure_groups" in wanted
            else []
        ),
        "actions": [_action_json(a) for a in inputs.actions] if "actions" in wanted else [],
        "timeline": _timeline(inputs) if "timeline" in wanted else [],
        "notes": request.notes if "notes" in wanted else "",
        "environment": _environment(inputs) if "environment" in wanted else {},
        "redaction": request.rules.to_json(),
        "notices": list(inputs.notices),
    }
    report = _redact_texts(report, redactor)
    report["charts"] = _charts(report["series"], request) if "charts" in wanted else []
    return report


def _redact_texts(value: Any, redactor: ReportRedactor) -> Any:
    """Every string in the report through the patterns, presets and session secrets."""
    if isinstance(value, dict):
        return {k: _redact_texts(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_texts(v, redactor) for v in value]
    if isinstance(value, str):
        return redactor.text(value)
    return value


def _failed_in_window(message: Message, request: ReportRequest) -> bool:
    # A dead letter with no failure time cannot be placed; it is kept rather than lost.
    facts = message.dead_letter
    when = facts.last_failure or facts.first_failure or message.timestamp
    if when is None:
        return True
    return request.start - 1 <= when.timestamp() <= request.end + 1


def _summary(
    inputs: ReportInputs, in_window: list[Message], groups: list[FailureGroup]
) -> dict[str, Any]:
    peak_depth = _peak(inputs, ("dlq_depth",))
    peak_lag = _peak(inputs, _LAG_METRICS, skip_dead_letters=True)
    peak_seconds = _peak(inputs, ("lag_seconds",))
    rises = _dlq_inflow(inputs)
    replayed = _settled(inputs.actions, "replay")
    discarded = _settled(inputs.actions, "discard")
    health = [e for e in inputs.events if e.kind is EventKind.HEALTH]
    alerts = [e for e in inputs.events if e.kind is EventKind.ALERT]
    return {
        "dead_lettered": max(rises, len(in_window)),
        "dead_letters_now": len(inputs.messages),
        "failure_groups": len(groups),
        "peak_dlq_depth": peak_depth,
        "peak_lag_messages": peak_lag,
        "peak_lag_seconds": peak_seconds,
        "alerts": len(alerts),
        "first_alert": _iso(alerts[0].at) if alerts else None,
        "health_changes": [
            {"at": _iso(e.at), "connection": e.connection, "group": e.group, "title": e.title}
            for e in health
        ],
        "actions": len(inputs.actions),
        "replayed": replayed,
        "discarded": discarded,
        "action_failures": sum(a.counts.get("failed", 0) for a in inputs.actions),
    }


def _peak(
    inputs: ReportInputs, metrics: Iterable[str], *, skip_dead_letters: bool = False
) -> dict[str, Any] | None:
    dead_letters = _dead_letter_keys(inputs)
    best: dict[str, Any] | None = None
    for (connection, endpoint, group, metric), points in inputs.series.items():
        if metric not in metrics:
            continue
        if skip_dead_letters and (connection, endpoint) in dead_letters:
            continue
        for at, value in points:
            if best is None or value > best["value"]:
                best = {
                    "value": value,
                    "at": _iso(at),
                    "connection": connection,
                    "endpoint": endpoint,
                    "group": group,
                }
    return best


def _dlq_inflow(inputs: ReportInputs) -> int:
    """Messages that arrived in dead-letter endpoints: every rise of their depth.

    The baseline is the last depth before the window, else the first one in it, so old
    dead letters are not counted as new.
    """
    total = 0.0
    for key, points in inputs.series.items():
        if key[3] != "dlq_depth" or not points:
            continue
        previous = inputs.baselines.get(key, points[0][1])
        for _, value in points:
            total += max(0.0, value - previous)
            previous = value
    return round(total)


def _settled(actions: Iterable[ActionRecord], kind: str) -> int:
    return sum(a.counts.get("settled", 0) for a in actions if a.kind == kind)


def _series_json(inputs: ReportInputs) -> list[dict[str, Any]]:
    # A DLQ's own ready/visible count is its depth, not anyone's lag.
    dead_letters = _dead_letter_keys(inputs)
    return [
        {
            "connection": connection,
            "endpoint": endpoint,
            "group": group,
            "metric": metric,
            "points": [[at, value] for at, value in thin(points, MAX_CHART_POINTS)],
        }
        for (connection, endpoint, group, metric), points in sorted(inputs.series.items())
        if not (metric in _LAG_METRICS and (connection, endpoint) in dead_letters)
    ]


def _dead_letter_keys(inputs: ReportInputs) -> set[tuple[str, str]]:
    """Dead-letter endpoints: those browsed, and those the sampler measured as DLQs."""
    keys = {(ref.connection, ref.endpoint) for ref in inputs.dead_letter_endpoints}
    keys.update((c, e) for c, e, _, metric in inputs.series if metric == "dlq_depth")
    return keys


def thin(points: Sequence[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most about `limit` points: the highest of each run, so no peak is lost."""
    if len(points) <= limit:
        return list(points)
    size = -(-len(points) // limit)  # ceiling division
    return [max(points[i : i + size], key=lambda p: p[1]) for i in range(0, len(points), size)]


def _charts(series: list[dict[str, Any]], request: ReportRequest) -> list[dict[str, Any]]:
    """SVG charts from the (already redacted) series: DLQ depth, lag, lag in seconds."""
    charts = []
    for chart_id, title, metrics, unit in (
        ("dlq_depth", "Dead-letter queue depth", ("dlq_depth",), "msgs"),
        ("lag", "Consumer lag (messages waiting)", _LAG_METRICS, "msgs"),
        ("lag_seconds", "Consumer lag (time)", ("lag_seconds",), "s"),
    ):
        chosen = [s for s in series if s["metric"] in metrics]
        if not chosen and chart_id == "lag_seconds":
            continue
        lines = [ChartSeries(_series_label(s), [(p[0], p[1]) for p in s["points"]]) for s in chosen]
        svg = line_chart_svg(title, lines, start=request.start, end=request.end, unit=unit)
        charts.append({"id": chart_id, "title": title, "svg": svg})
    return charts


def _series_label(s: Mapping[str, Any]) -> str:
    label = f"{s['connection']}/{s['endpoint']}"
    if s["group"]:
        label += f" ({s['group']})"
    if s["metric"] in ("ready", "visible"):
        label += f" {s['metric']}"
    return label


def _group_json(
    group: FailureGroup, inputs: ReportInputs, redactor: ReportRedactor, with_samples: bool
) -> dict[str, Any]:
    by_id = {m.id: m for m in inputs.messages}
    samples = [
        _message_json(by_id[i], redactor)
        for i in group.sample_ids(inputs.request.samples_per_group)
        if i in by_id
    ]
    return {
        "signature": group.signature,
        "label": group.label,
        "exception_type": group.exception_type,
        "reason": group.reason,
        "count": group.count,
        "bytes": group.bytes,
        "first_seen": _iso_dt(group.first_seen),
        "last_seen": _iso_dt(group.last_seen),
        "endpoints": list(group.endpoints),
        "sources": list(group.sources),
        "samples": samples if with_samples else [],
    }


def _message_json(message: Message, redactor: ReportRedactor) -> dict[str, Any]:
    facts = message.dead_letter
    return {
        "id": message.id,
        "endpoint": message.endpoint,
        "timestamp": _iso_dt(message.timestamp),
        "size": message.size,
        "key": None if message.key is None else redactor.text(_bytes_text(message.key)),
        "headers": [
            list(pair)
            for pair in redactor.headers([(str(n), header_text(v)) for n, v in message.headers])
        ],
        "body": _body_text(message.body, redactor),
        "failure": {
            "convention": facts.convention,
            "reason": facts.reason,
            "exception_type": facts.exception_type,
            "exception_message": facts.exception_message,
            "original_destination": facts.original_destination,
            "attempts": facts.attempts,
            "first_failure": _iso_dt(facts.first_failure),
            "last_failure": _iso_dt(facts.last_failure),
            "failed_service": facts.failed_service,
        },
    }


def _body_text(body: bytes, redactor: ReportRedactor) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # Binary cannot be redacted field by field: say what it is, show no bytes of it.
        return f"(binary, {len(body)} bytes; not shown)"
    text = redactor.body(text)
    if len(text) > _SAMPLE_BODY_LIMIT:
        text = text[:_SAMPLE_BODY_LIMIT] + f"\n… ({len(text) - _SAMPLE_BODY_LIMIT} more characters)"
    return text


def _bytes_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")


def _action_json(record: ActionRecord) -> dict[str, Any]:
    data = record.to_json()
    data.pop("messages", None)
    failed = [m for m in record.messages if m.state == "failed"]
    data["failures"] = [{"source_id": m.source_id, "detail": m.detail} for m in failed[:20]]
    data["outcome"] = _outcome_text(record)
    return data


def _outcome_text(record: ActionRecord) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in sorted(record.counts.items()))
    return f"{record.status}" + (f" ({counts})" if counts else "")


def _timeline(inputs: ReportInputs) -> list[dict[str, Any]]:
    entries = [
        {
            "at": e.at,
            "time": _iso(e.at),
            "kind": str(e.kind),
            "severity": e.severity,
            "connection": e.connection,
            "endpoint": e.endpoint,
            "group": e.group,
            "title": e.title,
            "detail": e.detail,
        }
        for e in inputs.events
    ]
    for record in inputs.actions:
        at = _iso_to_unix(record.started_at) or 0.0
        target = f" → {record.target}" if record.target else ""
        total = sum(record.counts.values())
        entries.append(
            {
                "at": at,
                "time": _iso(at),
                "kind": record.kind,
                "severity": "info",
                "connection": record.source_connection,
                "endpoint": record.source,
                "group": "",
                "title": f"{record.kind} of {total} message(s) from {record.source}{target} "
                f"by {record.who}: {_outcome_text(record)}",
                "detail": record.detail,
            }
        )
    return sorted(entries, key=lambda e: e["at"])


def _environment(inputs: ReportInputs) -> dict[str, Any]:
    return {
        "app_version": _app_version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "profiles": [_profile_json(p) for p in inputs.profiles],
        "brokers": [
            {
                "connection": p.name,
                "kind": p.kind.value,
                "version": inputs.broker_versions.get(p.name),
            }
            for p in inputs.profiles
        ],
    }


def _profile_json(profile: ConnectionProfile) -> dict[str, Any]:
    """What a profile connects to, never how it authenticates."""
    settings = {
        key: (MASK if any(s in key for s in _SECRET_SETTING) else value)
        for key, value in sorted(profile.settings.items())
    }
    return {
        "name": profile.name,
        "kind": profile.kind.value,
        "environment": profile.environment,
        "read_only": profile.read_only,
        "settings": settings,
    }


def _app_version() -> str:
    try:
        return metadata.version("eventdesk")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


# -- time --------------------------------------------------------------------------------


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso_dt(moment: datetime | None) -> str | None:
    return None if moment is None else _iso(moment.timestamp())


def _iso_to_unix(text: str | None) -> float | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_time(text: str, *, now: float | None = None) -> float:
    """Unix seconds from "now", "-1h" / "-30m" / "-2d" / "-45s", or an ISO 8601 time (UTC
    if it names no zone)."""
    now = datetime.now(UTC).timestamp() if now is None else now
    value = text.strip()
    if value.lower() == "now":
        return now
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value.startswith("-") and value[-1:].lower() in units:
        try:
            return now - float(value[1:-1]) * units[value[-1].lower()]
        except ValueError:
            pass
    seconds = _iso_to_unix(value)
    if seconds is None:
        raise ConfigurationError(
            f"{text!r} is not a time.",
            hint='Use an ISO time like 2026-11-27T14:05:00Z, "now", or a relative one like -1h.',
        )
    return seconds


__all__ = [
    "REPORT_FORMAT",
    "SCHEMA_VERSION",
    "SECTIONS",
    "EndpointRef",
    "ReportInputs",
    "ReportRequest",
    "build_report",
    "gather_inputs",
    "gather_report",
    "gather_saved_report",
    "parse_time",
]
