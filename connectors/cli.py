"""`eventdesk replay | discard | purge | history | report`: the engine from a shell, without Qt.

Exit codes: 0 every message done, 1 some failed (or the broker failed), 2 usage or
configuration error. Also runs as `python -m eventdesk.connectors.cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any, TextIO

from .base import Connector
from .errors import ConfigurationError, EventdeskError
from .factory import create_connector
from .journal import ActionRecord, Journal
from .model import Message, Outgoing
from .profiles import ConnectionProfile, load_profiles
from .purge import can_purge, purge
from .replay import (
    PreviewItem,
    ReplayOptions,
    ReplayResult,
    discard,
    headers_json,
    preview,
    replay,
    resume,
)

COMMANDS = ("replay", "discard", "purge", "history", "report")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit; the caller decides
        raise _UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eventdesk", description="Replay, discard and audit dead letters.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def selection(command: argparse.ArgumentParser, *, required: bool = True) -> None:
        # A replay --resume takes all of these from the journal instead.
        command.add_argument("--connection", required=required, help="connection profile name")
        command.add_argument(
            "--from", dest="source", required=required, help="the dead-letter queue"
        )
        which = command.add_mutually_exclusive_group(required=required)
        which.add_argument("--ids", help="comma-separated message ids")
        which.add_argument("--all", action="store_true", help="every message in the DLQ")
        command.add_argument("--dry-run", action="store_true", help="show, change nothing")
        command.add_argument("--json", action="store_true", help="machine-readable output")
        command.add_argument(
            "--batch-size",
            type=int,
            help="messages per batch (default: 1,000 per Kafka transaction, else 100)",
        )

    r = commands.add_parser("replay", help="send dead letters back (or elsewhere)")
    selection(r, required=False)
    r.add_argument(
        "--resume",
        metavar="ACTION_ID",
        help="finish an interrupted replay from the journal (see history --unfinished)",
    )
    r.add_argument("--canary", type=int, default=0, help="send the first N, wait, check the DLQ")
    r.add_argument(
        "--canary-wait", type=float, default=5.0, help="seconds the canary waits (default 5)"
    )
    r.add_argument("--to", dest="target", help="target endpoint (default: original destination)")
    r.add_argument("--to-connection", help="target connection (default: --connection)")
    r.add_argument("--strip-dead-letter-headers", action="store_true")
    r.add_argument("--no-replay-headers", action="store_true", help="send without eventdesk-*")
    r.add_argument("--max-replays", type=int, default=3, help="loop guard (default 3)")
    r.add_argument("--rate", type=float, help="messages per second")

    d = commands.add_parser("discard", help="remove dead letters for good")
    selection(d)
    d.add_argument("--yes", action="store_true", help="confirm: the messages are removed")

    p = commands.add_parser("purge", help="remove every message of a DLQ, journaled")
    p.add_argument("--connection", required=True, help="connection profile name")
    p.add_argument("--endpoint", required=True, help="the queue or topic to purge")
    p.add_argument("--confirm", required=True, metavar="NAME", help="the endpoint's name again")
    p.add_argument(
        "--handled-only",
        action="store_true",
        help="Kafka: delete only the records already replayed or discarded (retention clean-up)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    h = commands.add_parser("history", help="the journal of replays and discards")
    h.add_argument("--json", action="store_true")
    h.add_argument("--limit", type=int, default=20)
    h.add_argument("--id", dest="action_id", help="show one action with its messages")
    h.add_argument("--unfinished", action="store_true", help="only actions that can be resumed")
    _add_report_parser(commands)
    return parser


def _add_report_parser(commands: Any) -> None:
    p = commands.add_parser("report", help="write an incident report for a time window")
    p.add_argument("--from", dest="start", default="-1h", help="ISO time or -1h/-30m (default -1h)")
    p.add_argument("--to", dest="end", default="now", help="ISO time or now (default now)")
    p.add_argument("--format", help="html, pdf, md or json (default: from --out's suffix)")
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument(
        "--endpoint", action="append", default=[], help="CONNECTION/NAME (repeat; default all DLQs)"
    )
    p.add_argument(
        "--redact-preset", action="append", default=[], help="email, card, bearer, aws-keys"
    )
    p.add_argument("--redact-field", action="append", default=[], help='JSON path, e.g. "**.email"')
    p.add_argument("--redact-pattern", action="append", default=[], help="regular expression")
    p.add_argument("--notes", default="", help="the operator's notes")
    p.add_argument("--section", action="append", help="only these sections (repeat)")
    p.add_argument("--max-messages", type=int, default=500, help="browsed per DLQ (default 500)")


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    argv = _relative_times_joined(list(sys.argv[1:] if argv is None else argv))
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    try:
        if args.command == "history":
            return _history(args, out)
        if args.command == "report":
            return _report(args, out)
        if args.command == "purge":
            return asyncio.run(_purge(args, out))
        if args.command == "discard" and not (args.yes or args.dry_run):
            raise _UsageError(
                f"discard removes messages from {args.source} for good; add --yes to confirm"
            )
        if args.command == "replay" and args.resume:
            if args.source or args.ids or args.all or args.dry_run or args.canary:
                raise _UsageError(
                    "replay --resume takes the selection from the journal: "
                    "drop --from, --ids, --all, --dry-run and --canary"
                )
            return asyncio.run(_resume(args, out))
        if args.command == "replay" and not (args.connection and args.source):
            raise _UsageError("replay needs --connection and --from (or --resume ACTION_ID)")
        if args.command == "replay" and not (args.ids or args.all):
            raise _UsageError("replay needs --ids or --all")
        return asyncio.run(_act(args, out))
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except ConfigurationError as exc:
        print(f"error: {exc}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return EXIT_USAGE
    except EventdeskError as exc:
        print(f"error: {exc}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return EXIT_FAILED


def _profile(name: str) -> ConnectionProfile:
    profiles = load_profiles()
    for profile in profiles:
        if profile.name == name:
            return profile
    known = ", ".join(p.name for p in profiles) or "none"
    raise ConfigurationError(f"No connection named {name!r} (known: {known}).")


def _refuse_read_only(command: str, *profiles: ConnectionProfile) -> None:
    """Read-only connections take no write from the CLI either (a --dry-run writes nothing)."""
    for profile in profiles:
        if profile.read_only:
            raise ConfigurationError(
                f"Connection {profile.name!r} is read-only: {command} would change it.",
                hint="Use --dry-run to see what would happen, or clear the connection's "
                "read-only switch in Eventdesk.",
            )


async def _act(args: argparse.Namespace, out: TextIO) -> int:
    if args.batch_size is not None and args.batch_size < 1:
        raise _UsageError("--batch-size must be at least 1")
    options = ReplayOptions()
    if args.command == "replay":
        if args.max_replays is not None and args.max_replays < 1:
            raise _UsageError("--max-replays must be at least 1")
        if args.rate is not None and args.rate <= 0:
            raise _UsageError("--rate must be positive")
        if args.canary < 0 or args.canary_wait < 0:
            raise _UsageError("--canary and --canary-wait must not be negative")
        options = ReplayOptions(
            strip_dead_letter_headers=args.strip_dead_letter_headers,
            add_replay_headers=not args.no_replay_headers,
            max_replays=args.max_replays,
            rate=args.rate,
            batch_size=args.batch_size,
            canary_count=args.canary,
            canary_wait=args.canary_wait,
        )
    source_profile = _profile(args.connection)
    target_name = getattr(args, "to_connection", None) or args.connection
    target_profile = _profile(target_name) if target_name != args.connection else source_profile
    if not args.dry_run:
        # A replay settles its source and writes to its target; a discard changes the source.
        _refuse_read_only(args.command, source_profile, target_profile)
    # Profiles are checked before anything connects, and the journal opens before any change.
    journal = None if args.dry_run else Journal.open()
    async with AsyncExitStack() as stack:
        if journal is not None:
            stack.callback(journal.close)
        source = await stack.enter_async_context(create_connector(source_profile))
        target: Connector = source
        if target_profile is not source_profile:
            target = await stack.enter_async_context(create_connector(target_profile))
        browser = await stack.enter_async_context(source.browse(args.source))
        letters = await _browse_all(browser)
        chosen = _select(letters, args)
        if args.command == "discard":
            if args.dry_run:
                return _print_discard_preview(args, chosen, out)
            assert journal is not None
            result = await discard(
                browser,
                chosen,
                journal=journal,
                source_connection=args.connection,
                batch_size=args.batch_size,
            )
            return _print_result(args, result, {}, out)
        items = preview(chosen, args.target, options=options, connector=target)
        if args.dry_run:
            return _print_replay_preview(args, items, browser.side_effect_note, out)
        assert journal is not None
        result = await replay(
            source,
            browser,
            chosen,
            target,
            args.target,
            options=options,
            journal=journal,
            source_connection=args.connection,
            target_connection=target_name,
        )
        return _print_result(args, result, {i.message.id: i.target for i in items}, out)
    return EXIT_FAILED  # unreachable; keeps type checkers content


async def _purge(args: argparse.Namespace, out: TextIO) -> int:
    profile = _profile(args.connection)
    _refuse_read_only("purge", profile)
    if args.confirm != args.endpoint:
        raise _UsageError(f"--confirm must repeat the endpoint's name ({args.endpoint!r})")
    with Journal.open() as journal:
        async with create_connector(profile) as connector:
            if not can_purge(connector):
                raise _UsageError(f"{profile.kind.value} connections cannot purge yet")
            result = await purge(
                connector,
                args.endpoint,
                confirm=args.confirm,
                journal=journal,
                source_connection=args.connection,
                handled_only=args.handled_only,
            )
    if args.json:
        json.dump({"action_id": result.action_id, "removed": result.removed}, out, indent=2)
        out.write("\n")
    else:
        what = "handled records deleted" if args.handled_only else "removed"
        print(
            f"Purged {args.endpoint}: {result.removed} {what}. Journal entry {result.action_id}.",
            file=out,
        )
    return EXIT_OK


async def _resume(args: argparse.Namespace, out: TextIO) -> int:
    with Journal.open() as journal:
        journal.mark_abandoned()
        record = journal.action(args.resume)
        if record is None:
            raise _UsageError(f"no journal entry {args.resume}")
        source_name = args.connection or record.source_connection
        target_name = args.to_connection or record.target_connection or source_name
        source_profile = _profile(source_name)
        target_profile = _profile(target_name) if target_name != source_name else source_profile
        _refuse_read_only("replay --resume", source_profile, target_profile)
        async with AsyncExitStack() as stack:
            source = await stack.enter_async_context(create_connector(source_profile))
            target: Connector = source
            if target_profile is not source_profile:
                target = await stack.enter_async_context(create_connector(target_profile))
            result = await resume(args.resume, source, target, journal=journal)
        targets = {m.source_id: m.target for m in record.messages}
    return _print_result(args, result, targets, out)


async def _browse_all(browser: Any) -> list[Message]:
    messages: list[Message] = []
    while True:
        page = await browser.next_page(timeout=60.0)
        messages.extend(page.messages)
        if not page.more:
            if browser.incomplete:
                print(f"note: {browser.incomplete}", file=sys.stderr)
            return messages


def _select(letters: list[Message], args: argparse.Namespace) -> list[Message]:
    if args.all:
        return letters
    wanted = [i.strip() for i in args.ids.split(",") if i.strip()]
    if not wanted:
        raise _UsageError("--ids names no message")
    by_id: dict[str, Message] = {}
    for message in letters:
        by_id.setdefault(message.id, message)
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise _UsageError(f"not in {args.source}: {', '.join(missing)}")
    return [by_id[i] for i in dict.fromkeys(wanted)]


# -- output ------------------------------------------------------------------------------


def _body_json(body: bytes) -> Any:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode("ascii")}


def outgoing_json(outgoing: Outgoing) -> dict[str, Any]:
    return {
        "body": _body_json(outgoing.body),
        "key": None if outgoing.key is None else _body_json(outgoing.key),
        "headers": headers_json(outgoing.headers),
        "options": dict(outgoing.options),
    }


def _print_replay_preview(
    args: argparse.Namespace, items: list[PreviewItem], note: str, out: TextIO
) -> int:
    if args.json:
        data = {
            "dry_run": True,
            "source": args.source,
            "messages": [
                {
                    "source_id": item.message.id,
                    "target": item.target,
                    "refused": item.refused,
                    "outgoing": None if item.outgoing is None else outgoing_json(item.outgoing),
                }
                for item in items
            ],
        }
        json.dump(data, out, indent=2)
        out.write("\n")
        return EXIT_OK
    print(
        f"Dry run: nothing is sent or removed. {len(items)} message(s) from {args.source}.",
        file=out,
    )
    if note:
        print(f"(browsing: {note})", file=out)
    for item in items:
        print(f"\n--- {item.message.id} -> {item.target or '(no target)'}", file=out)
        if item.outgoing is None:
            print(f"    not sent: {item.refused}", file=out)
            continue
        for name, value in headers_json(item.outgoing.headers):
            print(f"    {name}: {json.dumps(value, ensure_ascii=False)}", file=out)
        for name, value in item.outgoing.options.items():
            print(f"    ({name}: {value})", file=out)
        body = _body_json(item.outgoing.body)
        print(body if isinstance(body, str) else f"(binary, base64) {body['base64']}", file=out)
    return EXIT_OK


def _print_discard_preview(args: argparse.Namespace, chosen: list[Message], out: TextIO) -> int:
    if args.json:
        json.dump({"dry_run": True, "discard": [m.id for m in chosen]}, out, indent=2)
        out.write("\n")
    else:
        print(f"Dry run: would remove {len(chosen)} message(s) from {args.source}:", file=out)
        for message in chosen:
            print(f"  {message.id}", file=out)
    return EXIT_OK


def _print_result(
    args: argparse.Namespace, result: ReplayResult, targets: dict[str, str | None], out: TextIO
) -> int:
    code = EXIT_OK if result.ok else EXIT_FAILED
    if args.json:
        data = {
            "dry_run": False,
            "action_id": result.action_id,
            "status": result.status,
            "detail": result.detail,
            "total": result.total,
            "succeeded": result.succeeded,
            "failed": result.failed,
            "canary_returned": list(result.canary_returned),
            "messages": [
                {
                    "source_id": o.source_id,
                    "target": targets.get(o.source_id),
                    "ok": o.ok,
                    "detail": o.detail,
                }
                for o in result.outcomes
            ],
        }
        json.dump(data, out, indent=2)
        out.write("\n")
        return code
    verb = "replayed" if args.command == "replay" else "discarded"
    print(
        f"{result.succeeded} of {result.total} {verb}; {result.failed} failed "
        f"({result.status}). Journal entry {result.action_id}.",
        file=out,
    )
    for outcome in result.outcomes:
        if not outcome.ok:
            print(f"  FAILED {outcome.source_id}: {outcome.detail}", file=out)
    return code


def _history(args: argparse.Namespace, out: TextIO) -> int:
    with Journal.open() as journal:
        if args.unfinished:
            # Offering them is when a replay whose process died becomes "interrupted".
            records = journal.unfinished(mark_abandoned=True)
        elif args.action_id:
            record = journal.action(args.action_id)
            if record is None:
                raise _UsageError(f"no journal entry {args.action_id}")
            records: list[ActionRecord] = [record]
        else:
            records = journal.actions(args.limit)
    if args.unfinished:
        # Counts say enough here; `history --id` shows the messages.
        records = [replace(r, messages=()) for r in records]
    if args.json:
        json.dump([r.to_json() for r in records], out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not records and args.unfinished:
        print("Nothing to resume: every action in the journal finished.", file=out)
        return EXIT_OK
    if not records:
        print(f"No replay, discard or purge recorded yet (journal: {journal.path}).", file=out)
        return EXIT_OK
    for r in records:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(r.counts.items()))
        target = f" -> {r.target_connection}:{r.target}" if r.target else ""
        print(
            f"{r.started_at}  {r.kind:<7} {r.status:<11} {r.who}  "
            f"{r.source_connection}:{r.source}{target}  [{counts}]  {r.id}",
            file=out,
        )
        for m in r.messages:
            print(f"    {m.state:<8} {m.source_id}  {m.detail}", file=out)
        if args.unfinished and r.kind == "replay":
            print(f"    resume: eventdesk replay --resume {r.id}", file=out)
    return EXIT_OK


def _relative_times_joined(argv: list[str]) -> list[str]:
    """`--from -1h` as `--from=-1h`: argparse would take "-1h" for an option."""
    joined: list[str] = []
    for arg in argv:
        relative = arg.startswith("-") and arg[1:2].isdigit()
        if joined and joined[-1] in ("--from", "--to") and relative:
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def _report(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from .report import SECTIONS, EndpointRef, ReportRequest, gather_saved_report, parse_time
    from .report_redaction import rules_from
    from .report_render import ReportFormat, format_for, write_report

    path = Path(args.out)
    fmt = format_for(path, args.format)
    request = ReportRequest(
        start=parse_time(args.start),
        end=parse_time(args.end),
        endpoints=tuple(EndpointRef.parse(e) for e in args.endpoint),
        sections=tuple(args.section or SECTIONS),
        rules=rules_from(
            field_paths=args.redact_field, patterns=args.redact_pattern, presets=args.redact_preset
        ),
        notes=args.notes,
        max_messages=args.max_messages,
    )
    report = asyncio.run(gather_saved_report(request))
    if fmt is ReportFormat.PDF:
        # The one Qt use of the command line, loaded only for PDF (by name: connectors/
        # never imports gui/ statically, and every other format runs without Qt).
        import importlib

        importlib.import_module("eventdesk.gui.report_pdf").write_pdf(report, path)
    else:
        write_report(report, fmt, path)
    for notice in report["notices"]:
        print(f"note: {notice}", file=sys.stderr)
    print(f"Report written to {path}", file=out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
