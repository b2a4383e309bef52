"""The demo's switches on the main window: a "Demo" menu and toolbar, and the window title."""

from __future__ import annotations

from eventdesk.connectors.demo import DemoEnvironment
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow

DEMO_TITLE = "Eventdesk — demo"


class DemoController(QObject):
    """Adds the demo's controls to a window through its public Qt API only."""

    def __init__(self, demo: DemoEnvironment, window: QMainWindow) -> None:
        super().__init__(window)
        self._demo = demo
        window.setWindowTitle(DEMO_TITLE)

        self.fix_consumer_action = QAction("Fix the consumer", window)
        self.fix_consumer_action.setObjectName("demo_fix_consumer")
        self.fix_consumer_action.setCheckable(True)
        self.fix_consumer_action.setChecked(demo.consumer_fixed)
        self.fix_consumer_action.setToolTip(
            "Demo: the order consumer stops failing messages, so replays succeed"
        )
        self.fix_consumer_action.setStatusTip(self.fix_consumer_action.toolTip())
        self.fix_consumer_action.toggled.connect(self._on_fix_consumer_action_toggled)

        self.menu = window.menuBar().addMenu("&Demo")
        self.menu.setObjectName("demo_menu")
        self.menu.addAction(self.fix_consumer_action)
        self.toolbar = window.addToolBar("Demo")
        self.toolbar.setObjectName("demo_toolbar")
        self.toolbar.addAction(self.fix_consumer_action)

    def _on_fix_consumer_action_toggled(self, checked: bool) -> None:
        self._demo.fix_consumer(checked)
