"""The sampler's sliding window of rows (pure logic, no broker)."""

from __future__ import annotations

import pytest
from eventdesk.connectors.sliding_window import SlidingWindow


def _times(window: SlidingWindow) -> list[float]:
    return window.rows()[:, 0].tolist()


def test_keeps_the_window_and_one_row_before_it() -> None:
    window = SlidingWindow(10.0, columns=1, expected_interval=2.0)
    for at in range(0, 31, 2):
        window.add(float(at), at * 10)
    # 30 - 10 = 20: rows after 20, and 20 itself as the window's anchor.
    assert _times(window) == [20.0, 22.0, 24.0, 26.0, 28.0, 30.0]
    assert window.rows()[:, 1].tolist() == [200.0, 220.0, 240.0, 260.0, 280.0, 300.0]
    assert window.last_at() == 30.0


def test_keeps_two_rows_however_far_apart() -> None:
    window = SlidingWindow(10.0, columns=1)
    window.add(0.0, 1)
    window.add(100.0, 2)
    window.add(500.0, 3)
    assert _times(window) == [100.0, 500.0]


def test_sized_for_the_expected_interval_it_never_reallocates() -> None:
    window = SlidingWindow(300.0, columns=5, expected_interval=2.0)
    data = window._data
    for i in range(2_000):  # rounds a little early now and then
        window.add(i * 2.0 - (0.5 if i % 7 == 0 else 0.0), i, i, 0, 1, 1)
    assert window._data is data
    assert len(window) == 151


def test_grows_when_rows_come_faster_than_sized_for() -> None:
    window = SlidingWindow(60.0, columns=1, expected_interval=5.0)
    for i in range(1_000):
        window.add(i * 0.5, i)
    times = _times(window)
    assert times[0] == 499.5 - 60.0 and times[-1] == 499.5
    assert len(times) == 121


def test_is_empty_until_the_first_row() -> None:
    window = SlidingWindow(5.0, columns=2)
    assert len(window) == 0 and window.last_at() is None
    assert window.rows().shape == (0, 3)


def test_rejects_a_window_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0.0, columns=1)
