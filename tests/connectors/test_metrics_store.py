"""MetricsStore: round trip, downsampling after raw_for, retention."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from eventdesk.connectors.metrics_store import MetricsStore
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.sampling import Metric, Sample, SeriesKey


def _lag(at: float, value: float, *, partition: int | None = 0) -> Sample:
    return Sample("prod", BrokerKind.KAFKA, "orders", "billing", partition, Metric.LAG, value, at)


def test_default_path_is_in_the_data_dir() -> None:
    with MetricsStore() as store:
        assert store.path == Path(os.environ["EVENTDESK_DATA_DIR"]) / "metrics.sqlite3"


def test_round_trip_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with MetricsStore(path) as store:
        store.add([_lag(100.0 + i, i) for i in range(10)])
        store.add([_lag(105.0, 99.0, partition=None)])
    with MetricsStore(path) as store:
        key = SeriesKey("prod", "orders", "billing", 0, Metric.LAG)
        assert store.query(key, 102.0, 104.0) == [(102.0, 2.0), (103.0, 3.0), (104.0, 4.0)]
        total = SeriesKey("prod", "orders", "billing", None, Metric.LAG)
        assert store.query(total, 0, 1e12) == [(105.0, 99.0)]
        assert set(store.series(connection="prod")) == {key, total}
        assert store.series(connection="other") == []
        assert store.query(SeriesKey("x", "y", "", None, Metric.LAG), 0, 1e12) == []


def test_writing_after_reopening_extends_the_stored_series(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with MetricsStore(path) as store:
        store.add([_lag(100.0, 1.0, partition=p) for p in range(3)])
    with MetricsStore(path) as store:
        # Stored series and new ones in one round (partition 3 is new), then again.
        store.add([_lag(200.0, 2.0, partition=p) for p in range(4)])
        store.add([_lag(300.0, 3.0, partition=p) for p in range(4)])
        assert len(store.series(connection="prod")) == 4
        for partition in range(3):
            key = SeriesKey("prod", "orders", "billing", partition, Metric.LAG)
            assert store.query(key, 0, 1e12) == [(100.0, 1.0), (200.0, 2.0), (300.0, 3.0)]
        new = SeriesKey("prod", "orders", "billing", 3, Metric.LAG)
        assert store.query(new, 0, 1e12) == [(200.0, 2.0), (300.0, 3.0)]


def test_old_points_are_averaged_into_minute_buckets(tmp_path: Path) -> None:
    day = 86400.0
    now = 10 * day
    old = now - 2 * day  # bucket-aligned (multiple of 60)
    with MetricsStore(tmp_path / "m.sqlite3", raw_for=day, retention=7 * day) as store:
        # Two minutes of 5 s samples a while ago, and two recent ones.
        store.add([_lag(old + i * 5, i) for i in range(24)])
        store.add([_lag(now - 10, 7.0), _lag(now - 5, 8.0)])
        store.maintain(now=now)
        key = SeriesKey("prod", "orders", "billing", 0, Metric.LAG)
        points = store.query(key, 0, now)
        # 12 samples per minute: averages of 0..11 and 12..23; recent ones stay raw.
        assert points == [(old, 5.5), (old + 60, 17.5), (now - 10, 7.0), (now - 5, 8.0)]
        assert store.count() == 4
        store.maintain(now=now)  # idempotent
        assert store.query(key, 0, now) == points


def test_retention_drops_points_older_than_it(tmp_path: Path) -> None:
    day = 86400.0
    now = 30 * day
    with MetricsStore(tmp_path / "m.sqlite3", raw_for=day, retention=3 * day) as store:
        store.add([_lag(now - 5 * day, 1.0), _lag(now - 2 * day, 2.0), _lag(now - 60, 3.0)])
        store.maintain(now=now)
        key = SeriesKey("prod", "orders", "billing", 0, Metric.LAG)
        assert store.query(key, 0, now) == [(now - 2 * day, 2.0), (now - 60, 3.0)]


def test_bad_bounds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        MetricsStore(tmp_path / "m.sqlite3", raw_for=10, retention=5)
