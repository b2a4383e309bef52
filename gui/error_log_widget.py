"""The Errors log: every reported failure once, with how often it happened and what to do."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .error_presenter import ErrorPresenter, ErrorReport

_COLUMNS = ("Last seen", "Count", "Where", "Message", "What to do")


class ErrorLogWidget(QWidget):
    count_changed = Signal(int)

    def __init__(self, presenter: ErrorPresenter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._presenter = presenter
        self._items: dict[tuple[str, str, str], QTreeWidgetItem] = {}

        self._tree = QTreeWidget(self)
        self._tree.setHeaderLabels(list(_COLUMNS))
        self._tree.setRootIsDecorated(False)
        self._tree.setUniformRowHeights(True)
        self._tree.setWordWrap(False)
        header = self._tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self._tree.setColumnWidth(0, 80)
        self._tree.setColumnWidth(1, 50)
        self._tree.setColumnWidth(2, 220)
        self._tree.setColumnWidth(3, 460)

        self._empty = QLabel("No errors so far.", self)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setEnabled(False)
        clear = QPushButton("Clear", self)
        clear.setToolTip("Forget the errors listed here (the application log keeps them)")
        clear.clicked.connect(self._on_clear_clicked)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._tree, 1)
        layout.addWidget(self._empty, 1)
        layout.addLayout(buttons)
        self._show_empty_state()

        presenter.report_added.connect(self._on_presenter_report_added)
        presenter.report_repeated.connect(self._on_presenter_report_repeated)
        for report in presenter.reports:
            self._on_presenter_report_added(report)

    def entry_count(self) -> int:
        return self._tree.topLevelItemCount()

    def entry_texts(self) -> list[str]:
        return [self._tree.topLevelItem(i).text(3) for i in range(self.entry_count())]

    def _on_presenter_report_added(self, report: ErrorReport) -> None:
        item = QTreeWidgetItem()
        self._fill(item, report)
        self._tree.insertTopLevelItem(0, item)  # newest first: the one the operator just saw
        self._items[report.identity] = item
        self._show_empty_state()
        self.count_changed.emit(self.entry_count())

    def _on_presenter_report_repeated(self, report: ErrorReport) -> None:
        item = self._items.get(report.identity)
        if item is not None:
            self._fill(item, report)

    def _fill(self, item: QTreeWidgetItem, report: ErrorReport) -> None:
        item.setText(0, report.last_seen.strftime("%H:%M:%S"))
        item.setText(1, str(report.count))
        item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setText(2, report.context)
        item.setText(3, report.message)
        item.setText(4, report.hint)
        tooltip = report.status_text + (f"\n\n{report.details}" if report.details else "")
        for column in range(len(_COLUMNS)):
            item.setToolTip(column, tooltip)

    def _show_empty_state(self) -> None:
        empty = self._tree.topLevelItemCount() == 0
        self._tree.setVisible(not empty)
        self._empty.setVisible(empty)

    def _on_clear_clicked(self) -> None:
        self._tree.clear()
        self._items.clear()
        self._presenter.clear()
        self._show_empty_state()
        self.count_changed.emit(0)
