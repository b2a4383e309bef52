"""The Export incident report dialog against a real incident on the local RabbitMQ."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import shiboken6
from eventdesk.connectors.alerts import EventKind, EventLog, TimelineEvent
from eventdesk.connectors.report import EndpointRef
from eventdesk.connectors.report_render import ReportFormat
from eventdesk.gui.report_dialog import ReportDialog, default_window_start
from PySide6.QtCore import QDateTime, Qt, QTimeZone

from tests.conftest import RabbitMQSettings
from tests.connectors.test_report_incident import (
    HIDDEN,
    NOTES,
    REDACTION,
    Incident,
    remove_incident,
    script_incident,
    use_incident_profiles,
)

from .conftest import LoopDriver

pytestmark = pytest.mark.rabbitmq


def _event(at: float, kind: EventKind) -> TimelineEvent:
    return TimelineEvent(at, kind, "rmq", "q.dlq", "", f"{kind} at {at}")


def test_window_starts_at_the_first_alert_in_view_else_an_hour_ago() -> None:
    events = [_event(500, EventKind.HEALTH), _event(700, EventKind.ALERT), _event(600, "alert")]
    assert default_window_start([_event(900, EventKind.ALERT), *events], now=1000) == 600
    assert default_window_start([_event(500, EventKind.HEALTH)], now=10_000) == 10_000 - 3600


@pytest.fixture
def incident(
    driver: LoopDriver, rabbitmq: RabbitMQSettings, monkeypatch: pytest.MonkeyPatch
) -> Incident:
    use_incident_profiles(rabbitmq, monkeypatch)
    scripted = driver.run(script_incident(rabbitmq), timeout=120)
    yield scripted
    driver.run(remove_incident(rabbitmq, scripted), timeout=30)


@pytest.fixture
def make_dialog(qtbot):
    dialogs: list[ReportDialog] = []

    def make(*args, **kwargs) -> ReportDialog:
        dialog = ReportDialog(*args, **kwargs)
        dialogs.append(dialog)
        dialog.show()
        return dialog

    yield make
    for dialog in dialogs:
        dialog.close()
        shiboken6.delete(dialog)


def _pdf_text(path: Path) -> str:
    result = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return " ".join(result.stdout.split())


def test_dialog_exports_the_incident_as_pdf(
    driver: LoopDriver, incident: Incident, make_dialog, tmp_path: Path
) -> None:
    with EventLog() as log:
        events = log.latest()
    other = EndpointRef("rmq", "not-this-one.dlq")
    dialog = make_dialog(
        incident.profiles,
        [EndpointRef("rmq", incident.dlq), other, EndpointRef("rmq-elsewhere", "orders.dlq")],
        events=events,
        selected=[EndpointRef("rmq", incident.dlq), EndpointRef("rmq-elsewhere", "orders.dlq")],
        now=incident.end,
    )
    first_alert = min(e.at for e in events if e.kind is EventKind.ALERT)
    assert dialog.start_edit.dateTime().toSecsSinceEpoch() == int(first_alert)
    assert other not in dialog.chosen_endpoints()
    # The incident began before the first alert: widen the window as an operator would.
    dialog.start_edit.setDateTime(
        QDateTime.fromSecsSinceEpoch(int(incident.start) - 1, QTimeZone.utc())
    )
    dialog.end_edit.setDateTime(
        QDateTime.fromSecsSinceEpoch(int(incident.end) + 1, QTimeZone.utc())
    )
    for preset, box in dialog.preset_boxes.items():
        box.setChecked(preset.value in REDACTION["presets"])
    dialog.fields_edit.setPlainText("\n".join(REDACTION["field_paths"]))
    dialog.patterns_edit.setPlainText("\n".join(REDACTION["patterns"]))
    dialog.notes_edit.setPlainText(NOTES)
    dialog.set_output_format(ReportFormat.PDF)
    out = tmp_path / "incident.pdf"
    dialog.path_edit.setText(str(out))

    dialog.export_button.click()
    (path,) = driver.wait_signal(dialog.exported, timeout=90)
    assert path == out and out.read_bytes().startswith(b"%PDF")
    assert str(out) in dialog.status_label.text()
    assert dialog.export_button.isEnabled()
    text = _pdf_text(out)
    for expected in (
        "Incident report",
        "Summary",
        "Failure groups",
        "Operator actions",
        "Timeline",
        "Messages dead-lettered 9",
        "2 replayed, 1 discarded",
        "has no customerId",
        "Checkout stopped validating customers",
    ):
        assert expected in text, expected
    for hidden in HIDDEN:
        assert hidden not in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("window", "ends before it starts"),
        ("pattern", "not a valid regular expression"),
        ("folder", "does not exist"),
    ],
)
def test_bad_input_is_explained_and_writes_nothing(
    driver: LoopDriver, make_dialog, tmp_path: Path, change: str, expected: str
) -> None:
    dialog = make_dialog([], [], now=1_800_000_000)
    out = tmp_path / "r.html"
    dialog.path_edit.setText(str(out))
    if change == "window":
        dialog.end_edit.setDateTime(dialog.start_edit.dateTime().addSecs(-60))
    elif change == "pattern":
        dialog.patterns_edit.setPlainText("(unclosed")
    else:
        dialog.path_edit.setText(str(tmp_path / "missing" / "r.html"))
    failures: list[str] = []
    dialog.failed.connect(failures.append)
    assert dialog.export() is None
    assert len(failures) == 1 and expected in failures[0]
    assert "\n" in failures[0]  # the hint, on its own line
    assert expected in dialog.status_label.text()
    assert not out.exists()


def test_main_window_opens_the_dialog_on_its_dead_letter_queues(
    driver: LoopDriver, incident: Incident, open_window, rabbitmq_profile
) -> None:
    window = open_window(rabbitmq_profile)
    driver.until(
        lambda: any(e.name == incident.dlq for e in window.tree_model.endpoints("RabbitMQ")),
        timeout=20,
        message="the incident's DLQ in the tree",
    )
    assert window.report_action.shortcut().toString() == "Ctrl+Shift+E"
    window.report_action.trigger()
    dialog = window.report_dialog
    assert dialog.isVisible()
    listed = {
        dialog.endpoint_list.item(i).text(): dialog.endpoint_list.item(i).checkState()
        for i in range(dialog.endpoint_list.count())
    }
    assert listed[f"RabbitMQ/{incident.dlq}"] == Qt.CheckState.Checked
    assert f"RabbitMQ/{incident.source}" not in listed  # not a dead-letter queue
    dialog.reject()


def test_the_monitor_exports_a_report_over_the_dlqs_it_charts(
    driver: LoopDriver, incident: Incident, open_window, rabbitmq_profile
) -> None:
    window = open_window(rabbitmq_profile)
    window.show_monitor()
    monitor = window.monitor
    driver.until(
        lambda: any(key.endpoint == incident.dlq for key in monitor._dlqs),
        timeout=60,
        message="the incident's DLQ charted in the Monitor",
    )
    monitor.report_button.click()
    dialog = window.report_dialog
    assert dialog is not None and dialog.isVisible()
    charted = {EndpointRef(key.connection, key.endpoint) for key in monitor._dlqs}
    assert EndpointRef("RabbitMQ", incident.dlq) in set(dialog.chosen_endpoints())
    assert set(dialog.chosen_endpoints()) == charted
    dialog.reject()
