"""A scripted Eventdesk session, run as its own process by test_secret_leaks.py.

It does what an operator does with secrets in play: stores them in the OS keyring, saves
and exports profiles, tests connections (right and wrong passwords), connects, browses,
replays and discards, and logs at DEBUG the way the app does. The test then scans
everything it left behind. Secrets arrive in environment variables, as from a dialog.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from eventdesk.connectors.diagnosis import diagnose
from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.model import BrokerKind, Message
from eventdesk.connectors.profiles import (
    ConnectionProfile,
    export_profiles,
    load_profiles,
    save_profiles,
)
from eventdesk.connectors.redaction import install_log_redaction, redact
from eventdesk.connectors.replay import ReplayOptions, discard, replay
from eventdesk.connectors.secrets import SecretStore

log = logging.getLogger("eventdesk.leak_session")


def _profiles(plan: dict[str, str]) -> list[ConnectionProfile]:
    rabbit = {
        "host": "127.0.0.1",
        "port": plan["rabbit_port"],
        "vhost": plan["vhost"],
        "username": plan["rabbit_user"],
        "management_url": plan["management_url"],
    }
    return [
        ConnectionProfile("leak-rabbit", BrokerKind.RABBITMQ, rabbit, environment="production"),
        ConnectionProfile(
            "leak-kafka",
            BrokerKind.KAFKA,
            {
                "bootstrap_servers": plan["kafka_servers"],
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": plan["kafka_user"],
            },
        ),
        ConnectionProfile(
            "leak-sqs",
            BrokerKind.SQS,
            {
                "region": "us-east-1",
                "endpoint_url": plan["sqs_endpoint"],
                "access_key_id": plan["aws_access_key_id"],
            },
        ),
        # For the CLI, which reads its password from a variable.
        ConnectionProfile(
            "leak-rabbit-cli",
            BrokerKind.RABBITMQ,
            {**rabbit, "password_env": "LEAK_RABBIT_PASSWORD"},
        ),
    ]


async def _browse_all(connector, endpoint: str) -> tuple[object, list[Message]]:
    browser = connector.browse(endpoint)
    messages: list[Message] = []
    while True:
        page = await browser.next_page(timeout=30)
        messages.extend(page.messages)
        if not page.more:
            return browser, messages


async def _session(plan: dict[str, str], store: SecretStore) -> None:
    profiles = load_profiles()
    by_name = {p.name: p for p in profiles}
    for profile in profiles:
        for result in await diagnose(profile, secrets=store, timeout=10):
            print(f"test {profile.name}: {result.name} ok={result.ok} {result.detail}")

    # A wrong password, typed at a prompt: its failure is printed and logged.
    wrong = os.environ["LEAK_WRONG_PASSWORD"]
    for name in ("leak-rabbit", "leak-kafka"):
        connector = create_connector(by_name[name], prompt=lambda _p, _f: wrong)
        try:
            await connector.connect(timeout=10)
        except EventdeskError as exc:
            print(f"refused as expected: {exc} ({exc.hint})")
            log.warning("connecting %s failed: %s", name, exc)
        finally:
            await connector.close()

    journal = Journal.open()
    try:
        rabbit = create_connector(by_name["leak-rabbit"], secrets=store)
        async with rabbit:
            endpoints = await rabbit.list_endpoints()
            print("rabbit endpoints:", sorted(e.name for e in endpoints))
            browser, messages = await _browse_all(rabbit, plan["rabbit_dlq"])
            async with browser:
                print("rabbit browsed:", [m.id for m in messages])
                result = await replay(
                    rabbit,
                    browser,
                    messages[:2],
                    rabbit,
                    None,
                    options=ReplayOptions(),
                    journal=journal,
                    source_connection="leak-rabbit",
                )
                print("replayed:", result.status, result.succeeded)
        kafka = create_connector(by_name["leak-kafka"], secrets=store)
        async with kafka:
            browser, messages = await _browse_all(kafka, plan["kafka_topic"])
            async with browser:
                print("kafka browsed:", len(messages), [m.body[:20] for m in messages])
        sqs = create_connector(by_name["leak-sqs"], secrets=store)
        async with sqs:
            browser, messages = await _browse_all(sqs, plan["sqs_queue"])
            async with browser:
                print("sqs browsed:", len(messages))
                result = await discard(
                    browser, messages, journal=journal, source_connection="leak-sqs"
                )
                print("discarded:", result.status, result.succeeded)
    finally:
        journal.close()

    export_profiles(Path(plan["export_path"]), profiles)
    print("exported to", plan["export_path"])
    # A crash inside Eventdesk, with a secret in the exception: the log shows a traceback.
    try:
        raise RuntimeError(f"boom while using {store.get('leak-rabbit', 'password')}")
    except RuntimeError:
        log.exception("unexpected failure")
        print(
            "shown to the operator:",
            redact("boom while using " + (store.get("leak-rabbit", "password") or "")),
        )


def main() -> int:
    plan = json.loads(os.environ["LEAK_PLAN"])
    data_dir = Path(os.environ["EVENTDESK_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    # As the app sets up logging, with a log file and at DEBUG: the noisiest case.
    logging.basicConfig(
        level=logging.DEBUG,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[
            logging.FileHandler(data_dir / "eventdesk.log", encoding="utf-8"),
            logging.StreamHandler(sys.stderr),
        ],
    )
    install_log_redaction()

    store = SecretStore()
    if not store.persistent:
        print(f"no keyring: {store.unavailable_reason}", file=sys.stderr)
        return 3
    # What the connection dialog does on "Connect": secrets to the keyring, profiles to disk.
    store.set("leak-rabbit", "password", os.environ["LEAK_RABBIT_PASSWORD"])
    store.set("leak-kafka", "SASL password", os.environ["LEAK_KAFKA_PASSWORD"])
    store.set("leak-sqs", "secret access key", os.environ["LEAK_AWS_SECRET"])
    save_profiles(_profiles(plan))
    asyncio.run(_session(plan, store))
    for name in ("leak-rabbit", "leak-kafka", "leak-sqs"):
        store.delete_profile(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
