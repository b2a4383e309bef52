"""DLQ inflow: messages per minute arriving on a dead-letter endpoint, from rises in depth.

Brokers report a DLQ's depth, not what flows in; the rises between samples are the
arrivals. Falls (a replay, a purge) are not negative inflow and count as zero.
"""

from __future__ import annotations

import numpy as np

from .sliding_window import SlidingWindow


class InflowRate:
    """The inflow of one endpoint over the last `window` seconds, in messages per minute."""

    def __init__(self, window: float = 60.0, *, expected_interval: float = 1.0) -> None:
        self.window = window
        self._points = SlidingWindow(window, columns=1, expected_interval=expected_interval)

    def add(self, at: float, depth: float) -> float | None:
        """Record a depth; returns the rate, or None until two points span some time."""
        last = self._points.last_at()
        if last is None or at > last:  # a repeated or out-of-order sample adds nothing
            self._points.add(at, depth)
        return self.rate()

    def rate(self) -> float | None:
        rows = self._points.rows()
        if len(rows) < 2:
            return None
        depths = rows[:, 1]
        arrived = np.clip(depths[1:] - depths[:-1], 0.0, None).sum()
        span = rows[-1, 0] - rows[0, 0]
        return float(arrived * 60.0 / span)
