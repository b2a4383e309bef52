"""Light and dark themes: the choice, the palette on real widgets, charts, following the system."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.gui.app import SHOWN_MARKER
from eventdesk.gui.lag_chart_widget import LagChartWidget
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.theme import (
    CHART_COLOURS,
    THEME_ENV,
    Theme,
    ThemeController,
    is_dark,
    resolve_theme,
    theme_choice,
)
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from .conftest import LoopDriver


@pytest.fixture
def app_palette(qapp: QApplication) -> Iterator[None]:
    """The app's palette is process-wide: put it back for the tests after this one."""
    before = QPalette(qapp.palette())
    yield
    qapp.setPalette(before)


@pytest.fixture
def controllers(qapp: QApplication, app_palette: None) -> Iterator[list[ThemeController]]:
    made: list[ThemeController] = []
    yield made
    for controller in made:
        shiboken6.delete(controller)  # parented to the app, which outlives the test


class FakeDesktop:
    """Stands in for the desktop's colour scheme, which no test machine can switch."""

    def __init__(self, scheme: Qt.ColorScheme = Qt.ColorScheme.Light) -> None:
        self.scheme = scheme

    def __call__(self) -> Qt.ColorScheme:
        return self.scheme


def test_choice_comes_from_the_option_then_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(THEME_ENV, raising=False)
    assert theme_choice(None) == "system"
    monkeypatch.setenv(THEME_ENV, "Dark")
    assert theme_choice(None) == "dark"
    assert theme_choice("light") == "light"


def test_an_unknown_theme_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(THEME_ENV, "purple")
    with pytest.raises(ConfigurationError) as raised:
        theme_choice(None)
    assert THEME_ENV in str(raised.value)
    assert "system" in raised.value.hint
    with pytest.raises(ConfigurationError, match="--theme"):
        theme_choice("solarized")


def test_system_follows_the_desktop_and_unknown_means_light():
    assert resolve_theme("system", Qt.ColorScheme.Dark) is Theme.DARK
    assert resolve_theme("system", Qt.ColorScheme.Light) is Theme.LIGHT
    assert resolve_theme("system", Qt.ColorScheme.Unknown) is Theme.LIGHT
    assert resolve_theme("light", Qt.ColorScheme.Dark) is Theme.LIGHT
    assert resolve_theme("dark", Qt.ColorScheme.Light) is Theme.DARK


def test_dark_palette_reaches_real_widgets_and_keeps_text_readable(
    qapp: QApplication, controllers: list[ThemeController], qtbot
):
    controllers.append(ThemeController(qapp, "dark", scheme=FakeDesktop()))
    widget = QWidget()
    qtbot.addWidget(widget)
    palette = widget.palette()
    assert is_dark(palette)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Disabled):
        text = palette.color(group, QPalette.ColorRole.WindowText).lightnessF()
        window = palette.color(group, QPalette.ColorRole.Window).lightnessF()
        # Greyed-out labels (the empty states) must still be readable.
        assert text - window > 0.3, group
    base = palette.color(QPalette.ColorRole.Base).lightnessF()
    assert palette.color(QPalette.ColorRole.Text).lightnessF() - base > 0.5

    controllers[0].set_choice("light")
    # Qt tells existing widgets of a new application palette by a posted event.
    qtbot.waitUntil(lambda: not is_dark(widget.palette()))


def test_following_the_system_switches_palette_and_charts(
    qapp: QApplication, controllers: list[ThemeController], qtbot
):
    desktop = FakeDesktop(Qt.ColorScheme.Light)
    controller = ThemeController(qapp, "system", scheme=desktop)
    controllers.append(controller)
    window = QWidget()
    qtbot.addWidget(window)
    chart = LagChartWidget("Consumer group lag", parent=window)
    QVBoxLayout(window).addWidget(chart)
    chart.append("orders-consumer", 1_700_000_000.0, 42.0)
    chart.show_keys(["orders-consumer"])  # a legend entry
    controller.watch(window)
    assert (
        chart.plot_widget.backgroundBrush().color().name() == CHART_COLOURS[Theme.LIGHT].background
    )
    assert not is_dark(window.palette())

    desktop.scheme = Qt.ColorScheme.Dark
    with qtbot.waitSignal(controller.theme_changed) as changed:
        qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert changed.args == ["dark"]
    qtbot.waitUntil(lambda: is_dark(window.palette()))
    colours = CHART_COLOURS[Theme.DARK]
    assert chart.plot_widget.backgroundBrush().color().name() == colours.background
    axis = chart.plot.getAxis("left")
    assert axis.textPen().color().name() == colours.text
    assert colours.text in chart.plot.titleLabel.item.toHtml()
    assert chart.legend.names() == ["orders-consumer"]
    assert is_dark(chart.legend.palette())  # the legend list follows the window's palette


def test_a_fixed_choice_ignores_the_desktop(
    qapp: QApplication, controllers: list[ThemeController], qtbot
):
    desktop = FakeDesktop(Qt.ColorScheme.Light)
    controller = ThemeController(qapp, "light", scheme=desktop)
    controllers.append(controller)
    desktop.scheme = Qt.ColorScheme.Dark
    with qtbot.assertNotEmitted(controller.theme_changed):
        qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert controller.theme is Theme.LIGHT
    assert not is_dark(qapp.palette())


def test_main_window_monitor_charts_follow_the_dark_theme(
    qapp: QApplication, controllers: list[ThemeController], driver: LoopDriver
):
    controller = ThemeController(qapp, "dark", scheme=FakeDesktop())
    controllers.append(controller)
    window = MainWindow([])
    try:
        controller.watch(window)
        window.show()
        window.show_monitor()
        driver.settle()
        assert is_dark(window.monitor.palette())
        backgrounds = {
            c.plot_widget.backgroundBrush().color().name()
            for c in window.monitor.findChildren(LagChartWidget)
        }
        assert backgrounds == {CHART_COLOURS[Theme.DARK].background}
    finally:
        window.close()
        driver.run(window.wait_closed())
        shiboken6.delete(window)


def _eventdesk(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "EVENTDESK_CONFIG_DIR": str(tmp_path / "config"),
        "EVENTDESK_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "eventdesk.gui", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bad_theme_option_is_reported_and_the_window_still_opens(tmp_path: Path):
    done = _eventdesk("--theme", "purple", "--exit-after-shown", "0", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Unknown theme 'purple' in --theme." in done.stderr
    assert "Use one of: system, light, dark." in done.stderr
    assert done.stdout.startswith(f"{SHOWN_MARKER}: Eventdesk ")
