"""Where connection secrets live: the OS keyring, or this process's memory if there is none.

One keyring entry per profile and field (service "eventdesk", user "<profile>/<field>").
Without a usable keyring the store keeps secrets in memory for this session only and
says why in `unavailable_reason`; it never falls back to a file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringLocked, NoKeyringError, PasswordDeleteError

from .redaction import REDACTOR, Redactor

log = logging.getLogger(__name__)

SERVICE = "eventdesk"

# Field names the connectors ask for; deleting a profile clears all of them, whatever
# its kind was when they were stored (a missing entry costs nothing to delete).
SECRET_FIELDS: tuple[str, ...] = (
    "password",
    "management password",
    "secret access key",
    "SASL password",
    "ssl key password",
    "NKey seed",
    "token",
    "schema registry password",
)

_IN_MEMORY = "Passwords are kept in memory until Eventdesk quits and never written to disk."


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, KeyringLocked):
        return f"The OS keyring is locked and was not unlocked. {_IN_MEMORY}"
    if isinstance(exc, NoKeyringError):
        return f"No OS keyring is available. {_IN_MEMORY}"
    detail = str(exc) or type(exc).__name__
    return f"The OS keyring could not be used ({detail}). {_IN_MEMORY}"


class SecretStore:
    """Secrets by (profile name, field); read them only when connecting."""

    def __init__(
        self,
        backend: KeyringBackend | None = None,
        *,
        service: str = SERVICE,
        redactor: Redactor | None = None,
    ) -> None:
        self._service = service
        self._redactor = redactor or REDACTOR
        self._memory: dict[tuple[str, str], str] = {}
        # Fields handed out from the store this session, per profile: the ones to offer
        # to forget when the broker refuses them.
        self._served: dict[str, set[str]] = {}
        self._notice_taken = False
        self.persistent = True
        self.unavailable_reason = ""
        self._backend: KeyringBackend | None = backend or keyring.get_keyring()
        if isinstance(self._backend, fail.Keyring | null.Keyring):
            # fail.Keyring raises on every call and null.Keyring silently forgets:
            # neither keeps a secret, so do not pretend they do.
            self._fall_back(f"No OS keyring is available. {_IN_MEMORY}")

    @property
    def backend_name(self) -> str:
        """The keyring in use, for the UI ("SecretService", "macOS", …); '' in memory."""
        if self._backend is None:
            return ""
        return getattr(self._backend, "name", type(self._backend).__name__)

    def take_unavailable_notice(self) -> str | None:
        """The reason the keyring is not used, the first time it is asked for only.

        The operator is told once per session; later callers get None.
        """
        if self.persistent or self._notice_taken:
            return None
        self._notice_taken = True
        return self.unavailable_reason

    def get(self, profile_name: str, field: str) -> str | None:
        value: str | None
        if self._backend is not None:
            try:
                value = self._backend.get_password(self._service, _user(profile_name, field))
            except Exception as exc:
                self._on_backend_failure(exc, "reading")
                value = self._memory.get((profile_name, field))
        else:
            value = self._memory.get((profile_name, field))
        self._redactor.register(value)
        if value is not None:
            self._served.setdefault(profile_name, set()).add(field)
        return value

    def served_fields(self, profile_name: str) -> list[str]:
        """The profile's fields this store handed out this session (sorted)."""
        return sorted(self._served.get(profile_name, ()))

    def forget_served(self, profile_name: str) -> list[str]:
        """Deletes the fields it handed out for the profile, e.g. a password the broker
        refused, so the next connect asks again. Returns the fields that are gone for sure."""
        fields = self._served.pop(profile_name, set())
        return sorted(field for field in fields if self.delete(profile_name, field))

    def set(self, profile_name: str, field: str, value: str) -> bool:
        """Stores the secret; True if it will outlive this session (it went to the keyring)."""
        self._redactor.register(value)
        if self._backend is not None:
            try:
                self._backend.set_password(self._service, _user(profile_name, field), value)
                return True
            except Exception as exc:
                self._on_backend_failure(exc, "storing")
        self._memory[(profile_name, field)] = value
        return False

    def delete(self, profile_name: str, field: str) -> bool:
        """Forgets the secret; False if a keyring entry may be left behind."""
        self._memory.pop((profile_name, field), None)
        if self._backend is None:
            return True
        try:
            self._backend.delete_password(self._service, _user(profile_name, field))
        except PasswordDeleteError:
            pass  # there was none
        except Exception as exc:
            self._on_backend_failure(exc, "deleting")
            return False
        return True

    def delete_profile(self, profile_name: str, fields: Iterable[str] = SECRET_FIELDS) -> bool:
        """Forgets every listed field of the profile; False if something may be left."""
        results = [self.delete(profile_name, field) for field in fields]
        return all(results)

    def _on_backend_failure(self, exc: BaseException, doing: str) -> None:
        # Any failure counts, not only keyring's own errors: a vanished D-Bus service or a
        # broken backend surfaces as jeepney, secretstorage or OS errors. The session goes
        # on in memory rather than failing every connect that needs a secret.
        log.warning("OS keyring failed while %s a secret: %s", doing, type(exc).__name__)
        self._fall_back(self._redactor.redact(_describe_failure(exc)))

    def _fall_back(self, reason: str) -> None:
        self._backend = None
        self.persistent = False
        self.unavailable_reason = reason


def _user(profile_name: str, field: str) -> str:
    return f"{profile_name}/{field}"
