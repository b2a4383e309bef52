"""The alert log panel: bounded, newest at the bottom, coloured by severity."""

from __future__ import annotations

from eventdesk.connectors.alerts import EventKind, TimelineEvent
from eventdesk.gui.alert_log_widget import SEVERITY_COLORS, AlertLogWidget
from PySide6.QtCore import Qt


def _event(i: int, severity: str = "warning") -> TimelineEvent:
    return TimelineEvent(
        float(i), EventKind.ALERT, "SQS", "q.DLQ", "", f"q.DLQ depth {i}", "", severity
    )


def test_the_log_keeps_the_newest_rows_and_shows_them(qtbot):
    widget = AlertLogWidget()
    qtbot.addWidget(widget)
    widget.model.limit = 5
    widget.add([_event(i) for i in range(3)])
    widget.add([_event(i, "critical") for i in range(3, 8)])
    model = widget.model
    assert model.rowCount() == 5
    assert [e.at for e in model.events()] == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert model.index(4, 4).data() == "q.DLQ depth 7"
    assert model.index(4, 3).data() == "q.DLQ"
    brush = model.index(4, 1).data(Qt.ItemDataRole.ForegroundRole)
    assert brush.color().name() == SEVERITY_COLORS["critical"]
