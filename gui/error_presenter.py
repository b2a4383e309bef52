"""Where every failure goes: one line for the status bar, one entry in the Errors log.

Never modal: a broker that keeps failing must not bury the operator in dialogs, so
identical errors collapse into one entry with a count.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from dataclasses import dataclass, field
from datetime import datetime

from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.redaction import redact
from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

# The log is for the operator's eyes, not an archive; the Python log keeps everything.
MAX_REPORTS = 500


@dataclass(slots=True)
class ErrorReport:
    context: str
    message: str
    hint: str
    expected: bool  # an EventdeskError (the operator can act on it) versus a bug
    details: str = ""
    count: int = 1
    first_seen: datetime = field(default_factory=datetime.now)
    last_seen: datetime = field(default_factory=datetime.now)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.context, self.message, self.hint)

    @property
    def status_text(self) -> str:
        where = f"{self.context}: " if self.context else ""
        hint = f" — {self.hint}" if self.hint else ""
        repeat = f" (×{self.count})" if self.count > 1 else ""
        return f"{where}{self.message}{hint}{repeat}"


def describe_error(exc: BaseException, *, context: str = "") -> ErrorReport:
    """What the operator reads about `exc`; a bug is named as one and logged in full."""
    if isinstance(exc, EventdeskError):
        return ErrorReport(context=context, message=str(exc), hint=exc.hint, expected=True)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        # Raised by asyncio.wait_for in GUI code, outside the connectors' translation.
        return ErrorReport(
            context=context,
            message="The broker did not answer in time.",
            hint="Try again; the broker may be slow or unreachable.",
            expected=True,
        )
    details = "".join(traceback.format_exception(exc))
    text = str(exc) or type(exc).__name__
    return ErrorReport(
        context=context,
        message=f"Unexpected error: {type(exc).__name__}: {text}; details in the log",
        hint="",
        expected=False,
        details=details,
    )


class ErrorPresenter(QObject):
    """Collects reports; views (status bar, Errors log) listen to its signals."""

    report_added = Signal(object)  # ErrorReport
    report_repeated = Signal(object)  # ErrorReport whose count went up
    status_message = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reports: list[ErrorReport] = []
        self._by_identity: dict[tuple[str, str, str], ErrorReport] = {}

    @property
    def reports(self) -> tuple[ErrorReport, ...]:
        return tuple(self._reports)

    def present(self, exc: BaseException, *, context: str = "") -> ErrorReport:
        report = describe_error(exc, context=context)
        if report.expected:
            log.warning("%s", report.status_text)
        else:
            log.error("%s", report.status_text, exc_info=exc)
        return self.add(report)

    def add(self, report: ErrorReport) -> ErrorReport:
        report.message, report.details = redact(report.message), redact(report.details)
        known = self._by_identity.get(report.identity)
        if known is not None:
            known.count += 1
            known.last_seen = report.last_seen
            self.report_repeated.emit(known)
            self.status_message.emit(known.status_text)
            return known
        self._reports.append(report)
        self._by_identity[report.identity] = report
        if len(self._reports) > MAX_REPORTS:
            dropped = self._reports.pop(0)
            self._by_identity.pop(dropped.identity, None)
        self.report_added.emit(report)
        self.status_message.emit(report.status_text)
        return report

    def clear(self) -> None:
        self._reports.clear()
        self._by_identity.clear()
