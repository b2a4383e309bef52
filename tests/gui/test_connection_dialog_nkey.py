"""The dialog's NKey choice for NATS: public key in the profile, seed in the keyring, and
"Test connection" against a real nats-server that admits only NKey users."""

from __future__ import annotations

import pytest
from eventdesk.connectors.diagnosis import STEP_AUTHENTICATION
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import save_profiles
from eventdesk.connectors.secrets import SERVICE
from eventdesk.gui.connection_dialog import ConnectionDialog
from PySide6.QtWidgets import QLabel

from tests.nats_nkeys import NKeyUser

from .conftest import LoopDriver
from .fakes import DictKeyring

pytestmark = pytest.mark.nats


def _fill_nkey(dialog: ConnectionDialog, qtbot, url: str, user: NKeyUser) -> None:
    dialog.name_edit.setText("NATS by NKey")
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(BrokerKind.NATS))
    dialog.nats_servers_edit.setText(url)
    dialog.nats_auth_combo.setCurrentIndex(dialog.nats_auth_combo.findData("nkey"))
    dialog.nkey_edit.setText(user.public_key)
    dialog.nkey_seed_secret.keyring_radio.setChecked(True)
    qtbot.keyClicks(dialog.nkey_seed_secret.secret_edit, user.seed)


def _all_text(dialog: ConnectionDialog) -> str:
    return "\n".join(label.text() for label in dialog.findChildren(QLabel))


def test_the_nkey_rows_show_only_for_nkey_and_check_the_public_key(
    dialog: ConnectionDialog, allowed: NKeyUser
) -> None:
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(BrokerKind.NATS))
    dialog.name_edit.setText("NATS")
    dialog.nats_servers_edit.setText("nats://127.0.0.1:4222")
    assert not dialog.row_visible(dialog.nkey_edit)
    assert dialog.problem() is None

    dialog.nats_auth_combo.setCurrentIndex(dialog.nats_auth_combo.findData("nkey"))
    assert dialog.row_visible(dialog.nkey_edit)
    assert dialog.row_visible(dialog.nkey_seed_secret)
    assert "public key" in (dialog.problem() or "")
    dialog.nkey_edit.setText(allowed.seed)  # the seed pasted in the wrong field
    assert "public key" in (dialog.problem() or "")
    dialog.nkey_edit.setText(allowed.public_key)
    assert dialog.problem() is None  # the seed is asked when connecting by default
    dialog.nkey_seed_secret.env_radio.setChecked(True)
    assert "NKey seed" in (dialog.problem() or "")
    dialog.nkey_seed_secret.env_edit.setText("NATS_NKEY_SEED")
    assert dialog.profile().settings == {
        "servers": "nats://127.0.0.1:4222",
        "nkey": allowed.public_key,
        "nkey_seed_env": "NATS_NKEY_SEED",
    }


def test_accepting_keeps_the_seed_in_the_keyring_and_out_of_the_profile(
    dialog: ConnectionDialog, qtbot, keyring_backend: DictKeyring, allowed: NKeyUser
) -> None:
    _fill_nkey(dialog, qtbot, "nats://127.0.0.1:4222", allowed)
    profile = dialog.profile()
    dialog.accept()

    assert keyring_backend.entries == {(SERVICE, "NATS by NKey/NKey seed"): allowed.seed}
    assert dialog.nkey_seed_secret.secret_edit.text() == ""
    assert profile.settings == {"servers": "nats://127.0.0.1:4222", "nkey": allowed.public_key}
    saved = save_profiles([profile]).read_text(encoding="utf-8")
    assert allowed.public_key in saved and allowed.seed not in saved


def test_the_right_seed_passes_every_step(
    dialog: ConnectionDialog, driver: LoopDriver, qtbot, nkey_nats: str, allowed: NKeyUser
) -> None:
    _fill_nkey(dialog, qtbot, nkey_nats, allowed)
    assert dialog.test_connection()
    driver.until(lambda: not dialog.test_panel.running, timeout=60, message="the test to end")
    assert [r.ok for r in dialog.test_panel.results()] == [True] * 5


def test_a_seed_the_server_does_not_know_fails_at_authentication_with_a_hint(
    dialog: ConnectionDialog, driver: LoopDriver, qtbot, nkey_nats: str, stranger: NKeyUser
) -> None:
    _fill_nkey(dialog, qtbot, nkey_nats, stranger)
    assert dialog.test_connection()
    driver.until(lambda: not dialog.test_panel.running, timeout=60, message="the test to end")

    last = dialog.test_panel.results()[-1]
    assert (last.name, last.ok) == (STEP_AUTHENTICATION, False)
    assert stranger.public_key in last.detail
    assert "authorization lists this public key" in last.hint
    assert stranger.seed not in _all_text(dialog)
