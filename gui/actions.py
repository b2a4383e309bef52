"""Building a menu or toolbar action: text, shortcut, tooltip, icon and slot in one call."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QIcon, QKeySequence


def make_action(
    parent: QObject,
    text: str,
    tip: str,
    *,
    shortcut: str = "",
    icon: QIcon | None = None,
    on_triggered: Callable[[], object] | None = None,
) -> QAction:
    """An action whose tooltip ends with its shortcut, e.g. "… (Ctrl+R)", so hovering
    teaches the key. `shortcut` is in QKeySequence's portable form ("Ctrl+R", "F5")."""
    action = QAction(text, parent)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
        tip = f"{tip} ({shortcut})"
    action.setToolTip(tip)
    if icon is not None:
        action.setIcon(icon)
    if on_triggered is not None:
        action.triggered.connect(on_triggered)
    return action
