"""The main window's size, docks, toolbars and splitter sizes, kept across runs.

Stored with QSettings in `window.ini` beside connections.json (so $EVENTDESK_CONFIG_DIR
keeps tests and second profiles apart). Every QSplitter with an objectName is kept.
"""

from __future__ import annotations

import logging
from pathlib import Path

from eventdesk.connectors.profiles import default_profiles_path
from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter

log = logging.getLogger(__name__)

SETTINGS_FILE_NAME = "window.ini"
# Bump when docks or toolbars change so an old saved layout is not forced onto new ones.
LAYOUT_VERSION = 1


def settings_path() -> Path:
    return default_profiles_path().parent / SETTINGS_FILE_NAME


def _named_splitters(window: QMainWindow) -> dict[str, QSplitter]:
    return {s.objectName(): s for s in window.findChildren(QSplitter) if s.objectName()}


class WindowStateStore:
    """Saves and restores one main window's layout; bad or missing data is simply skipped."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings_path()

    def _settings(self) -> QSettings:
        return QSettings(str(self.path), QSettings.Format.IniFormat)

    def save(self, window: QMainWindow) -> bool:
        """False (and a warning in the log) when the file cannot be written."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("Cannot keep the window layout in %s: %s", self.path.parent, exc)
            return False
        settings = self._settings()
        settings.setValue("window/geometry", window.saveGeometry())
        settings.setValue("window/state", window.saveState(LAYOUT_VERSION))
        for name, splitter in _named_splitters(window).items():
            settings.setValue(f"splitters/{name}", splitter.saveState())
        settings.sync()
        if settings.status() != QSettings.Status.NoError:
            log.warning("Cannot write the window layout to %s (%s)", self.path, settings.status())
            return False
        return True

    def restore(self, window: QMainWindow) -> bool:
        """True when a saved layout was found and applied (a part that does not fit is skipped)."""
        if not self.path.exists():
            return False
        settings = self._settings()
        if settings.status() != QSettings.Status.NoError:
            log.warning("Ignoring the unreadable window layout in %s", self.path)
            return False
        geometry = _bytes(settings.value("window/geometry"))
        restored = bool(geometry) and window.restoreGeometry(geometry)
        state = _bytes(settings.value("window/state"))
        if state:
            restored = window.restoreState(state, LAYOUT_VERSION) or restored
        for name, splitter in _named_splitters(window).items():
            sizes = _bytes(settings.value(f"splitters/{name}"))
            if sizes:
                restored = splitter.restoreState(sizes) or restored
        return restored


def _bytes(value: object) -> QByteArray:
    """A stored QByteArray, or an empty one for anything else a hand-edited file holds."""
    return value if isinstance(value, QByteArray) else QByteArray()
