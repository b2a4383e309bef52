"""Toolbar icons take the palette's text colour, so they stay visible on the dark theme."""

from __future__ import annotations

from importlib import resources

import pytest
from eventdesk.gui.icons import action_icon
from eventdesk.gui.theme import Theme, palette
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QGuiApplication, QIcon

NAMES = sorted(
    p.name.removesuffix(".svg")
    for p in (resources.files("eventdesk.resources") / "icons" / "actions").iterdir()
    if p.name.endswith(".svg")
)


def _inked(icon: QIcon, mode: QIcon.Mode = QIcon.Mode.Normal) -> list[QColor]:
    image = icon.pixmap(QSize(32, 32), mode).toImage()
    return [
        image.pixelColor(x, y)
        for x in range(image.width())
        for y in range(image.height())
        if image.pixelColor(x, y).alpha() > 200
    ]


@pytest.fixture
def restore_palette(qapp):
    before = QGuiApplication.palette()
    yield
    QGuiApplication.setPalette(before)


@pytest.mark.parametrize("name", NAMES)
def test_every_icon_is_drawn_light_on_dark_and_dark_on_light(qapp, restore_palette, name):
    QGuiApplication.setPalette(palette(Theme.DARK))
    dark = _inked(action_icon(name))
    QGuiApplication.setPalette(palette(Theme.LIGHT))
    light = _inked(action_icon(name))
    assert len(dark) > 20 and len(light) > 20, "the icon draws almost nothing"
    assert min(c.lightnessF() for c in dark) > 0.6
    assert max(c.lightnessF() for c in light) < 0.4


def test_a_disabled_icon_is_drawn_in_the_disabled_colour(qapp, restore_palette):
    QGuiApplication.setPalette(palette(Theme.DARK))
    icon = action_icon("replay")
    normal = _inked(icon)[0]
    disabled = _inked(icon, QIcon.Mode.Disabled)
    assert disabled and disabled[0] != normal


def test_a_missing_icon_fails_where_it_is_asked_for():
    with pytest.raises(FileNotFoundError):
        action_icon("no-such-icon")


def test_an_icon_is_rendered_once_per_size_and_colour(qapp, restore_palette):
    QGuiApplication.setPalette(palette(Theme.DARK))
    icon = action_icon("replay")
    first = icon.pixmap(QSize(24, 24))
    # A toolbar asks again on every repaint: the same pixmap, not the SVG rendered anew.
    assert action_icon("replay").pixmap(QSize(24, 24)).cacheKey() == first.cacheKey()
    assert icon.pixmap(QSize(32, 32)).cacheKey() != first.cacheKey()
    QGuiApplication.setPalette(palette(Theme.LIGHT))
    assert icon.pixmap(QSize(24, 24)).cacheKey() != first.cacheKey()
