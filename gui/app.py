"""Starts Eventdesk: command line, logging, the Qt application on a qasync event loop."""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import qasync
import shiboken6
from eventdesk.connectors.demo import DemoEnvironment
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.profiles import ConnectionProfile, load_profiles
from eventdesk.connectors.redaction import install_log_redaction
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from .demo_controller import DemoController
from .garbage_collector import GuiThreadGarbageCollector
from .main_window import MainWindow

log = logging.getLogger("eventdesk")


def _version() -> str:
    try:
        return importlib.metadata.version("eventdesk")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventdesk",
        description="A desktop console for operators of dead-letter queues.",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        help="read and save connections.json here instead of the user config folder",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="also run a built-in SQS/SNS demo: services that make real dead letters",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def configure_application(app: QApplication) -> None:
    """Names, style and quit policy; shared with scripts that open the window themselves."""
    app.setApplicationName("Eventdesk")
    app.setOrganizationName("Eventdesk")
    app.setApplicationVersion(_version())
    app.setStyle("Fusion")
    # The window decides when the app ends: after it has closed its browsers and links.
    app.setQuitOnLastWindowClosed(False)


def _watch_sigint(window: MainWindow) -> QTimer:
    """Ctrl+C in the terminal closes the window cleanly (held messages are given back)."""
    signal.signal(signal.SIGINT, lambda *_: window.close())
    # Python runs signal handlers only when it gets control back from Qt's C++ loop.
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)
    return timer


def open_demo_window(demo: DemoEnvironment, profiles: list[ConnectionProfile]) -> MainWindow:
    """The window `--demo` shows: the running demo's connection first, then saved ones."""
    window = MainWindow(profiles, session_profiles=demo.profiles())
    DemoController(demo, window)
    return window


async def _run(
    profiles: list[ConnectionProfile], load_error: ConfigurationError | None, *, demo: bool
) -> int:
    collector = GuiThreadGarbageCollector()
    collector.start()
    environment = DemoEnvironment() if demo else None
    try:
        if environment is not None:
            await environment.start()
            window = open_demo_window(environment, profiles)
        else:
            window = MainWindow(profiles)
        if load_error is not None:
            window.error_presenter.present(load_error, context="Loading connections")
        _watch_sigint(window)
        window.show()
        await window.wait_closed()
        # Destroy the widgets now, on this (the GUI) thread. Left to Python's cyclic garbage
        # collector they would be destroyed on whichever thread it next runs on, boto3's
        # worker threads included, and Qt crashes when widgets die off the GUI thread.
        shiboken6.delete(window)
        gc.collect()
    finally:
        if environment is not None:
            # After the window: its connections have closed, so the endpoint goes last.
            await environment.close()
    collector.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, qt_args = _parser().parse_known_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error
        return int(exit_.code or 0)
    if args.config_dir is not None:
        os.environ["EVENTDESK_CONFIG_DIR"] = str(args.config_dir.expanduser())
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    install_log_redaction()
    if args.log_level != "DEBUG":
        # aiokafka narrates every subscription at INFO; the operator's log is for Eventdesk.
        logging.getLogger("aiokafka").setLevel(logging.WARNING)

    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    assert isinstance(app, QApplication)
    configure_application(app)

    load_error: ConfigurationError | None = None
    try:
        profiles = load_profiles()
    except ConfigurationError as exc:
        profiles, load_error = [], exc
        log.error("%s", exc)
    return qasync.run(_run(profiles, load_error, demo=args.demo))
