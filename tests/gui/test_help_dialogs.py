"""Help ▸ Keyboard shortcuts and Help ▸ About, and the shortcuts and tooltips they rest on."""

from __future__ import annotations

import importlib.metadata
from collections import Counter
from collections.abc import Iterator

import pytest
import shiboken6
from eventdesk.gui.about_dialog import about_facts
from eventdesk.gui.app import app_icon
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.shortcuts_dialog import OTHER_GROUP, ShortcutsDialog, plain_text
from PySide6.QtCore import QSize, qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolBar

from .conftest import LoopDriver

# Main actions: everything on the toolbars (the frequent tasks), the View menu, Quit and
# Help ▸ Keyboard shortcuts. Rare per-endpoint or set-up items (purge, move back, NATS
# capture) and Help ▸ About may go without a shortcut.
MAIN_MENUS = ("View",)


@pytest.fixture
def window(driver: LoopDriver) -> Iterator[MainWindow]:
    win = MainWindow([])
    win.show()
    driver.settle()
    yield win
    win.close()
    driver.run(win.wait_closed())
    shiboken6.delete(win)


def _menu(window: MainWindow, title: str):
    for action in window.menuBar().actions():
        if plain_text(action.text()) == title:
            return action.menu()
    raise AssertionError(f"no menu {title!r}")


def _toolbar_actions(window: MainWindow) -> list[QAction]:
    return [
        action
        for toolbar in window.findChildren(QToolBar)
        for action in toolbar.actions()
        if not action.isSeparator()
    ]


def test_every_toolbar_action_explains_itself_and_has_a_shortcut(window: MainWindow):
    actions = _toolbar_actions(window)
    assert len(actions) >= 7
    for action in actions:
        # Qt falls back to the action's text when no tooltip was set: that explains nothing.
        assert action.toolTip().strip(), action.text()
        assert action.toolTip() != plain_text(action.text()), action.text()
        assert not action.shortcut().isEmpty(), action.text()


def test_every_main_action_has_a_shortcut_and_no_two_share_one(window: MainWindow):
    main_actions = [
        action
        for title in MAIN_MENUS
        for action in _menu(window, title).actions()
        if not action.isSeparator()
    ]
    main_actions += [*_toolbar_actions(window), window.quit_action, window.shortcuts_action]
    assert len(main_actions) >= 12
    missing = [a.text() for a in main_actions if a.shortcut().isEmpty()]
    assert not missing
    # Qt fires neither of two actions that share a shortcut ("ambiguous shortcut").
    keys = Counter(
        key.toString()
        for action in window.findChildren(QAction)
        for key in action.shortcuts()
        if not key.isEmpty()
    )
    assert [k for k, n in keys.items() if n > 1] == []


def test_help_is_the_last_menu_even_when_menus_are_added_later(driver: LoopDriver):
    win = MainWindow([])
    win.menuBar().addMenu("&Demo")  # as DemoController does after construction
    win.show()
    driver.settle()
    try:
        titles = [plain_text(a.text()) for a in win.menuBar().actions()]
        assert titles[-2:] == ["Demo", "Help"]
    finally:
        win.close()
        driver.run(win.wait_closed())
        shiboken6.delete(win)


def test_shortcuts_dialog_lists_the_window_actions_by_menu(window: MainWindow):
    window.shortcuts_action.trigger()
    dialog = window.shortcuts_dialog
    assert dialog is not None and dialog.isVisible()
    rows = {
        (
            dialog.table.item(r, 0).text(),
            dialog.table.item(r, 1).text(),
            dialog.table.item(r, 2).text(),
        )
        for r in range(dialog.table.rowCount())
    }
    native = QKeySequence.SequenceFormat.NativeText
    assert ("Messages", "Replay", QKeySequence("Ctrl+R").toString(native)) in rows
    assert ("View", "Monitor", QKeySequence("Ctrl+M").toString(native)) in rows
    assert ("View", "Errors", QKeySequence("Ctrl+E").toString(native)) in rows  # a dock's
    assert ("Help", "Keyboard shortcuts", "F1") in rows
    assert ("Connection", "New connection", QKeySequence("Ctrl+N").toString(native)) in rows
    # Menus in menu-bar order, so the list reads like the menus.
    groups = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    menu_order = [plain_text(a.text()) for a in window.menuBar().actions()] + [OTHER_GROUP]
    assert groups == sorted(groups, key=menu_order.index)
    names = [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())]
    assert names.index("Load more") < names.index("Load all") < names.index("Replay")
    dialog.reject()


def test_shortcuts_dialog_reads_actions_added_after_the_window(window: MainWindow):
    late = QAction("Export report…", window)
    late.setShortcut(QKeySequence("Ctrl+Shift+X"))
    unlisted = QAction("No shortcut", window)
    dialog = ShortcutsDialog(window)
    names = {(e.group, e.name) for e in dialog.entries}
    assert (OTHER_GROUP, "Export report") in names
    assert not any(name == "No shortcut" for _group, name in names)
    assert unlisted.shortcut().isEmpty()


def test_about_shows_the_installed_version_qt_and_licence(window: MainWindow):
    window.about_action.trigger()
    dialog = window.about_dialog
    assert dialog is not None and dialog.isVisible()
    text = dialog.text_label.text()
    assert f"Eventdesk {importlib.metadata.version('eventdesk')}" in text
    assert f"Qt {qVersion()}" in text
    assert "Apache-2.0" in text
    assert "href='https://www.apache.org/licenses/LICENSE-2.0'" in text
    assert dialog.text_label.openExternalLinks()
    dialog.reject()


def test_about_without_package_metadata_says_so():
    facts = about_facts("eventdesk-not-installed-anywhere")
    assert facts.version.startswith("unknown")
    assert facts.links == ()


def test_about_shows_the_application_icon(window: MainWindow):
    icon = app_icon()
    assert QSize(256, 256) in icon.availableSizes()
    window.setWindowIcon(icon)
    window.about_action.trigger()
    dialog = window.about_dialog
    assert dialog is not None
    assert not dialog.icon_label.pixmap().isNull()
    dialog.reject()
