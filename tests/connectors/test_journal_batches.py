"""The journal takes a batch's outcomes in one commit and keeps every message's own outcome."""

from __future__ import annotations

from eventdesk.connectors.journal import Journal, PlannedMessage, payload_sha256
from eventdesk.connectors.model import Outcome


def _planned(*ids: str) -> list[PlannedMessage]:
    return [PlannedMessage(i, payload_sha256(i.encode()), "orders") for i in ids]


def _start(journal: Journal, *ids: str) -> str:
    return journal.start_action(
        kind="replay", source_connection="c", source="q.dlq", messages=_planned(*ids)
    ).id


def test_a_batch_of_outcomes_lands_message_by_message() -> None:
    ids = [f"0:{n}" for n in range(5_000)]
    with Journal.open() as journal:
        action_id = _start(journal, *ids)
        # Every seventh one failed, each with its own detail.
        outcomes = [
            Outcome(i, n % 7 != 0, f"0:{n * 2}" if n % 7 else f"refused {n}")
            for n, i in enumerate(ids)
        ]
        journal.record_outcomes(action_id, outcomes)
        record = journal.action(action_id)
    assert record is not None
    assert [(m.source_id, m.state, m.detail) for m in record.messages] == [
        (o.source_id, "settled" if o.ok else "failed", o.detail) for o in outcomes
    ]
    assert record.counts == {"settled": 4_285, "failed": 715}


def test_repeated_ids_in_one_batch_end_as_one_call_per_outcome_would() -> None:
    ids = ("x", "y", "x", "x", "z")
    outcomes = [
        Outcome("x", True, "first"),
        Outcome("x", False, "second"),
        Outcome("z", False, "no target"),
        Outcome("x", True, "third"),
        Outcome("y", True, "only"),
        Outcome("x", True, "fourth"),
    ]
    with Journal.open() as journal:
        batched, single = _start(journal, *ids), _start(journal, *ids)
        journal.record_outcomes(batched, outcomes)
        for outcome in outcomes:
            journal.record_outcomes(single, [outcome])
        records = journal.action(batched), journal.action(single)
    rows = [[(m.source_id, m.state, m.detail) for m in r.messages] for r in records if r]
    assert (
        rows[0]
        == rows[1]
        == [
            ("x", "settled", "first"),
            ("y", "settled", "only"),
            # "second" failed it, then "third" (a later try) settled it.
            ("x", "settled", "third"),
            ("x", "settled", "fourth"),
            ("z", "failed", "no target"),
        ]
    )


def test_sent_then_settled_in_batches_ends_settled() -> None:
    with Journal.open() as journal:
        action_id = _start(journal, "a", "b", "c")
        journal.record_outcomes(action_id, [Outcome("a", True), Outcome("b", True)], state="sent")
        sent = journal.action(action_id)
        journal.record_outcomes(action_id, [Outcome("a", True, "acked"), Outcome("b", True)])
        done = journal.action(action_id)
    assert sent is not None and sent.counts == {"sent": 2, "pending": 1}
    assert done is not None and done.counts == {"settled": 2, "pending": 1}
    assert done.messages[0].detail == "acked"


def test_a_batch_of_outcomes_is_one_commit() -> None:
    ids = [f"0:{n}" for n in range(1_000)]
    statements: list[str] = []
    with Journal.open() as journal:
        action_id = _start(journal, *ids)
        journal._db.set_trace_callback(statements.append)
        journal.record_outcomes(action_id, [Outcome(i, True) for i in ids])
        journal._db.set_trace_callback(None)
        record = journal.action(action_id)
    assert [s.split()[0] for s in statements if s.startswith(("BEGIN", "COMMIT"))] == [
        "BEGIN",
        "COMMIT",
    ]
    assert record is not None and record.counts == {"settled": 1_000}


def test_start_action_returns_what_the_file_holds() -> None:
    planned = [
        *_planned("a", "b"),
        PlannedMessage(
            "c",
            payload_sha256(b"c"),
            None,
            edited_body=b'{"fixed": true}',
            edited_headers=(("fixed-by", b"operator"), ("n", 3)),
        ),
    ]
    with Journal.open() as journal:
        started = journal.start_action(
            kind="replay",
            source_connection="prod",
            source="orders.dlq",
            target_connection="prod",
            target="orders",
            options={"batch_size": None, "max_replays": 3},
            messages=planned,
            status="planned",
        )
        stored = journal.action(started.id)
    assert started == stored
    assert started.messages[2].edited_headers == (("fixed-by", b"operator"), ("n", 3))
