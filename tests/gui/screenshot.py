"""Opens the real main window against the local brokers and saves a screenshot.

    python -m tests.gui.screenshot OUT.png [--profiles-file FILE] [--connection NAME]
        [--endpoint NAME] [--row N] [--tab NAME] [--all-endpoints] [--errors] [--no-select]
        [--theme light|dark|system] [--view TAB] [--settle SECONDS]

Without --profiles-file it uses profiles for the three local brokers (tests/brokers/*.sh);
the RabbitMQ password comes from $EVENTDESK_LOCAL_RABBITMQ_PASSWORD. Run it with
QT_QPA_PLATFORM=offscreen on a machine without a display.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import qasync
import shiboken6
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile, load_profiles
from eventdesk.gui.app import configure_application
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.garbage_collector import GuiThreadGarbageCollector
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.theme import THEME_CHOICES, ThemeController
from eventdesk.gui.window_state import WindowStateStore
from PySide6.QtWidgets import QApplication

_PORTS = {
    "kafka": os.environ.get("EVENTDESK_KAFKA_PORT", "19092"),
    "rabbitmq": os.environ.get("EVENTDESK_RABBITMQ_PORT", "5672"),
    "management": os.environ.get("EVENTDESK_RABBITMQ_MANAGEMENT_PORT", "15672"),
    "moto": os.environ.get("EVENTDESK_MOTO_PORT", "5055"),
}

LOCAL_PROFILES = [
    ConnectionProfile(
        "Local Kafka", BrokerKind.KAFKA, {"bootstrap_servers": f"127.0.0.1:{_PORTS['kafka']}"}
    ),
    ConnectionProfile(
        "Local RabbitMQ",
        BrokerKind.RABBITMQ,
        {
            "host": "127.0.0.1",
            "port": _PORTS["rabbitmq"],
            "vhost": "/",
            "username": "guest",
            "management_url": f"http://127.0.0.1:{_PORTS['management']}",
            "password_env": "EVENTDESK_LOCAL_RABBITMQ_PASSWORD",
        },
    ),
    ConnectionProfile(
        "Local SQS (moto)",
        BrokerKind.SQS,
        {"region": "us-east-1", "endpoint_url": f"http://127.0.0.1:{_PORTS['moto']}"},
    ),
]


async def _until(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _pick(window: MainWindow, connection: str | None, endpoint: str | None) -> tuple[str, str]:
    names = [p.name for p in window.profiles]
    if connection is None:
        kafka = [p.name for p in window.profiles if p.kind is BrokerKind.KAFKA]
        candidates = kafka + [n for n in names if n not in kafka]
    else:
        candidates = [connection]
    for name in candidates:
        endpoints = window.tree_model.endpoints(name)
        if endpoint is not None:
            if any(e.name == endpoint for e in endpoints):
                return name, endpoint
            continue
        # The first dead-letter queue with messages in it, as an operator would pick.
        for e in endpoints:
            if e.is_dead_letter and (e.depth or 0) > 0:
                return name, e.name
    states = {p.name: window.tree_model.state(p.name) for p in window.profiles}
    raise LookupError(f"No endpoint to open ({connection=}, {endpoint=}); connections: {states}")


async def _shoot(args: argparse.Namespace, theme: ThemeController) -> int:
    profiles = load_profiles(args.profiles_file) if args.profiles_file else LOCAL_PROFILES
    collector = GuiThreadGarbageCollector()
    collector.start()
    # A screenshot run must never sit behind a password dialog.
    window = MainWindow(profiles, secret_prompt=lambda _profile, _field: None)
    theme.watch(window)
    # Every shot starts from the default layout, not from what the last run left behind.
    layout_dir = tempfile.TemporaryDirectory(prefix="eventdesk-shot-")
    window.window_state = WindowStateStore(Path(layout_dir.name) / "window.ini")
    w, h = (int(v) for v in args.size.split("x"))
    window.resize(w, h)
    window.show()
    try:
        await _until(
            lambda: all(
                window.tree_model.state(p.name) is not ConnectionState.CONNECTING for p in profiles
            ),
            args.timeout,
            "every connection to connect or fail",
        )
        if args.all_endpoints:
            window.tree.set_dead_letters_only(False)
        if args.errors:
            window.errors_dock.show()
        if not args.no_select:
            connection, endpoint = _pick(window, args.connection, args.endpoint)
            if not window.open_endpoint_named(connection, endpoint):
                raise LookupError(f"{endpoint} on {connection} is not shown in the tree.")
            model = window.browser.model
            await _until(
                lambda: model.loaded_count > 0 or not model.has_more or model.failed,
                args.timeout,
                "the first page",
            )
            if model.loaded_count > args.row:
                window.browser.select_row(args.row)
            tabs = window.detail.tabs
            for i in range(tabs.count()):
                if tabs.tabText(i).lower().startswith(args.tab.lower()):
                    tabs.setCurrentIndex(i)
        if args.view:
            tabs = window.content_tabs
            names = [tabs.tabText(i).lower() for i in range(tabs.count())]
            if args.view.lower() not in names:
                raise LookupError(f"No tab {args.view!r}; tabs: {names}")
            tabs.setCurrentIndex(names.index(args.view.lower()))
        await asyncio.sleep(args.settle)  # e.g. for the Monitor's charts to gather samples
        for _ in range(5):  # let pending paints and layouts settle
            await asyncio.sleep(0.05)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            raise OSError(f"Could not write {out}")
        print(out)
    except (LookupError, TimeoutError, OSError) as exc:
        print(f"screenshot: {exc}", file=sys.stderr)
        return 1
    finally:
        window.close()
        await window.wait_closed()
        # On this thread: the garbage collector may run on a boto3 worker thread.
        shiboken6.delete(window)
        collector.stop()
        layout_dir.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--profiles-file", type=Path, help="a connections.json to use instead")
    parser.add_argument("--connection", help="connection to open (default: the Kafka one)")
    parser.add_argument("--endpoint", help="endpoint to open (default: first DLQ with messages)")
    parser.add_argument("--row", type=int, default=0, help="row to select (default 0)")
    parser.add_argument("--tab", default="Body", help="detail tab to show: Body, Headers, …")
    parser.add_argument("--size", default="1400x850", help="window size, WxH")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--all-endpoints", action="store_true", help="turn off DLQs-only")
    parser.add_argument("--errors", action="store_true", help="show the Errors log")
    parser.add_argument("--no-select", action="store_true", help="open no endpoint")
    parser.add_argument("--theme", choices=THEME_CHOICES, default="light")
    parser.add_argument("--view", help="main tab to show: Messages, Monitor, …")
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to wait before")
    args = parser.parse_args(argv)
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(var, value)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    theme = configure_application(app, theme=args.theme)
    return qasync.run(_shoot(args, theme))


if __name__ == "__main__":
    sys.exit(main())
