"""The NATS dead-letter capture dialog against a real nats-server of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import shiboken6
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.nats import ADVISORY_SUBJECTS, NatsConnector
from eventdesk.connectors.profiles import ConnectionProfile, load_profiles
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.nats_capture_dialog import NatsCaptureDialog
from PySide6.QtWidgets import QDialog

from .conftest import LoopDriver

pytestmark = pytest.mark.nats


@pytest.fixture
def connector(private_nats: str, driver: LoopDriver) -> Iterator[NatsConnector]:
    connector = NatsConnector(private_nats)
    driver.run(connector.connect())
    yield connector
    driver.run(connector.close())


@pytest.fixture
def open_dialog(
    private_nats: str, connector: NatsConnector, driver: LoopDriver
) -> Iterator[Callable[[], NatsCaptureDialog]]:
    dialogs: list[NatsCaptureDialog] = []

    def open_() -> NatsCaptureDialog:
        profile = ConnectionProfile("jetstream", BrokerKind.NATS, {"servers": private_nats})
        dialog = NatsCaptureDialog(profile, connector)
        dialogs.append(dialog)
        dialog.show()
        driver.until(lambda: dialog.loaded, message="the capture streams to be listed")
        return dialog

    yield open_
    for dialog in dialogs:
        dialog.close()
        shiboken6.delete(dialog)


def test_a_new_stream_is_created_when_the_operator_names_one(
    open_dialog: Callable[[], NatsCaptureDialog], connector: NatsConnector, driver: LoopDriver
) -> None:
    dialog = open_dialog()
    assert dialog.stream_combo.count() == 0
    dialog.stream_combo.setEditText("DEAD_LETTERS")
    assert "will be created" in dialog.state_label.text()
    assert dialog.use_button.text() == "&Create stream"

    dialog.use_button.click()
    assert driver.wait_signal(dialog.capture_ready) == ("DEAD_LETTERS", True)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert connector.advisory_stream == "DEAD_LETTERS"
    [capture] = driver.run(connector.advisory_capture_streams())
    assert capture.name == "DEAD_LETTERS" and set(capture.subjects) == set(ADVISORY_SUBJECTS)


def test_a_second_capture_stream_is_refused_and_the_existing_one_offered(
    open_dialog: Callable[[], NatsCaptureDialog], connector: NatsConnector, driver: LoopDriver
) -> None:
    driver.run(connector.use_advisory_capture("FIRST_CAPTURE"))
    dialog = open_dialog()
    # The stream that captures advisories is listed, and chosen.
    assert [dialog.stream_combo.itemText(i) for i in range(dialog.stream_combo.count())] == [
        "FIRST_CAPTURE"
    ]
    assert dialog.stream_name == "FIRST_CAPTURE"
    assert "captures max-delivery and terminated advisories" in dialog.state_label.text()

    dialog.stream_combo.setEditText("SECOND_CAPTURE")
    dialog.use_button.click()
    driver.until(lambda: dialog.error_label.isVisible(), message="the refusal to be shown")
    assert "FIRST_CAPTURE already takes consumer advisories" in dialog.error_label.text()
    assert "Choose FIRST_CAPTURE" in dialog.error_label.text()
    assert dialog.isVisible() and connector.advisory_stream == "FIRST_CAPTURE"

    dialog.stream_combo.setCurrentIndex(0)
    assert not dialog.error_label.isVisible()
    dialog.use_button.click()
    assert driver.wait_signal(dialog.capture_ready) == ("FIRST_CAPTURE", False)


def test_an_invalid_name_is_explained_in_the_dialog(
    open_dialog: Callable[[], NatsCaptureDialog], connector: NatsConnector, driver: LoopDriver
) -> None:
    dialog = open_dialog()
    dialog.stream_combo.setEditText("dead letters")
    dialog.use_button.click()
    driver.until(lambda: dialog.error_label.isVisible(), message="the error to be shown")
    assert "not a valid stream name" in dialog.error_label.text()
    assert connector.advisory_stream == "EVENTDESK_ADVISORIES"
    dialog.stream_combo.setEditText("")
    assert not dialog.use_button.isEnabled()


def test_the_tree_context_menu_sets_up_capture_and_the_profile_remembers_it(
    private_nats: str, open_window: Callable[..., MainWindow], driver: LoopDriver
) -> None:
    profile = ConnectionProfile("jetstream", BrokerKind.NATS, {"servers": private_nats})
    window = open_window(profile)
    assert window.tree_model.state("jetstream") is ConnectionState.CONNECTED
    # A right-click on the connection row offers the action, and it is enabled for NATS.
    menu = window.tree.context_menu(
        window.tree.filter_model.mapFromSource(window.tree_model.connection_index("jetstream"))
    )
    assert menu is not None and window.nats_capture_action in menu.actions()
    assert window.nats_capture_action.isEnabled()

    window.nats_capture_action.trigger()
    dialog = window.nats_capture_dialog
    assert dialog is not None and dialog.isVisible()
    driver.until(lambda: dialog.loaded, message="the capture streams to be listed")
    dialog.stream_combo.setEditText("OPS_DEAD_LETTERS")
    ready: list[tuple[str, bool]] = []
    dialog.capture_ready.connect(lambda *args: ready.append(args))
    dialog.use_button.click()
    # Not wait_signal: the window deletes the dialog once it is done.
    driver.until(lambda: bool(ready), message="the capture stream to be ready")
    assert ready == [("OPS_DEAD_LETTERS", True)]

    # Saved for the next start (no secret in it), and the tree shows the capture stream.
    [saved] = load_profiles()
    assert saved.get("advisory_stream") == "OPS_DEAD_LETTERS"
    driver.until(
        lambda: any(
            e.name == "OPS_DEAD_LETTERS" and e.details.get("role")
            for e in window.tree_model.endpoints("jetstream")
        ),
        message="the capture stream to be listed in the tree",
    )


@pytest.mark.sqs
def test_the_action_is_offered_for_nats_connections_only(
    private_nats: str,
    sqs_profile: ConnectionProfile,
    open_window: Callable[..., MainWindow],
) -> None:
    nats_profile = ConnectionProfile("jetstream", BrokerKind.NATS, {"servers": private_nats})
    window = open_window(nats_profile, sqs_profile)

    def right_click(connection: str) -> None:
        source = window.tree_model.connection_index(connection)
        menu = window.tree.context_menu(window.tree.filter_model.mapFromSource(source))
        assert menu is not None and window.nats_capture_action in menu.actions()

    right_click("SQS")
    assert window.tree.current_connection() == "SQS"
    assert not window.nats_capture_action.isEnabled()
    right_click("jetstream")
    assert window.nats_capture_action.isEnabled()
