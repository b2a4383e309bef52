"""The one place secrets are masked before text leaves the process.

Whatever shows text to a person or writes it down (log handlers, error messages, the
journal, reports, clipboard copies) passes it through `redact`. Secrets are registered
when they are read (keyring, environment, prompt), so only values actually in use this
session are known; URLs with user:password@ are masked whether registered or not.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "••••••"

# scheme://user:password@host: the password part, up to the last @ before the host.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*:)[^\s/]*(?=@)")


def _forms(secret: str) -> set[str]:
    # A secret rarely leaks verbatim only: URLs percent-encode it, repr() and JSON
    # escape quotes and backslashes.
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms.add(repr(secret)[1:-1])
    return {form for form in forms if form}


class Redactor:
    """Knows the secrets in use this session and masks them in any string."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, secret: str | None) -> None:
        # Every non-empty value counts, however short: a log made ugly by masking is
        # better than a password in it.
        if not secret:
            return
        with self._lock:
            new = _forms(secret) - self._secrets
            if not new:
                return
            self._secrets |= new
            # Longest first, so a secret that contains another is masked whole.
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))

    def forget_all(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._pattern = None

    def contains_secret(self, text: str) -> bool:
        pattern = self._pattern
        return bool(pattern and pattern.search(text))

    def redact(self, text: str) -> str:
        if not text:
            return text
        pattern = self._pattern  # read once: register() may swap it from another thread
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _URL_PASSWORD.sub(rf"\g<head>{MASK}", text)


def redact_url(url: str) -> str:
    """The URL with the password of any user:password@ part masked."""
    return _URL_PASSWORD.sub(rf"\g<head>{MASK}", url)


# The session's redactor: secrets read anywhere in the process end up here.
REDACTOR = Redactor()


def register_secret(secret: str | None) -> None:
    REDACTOR.register(secret)


def redact(text: str) -> str:
    return REDACTOR.redact(text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments, traceback and stack."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor or REDACTOR

    def filter(self, record: logging.LogRecord) -> bool:
        redact_text = self._redactor.redact
        # Format once here, so no handler can format the raw arguments again later.
        record.msg = redact_text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def install_log_redaction(
    logger: logging.Logger | None = None, redactor: Redactor | None = None
) -> RedactingFilter:
    """Puts the filter on the logger and on each of its handlers.

    A filter on a logger sees only records logged to that very logger; records from
    child loggers reach the root's handlers without passing it. So the handlers get
    the filter too, and they must exist first (call after logging is configured).
    """
    logger = logger or logging.getLogger()
    redacting = RedactingFilter(redactor)
    logger.addFilter(redacting)
    for handler in logger.handlers:
        handler.addFilter(redacting)
    return redacting
