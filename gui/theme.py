"""Light and dark looks: Fusion palettes that follow the system, and chart colours for both."""

from __future__ import annotations

import enum
import logging
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
from eventdesk.connectors.errors import ConfigurationError
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

log = logging.getLogger(__name__)

THEME_ENV = "EVENTDESK_THEME"
THEME_CHOICES = ("system", "light", "dark")


class Theme(enum.StrEnum):
    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True)
class ChartColours:
    background: str
    text: str
    axis: str


CHART_COLOURS = {
    Theme.LIGHT: ChartColours("#ffffff", "#333333", "#666666"),
    Theme.DARK: ChartColours("#1e1f22", "#dddddd", "#9a9a9a"),
}

# (role, colour) pairs; Disabled entries make greyed-out text readable on dark windows.
_DARK_COLOURS = {
    QPalette.ColorRole.Window: "#2b2d30",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1e1f22",
    QPalette.ColorRole.AlternateBase: "#26282b",
    QPalette.ColorRole.ToolTipBase: "#3c3f41",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.PlaceholderText: "#8c8c8c",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#3a3c40",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Light: "#4a4d52",
    QPalette.ColorRole.Midlight: "#3f4246",
    QPalette.ColorRole.Mid: "#2f3134",
    QPalette.ColorRole.Dark: "#1a1b1d",
    QPalette.ColorRole.Shadow: "#101112",
    QPalette.ColorRole.Highlight: "#2f65ca",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6ea8fe",
    QPalette.ColorRole.LinkVisited: "#b197fc",
}
_DARK_DISABLED = {
    QPalette.ColorRole.WindowText: "#8a8d91",
    QPalette.ColorRole.Text: "#7a7d81",
    QPalette.ColorRole.ButtonText: "#7a7d81",
    QPalette.ColorRole.HighlightedText: "#b0b0b0",
}


def theme_choice(option: str | None = None) -> str:
    """The operator's choice: the command-line option, else $EVENTDESK_THEME, else system."""
    choice = (option or os.environ.get(THEME_ENV) or "system").strip().lower()
    if choice not in THEME_CHOICES:
        source = "--theme" if option else THEME_ENV
        raise ConfigurationError(
            f"Unknown theme {choice!r} in {source}.",
            hint=f"Use one of: {', '.join(THEME_CHOICES)}.",
        )
    return choice


def system_colour_scheme() -> Qt.ColorScheme:
    """What the desktop asks for (Qt 6.5+); Unknown where the platform does not say."""
    app = QApplication.instance()
    if app is None:
        return Qt.ColorScheme.Unknown
    return app.styleHints().colorScheme()


def resolve_theme(choice: str, scheme: Qt.ColorScheme) -> Theme:
    if choice == "light":
        return Theme.LIGHT
    if choice == "dark":
        return Theme.DARK
    # A desktop that does not say is most often a light one (and so are Qt's defaults).
    return Theme.DARK if scheme == Qt.ColorScheme.Dark else Theme.LIGHT


def palette(theme: Theme) -> QPalette:
    """A full Fusion palette: Fusion's own for light, a hand-picked one for dark."""
    app = QApplication.instance()
    standard = app.style().standardPalette() if isinstance(app, QApplication) else QPalette()
    if theme is Theme.LIGHT:
        return standard
    result = QPalette(standard)
    for role, colour in _DARK_COLOURS.items():
        result.setColor(role, QColor(colour))
    for role, colour in _DARK_DISABLED.items():
        result.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    return result


def is_dark(widget_palette: QPalette) -> bool:
    """For widgets that pick their own colours: is the window behind them dark?"""
    return widget_palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5


def style_chart(plot_widget: pg.PlotWidget, theme: Theme) -> None:
    """Background, title and axes of one pyqtgraph plot, readable in `theme` (the legend
    beside it is a Qt list, which the palette colours)."""
    colours = CHART_COLOURS[theme]
    plot_widget.setBackground(colours.background)
    plot = plot_widget.getPlotItem()
    title = plot.titleLabel
    if title.text:
        title.setText(title.text, color=colours.text)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(colours.axis)
        axis.setTextPen(colours.text)


class ThemeController(QObject):
    """Applies the chosen look and, on "system", follows the desktop when it switches."""

    theme_changed = Signal(str)  # a Theme value

    def __init__(
        self,
        app: QApplication,
        choice: str = "system",
        *,
        scheme: Callable[[], Qt.ColorScheme] = system_colour_scheme,
    ) -> None:
        super().__init__(app)
        self._app = app
        self._scheme = scheme
        self.choice = choice
        self.theme = resolve_theme(choice, scheme())
        self._windows: weakref.WeakSet[QWidget] = weakref.WeakSet()
        app.styleHints().colorSchemeChanged.connect(self._on_style_hints_color_scheme_changed)
        self._apply()

    def watch(self, window: QWidget) -> None:
        """Restyle this window's charts now and whenever the theme changes."""
        self._windows.add(window)
        self._style_charts(window)

    def set_choice(self, choice: str) -> None:
        self.choice = choice
        self._update()

    def _on_style_hints_color_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self.choice == "system":
            self._update()

    def _update(self) -> None:
        theme = resolve_theme(self.choice, self._scheme())
        if theme is self.theme:
            return
        self.theme = theme
        self._apply()
        for window in list(self._windows):
            self._style_charts(window)
        self.theme_changed.emit(theme.value)

    def _apply(self) -> None:
        log.debug("Theme: %s (choice %s)", self.theme.value, self.choice)
        self._app.setPalette(palette(self.theme))

    def _style_charts(self, window: QWidget) -> None:
        for plot_widget in window.findChildren(pg.PlotWidget):
            style_chart(plot_widget, self.theme)
