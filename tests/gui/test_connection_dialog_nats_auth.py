"""The dialog's NATS user/password and token choices, against real nats-servers that require
them: the secret goes to the keyring, the profile keeps only what is not secret."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventdesk.connectors.diagnosis import STEP_AUTHENTICATION
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import save_profiles
from eventdesk.connectors.secrets import SERVICE
from eventdesk.gui.connection_dialog import ConnectionDialog

from tests.private_nats import private_jetstream

from .conftest import LoopDriver

pytestmark = pytest.mark.nats

TOKEN = secrets.token_hex(16)
PASSWORD = secrets.token_hex(16)


@pytest.fixture
def token_nats(tmp_path: Path) -> Iterator[str]:
    with private_jetstream(
        tmp_path / "js", config=f'authorization {{ token: "{TOKEN}" }}\n'
    ) as url:
        yield url


@pytest.fixture
def user_nats(tmp_path: Path) -> Iterator[str]:
    config = f'authorization {{ users = [ {{ user: "ops", password: "{PASSWORD}" }} ] }}\n'
    with private_jetstream(tmp_path / "js", config=config) as url:
        yield url


def _nats(dialog: ConnectionDialog, url: str, method: str) -> None:
    dialog.name_edit.setText("NATS")
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(BrokerKind.NATS))
    dialog.nats_servers_edit.setText(url)
    dialog.nats_auth_combo.setCurrentIndex(dialog.nats_auth_combo.findData(method))


def _test(dialog: ConnectionDialog, driver: LoopDriver) -> list:
    assert dialog.test_connection()
    driver.until(lambda: not dialog.test_panel.running, timeout=60, message="the test to end")
    return dialog.test_panel.results()


def test_a_token_from_the_keyring_passes_and_a_wrong_one_fails_at_authentication(
    dialog: ConnectionDialog, driver: LoopDriver, qtbot, keyring_backend, token_nats: str
) -> None:
    _nats(dialog, token_nats, "token")
    assert dialog.row_visible(dialog.nats_token_secret)
    assert not dialog.row_visible(dialog.nats_user_edit)
    dialog.nats_token_secret.keyring_radio.setChecked(True)
    qtbot.keyClicks(dialog.nats_token_secret.secret_edit, "wrong" + TOKEN)
    last = _test(dialog, driver)[-1]
    assert (last.name, last.ok) == (STEP_AUTHENTICATION, False)

    dialog.nats_token_secret.secret_edit.clear()
    qtbot.keyClicks(dialog.nats_token_secret.secret_edit, TOKEN)
    assert all(result.ok for result in _test(dialog, driver))
    profile = dialog.profile()
    dialog.accept()
    assert keyring_backend.entries == {(SERVICE, "NATS/token"): TOKEN}
    assert profile.settings == {"servers": token_nats, "auth": "token"}
    assert TOKEN not in save_profiles([profile]).read_text(encoding="utf-8")


def test_user_and_password_pass_and_the_password_stays_out_of_the_profile(
    dialog: ConnectionDialog, driver: LoopDriver, qtbot, keyring_backend, user_nats: str
) -> None:
    _nats(dialog, user_nats, "user")
    assert dialog.problem() == "Enter the user name."
    dialog.nats_user_edit.setText("ops")
    dialog.nats_password_secret.keyring_radio.setChecked(True)
    qtbot.keyClicks(dialog.nats_password_secret.secret_edit, PASSWORD)
    assert all(result.ok for result in _test(dialog, driver))
    profile = dialog.profile()
    dialog.accept()
    assert keyring_backend.entries == {(SERVICE, "NATS/password"): PASSWORD}
    assert profile.settings == {"servers": user_nats, "username": "ops"}


def test_a_creds_file_must_exist(dialog: ConnectionDialog, tmp_path: Path) -> None:
    _nats(dialog, "nats://127.0.0.1:4222", "creds")
    assert "path of the .creds file" in (dialog.problem() or "")
    dialog.nats_creds_edit.setText(str(tmp_path / "missing.creds"))
    assert "does not exist" in (dialog.problem() or "")
    (tmp_path / "user.creds").write_text("-----BEGIN NATS USER JWT-----\n")
    dialog.nats_creds_edit.setText(str(tmp_path / "user.creds"))
    assert dialog.problem() is None
    assert dialog.profile().settings["creds_file"] == str(tmp_path / "user.creds")
