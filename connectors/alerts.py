"""Alerts on monitoring snapshots: the operator's rules, their evaluation, and the event log.

Rules live as JSON in the config dir (`alerts.json`). The evaluator turns sampler
`Snapshot`s into `TimelineEvent`s, one ALERT per crossing and one RECOVERED per fall
back (with hysteresis), plus HEALTH events when a group's health changes. The `EventLog`
keeps every event in SQLite so incident reports can read any window.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .health import Health, HealthState
from .json_file import REWRITTEN_ON_SAVE, read_json_file, write_json_file
from .sampling import Metric, Snapshot
from .sqlite_file import SQLiteFile, open_sqlite_file, transaction
from .user_dirs import config_dir, data_dir

RULES_FORMAT = "eventdesk-alerts"
SEVERITIES = ("info", "warning", "critical")
# Health states from best to worst; a health rule fires at its state or anything worse.
HEALTH_ORDER = (
    HealthState.OK,
    HealthState.WARNING,
    HealthState.STALLED,
    HealthState.STOPPED,
    HealthState.ERROR,
)


# -- events ----------------------------------------------------------------------------


class EventKind(enum.StrEnum):
    ALERT = "alert"
    RECOVERED = "recovered"
    HEALTH = "health"


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    at: float  # Unix seconds
    kind: EventKind
    connection: str
    endpoint: str  # topic/queue, "" if none
    group: str  # consumer group, "" if none
    title: str  # one line: "orders.DLT depth 120 crossed 100"
    detail: str = ""  # longer text / reason
    severity: str = "warning"  # "info" | "warning" | "critical"


# -- rules -----------------------------------------------------------------------------


class RuleKind(enum.StrEnum):
    DLQ_DEPTH = "dlq_depth"  # messages on a dead-letter endpoint
    DLQ_GROWTH = "dlq_growth"  # messages per minute flowing into a dead-letter endpoint
    LAG = "lag"  # messages a group (or a queue's consumers) is behind
    LAG_SECONDS = "lag_seconds"  # estimated seconds behind
    HEALTH = "health"  # a consumer group's health at `health` or worse


RULE_LABELS = {
    RuleKind.DLQ_DEPTH: "DLQ depth",
    RuleKind.DLQ_GROWTH: "DLQ growth per minute",
    RuleKind.LAG: "Lag (messages)",
    RuleKind.LAG_SECONDS: "Lag (seconds)",
    RuleKind.HEALTH: "Health state",
}
_UNITS = {
    RuleKind.DLQ_DEPTH: "depth",
    RuleKind.DLQ_GROWTH: "inflow/min",
    RuleKind.LAG: "lag",
    RuleKind.LAG_SECONDS: "lag seconds",
}


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A threshold on one endpoint. An empty connection, endpoint or group matches any.

    A numeric rule fires when the value reaches `threshold` and recovers only once it
    falls below `threshold * (1 - hysteresis)`, so a value jittering around the
    threshold raises one alert, not a storm.
    """

    kind: RuleKind
    connection: str = ""
    endpoint: str = ""
    group: str = ""
    threshold: float = 0.0
    health: HealthState = HealthState.STALLED  # HEALTH rules only
    hysteresis: float = 0.1
    severity: str = "warning"
    enabled: bool = True

    def __post_init__(self) -> None:
        # Plain strings (from JSON, from Qt item data) become the enums they name.
        try:
            object.__setattr__(self, "kind", RuleKind(self.kind))
            object.__setattr__(self, "health", HealthState(self.health))
        except ValueError as exc:
            raise ConfigurationError(
                f"Unknown alert kind or health state: {exc}",
                hint=f"Use one of {', '.join(RuleKind)}; health one of {', '.join(HealthState)}.",
            ) from exc
        for name in ("connection", "endpoint", "group"):
            if not isinstance(getattr(self, name), str):
                raise ConfigurationError(f"An alert rule's {name} must be text.")
        if not isinstance(self.enabled, bool):
            raise ConfigurationError("An alert rule's 'enabled' must be true or false.")
        if self.kind is not RuleKind.HEALTH and not self.threshold > 0:
            raise ConfigurationError(
                f"A {RULE_LABELS[self.kind]} alert needs a threshold above 0, "
                f"not {self.threshold!r}.",
                hint="Enter the value at which the alert should fire, e.g. 100.",
            )
        if not 0 <= self.hysteresis < 1:
            raise ConfigurationError(
                f"Hysteresis must be between 0 and 1 (a fraction), not {self.hysteresis!r}.",
                hint="0.1 recovers once the value is 10% below the threshold.",
            )
        if self.severity not in SEVERITIES:
            raise ConfigurationError(
                f"Unknown severity {self.severity!r}.", hint=f"Use one of {', '.join(SEVERITIES)}."
            )

    @property
    def clear_below(self) -> float:
        return self.threshold * (1 - self.hysteresis)

    def describe(self) -> str:
        """One line for lists: "DLQ depth ≥ 100 on orders.DLT (Kafka)"."""
        where = self.endpoint or "any endpoint"
        if self.group:
            where += f", group {self.group}"
        where += f" ({self.connection or 'any connection'})"
        if self.kind is RuleKind.HEALTH:
            return f"Health {self.health.value.upper()} or worse on {where}"
        return f"{RULE_LABELS[self.kind]} ≥ {_number(self.threshold)} on {where}"

    def matches(self, connection: str, endpoint: str, group: str) -> bool:
        return (
            self.enabled
            and self.connection in ("", connection)
            and self.endpoint in ("", endpoint)
            and self.group in ("", group)
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = value.value if isinstance(value, enum.Enum) else value
        return data

    @classmethod
    def from_json(cls, data: object) -> AlertRule:
        if not isinstance(data, dict):
            raise ConfigurationError(f"An alert rule must be an object, not {data!r}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(
                f"Unknown field(s) in an alert rule: {', '.join(unknown)}.",
                hint="Remove them; Eventdesk rewrites the file on save.",
            )
        try:
            values = dict(data)
            for name in ("threshold", "hysteresis"):
                if name in values:
                    values[name] = float(values[name])
            return cls(**values)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"Malformed alert rule {data!r}: {exc}",
                hint="Fix or remove the rule; Eventdesk rewrites the file on save.",
            ) from exc


def default_rules_path() -> Path:
    return config_dir() / "alerts.json"


def load_rules(path: Path | None = None) -> list[AlertRule]:
    path = path or default_rules_path()
    if not path.exists():
        return []
    data = read_json_file(path, what=f"the alert rules in {path}", hint=REWRITTEN_ON_SAVE)
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list):
        raise ConfigurationError(
            f"{path}: expected an object with a 'rules' list.", hint=REWRITTEN_ON_SAVE
        )
    return [AlertRule.from_json(rule) for rule in rules]


def save_rules(rules: Iterable[AlertRule], path: Path | None = None) -> Path:
    path = path or default_rules_path()
    payload = {"format": RULES_FORMAT, "rules": [rule.to_json() for rule in rules]}
    try:
        return write_json_file(path, payload)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot save the alert rules to {path}: {exc}",
            hint="Check that the config folder is writable (EVENTDESK_CONFIG_DIR overrides it).",
        ) from exc


# -- evaluation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """An alert that fired and has not recovered yet."""

    rule: AlertRule
    connection: str
    endpoint: str
    group: str
    since: float
    value: float | None = None


_Target = tuple[str, str, str]  # connection, endpoint, group


@dataclass(slots=True)
class AlertEvaluator:
    """Judges every snapshot against the rules; remembers which alerts are active.

    Stale (unreachable) snapshots carry old values, so numeric rules skip them: an
    outage neither raises nor clears a threshold alert. Health rules still see it as
    ERROR.
    """

    rules: list[AlertRule] = field(default_factory=list)
    _active: dict[tuple[AlertRule, _Target], ActiveAlert] = field(default_factory=dict)
    _health: dict[tuple[str, str], HealthState] = field(default_factory=dict)
    # (connection, group) -> topics the group was last seen lagging on.
    _topics: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        """New rules apply from the next snapshot; alerts of removed rules are dropped."""
        self.rules = list(rules)
        kept = set(self.rules)
        self._active = {k: v for k, v in self._active.items() if k[0] in kept}

    def active(self) -> list[ActiveAlert]:
        return sorted(self._active.values(), key=lambda a: a.since)

    def evaluate(self, snapshot: Snapshot) -> list[TimelineEvent]:
        events = self._health_changes(snapshot)
        if not snapshot.stale:
            self._remember_topics(snapshot)
        for rule in self.rules:
            if not rule.enabled or rule.connection not in ("", snapshot.connection):
                continue
            if rule.kind is RuleKind.HEALTH:
                events += self._judge_health(rule, snapshot)
            elif not snapshot.stale:
                for target, value in _values(rule, snapshot):
                    event = self._judge_value(rule, target, value, snapshot.at)
                    if event is not None:
                        events.append(event)
        return events

    # -- numeric thresholds ------------------------------------------------------------

    def _judge_value(
        self, rule: AlertRule, target: _Target, value: float, at: float
    ) -> TimelineEvent | None:
        key = (rule, target)
        active = key in self._active
        _, endpoint, group = target
        what = f"{_subject(endpoint, group)} {_UNITS[rule.kind]} {_number(value)}"
        if not active and value >= rule.threshold:
            return self._fire(
                rule,
                target,
                at,
                value=value,
                title=f"{what} crossed {_number(rule.threshold)}",
                detail=f"Rule: {rule.describe()}.",
            )
        if active and value < rule.clear_below:
            return self._recover(
                rule,
                target,
                at,
                title=f"{what} back below {_number(rule.threshold)}",
                detail=f"Rule: {rule.describe()}; recovered below {_number(rule.clear_below)}.",
            )
        if active:
            self._active[key] = replace(self._active[key], value=value)
        return None

    # -- both: an alert fires, an alert recovers ---------------------------------------

    def _fire(
        self,
        rule: AlertRule,
        target: _Target,
        at: float,
        *,
        title: str,
        detail: str,
        value: float | None = None,
    ) -> TimelineEvent:
        """The rule's alert on `target` becomes active: its ALERT event."""
        self._active[(rule, target)] = ActiveAlert(rule, *target, since=at, value=value)
        return TimelineEvent(
            at, EventKind.ALERT, *target, title=title, detail=detail, severity=rule.severity
        )

    def _recover(
        self, rule: AlertRule, target: _Target, at: float, *, title: str, detail: str
    ) -> TimelineEvent:
        """The rule's active alert on `target` ends: its RECOVERED event."""
        del self._active[(rule, target)]
        return TimelineEvent(
            at, EventKind.RECOVERED, *target, title=title, detail=detail, severity="info"
        )

    # -- health ------------------------------------------------------------------------

    def _health_changes(self, snapshot: Snapshot) -> list[TimelineEvent]:
        events = []
        for group, health in sorted(snapshot.health.items()):
            key = (snapshot.connection, group)
            before = self._health.get(key)
            self._health[key] = health.state
            if health.state == before or (before is None and health.state is HealthState.OK):
                continue
            was = f" (was {before.value.upper()})" if before is not None else ""
            events.append(
                TimelineEvent(
                    snapshot.at,
                    EventKind.HEALTH,
                    snapshot.connection,
                    "",
                    group,
                    title=f"group {group} is {health.state.value.upper()}{was}",
                    detail=health.reason,
                    severity=_health_severity(health.state),
                )
            )
        return events

    def _judge_health(self, rule: AlertRule, snapshot: Snapshot) -> list[TimelineEvent]:
        events = []
        for group, health in sorted(snapshot.health.items()):
            topics = self._topics.get((snapshot.connection, group), frozenset())
            if rule.group not in ("", group) or (rule.endpoint and rule.endpoint not in topics):
                continue
            event = self._judge_state(
                rule, (snapshot.connection, rule.endpoint, group), health, snapshot.at
            )
            if event is not None:
                events.append(event)
        return events

    def _judge_state(
        self, rule: AlertRule, target: _Target, health: Health, at: float
    ) -> TimelineEvent | None:
        active = (rule, target) in self._active
        bad = HEALTH_ORDER.index(health.state) >= HEALTH_ORDER.index(rule.health)
        group = target[2]
        state = health.state.value.upper()
        if bad and not active:
            return self._fire(
                rule,
                target,
                at,
                title=f"group {group} is {state}",
                detail=f"{health.reason} Rule: {rule.describe()}.",
            )
        if not bad and active:
            return self._recover(
                rule, target, at, title=f"group {group} is {state} again", detail=health.reason
            )
        return None

    def _remember_topics(self, snapshot: Snapshot) -> None:
        topics: dict[str, set[str]] = {}
        for sample in snapshot.samples:
            if sample.metric is Metric.LAG and sample.group and sample.endpoint:
                topics.setdefault(sample.group, set()).add(sample.endpoint)
        for group, names in topics.items():
            self._topics[(snapshot.connection, group)] = frozenset(names)


# What each rule reads: the metric and whether it is a per-group (topic-level) value.
_RULE_METRICS: Mapping[RuleKind, tuple[Metric, ...]] = {
    RuleKind.DLQ_DEPTH: (Metric.DLQ_DEPTH,),
    RuleKind.DLQ_GROWTH: (Metric.DLQ_INFLOW,),
    # Queues have no groups: their backlog (ready / visible) is the lag.
    RuleKind.LAG: (Metric.LAG, Metric.READY, Metric.VISIBLE),
    RuleKind.LAG_SECONDS: (Metric.LAG_SECONDS,),
}


def _values(rule: AlertRule, snapshot: Snapshot) -> Iterator[tuple[_Target, float]]:
    """(target, value) for every sample the rule watches in this snapshot."""
    metrics = _RULE_METRICS[rule.kind]
    for sample in snapshot.samples:
        if sample.metric not in metrics or sample.partition is not None or not sample.endpoint:
            continue
        group = sample.group or ""
        if rule.matches(sample.connection, sample.endpoint, group):
            yield (sample.connection, sample.endpoint, group), sample.value


def _subject(endpoint: str, group: str) -> str:
    return f"{group} on {endpoint}" if group else endpoint


def _health_severity(state: HealthState) -> str:
    if state is HealthState.OK:
        return "info"
    if state is HealthState.WARNING:
        return "warning"
    return "critical"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


# -- the event log ---------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    connection TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    grp TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    severity TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events(at);
"""
_COLUMNS = "at, kind, connection, endpoint, grp, title, detail, severity"


def default_events_path() -> Path:
    return data_dir() / "events.sqlite3"


class EventLog(SQLiteFile):
    """Every alert, recovery and health change, in one SQLite file."""

    closed_message = "The event log is closed."

    def __init__(self, path: Path | str | None = None) -> None:
        path = Path(path) if path is not None else default_events_path()
        db = open_sqlite_file(path, what="the event log", schema=_SCHEMA, autocommit=True)
        super().__init__(db, path)

    def record(self, events: Iterable[TimelineEvent]) -> None:
        rows = [
            (e.at, str(e.kind), e.connection, e.endpoint, e.group, e.title, e.detail, e.severity)
            for e in events
        ]
        if not rows:
            return
        with self._lock, transaction(self._conn()) as db:
            db.executemany(f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def events(
        self, start: float, end: float, *, connection: str | None = None
    ) -> list[TimelineEvent]:
        """Events with start <= at <= end, oldest first."""
        sql = f"SELECT {_COLUMNS} FROM events WHERE at BETWEEN ? AND ?"
        args: tuple[object, ...] = (start, end)
        if connection is not None:
            sql += " AND connection = ?"
            args += (connection,)
        with self._lock:
            rows = self._conn().execute(sql + " ORDER BY at, id", args).fetchall()
        return [_event(*row) for row in rows]

    def latest(self, limit: int = 200) -> list[TimelineEvent]:
        """The newest `limit` events, oldest first (what an alert log shows on open)."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    f"SELECT {_COLUMNS} FROM events ORDER BY at DESC, id DESC LIMIT ?", (limit,)
                )
                .fetchall()
            )
        return [_event(*row) for row in reversed(rows)]

    def prune(self, before: float) -> int:
        """Drop events older than `before`; returns how many."""
        with self._lock:
            cursor = self._conn().execute("DELETE FROM events WHERE at < ?", (before,))
        return cursor.rowcount


def _event(
    at: float,
    kind: str,
    connection: str,
    endpoint: str,
    grp: str,
    title: str,
    detail: str,
    severity: str,
) -> TimelineEvent:
    return TimelineEvent(
        float(at), EventKind(kind), connection, endpoint, grp, title, detail, severity
    )
