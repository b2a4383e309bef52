"""Eventdesk's own SQLite files (journal, event log, metrics history): opened with a clear
error, in WAL mode, closed once."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from .errors import ConfigurationError


def open_sqlite_file(
    path: Path,
    *,
    what: str,
    schema: str,
    autocommit: bool = False,
    timeout: float = 5.0,
    pragmas: Iterable[str] = (),
    upgrade: Callable[[sqlite3.Connection], None] | None = None,
) -> sqlite3.Connection:
    """The file at `path` (made, with its folder, if missing) in WAL mode, with `schema`.

    `autocommit` leaves transactions to the caller (see `transaction`); `pragmas` run
    after WAL is on, `upgrade` after the schema. Any failure is a ConfigurationError
    naming `what` ("the event log") and the folder's override.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            path,
            timeout=timeout,
            check_same_thread=False,
            isolation_level=None if autocommit else "DEFERRED",
        )
        db.execute("PRAGMA journal_mode=WAL")
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        db.executescript(schema)
        if upgrade is not None:
            upgrade(db)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigurationError(
            f"Cannot open {what} at {path}: {exc}",
            hint="Check that the data folder is writable (EVENTDESK_DATA_DIR overrides it).",
        ) from exc
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN … COMMIT on an autocommit connection; ROLLBACK if anything fails."""
    db.execute("BEGIN")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class SQLiteFile:
    """An open SQLite file that the event loop and a worker thread may share.

    Calls are synchronous and short; `_lock` serialises them. `close()` is idempotent,
    and `_conn()` of a closed file raises `closed_message` as a ConfigurationError.
    """

    closed_message = "The file is closed."

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.path = path
        self._db = connection
        self._closed = False
        self._lock = threading.Lock()

    def close(self) -> None:
        """Idempotent."""
        with self._lock:
            self._closed = True
            self._db.close()  # a second close does nothing

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise ConfigurationError(self.closed_message)
        return self._db
