"""The left pane: connections, their endpoints, and the controls that narrow them."""

from __future__ import annotations

from collections.abc import Iterable

from eventdesk.connectors.model import Endpoint
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QStackedWidget,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from .connection_tree_model import ENDPOINT_ROW, ConnectionTreeModel, Roles
from .endpoint_filter_model import EndpointFilterModel
from .endpoint_item_delegate import EndpointItemDelegate

NO_CONNECTIONS_TEXT = "No connections yet — add one with Connection ▸ New (Ctrl+N)"


class ConnectionTreeWidget(QWidget):
    # (connection name, endpoint) when the operator picks an endpoint.
    endpoint_selected = Signal(str, object)
    # The DLQ-only filter went on or off, by the operator or by the default.
    dead_letters_only_changed = Signal(bool)
    # A context menu is about to open on a row of this connection (actions adapt to it).
    context_menu_requested = Signal(str)

    def __init__(self, model: ConnectionTreeModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._filter = EndpointFilterModel(self)
        self._filter.setSourceModel(model)
        # The toggle follows the data ("DLQs only when there are DLQs") until the operator
        # touches it; after that it is theirs.
        self._operator_chose_filter = False

        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter endpoints…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip("Show only endpoints whose name contains this text")
        self.dead_letters_only = QCheckBox("Dead-letter queues only", self)
        self.dead_letters_only.setToolTip(
            "Hide topics and queues that are not dead-letter queues.\n"
            "On by default once any connection has a dead-letter queue."
        )
        self._toolbar = QHBoxLayout()
        self._toolbar.setContentsMargins(0, 0, 0, 0)
        self._toolbar.addWidget(self.dead_letters_only, 1)

        self.view = QTreeView(self)
        self.view.setModel(self._filter)
        self.view.setItemDelegate(EndpointItemDelegate(self.view))
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAllColumnsShowFocus(True)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(1, 84)

        self.empty_label = QLabel(NO_CONNECTIONS_TEXT, self)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setEnabled(False)
        self._stack = QStackedWidget(self)
        self._stack.addWidget(self.empty_label)
        self._stack.addWidget(self.view)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.filter_edit)
        layout.addLayout(self._toolbar)
        layout.addWidget(self._stack, 1)

        self.filter_edit.textChanged.connect(self._on_filter_edit_text_changed)
        self.dead_letters_only.toggled.connect(self._on_dead_letters_only_toggled)
        self.view.selectionModel().currentChanged.connect(self._on_view_current_changed)
        # While rows vanish (refresh, filter), Qt moves the current index to a neighbour;
        # that is not the operator picking it, and opening it could hold its messages.
        self._structure_changing = 0
        for began, ended in (
            (self._filter.rowsAboutToBeRemoved, self._filter.rowsRemoved),
            (self._filter.layoutAboutToBeChanged, self._filter.layoutChanged),
            (self._filter.modelAboutToBeReset, self._filter.modelReset),
        ):
            began.connect(self._on_filter_structure_changing)
            ended.connect(self._on_filter_structure_changed)
        model.contents_changed.connect(self._on_model_changed)
        model.endpoints_first_loaded.connect(self._on_model_endpoints_first_loaded)
        self._on_model_changed()
        self._context_actions: list[QAction] = []
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_view_custom_context_menu_requested)

    @property
    def model(self) -> ConnectionTreeModel:
        return self._model

    @property
    def filter_model(self) -> EndpointFilterModel:
        return self._filter

    def add_actions(self, actions: Iterable[QAction]) -> None:
        """Buttons beside the filter toggle for window actions (Refresh, New connection)."""
        for action in actions:
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            self._toolbar.addWidget(button)

    def add_context_actions(self, actions: Iterable[QAction]) -> None:
        """Actions on a connection, offered on right-click of any of its rows."""
        self._context_actions.extend(actions)

    def current_connection(self) -> str | None:
        """The connection of the current row (a connection or one of its endpoints)."""
        index = self.view.currentIndex()
        return index.data(Roles.CONNECTION) if index.isValid() else None

    def context_menu(self, index: QModelIndex) -> QMenu | None:
        """The right-click menu of a row; a connection row becomes current first (the
        press on an endpoint row already made it current, and opened it)."""
        if not index.isValid() or not self._context_actions:
            return None
        if index.data(Roles.ROW_KIND) != ENDPOINT_ROW:
            self.view.setCurrentIndex(index)
        self.context_menu_requested.emit(index.data(Roles.CONNECTION))
        menu = QMenu(self)
        menu.addActions(self._context_actions)
        return menu

    def _on_view_custom_context_menu_requested(self, position: QPoint) -> None:
        menu = self.context_menu(self.view.indexAt(position))
        if menu is not None:
            menu.aboutToHide.connect(menu.deleteLater)
            menu.popup(self.view.viewport().mapToGlobal(position))

    def set_dead_letters_only(self, on: bool) -> None:
        self._operator_chose_filter = True
        self.dead_letters_only.setChecked(on)

    def visible_endpoints(self, connection: str) -> list[str]:
        """Names the view shows under a connection, in order (for tests and status)."""
        source = self._model.connection_index(connection)
        parent = self._filter.mapFromSource(source)
        return [
            self._filter.index(row, 0, parent).data()
            for row in range(self._filter.rowCount(parent))
        ]

    def select_endpoint(self, connection: str, endpoint: str) -> bool:
        source = self._model.endpoint_index(connection, endpoint)
        index = self._filter.mapFromSource(source)
        if not index.isValid():
            return False
        self.view.scrollTo(index)
        self.view.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        return True

    def _on_model_changed(self, *_args: object) -> None:
        self._stack.setCurrentIndex(1 if self._model.rowCount() else 0)
        if not self._operator_chose_filter:
            with QSignalBlocker(self.dead_letters_only):
                self.dead_letters_only.setChecked(self._model.has_dead_letters())
            self._apply_dead_letters_only(self.dead_letters_only.isChecked())

    def _on_model_endpoints_first_loaded(self, connection: str) -> None:
        self.view.expand(self._filter.mapFromSource(self._model.connection_index(connection)))

    def _on_filter_edit_text_changed(self, text: str) -> None:
        self._filter.set_text(text)
        if text:
            self.view.expandAll()

    def _on_dead_letters_only_toggled(self, on: bool) -> None:
        self._operator_chose_filter = True
        self._apply_dead_letters_only(on)

    def _apply_dead_letters_only(self, on: bool) -> None:
        if on != self._filter.dead_letters_only:
            self._filter.set_dead_letters_only(on)
            self.dead_letters_only_changed.emit(on)

    def _on_filter_structure_changing(self, *_args: object) -> None:
        self._structure_changing += 1

    def _on_filter_structure_changed(self, *_args: object) -> None:
        self._structure_changing = max(0, self._structure_changing - 1)

    def _on_view_current_changed(self, index: QModelIndex, _previous: QModelIndex) -> None:
        if self._structure_changing:
            return
        if index.isValid() and index.data(Roles.ROW_KIND) == ENDPOINT_ROW:
            endpoint: Endpoint = index.siblingAtColumn(0).data(Roles.ENDPOINT)
            self.endpoint_selected.emit(index.data(Roles.CONNECTION), endpoint)
