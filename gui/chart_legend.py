"""The legend beside a LagChartWidget: a list of the charted series, one colour swatch each.

A Qt list rather than pyqtgraph's LegendItem: drawn over the plot, ten groups' names hid
half of the curves, and in a chart a few rows tall the entries past its bottom were cut
off. A list scrolls, shortens long names in the middle (the start names the group or
topic, the end its connection or partition) with the whole name as tooltip, and follows
the application's theme.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

# Wide enough for "payments-settlement-consumer (Local Kafka)" at the default font.
LEGEND_WIDTH = 240
_SWATCH = QSize(18, 10)


class ChartLegend(QListWidget):
    """Entries as (name, colour, dashed); `set_entries` replaces them all."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(LEGEND_WIDTH)
        self.setFrameShape(QListWidget.Shape.NoFrame)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setIconSize(_SWATCH)
        self.setUniformItemSizes(True)
        self._entries: list[tuple[str, str, bool]] = []
        self.hide()  # until there is something to name

    def set_entries(self, entries: list[tuple[str, str, bool]]) -> None:
        if entries == self._entries:
            return
        self._entries = list(entries)
        self.clear()
        for name, colour, dashed in entries:
            item = QListWidgetItem(_swatch(colour, dashed), name)
            item.setToolTip(name)
            self.addItem(item)
        self.setVisible(bool(entries))

    def names(self) -> list[str]:
        return [name for name, _colour, _dashed in self._entries]


def _swatch(colour: str, dashed: bool) -> QIcon:
    """A short line in the curve's colour and style, as the curve is drawn."""
    pixmap = QPixmap(_SWATCH)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    pen = QPen(QColor(colour), 3)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    painter.setPen(pen)
    middle = _SWATCH.height() // 2
    painter.drawLine(1, middle, _SWATCH.width() - 2, middle)
    painter.end()
    return QIcon(pixmap)
