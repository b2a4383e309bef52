"""The local record of every replay, discard and purge: written before and while it runs.

One SQLite file in the user data dir. Per-message outcomes are committed as they arrive (a
batch's in one commit), in WAL mode, so a killed process loses nothing the broker had
confirmed, and an action left "running" is found again at the next start (`unfinished()`)
to be resumed.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .model import Headers, Outcome
from .sqlite_file import SQLiteFile, open_sqlite_file
from .user_dirs import data_dir

# Action and message states, as stored.
ACTION_STATUSES = ("planned", "running", "completed", "interrupted", "failed", "cancelled")
FINISHED_STATUSES = frozenset({"completed", "failed", "cancelled"})
MESSAGE_STATES = ("pending", "sent", "settled", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    who TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    source_connection TEXT NOT NULL,
    source TEXT NOT NULL,
    target_connection TEXT,
    target TEXT,
    options TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS action_messages (
    action_id TEXT NOT NULL REFERENCES actions(id),
    position INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    target TEXT,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (action_id, position)
);
CREATE INDEX IF NOT EXISTS action_messages_by_id ON action_messages(action_id, source_id);
CREATE INDEX IF NOT EXISTS actions_by_start ON actions(started_at);
CREATE TABLE IF NOT EXISTS action_owners (
    action_id TEXT PRIMARY KEY REFERENCES actions(id),
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    claimed_at TEXT NOT NULL
);
"""

# Columns added after the first release: journals made before them gain them when opened.
_ADDED_MESSAGE_COLUMNS = (
    # What an edited replay sent instead of the dead letter's body (and headers, as JSON);
    # NULL when the message went as it was. payload_sha256 stays the original's.
    ("edited_body", "BLOB"),
    ("edited_headers", "TEXT"),
    # An edited Kafka key: key_edited says whether edited_key (NULL: no key) replaces it.
    ("edited_key", "BLOB"),
    ("key_edited", "INTEGER NOT NULL DEFAULT 0"),
)


def default_journal_path() -> Path:
    return data_dir() / "journal.sqlite3"


def payload_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One message an action is about to handle: its identity and its payload hash."""

    source_id: str
    payload_sha256: str
    # Where a replay sends it; messages of one replay may go to different targets.
    target: str | None = None
    # What an edited replay sends instead of the dead letter's body and headers.
    edited_body: bytes | None = None
    edited_headers: Headers | None = None
    edited_key: bytes | None = None
    key_edited: bool = False


@dataclass(frozen=True, slots=True)
class MessageRecord:
    position: int
    source_id: str
    payload_sha256: str
    target: str | None
    state: str
    detail: str
    updated_at: str
    edited_body: bytes | None = None
    edited_headers: Headers | None = None
    edited_key: bytes | None = None
    key_edited: bool = False


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: str
    kind: str
    who: str
    started_at: str
    finished_at: str | None
    source_connection: str
    source: str
    target_connection: str | None
    target: str | None
    options: Mapping[str, Any]
    status: str
    detail: str = ""
    # Message counts by state; filled by every read.
    counts: Mapping[str, int] = field(default_factory=dict)
    # Filled by `action(id)` only; listings leave it empty.
    messages: tuple[MessageRecord, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "who": self.who,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "source_connection": self.source_connection,
            "source": self.source,
            "target_connection": self.target_connection,
            "target": self.target,
            "options": dict(self.options),
            "status": self.status,
            "detail": self.detail,
            "counts": dict(self.counts),
        }
        if self.messages:
            data["messages"] = [
                {
                    "source_id": m.source_id,
                    "payload_sha256": m.payload_sha256,
                    "target": m.target,
                    "state": m.state,
                    "detail": m.detail,
                    "edited": m.edited_body is not None,
                }
                for m in self.messages
            ]
        return data


class Journal(SQLiteFile):
    """The journal file. Thread-safe; calls are short, so async code may call them directly."""

    @classmethod
    def open(cls, path: Path | None = None) -> Journal:
        path = path or default_journal_path()
        db = open_sqlite_file(
            path,
            what="the journal",
            schema=_SCHEMA,
            timeout=10.0,
            # NORMAL in WAL mode survives a killed process; only a power cut may lose the
            # last commits, and a resume then re-sends those with their idempotency key.
            pragmas=("synchronous=NORMAL", "foreign_keys=ON"),
            upgrade=_add_missing_columns,
        )
        return cls(db, path)

    # -- writing ---------------------------------------------------------------------

    def start_action(
        self,
        *,
        kind: str,
        source_connection: str,
        source: str,
        messages: Sequence[PlannedMessage],
        target_connection: str | None = None,
        target: str | None = None,
        options: Mapping[str, Any] | None = None,
        status: str = "running",
        action_id: str | None = None,
    ) -> ActionRecord:
        """Record an action and every message it will touch, before it touches any."""
        if status not in ACTION_STATUSES:
            raise ValueError(f"unknown action status {status!r}")
        action_id = action_id or str(uuid.uuid4())
        now = _now()
        who = _who()
        options_json = json.dumps(dict(options or {}), sort_keys=True, default=str)
        rows = [
            (
                action_id,
                position,
                m.source_id,
                m.payload_sha256,
                m.target,
                now,
                m.edited_body,
                _headers_to_json(m.edited_headers),
                m.edited_key,
                int(m.key_edited),
            )
            for position, m in enumerate(messages)
        ]
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO actions (id, kind, who, started_at, source_connection, source,"
                " target_connection, target, options, status) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    action_id,
                    kind,
                    who,
                    now,
                    source_connection,
                    source,
                    target_connection,
                    target,
                    options_json,
                    status,
                ),
            )
            self._db.executemany(
                "INSERT INTO action_messages (action_id, position, source_id, payload_sha256,"
                " target, state, updated_at, edited_body, edited_headers, edited_key, key_edited)"
                " VALUES (?,?,?,?,?,'pending',?,?,?,?,?)",
                rows,
            )
            self._claim(action_id, now)
        # What action(action_id) would read back, built from what was just written: reading
        # ten thousand rows again costs more than writing them.
        return ActionRecord(
            id=action_id,
            kind=kind,
            who=who,
            started_at=now,
            finished_at=None,
            source_connection=source_connection,
            source=source,
            target_connection=target_connection,
            target=target,
            options=json.loads(options_json),
            status=status,
            counts={"pending": len(rows)} if rows else {},
            messages=tuple(
                MessageRecord(
                    position,
                    m.source_id,
                    m.payload_sha256,
                    m.target,
                    "pending",
                    "",
                    now,
                    m.edited_body,
                    # As stored: edited headers come back the way the JSON gives them.
                    _headers_from_json(row[-3]),
                    m.edited_key,
                    m.key_edited,
                )
                for (position, m), row in zip(enumerate(messages), rows, strict=True)
            ),
        )

    def claim(self, action_id: str) -> None:
        """Note that this process runs the action now, so others can tell when it died."""
        with self._lock, self._db:
            self._claim(action_id, _now())

    def _claim(self, action_id: str, now: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO action_owners (action_id, host, pid, claimed_at)"
            " VALUES (?,?,?,?)",
            (action_id, socket.gethostname(), os.getpid(), now),
        )

    def owner_alive(self, action_id: str) -> bool:
        """Whether another live process on this machine still runs the action.

        An owner on another host counts as alive: this machine cannot tell.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT host, pid FROM action_owners WHERE action_id=?", (action_id,)
            ).fetchone()
        if row is None:
            return False
        host, pid = row
        if host != socket.gethostname():
            return True
        return pid != os.getpid() and _process_alive(pid)

    def mark_abandoned(self) -> list[str]:
        """Mark planned or running actions whose process is gone "interrupted"; their ids."""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.id, o.pid FROM actions a LEFT JOIN action_owners o ON o.action_id = a.id"
                " WHERE a.status IN ('planned', 'running')"
            ).fetchall()
        marked = []
        for action_id, pid in rows:
            if pid == os.getpid() or self.owner_alive(action_id):
                continue
            why = f"process {pid} ended" if pid is not None else "no process owns it"
            self.set_status(action_id, "interrupted", f"{why} before the action finished")
            marked.append(action_id)
        return marked

    def set_status(self, action_id: str, status: str, detail: str = "") -> None:
        if status not in ACTION_STATUSES:
            raise ValueError(f"unknown action status {status!r}")
        finished = _now() if status in FINISHED_STATUSES else None
        with self._lock, self._db:
            self._db.execute(
                "UPDATE actions SET status=?, detail=?, finished_at=? WHERE id=?",
                (status, detail, finished, action_id),
            )

    def finish(self, action_id: str, status: str, detail: str = "") -> None:
        self.set_status(action_id, status, detail)

    def record_outcomes(
        self, action_id: str, outcomes: Iterable[Outcome], *, state: str | None = None
    ) -> None:
        """Store what happened to these messages, in one commit.

        An ok Outcome becomes `state` ("settled" unless told, e.g. "sent" for a message
        published but not yet settled); a failed one becomes "failed". Each outcome updates
        the first message of its source id not already in that state.
        """
        if state is not None and state not in MESSAGE_STATES:
            raise ValueError(f"unknown message state {state!r}")
        now = _now()
        rows = []
        for outcome in outcomes:
            new_state = (state or "settled") if outcome.ok else "failed"
            rows.append(
                (new_state, outcome.detail, now, action_id, action_id, outcome.source_id, new_state)
            )
        with self._lock, self._db:
            # One statement per outcome, run in order: a source id listed twice updates
            # its first row, then its next one.
            self._db.executemany(
                "UPDATE action_messages SET state=?, detail=?, updated_at=?"
                # Left to itself SQLite walks every earlier row of the action on the
                # primary key (1.3 ms per update at message 9,000); the index keeps each
                # update constant.
                " WHERE action_id=? AND position=(SELECT min(position) FROM action_messages"
                " INDEXED BY action_messages_by_id"
                " WHERE action_id=? AND source_id=? AND state NOT IN (?, 'settled'))",
                rows,
            )

    # -- reading ---------------------------------------------------------------------

    def actions(self, limit: int = 50) -> list[ActionRecord]:
        """The latest actions first, without their messages."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM actions ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall()
            columns = [c[0] for c in self._db.execute("SELECT * FROM actions LIMIT 0").description]
            return [self._action(dict(zip(columns, row, strict=True))) for row in rows]

    def action(self, action_id: str) -> ActionRecord | None:
        """One action with all its messages, or None."""
        with self._lock:
            cursor = self._db.execute("SELECT * FROM actions WHERE id=?", (action_id,))
            row = cursor.fetchone()
            if row is None:
                return None
            columns = [c[0] for c in cursor.description]
            messages = self._db.execute(
                "SELECT position, source_id, payload_sha256, target, state, detail, updated_at,"
                " edited_body, edited_headers, edited_key, key_edited"
                " FROM action_messages WHERE action_id=? ORDER BY position",
                (action_id,),
            ).fetchall()
            record = self._action(dict(zip(columns, row, strict=True)))
        return replace(
            record,
            messages=tuple(
                MessageRecord(*m[:7], m[7], _headers_from_json(m[8]), m[9], bool(m[10]))
                for m in messages
            ),
        )

    def unfinished(self, *, mark_abandoned: bool = False) -> list[ActionRecord]:
        """Actions that never reached an end (the app died, the broker went): resume offers.

        With `mark_abandoned` (when offering them), those still "running" or "planned" whose
        process is gone become "interrupted" first.
        """
        if mark_abandoned:
            self.mark_abandoned()
        with self._lock:
            ids = [
                row[0]
                for row in self._db.execute(
                    "SELECT id FROM actions WHERE status IN ('planned', 'running', 'interrupted')"
                    " ORDER BY started_at"
                )
            ]
        return [record for record in map(self.action, ids) if record is not None]

    def _action(self, row: Mapping[str, Any]) -> ActionRecord:
        counts = dict(
            self._db.execute(
                "SELECT state, count(*) FROM action_messages WHERE action_id=? GROUP BY state",
                (row["id"],),
            ).fetchall()
        )
        return ActionRecord(
            id=row["id"],
            kind=row["kind"],
            who=row["who"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            source_connection=row["source_connection"],
            source=row["source"],
            target_connection=row["target_connection"],
            target=row["target"],
            options=json.loads(row["options"] or "{}"),
            status=row["status"],
            detail=row["detail"] or "",
            counts=counts,
        )


def _add_missing_columns(db: sqlite3.Connection) -> None:
    have = {row[1] for row in db.execute("PRAGMA table_info(action_messages)")}
    for name, kind in _ADDED_MESSAGE_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE action_messages ADD COLUMN {name} {kind}")


# Edited headers as JSON: bytes and datetimes tagged so they come back as they were.
def _headers_to_json(headers: Headers | None) -> str | None:
    if headers is None:
        return None
    return json.dumps([[name, _tagged(value)] for name, value in headers])


def _headers_from_json(text: str | None) -> Headers | None:
    if text is None:
        return None
    return tuple((name, _untagged(value)) for name, value in json.loads(text))


def _tagged(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, list | tuple):
        return [_tagged(v) for v in value]
    if isinstance(value, Mapping):
        return {"$table": {str(k): _tagged(v) for k, v in value.items()}}
    return value


def _untagged(value: Any) -> Any:
    if isinstance(value, list):
        return [_untagged(v) for v in value]
    if isinstance(value, dict):
        if "$bytes" in value:
            return bytes.fromhex(value["$bytes"])
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        return {k: _untagged(v) for k, v in value.get("$table", {}).items()}
    return value


__all__ = [
    "ACTION_STATUSES",
    "MESSAGE_STATES",
    "ActionRecord",
    "Journal",
    "MessageRecord",
    "PlannedMessage",
    "default_journal_path",
    "payload_sha256",
]
