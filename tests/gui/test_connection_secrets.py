"""Secrets in the GUI: the dialog stores passwords in the keyring, never in the JSON;
the prompt can remember; no keyring is said once; production shows a banner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from eventdesk.connectors.base import Browser, Connector
from eventdesk.connectors.errors import AuthenticationFailed
from eventdesk.connectors.model import BrokerKind, Endpoint, EndpointKind
from eventdesk.connectors.profiles import ConnectionProfile, load_profiles
from eventdesk.connectors.redaction import MASK, register_secret
from eventdesk.connectors.secrets import SecretStore
from eventdesk.gui import main_window as main_window_module
from eventdesk.gui.connection_dialog import ConnectionDialog
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.main_window import MainWindow, SecretPromptDialog
from keyring.backends import fail
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from .conftest import LoopDriver
from .fakes import DictKeyring, ListBrowser, dead_letter

DLQ = Endpoint("orders.DLQ", EndpointKind.QUEUE, depth=3, is_dead_letter=True)


class FakeConnector(Connector):
    kind = BrokerKind.RABBITMQ

    def __init__(self, password: str | None) -> None:
        self.password = password

    async def connect(self, *, timeout: float = 10.0) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_endpoints(self, *, timeout: float = 30.0) -> list[Endpoint]:
        return [DLQ]

    async def depth(self, endpoint: str, *, timeout: float = 10.0) -> int:
        return 3

    def browse(self, endpoint: str, *, page_size: int = 500) -> Browser:
        return ListBrowser([dead_letter(n) for n in range(3)], page_size=page_size)


@pytest.fixture
def connectors(monkeypatch: pytest.MonkeyPatch) -> list[FakeConnector]:
    """Connectors made the way the factory makes them: asking the window for the password."""
    made: list[FakeConnector] = []

    def create(profile: ConnectionProfile, *, prompt=None) -> Connector:
        needs_password = profile.kind is BrokerKind.RABBITMQ and not profile.get("password_env")
        made.append(FakeConnector(prompt(profile, "password") if needs_password else None))
        return made[-1]

    monkeypatch.setattr(main_window_module, "create_connector", create)
    return made


@pytest.fixture
def open_window(driver: LoopDriver) -> Iterator[Callable[..., MainWindow]]:
    windows: list[MainWindow] = []

    def open_(profiles: list[ConnectionProfile], **kwargs) -> MainWindow:
        window = MainWindow(profiles, **kwargs)
        windows.append(window)
        window.show()
        return window

    yield open_
    for window in windows:
        window.close()
        driver.run(window.wait_closed())
        shiboken6.delete(window)


def _never_asked(_profile: ConnectionProfile, field: str) -> str:
    raise AssertionError(f"asked for {field} although it is stored")


def _files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def _fill_rabbitmq(dialog: ConnectionDialog, qtbot, name: str, password: str) -> None:
    qtbot.keyClicks(dialog.name_edit, name)
    dialog.kind_combo.setCurrentIndex(1)
    dialog.keyring_password.setChecked(True)
    qtbot.keyClicks(dialog.password_edit, password)


def test_the_dialog_puts_the_password_in_the_keyring_and_not_in_connections_json(
    driver: LoopDriver,
    qtbot,
    tmp_path: Path,
    connectors: list[FakeConnector],
    open_window: Callable[..., MainWindow],
) -> None:
    backend = DictKeyring()
    store = SecretStore(backend)
    window = open_window([], secrets=store, secret_prompt=_never_asked)
    dialog = ConnectionDialog([], window, secrets=store)
    qtbot.addWidget(dialog)
    assert "Stored in the OS keyring" in dialog.keyring_label.text()

    _fill_rabbitmq(dialog, qtbot, "Rabbit prod", "dialog-pw-7731")
    dialog.environment_combo.setCurrentIndex(dialog.environment_combo.findData("production"))
    dialog.read_only_check.setChecked(True)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.password_persisted is True
    assert dialog.password_edit.text() == ""
    assert backend.entries == {("eventdesk", "Rabbit prod/password"): "dialog-pw-7731"}

    window.add_connection(dialog.profile())
    driver.until(lambda: window.tree_model.state("Rabbit prod") is ConnectionState.CONNECTED)

    assert connectors[0].password == "dialog-pw-7731"  # read from the store when connecting
    (saved,) = load_profiles()
    assert (saved.environment, saved.read_only) == ("production", True)
    assert "password" not in saved.settings
    connections_json = tmp_path / "config" / "connections.json"
    assert connections_json.exists()
    assert _files_containing(tmp_path, "dialog-pw-7731") == []


def test_without_a_keyring_the_dialog_says_so_and_the_password_stays_in_memory(
    qtbot, tmp_path: Path
) -> None:
    store = SecretStore(fail.Keyring())
    dialog = ConnectionDialog([], secrets=store)
    qtbot.addWidget(dialog)
    assert dialog.keyring_label.text() == store.unavailable_reason
    assert "memory" in dialog.keyring_label.text()

    _fill_rabbitmq(dialog, qtbot, "Rabbit", "memory-only-pw")
    dialog.accept()

    assert dialog.password_persisted is False
    assert store.get("Rabbit", "password") == "memory-only-pw"
    assert _files_containing(tmp_path, "memory-only-pw") == []


def test_the_prompt_can_remember_in_the_keyring(
    driver: LoopDriver,
    connectors: list[FakeConnector],
    open_window: Callable[..., MainWindow],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = DictKeyring()
    store = SecretStore(backend)
    prompts: list[SecretPromptDialog] = []

    def answer(dialog: SecretPromptDialog) -> int:
        prompts.append(dialog)
        assert dialog.remember_check.isEnabled()
        dialog.secret_edit.setText("prompted-pw")
        dialog.remember_check.setChecked(True)
        return QDialog.DialogCode.Accepted.value

    monkeypatch.setattr(SecretPromptDialog, "exec", answer)
    profile = ConnectionProfile("Rabbit", BrokerKind.RABBITMQ, {"username": "ops"})
    window = open_window([profile], secrets=store)
    driver.until(lambda: window.tree_model.state("Rabbit") is ConnectionState.CONNECTED)

    assert len(prompts) == 1
    assert connectors[0].password == "prompted-pw"
    assert backend.entries == {("eventdesk", "Rabbit/password"): "prompted-pw"}

    # The next session finds it in the keyring and asks nothing.
    later = open_window([profile], secrets=SecretStore(backend), secret_prompt=_never_asked)
    driver.until(lambda: later.tree_model.state("Rabbit") is ConnectionState.CONNECTED)
    assert connectors[1].password == "prompted-pw"


def test_no_keyring_is_said_once_and_remember_is_offered_only_with_one(
    driver: LoopDriver,
    connectors: list[FakeConnector],
    open_window: Callable[..., MainWindow],
) -> None:
    store = SecretStore(fail.Keyring())
    profiles = [
        ConnectionProfile("Rabbit A", BrokerKind.RABBITMQ, {"username": "ops"}),
        ConnectionProfile("Rabbit B", BrokerKind.RABBITMQ, {"username": "ops"}),
    ]
    window = open_window(profiles, secrets=store, secret_prompt=lambda _p, _f: "typed")
    driver.until(lambda: len(connectors) == 2)

    assert window.memory_secrets_label.isVisible()
    assert window.memory_secrets_label.toolTip() == store.unavailable_reason
    assert store.take_unavailable_notice() is None  # the window took it, once

    prompt = SecretPromptDialog(profiles[0], "password", store, window)
    assert not prompt.remember_check.isEnabled()
    assert prompt.note_label.text() == store.unavailable_reason
    shiboken6.delete(prompt)


def test_a_production_profile_shows_a_banner_over_its_messages(
    driver: LoopDriver,
    connectors: list[FakeConnector],
    open_window: Callable[..., MainWindow],
) -> None:
    settings = {"password_env": "EVENTDESK_T_UNUSED"}
    production = ConnectionProfile(
        "Prod MQ", BrokerKind.RABBITMQ, settings, environment="production"
    )
    staging = ConnectionProfile("Stage MQ", BrokerKind.RABBITMQ, settings, environment="staging")
    window = open_window([production, staging])
    driver.until(
        lambda: all(
            window.tree_model.state(name) is ConnectionState.CONNECTED
            for name in ("Prod MQ", "Stage MQ")
        )
    )
    assert not window.environment_banner.isVisible()

    assert window.open_endpoint_named("Prod MQ", "orders.DLQ")
    driver.until(lambda: window.environment_banner.isVisible())
    assert "PRODUCTION" in window.environment_banner.text()
    assert "Prod MQ" in window.environment_banner.text()
    assert "#c62828" in window.environment_banner.styleSheet()

    assert window.open_endpoint_named("Stage MQ", "orders.DLQ")
    driver.until(lambda: not window.environment_banner.isVisible())


def test_the_dialog_is_usable_from_the_keyboard(qtbot) -> None:
    dialog = ConnectionDialog([], secrets=SecretStore(DictKeyring()))
    qtbot.addWidget(dialog)
    dialog.kind_combo.setCurrentIndex(1)
    form = dialog.form
    for field in (dialog.name_edit, dialog.kind_combo, dialog.environment_combo):
        label = form.labelForField(field)
        assert "&" in label.text() and label.buddy() is field

    chain, widget = [], dialog.name_edit.nextInFocusChain()
    while widget is not dialog.name_edit and len(chain) < 200:
        chain.append(widget)
        widget = widget.nextInFocusChain()
    order = [dialog.kind_combo, dialog.environment_combo, dialog.read_only_check]
    order += [dialog.host_edit, dialog.keyring_password, dialog.password_edit]
    order += [dialog.ask_password, dialog.env_password, dialog.password_env_edit]
    positions = [chain.index(widget) for widget in order]
    assert positions == sorted(positions)


def test_errors_shown_to_the_operator_are_redacted(open_window) -> None:
    register_secret("leaky-pw-5512")
    window = open_window([])
    report = window.error_presenter.present(
        AuthenticationFailed("login ops/leaky-pw-5512 refused"), context="Connecting"
    )
    assert report.message == f"login ops/{MASK} refused"
    assert "leaky-pw-5512" not in window.statusBar().currentMessage()
