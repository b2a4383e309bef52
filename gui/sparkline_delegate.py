"""A sparkline in a table cell: the recent values of one series as a small polyline."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, Qt
from PySide6.QtGui import QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

# The model answers this role with the values to draw, oldest first.
SPARKLINE_ROLE = Qt.ItemDataRole.UserRole + 40


def sparkline_points(
    values: Sequence[float], width: float, height: float, margin: float = 2.0
) -> list[tuple[float, float]]:
    """Values spread over the width, scaled to the height (a flat series sits mid-cell)."""
    if len(values) < 2:
        return []
    low, high = min(values), max(values)
    span = high - low
    step = (width - 2 * margin) / (len(values) - 1)
    usable = height - 2 * margin
    return [
        (
            margin + i * step,
            margin + (usable / 2 if span == 0 else usable * (1 - (v - low) / span)),
        )
        for i, v in enumerate(values)
    ]


class SparklineDelegate(QStyledItemDelegate):
    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        super().paint(painter, option, index)
        values = index.data(SPARKLINE_ROLE)
        rect = option.rect
        points = sparkline_points(values or (), rect.width(), rect.height())
        if not points:
            return
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        colour = option.palette.highlightedText() if selected else option.palette.text()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(colour.color(), 1.2))
        painter.drawPolyline(QPolygonF([QPointF(rect.x() + x, rect.y() + y) for x, y in points]))
        painter.restore()
