"""The SQLite journal: written before and during an action, readable after a crash."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eventdesk.connectors.journal import Journal, PlannedMessage, payload_sha256
from eventdesk.connectors.model import Outcome


def _planned(*ids: str) -> list[PlannedMessage]:
    return [PlannedMessage(i, payload_sha256(i.encode()), "orders") for i in ids]


def test_lives_in_the_data_dir_in_wal_mode() -> None:
    with Journal.open() as journal:
        assert journal.path == Path(os.environ["EVENTDESK_DATA_DIR"]) / "journal.sqlite3"
    db = sqlite3.connect(journal.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_action_is_recorded_before_and_as_it_progresses() -> None:
    with Journal.open() as journal:
        record = journal.start_action(
            kind="replay",
            source_connection="prod",
            source="orders.dlq",
            target_connection="prod",
            target="orders",
            options={"max_replays": 3},
            messages=_planned("a", "b", "c"),
            status="planned",
        )
        assert record.status == "planned" and record.counts == {"pending": 3}
        assert [m.payload_sha256 for m in record.messages] == [
            payload_sha256(b"a"),
            payload_sha256(b"b"),
            payload_sha256(b"c"),
        ]
        assert record.who and record.started_at.endswith("+00:00")

        journal.set_status(record.id, "running")
        journal.record_outcomes(record.id, [Outcome("a", True, "offset 7")], state="sent")
        journal.record_outcomes(
            record.id, [Outcome("a", True, "acked"), Outcome("b", False, "nope")]
        )
        journal.finish(record.id, "cancelled", "operator")

        done = journal.action(record.id)
        assert done is not None
        assert [(m.source_id, m.state, m.detail) for m in done.messages] == [
            ("a", "settled", "acked"),
            ("b", "failed", "nope"),
            ("c", "pending", ""),
        ]
        assert (done.status, done.detail, done.options) == (
            "cancelled",
            "operator",
            {"max_replays": 3},
        )
        assert done.finished_at is not None
        assert [a.id for a in journal.actions()] == [record.id]
        assert journal.unfinished() == []


def test_repeated_ids_are_tracked_one_row_each() -> None:
    with Journal.open() as journal:
        record = journal.start_action(
            kind="discard", source_connection="c", source="q", messages=_planned("x", "x")
        )
        journal.record_outcomes(record.id, [Outcome("x", True)])
        journal.record_outcomes(record.id, [Outcome("x", True)])
        done = journal.action(record.id)
        assert done is not None and done.counts == {"settled": 2}


def test_a_killed_process_loses_no_recorded_outcome(tmp_path: Path) -> None:
    """Outcomes committed before a hard kill are there, and the action is offered for resume."""
    script = textwrap.dedent(
        """
        import os
        from eventdesk.connectors.journal import Journal, PlannedMessage
        from eventdesk.connectors.model import Outcome
        journal = Journal.open()
        record = journal.start_action(
            kind="replay", source_connection="c", source="q", target="t",
            messages=[PlannedMessage(str(i), "h") for i in range(5)],
        )
        journal.record_outcomes(record.id, [Outcome("0", True), Outcome("1", True)])
        journal.record_outcomes(record.id, [Outcome("2", True)], state="sent")
        print(record.id, flush=True)
        os._exit(9)  # no close, no cleanup: as if the app were killed
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=os.environ.copy()
    )
    assert run.returncode == 9, run.stderr
    action_id = run.stdout.strip()
    with Journal.open() as journal:
        [unfinished] = journal.unfinished()
        assert unfinished.id == action_id and unfinished.status == "running"
        assert unfinished.counts == {"settled": 2, "sent": 1, "pending": 2}


def test_unknown_status_is_refused() -> None:
    with Journal.open() as journal:
        with pytest.raises(ValueError):
            journal.start_action(
                kind="purge", source_connection="c", source="q", messages=[], status="done"
            )
