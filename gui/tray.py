"""Desktop notifications through the system tray; quiet where there is no tray.

Offscreen sessions and some desktops have no tray: then nothing is shown, but every
request is still kept in `requests`, so what would have been shown can be checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.resources import files

from eventdesk.connectors.alerts import EventKind, TimelineEvent
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

log = logging.getLogger(__name__)

NOTIFY_MS = 10_000
_ICONS = {
    "info": QSystemTrayIcon.MessageIcon.Information,
    "warning": QSystemTrayIcon.MessageIcon.Warning,
    "critical": QSystemTrayIcon.MessageIcon.Critical,
}
_KEPT = 100


@dataclass(frozen=True, slots=True)
class NotificationRequest:
    title: str
    message: str
    severity: str
    shown: bool  # False when there was no tray to show it in


class TrayNotifier:
    """Owns the tray icon (if the desktop has a tray) and shows alert notifications."""

    def __init__(self, parent: QWidget, *, icon: QIcon | None = None) -> None:
        self.requests: list[NotificationRequest] = []
        self._icon: QSystemTrayIcon | None = None
        if not QSystemTrayIcon.isSystemTrayAvailable():
            log.info("No system tray: alert notifications are shown in the alert log only.")
            return
        tray = QSystemTrayIcon(icon or _app_icon(parent), parent)
        tray.setToolTip("Eventdesk")
        tray.activated.connect(lambda _reason: _raise(parent))
        tray.show()
        self._icon = tray

    @property
    def available(self) -> bool:
        return self._icon is not None

    def notify(self, title: str, message: str, *, severity: str = "warning") -> None:
        shown = self._icon is not None and self._icon.supportsMessages()
        if shown and self._icon is not None:
            icon = _ICONS.get(severity, QSystemTrayIcon.MessageIcon.Warning)
            self._icon.showMessage(title, message, icon, NOTIFY_MS)
        self.requests.append(NotificationRequest(title, message, severity, shown))
        del self.requests[:-_KEPT]

    def notify_event(self, event: TimelineEvent) -> None:
        """An alert or recovery, titled by its connection."""
        prefix = "Recovered" if event.kind is EventKind.RECOVERED else "Alert"
        self.notify(
            f"{prefix} · {event.connection}",
            f"{event.title}\n{event.detail}".strip(),
            severity=event.severity,
        )

    def hide(self) -> None:
        if self._icon is not None:
            self._icon.hide()


def _app_icon(window: QWidget) -> QIcon:
    """The window's icon, else Eventdesk's own: a tray icon without one is invisible."""
    if not window.windowIcon().isNull():
        return window.windowIcon()
    return QIcon(str(files("eventdesk.resources") / "icons" / "eventdesk-64.png"))


def _raise(window: QWidget) -> None:
    window.showNormal()
    window.raise_()
    window.activateWindow()
