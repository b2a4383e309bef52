"""A remembered password the broker refuses is offered to forget; forgotten, F5 asks again.

Against the real local RabbitMQ with a temporary user; the keyring is a stand-in here
(the real Secret Service round trip is in tests/connectors/test_secret_forgetting.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.rabbitmq import ManagementClient
from eventdesk.connectors.secrets import SecretStore
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.main_window import MainWindow
from PySide6.QtWidgets import QMessageBox

from tests.conftest import RabbitMQSettings
from tests.seed.rabbitmq_accounts import RabbitMQAccount, temporary_account

from .conftest import LoopDriver
from .fakes import DictKeyring


@pytest.fixture
def account(
    rabbitmq: RabbitMQSettings, unique_name: str, driver: LoopDriver
) -> Iterator[RabbitMQAccount]:
    admin = ManagementClient(
        rabbitmq.management_url, username=rabbitmq.username, password=rabbitmq.password
    )
    manager = temporary_account(
        admin, unique_name, tags="monitoring", permissions=(".*", ".*", ".*")
    )
    made = driver.run(manager.__aenter__())
    yield made
    driver.run(manager.__aexit__(None, None, None))


@pytest.fixture
def profile(rabbitmq: RabbitMQSettings, account: RabbitMQAccount) -> ConnectionProfile:
    return ConnectionProfile(
        "Rabbit",
        BrokerKind.RABBITMQ,
        {
            "host": rabbitmq.host,
            "port": str(rabbitmq.port),
            "vhost": account.vhost,
            "username": account.username,
            "management_url": rabbitmq.management_url,
        },
    )


@pytest.fixture
def questions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answers Yes to "forget?" and records what was asked."""
    asked: list[str] = []

    def question(_parent, title: str, text: str, *_args) -> QMessageBox.StandardButton:
        asked.append(f"{title}\n{text}")
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def test_a_refused_stored_password_is_forgotten_and_asked_for_again(
    driver: LoopDriver,
    open_window: Callable[..., MainWindow],
    profile: ConnectionProfile,
    account: RabbitMQAccount,
    questions: list[str],
) -> None:
    backend = DictKeyring()
    store = SecretStore(backend)
    store.set("Rabbit", "password", "stale-pw-6060")
    typed: list[str] = []

    def prompt(_profile: ConnectionProfile, field: str) -> str:
        typed.append(field)
        return account.password

    window = open_window(profile, secrets=store, secret_prompt=prompt)
    assert window.tree_model.state("Rabbit") is ConnectionState.ERROR
    driver.until(lambda: bool(questions), message="the offer to forget")

    assert "Forget the remembered password?" in questions[0]
    assert "Rabbit refused the password remembered in" in questions[0]
    assert "stale-pw-6060" not in questions[0]
    assert backend.entries == {}
    assert "Forgot the password of Rabbit" in window.statusBar().currentMessage()
    assert typed == [], "nothing was asked while a stored password existed"

    window.refresh()  # F5
    driver.until(
        lambda: window.tree_model.state("Rabbit") is ConnectionState.CONNECTED,
        timeout=30,
        message="the reconnect with the typed password",
    )
    assert typed == ["password"]


def test_saying_no_keeps_the_stored_password(
    driver: LoopDriver,
    open_window: Callable[..., MainWindow],
    profile: ConnectionProfile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def question(_parent, title: str, *_args) -> QMessageBox.StandardButton:
        asked.append(title)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", question)
    backend = DictKeyring()
    store = SecretStore(backend)
    store.set("Rabbit", "password", "stale-pw-7070")

    window = open_window(profile, secrets=store, secret_prompt=lambda _p, _f: None)
    assert window.tree_model.state("Rabbit") is ConnectionState.ERROR
    driver.until(lambda: bool(asked), message="the offer to forget")
    assert backend.entries == {("eventdesk", "Rabbit/password"): "stale-pw-7070"}


def test_a_refused_typed_password_is_not_reused_and_nothing_is_offered(
    driver: LoopDriver,
    open_window: Callable[..., MainWindow],
    profile: ConnectionProfile,
    account: RabbitMQAccount,
    questions: list[str],
) -> None:
    answers = iter(["typo-pw-1", account.password])
    typed: list[str] = []

    def prompt(_profile: ConnectionProfile, field: str) -> str:
        typed.append(field)
        return next(answers)

    window = open_window(profile, secrets=SecretStore(DictKeyring()), secret_prompt=prompt)
    assert window.tree_model.state("Rabbit") is ConnectionState.ERROR
    window.refresh()
    driver.until(
        lambda: window.tree_model.state("Rabbit") is ConnectionState.CONNECTED,
        timeout=30,
        message="the reconnect with the second typed password",
    )
    assert typed == ["password", "password"]
    assert questions == []
