"""Paints endpoint rows: a red "DLQ" tag before dead-letter queue names, depths as pills,
the Monitor's health badge after the name, and a tinted row while an alert is active."""

from __future__ import annotations

from eventdesk.connectors.health import HealthState
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from .connection_tree_model import ENDPOINT_ROW, Roles
from .health_colors import HEALTH_COLORS

TAG_TEXT = "DLQ"
_TAG_COLOR = QColor("#c62828")
_PILL_ALERT = QColor("#fde0dc")
_PILL_ALERT_TEXT = QColor("#b71c1c")
_PILL_QUIET = QColor("#eceff1")
_PILL_QUIET_TEXT = QColor("#37474f")
_ALERT_ROW = QColor("#ffe3e0")
_BADGE_W = 14
_PAD_X = 6
_GAP = 6
_Index = QModelIndex | QPersistentModelIndex


def _small_bold(font: QFont) -> QFont:
    small = QFont(font)
    small.setBold(True)
    small.setPointSizeF(max(font.pointSizeF() * 0.8, 7.0))
    return small


class EndpointItemDelegate(QStyledItemDelegate):
    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        if index.data(Roles.ROW_KIND) != ENDPOINT_ROW:
            super().paint(painter, option, index)
            return
        if index.data(Roles.ALERT):
            painter.fillRect(option.rect, _ALERT_ROW)
        health = index.data(Roles.HEALTH) if index.column() == 0 else None
        if health:
            badge = QRect(option.rect)
            badge.setLeft(option.rect.right() - _BADGE_W)
            option = QStyleOptionViewItem(option)
            option.rect = option.rect.adjusted(0, 0, -_BADGE_W, 0)
            self._paint_health_badge(painter, badge, health)
        if index.column() == 0 and index.data(Roles.IS_DEAD_LETTER):
            self._paint_tagged_name(painter, option, index)
        elif index.column() == 1 and index.data(Roles.DEPTH) is not None:
            self._paint_depth_pill(painter, option, index)
        else:
            super().paint(painter, option, index)

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        size = super().sizeHint(option, index)
        if index.column() == 0 and index.data(Roles.HEALTH):
            size.setWidth(size.width() + _BADGE_W)
        if index.column() == 0 and index.data(Roles.IS_DEAD_LETTER):
            tag = QFontMetrics(_small_bold(option.font)).horizontalAdvance(TAG_TEXT)
            size.setWidth(size.width() + tag + 2 * _PAD_X + _GAP)
        return size

    def _base(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> tuple:
        """Draws background, selection and focus as the style would, without the text."""
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        return opt, text, text_rect, selected

    def _paint_tagged_name(
        self, painter: QPainter, option: QStyleOptionViewItem, index: _Index
    ) -> None:
        opt, text, rect, selected = self._base(painter, option, index)
        tag_font = _small_bold(opt.font)
        metrics = QFontMetrics(tag_font)
        tag_w = metrics.horizontalAdvance(TAG_TEXT) + 2 * _PAD_X
        tag_h = min(rect.height() - 2, metrics.height() + 2)
        tag = QRectF(rect.left() + 2, rect.center().y() - tag_h / 2 + 1, tag_w, tag_h)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_TAG_COLOR)
        painter.drawRoundedRect(tag, 4, 4)
        painter.setFont(tag_font)
        painter.setPen(QColor("white"))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, TAG_TEXT)
        text_rect = QRect(rect)
        text_rect.setLeft(int(tag.right()) + _GAP)
        painter.setFont(opt.font)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(opt.palette.color(role))
        elided = QFontMetrics(opt.font).elidedText(
            text, Qt.TextElideMode.ElideMiddle, text_rect.width()
        )
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, elided
        )
        painter.restore()

    def _paint_health_badge(self, painter: QPainter, rect: QRect, health: str) -> None:
        colour = QColor(HEALTH_COLORS.get(HealthState(health), "#9e9e9e"))
        size = min(8, rect.height() - 4)
        dot = QRectF(rect.center().x() - size / 2, rect.center().y() - size / 2 + 1, size, size)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawEllipse(dot)
        painter.restore()

    def _paint_depth_pill(
        self, painter: QPainter, option: QStyleOptionViewItem, index: _Index
    ) -> None:
        opt, text, rect, _selected = self._base(painter, option, index)
        depth = index.data(Roles.DEPTH)
        alert = bool(index.data(Roles.IS_DEAD_LETTER)) and depth > 0
        font = QFont(opt.font)
        font.setBold(alert)
        metrics = QFontMetrics(font)
        pill_w = min(metrics.horizontalAdvance(text) + 2 * _PAD_X + 2, rect.width())
        pill_h = min(rect.height() - 2, metrics.height() + 2)
        pill = QRectF(rect.right() - pill_w, rect.center().y() - pill_h / 2 + 1, pill_w, pill_h)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_PILL_ALERT if alert else _PILL_QUIET)
        painter.drawRoundedRect(pill, pill_h / 2, pill_h / 2)
        painter.setFont(font)
        painter.setPen(_PILL_ALERT_TEXT if alert else _PILL_QUIET_TEXT)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()
