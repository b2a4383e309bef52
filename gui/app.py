"""Starts Eventdesk: command line, logging, the Qt application on a qasync event loop."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import importlib.resources
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
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from .demo_controller import DemoController
from .garbage_collector import STARTUP_SETTLE_MS, GuiThreadGarbageCollector
from .heap_trim import HeapTrimmer
from .main_window import MainWindow
from .theme import THEME_CHOICES, THEME_ENV, ThemeController, theme_choice

log = logging.getLogger("eventdesk")

# Printed (to stdout) by --exit-after-shown once the window is on screen; build checks wait for it.
SHOWN_MARKER = "eventdesk: main window shown"
# How often a thread running Python hands the GIL to a waiting one (Python: 5 ms).
UI_SWITCH_INTERVAL_S = 0.001


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
    parser.add_argument(
        "--theme",
        help=f"light, dark, or follow the system ({'|'.join(THEME_CHOICES)});"
        f" default ${THEME_ENV}, else system",
    )
    parser.add_argument(
        "--exit-after-shown",
        type=float,
        metavar="SECONDS",
        help="smoke test: print a line once the window is shown, close it SECONDS later",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def app_icon() -> QIcon:
    icons = importlib.resources.files("eventdesk.resources") / "icons"
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        icon.addFile(str(icons / f"eventdesk-{size}.png"))
    return icon


def configure_application(app: QApplication, *, theme: str = "system") -> ThemeController:
    """Names, style, look and quit policy; shared with scripts that open the window themselves."""
    app.setApplicationName("Eventdesk")
    app.setOrganizationName("Eventdesk")
    app.setApplicationVersion(_version())
    # Matches packaging/'s .desktop file, so desktops show its name and icon for the window.
    app.setDesktopFileName("io.github.eventdesk.Eventdesk")
    app.setWindowIcon(app_icon())
    app.setStyle("Fusion")
    # The window decides when the app ends: after it has closed its browsers and links.
    app.setQuitOnLastWindowClosed(False)
    # Worker threads run Python too (a search's reader, boto3, SQLite). Each time Qt calls
    # into Python (a table paint asks for every visible cell) the UI thread waits for the
    # GIL, by default up to 5 ms a time: a 1,000,000-record search stalled the window
    # 60-180 ms. At 1 ms, its worst stall was 56 ms and the search no slower.
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
    return ThemeController(app, theme)


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


async def _close_after_shown(window: MainWindow, seconds: float) -> None:
    """--exit-after-shown: report the window once it is really on screen, then close it."""
    handle = window.windowHandle()
    while handle is None or not handle.isExposed():
        await asyncio.sleep(0.05)
        handle = window.windowHandle()
    size = window.size()
    print(f"{SHOWN_MARKER}: {window.windowTitle()} {size.width()}x{size.height()}", flush=True)
    await asyncio.sleep(seconds)
    window.close()


async def _run(
    profiles: list[ConnectionProfile],
    errors: list[tuple[ConfigurationError, str]],
    *,
    demo: bool,
    theme: ThemeController,
    exit_after: float | None = None,
) -> int:
    collector = GuiThreadGarbageCollector()
    collector.start(settle_after_ms=STARTUP_SETTLE_MS)
    trimmer = HeapTrimmer()
    trimmer.start()
    environment = DemoEnvironment() if demo else None
    try:
        if environment is not None:
            try:
                await environment.start()
            except ConfigurationError as exc:
                # The window still opens, with the operator's own connections and the reason.
                environment = None
                errors = [*errors, (exc, "Starting the built-in demo")]
        if environment is not None:
            window = open_demo_window(environment, profiles)
        else:
            window = MainWindow(profiles)
        for error, context in errors:
            window.error_presenter.present(error, context=context)
        theme.watch(window)
        _watch_sigint(window)
        window.show()
        if exit_after is not None:
            smoke = asyncio.get_running_loop().create_task(_close_after_shown(window, exit_after))
        await window.wait_closed()
        # Destroy the widgets now, on this (the GUI) thread. Left to Python's cyclic garbage
        # collector they would be destroyed on whichever thread it next runs on, boto3's
        # worker threads included, and Qt crashes when widgets die off the GUI thread.
        shiboken6.delete(window)
        gc.collect()
        if exit_after is not None:
            smoke.cancel()  # closed by hand before it was shown: nothing to report
    finally:
        if environment is not None:
            # After the window: its connections have closed, so the endpoint goes last.
            await environment.close()
    collector.stop()
    trimmer.stop()
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
    errors: list[tuple[ConfigurationError, str]] = []
    try:
        choice = theme_choice(args.theme)
    except ConfigurationError as exc:
        choice = "system"
        errors.append((exc, "Choosing the theme"))
        log.error("%s %s", exc, exc.hint)
    theme = configure_application(app, theme=choice)

    try:
        profiles = load_profiles()
    except ConfigurationError as exc:
        profiles = []
        errors.append((exc, "Loading connections"))
        log.error("%s", exc)
    return qasync.run(
        _run(profiles, errors, demo=args.demo, theme=theme, exit_after=args.exit_after_shown)
    )
