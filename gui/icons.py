"""Toolbar icons drawn from resources/icons/actions/*.svg in the palette's own text colour.

Fusion's standard icons are dark line art that nearly vanishes on the dark theme. These are
monochrome SVGs (stroke="currentColor") painted at paint time with the application palette's
button-text colour (its disabled colour when disabled), so they follow a theme switch too.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from PySide6.QtCore import QByteArray, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

# (icon, width, height, colour) -> its pixmap: a handful of sizes per icon; the colour
# (from the palette) in the key keeps a theme switch from showing the old one.
_PIXMAPS: dict[tuple[str, int, int, str], QPixmap] = {}


@cache
def _svg(name: str) -> str:
    folder = resources.files("eventdesk.resources") / "icons" / "actions"
    return (folder / f"{name}.svg").read_text(encoding="utf-8")


def _colour(mode: QIcon.Mode) -> str:
    group = (
        QPalette.ColorGroup.Disabled if mode is QIcon.Mode.Disabled else QPalette.ColorGroup.Active
    )
    return QGuiApplication.palette().color(group, QPalette.ColorRole.ButtonText).name()


class _PaletteIconEngine(QIconEngine):
    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        _svg(name)  # a missing file fails here, where the action is made

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        svg = _svg(self._name).replace("currentColor", _colour(mode))
        QSvgRenderer(QByteArray(svg.encode())).render(painter, rect)

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        # A toolbar asks again on every repaint of its buttons (each page of a search
        # re-enables some): parsing and rendering the SVG took 0.7 ms a time on the UI thread.
        key = (self._name, size.width(), size.height(), _colour(mode))
        pixmap = _PIXMAPS.get(key)
        if pixmap is None:
            pixmap = QPixmap(size)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            try:
                self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
            finally:
                painter.end()
            _PIXMAPS[key] = pixmap
        return pixmap

    def clone(self) -> QIconEngine:
        return _PaletteIconEngine(self._name)


def action_icon(name: str) -> QIcon:
    """The icon resources/icons/actions/<name>.svg, in the current palette's colours."""
    return QIcon(_PaletteIconEngine(name))
