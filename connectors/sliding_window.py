"""Timed rows over the last few minutes, in one preallocated array: what rates and health read.

A sampler keeps, per consumer group and per DLQ, its recent points over a window (health
over 5 minutes, inflow over one). Kept as Python objects, those points were new objects
every round until the window filled, so the Monitor's memory grew for its first five
minutes; here a point is a row written into a float64 array sized for the window when
the series is first seen. The array grows only if rounds come faster than it was sized
for (the interval was shortened).
"""

from __future__ import annotations

import math

import numpy as np


class SlidingWindow:
    """Rows of (at, value, …) over the last `window` seconds, oldest first.

    One row at or before the window's start is kept too, so the window is covered end
    to end (a rate over it, or "not moved for the whole window", needs that anchor).
    Values are float64: counts stay exact up to 2**53.
    """

    def __init__(self, window: float, columns: int, *, expected_interval: float = 1.0) -> None:
        if window <= 0 or columns < 1 or expected_interval <= 0:
            raise ValueError("need window > 0, columns >= 1 and expected_interval > 0")
        self.window = window
        # The window's rows, its anchor and a few spare for rounds that come early, twice
        # over: live rows slide to the front only when the end is reached, so adding costs
        # O(1) on average.
        rows = math.ceil(window / expected_interval) + 4
        self._data = np.empty((2 * rows, 1 + columns), dtype=np.float64)
        self._lo = 0
        self._hi = 0

    def __len__(self) -> int:
        return self._hi - self._lo

    def add(self, at: float, *values: float) -> None:
        """Append a row at time `at` (not before the last) and drop rows the window no
        longer needs."""
        if self._hi == len(self._data):
            self._make_room()
        row = self._data[self._hi]
        row[0] = at
        row[1:] = values
        self._hi += 1
        # Keep the newest two at least, and one row at or before the window's start.
        cutoff = at - self.window
        times = self._data[:, 0]
        while self._hi - self._lo > 2 and times[self._lo + 1] <= cutoff:
            self._lo += 1

    def rows(self) -> np.ndarray:
        """The rows, oldest first: a view, valid until the next `add`."""
        return self._data[self._lo : self._hi]

    def last_at(self) -> float | None:
        return float(self._data[self._hi - 1, 0]) if self._hi > self._lo else None

    def _make_room(self) -> None:
        live = self._hi - self._lo
        if live * 2 > len(self._data):
            grown = np.empty((len(self._data) * 2, self._data.shape[1]), dtype=np.float64)
            grown[:live] = self._data[self._lo : self._hi]
            self._data = grown
        else:
            self._data[:live] = self._data[self._lo : self._hi]
        self._lo, self._hi = 0, live
