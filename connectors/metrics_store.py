"""History of monitoring samples: one SQLite file in the user data dir, bounded in time.

Raw samples are kept for `raw_for` (a day by default); older ones are averaged into
`bucket`-second buckets (a minute), and everything older than `retention` is dropped.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from .sampling import Metric, Sample, SeriesKey
from .sqlite_file import SQLiteFile, open_sqlite_file, transaction
from .user_dirs import data_dir

DAY = 86400.0
_RAW, _BUCKETED = 0, 1
_NO_PARTITION = -1  # SQLite's UNIQUE treats NULLs as distinct, so None is stored as -1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    connection TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    grp TEXT NOT NULL,
    partition INTEGER NOT NULL,
    metric TEXT NOT NULL,
    UNIQUE (connection, endpoint, grp, partition, metric)
);
CREATE TABLE IF NOT EXISTS points (
    series_id INTEGER NOT NULL REFERENCES series(id),
    at REAL NOT NULL,
    value REAL NOT NULL,
    resolution INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS points_by_series ON points(series_id, at);
CREATE INDEX IF NOT EXISTS points_by_age ON points(resolution, at);
"""


def default_metrics_path() -> Path:
    return data_dir() / "metrics.sqlite3"


class MetricsStore(SQLiteFile):
    """Stores samples and answers "this series between then and now".

    Calls are synchronous and short (one transaction each).
    """

    closed_message = "The metrics store is closed."

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        retention: float = 7 * DAY,
        raw_for: float = DAY,
        bucket: float = 60.0,
    ) -> None:
        if not 0 < raw_for <= retention or bucket <= 0:
            raise ValueError("need 0 < raw_for <= retention and bucket > 0")
        path = Path(path) if path is not None else default_metrics_path()
        self.retention = retention
        self.raw_for = raw_for
        self.bucket = bucket
        db = open_sqlite_file(path, what="the metrics history", schema=_SCHEMA, autocommit=True)
        super().__init__(db, path)
        # Series ids by their columns (connection, endpoint, grp, partition, metric).
        self._ids: dict[_Columns, int] = {}
        self._loaded: set[str] = set()  # connections whose stored series ids are in _ids

    # -- writing -----------------------------------------------------------------------

    def add(self, samples: Iterable[Sample]) -> int:
        """Store samples (one transaction); returns how many.

        Runs in a writer thread beside the UI: every line of Python here makes the UI
        thread wait for the GIL, so series ids are looked up by plain tuples and new series
        are inserted and read back in two statements, not three per series.
        """
        samples = list(samples)
        keys = [
            (s.connection, s.endpoint, s.group or "", _partition_column(s.partition), s.metric)
            for s in samples
        ]
        with self._lock:
            db = self._conn()
            ids = self._ids
            new = list(dict.fromkeys(key for key in keys if key not in ids))
            try:
                with transaction(db):
                    if new:
                        self._insert_series(db, new)
                    rows = [
                        (ids[k], s.at, s.value, _RAW) for k, s in zip(keys, samples, strict=True)
                    ]
                    db.executemany(
                        "INSERT INTO points (series_id, at, value, resolution) VALUES (?, ?, ?, ?)",
                        rows,
                    )
            except BaseException:
                # Rolled back: ids of series inserted in it no longer exist.
                for key in new:
                    ids.pop(key, None)
                self._loaded.clear()  # read the stored ones again next time
                raise
        return len(rows)

    def maintain(self, *, now: float | None = None) -> None:
        """Downsample raw points older than `raw_for`, drop points older than `retention`.

        Cheap when there is nothing to do; call it every few minutes.
        """
        now = time.time() if now is None else now
        raw_cutoff = now - self.raw_for
        # Only whole buckets are folded, so a bucket is never split between two calls.
        raw_cutoff -= raw_cutoff % self.bucket
        with self._lock, transaction(self._conn()) as db:
            db.execute(
                "INSERT INTO points (series_id, at, value, resolution) "
                "SELECT series_id, CAST(at / :b AS INTEGER) * :b, AVG(value), :bucketed "
                "FROM points WHERE resolution = :raw AND at < :cutoff "
                "GROUP BY series_id, CAST(at / :b AS INTEGER)",
                {"b": self.bucket, "bucketed": _BUCKETED, "raw": _RAW, "cutoff": raw_cutoff},
            )
            db.execute("DELETE FROM points WHERE resolution = ? AND at < ?", (_RAW, raw_cutoff))
            db.execute("DELETE FROM points WHERE at < ?", (now - self.retention,))

    # -- reading -----------------------------------------------------------------------

    def query(self, key: SeriesKey, start: float, end: float) -> list[tuple[float, float]]:
        """(at, value) of one series in [start, end], oldest first; minute buckets where
        the raw points are gone."""
        with self._lock:
            db = self._conn()
            series_id = self._existing_id(db, key)
            if series_id is None:
                return []
            rows = db.execute(
                "SELECT at, value FROM points WHERE series_id = ? AND at BETWEEN ? AND ? "
                "ORDER BY at",
                (series_id, start, end),
            ).fetchall()
        return [(float(at), float(value)) for at, value in rows]

    def series(self, *, connection: str | None = None) -> list[SeriesKey]:
        """Every series stored (for one connection, if given)."""
        sql = "SELECT connection, endpoint, grp, partition, metric FROM series"
        args: tuple[str, ...] = ()
        if connection is not None:
            sql += " WHERE connection = ?"
            args = (connection,)
        with self._lock:
            rows = self._conn().execute(sql + " ORDER BY id", args).fetchall()
        return [_key(*row) for row in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._conn().execute("SELECT COUNT(*) FROM points").fetchone()[0])

    # -- internals ---------------------------------------------------------------------

    def _existing_id(self, db: sqlite3.Connection, key: SeriesKey) -> int | None:
        columns = _columns(key)
        if columns in self._ids:
            return self._ids[columns]
        row = db.execute(
            "SELECT id FROM series WHERE connection = ? AND endpoint = ? AND grp = ? "
            "AND partition = ? AND metric = ?",
            columns,
        ).fetchone()
        if row is None:
            return None
        self._ids[columns] = int(row[0])
        return self._ids[columns]

    def _insert_series(self, db: sqlite3.Connection, new: list[_Columns]) -> None:
        """Learns the ids of `new`, inserting the series not stored yet.

        A connection's stored series are read once (history from an earlier run); series
        inserted now are read back by id, so a round of new series costs two statements.
        """
        for connection in {key[0] for key in new} - self._loaded:
            self._learn(db, "WHERE connection = ?", (connection,))
            self._loaded.add(connection)
        new = [key for key in new if key not in self._ids]
        if not new:
            return
        (before,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM series").fetchone()
        db.executemany(
            "INSERT OR IGNORE INTO series (connection, endpoint, grp, partition, metric) "
            "VALUES (?, ?, ?, ?, ?)",
            new,
        )
        self._learn(db, "WHERE id > ?", (before,))
        for key in new:  # stored meanwhile by another process: asked one by one
            if key not in self._ids:
                self._existing_id(db, _key(*key))

    def _learn(self, db: sqlite3.Connection, where: str, args: tuple[object, ...]) -> None:
        rows = db.execute(
            f"SELECT id, connection, endpoint, grp, partition, metric FROM series {where}", args
        )
        self._ids.update(((c, e, g, p, m), series_id) for series_id, c, e, g, p, m in rows)


_Columns = tuple[str, str, str, int, str]


def _partition_column(partition: int | None) -> int:
    return _NO_PARTITION if partition is None else partition


def _columns(key: SeriesKey) -> _Columns:
    return (key.connection, key.endpoint, key.group, _partition_column(key.partition), key.metric)


def _key(connection: str, endpoint: str, grp: str, partition: int, metric: str) -> SeriesKey:
    return SeriesKey(
        connection, endpoint, grp, None if partition == _NO_PARTITION else partition, Metric(metric)
    )
