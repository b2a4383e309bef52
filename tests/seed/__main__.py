"""Seed the local brokers with realistic dead letters and write Eventdesk profiles for them.

    python -m tests.seed --config-dir DIR

Used by tests/launch-local.sh. Seeding is skipped for a broker that already holds the
demo endpoints, so running it again does not pile up copies.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile, save_profiles

from .kafka import seed_kafka
from .rabbitmq import seed_rabbitmq
from .sqs import seed_sqs

KAFKA = f"127.0.0.1:{os.environ.get('EVENTDESK_KAFKA_PORT', '19092')}"
RABBITMQ_PORT = int(os.environ.get("EVENTDESK_RABBITMQ_PORT", "5672"))
RABBITMQ_MANAGEMENT = (
    f"http://127.0.0.1:{os.environ.get('EVENTDESK_RABBITMQ_MANAGEMENT_PORT', '15672')}"
)
MOTO = f"http://127.0.0.1:{os.environ.get('EVENTDESK_MOTO_PORT', '5055')}"
PREFIX = "demo"

LOCAL_PROFILES = [
    ConnectionProfile("Local Kafka", BrokerKind.KAFKA, {"bootstrap_servers": KAFKA}),
    ConnectionProfile(
        "Local RabbitMQ",
        BrokerKind.RABBITMQ,
        {
            "host": "127.0.0.1",
            "port": str(RABBITMQ_PORT),
            "vhost": "/",
            "username": "guest",
            "management_url": RABBITMQ_MANAGEMENT,
            "password_env": "EVENTDESK_LOCAL_RABBITMQ_PASSWORD",
        },
    ),
    ConnectionProfile(
        "Local SQS (moto)", BrokerKind.SQS, {"region": "us-east-1", "endpoint_url": MOTO}
    ),
]


async def _already_seeded(profile: ConnectionProfile) -> bool:
    async with create_connector(profile) as connector:
        names = {endpoint.name for endpoint in await connector.list_endpoints()}
    return any(name.startswith(PREFIX) for name in names)


async def _seed_all() -> int:
    failures = 0
    seeders = {
        "Local Kafka": lambda: seed_kafka(KAFKA, prefix=PREFIX),
        "Local RabbitMQ": lambda: seed_rabbitmq(
            host="127.0.0.1",
            port=RABBITMQ_PORT,
            username="guest",
            password=os.environ.get("EVENTDESK_LOCAL_RABBITMQ_PASSWORD", "guest"),
            prefix=PREFIX,
        ),
        "Local SQS (moto)": lambda: asyncio.to_thread(
            seed_sqs, endpoint_url=MOTO, region="us-east-1", prefix=PREFIX
        ),
    }
    for profile in LOCAL_PROFILES:
        try:
            if await _already_seeded(profile):
                print(f"[seed] {profile.name}: already seeded")
                continue
            made = await seeders[profile.name]()
            print(f"[seed] {profile.name}: {', '.join(sorted(map(str, made.values())))}")
        except Exception as exc:  # one broker's trouble must not stop the others
            failures += 1
            print(f"[seed] {profile.name}: failed: {exc}", file=sys.stderr)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("EVENTDESK_LOCAL_RABBITMQ_PASSWORD", "guest")
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(var, value)
    path = save_profiles(LOCAL_PROFILES, args.config_dir / "connections.json")
    print(f"[seed] profiles for the local brokers written to {path}")
    return 1 if asyncio.run(_seed_all()) else 0


if __name__ == "__main__":
    sys.exit(main())
