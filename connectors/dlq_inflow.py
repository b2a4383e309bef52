"""DLQ inflow: messages per minute arriving on a dead-letter endpoint, from rises in depth.

Brokers report a DLQ's depth, not what flows in; the rises between samples are the
arrivals. Falls (a replay, a purge) are not negative inflow and count as zero.
"""

from __future__ import annotations

from collections import deque


class InflowRate:
    """The inflow of one endpoint over the last `window` seconds, in messages per minute."""

    def __init__(self, window: float = 60.0) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self._points: deque[tuple[float, float]] = deque()

    def add(self, at: float, depth: float) -> float | None:
        """Record a depth; returns the rate, or None until two points span some time."""
        if self._points and at <= self._points[-1][0]:
            return self.rate()  # a repeated or out-of-order sample adds nothing
        self._points.append((at, depth))
        # Keep one point from before the window so the window is covered end to end.
        while len(self._points) > 2 and self._points[1][0] <= at - self.window:
            self._points.popleft()
        return self.rate()

    def rate(self) -> float | None:
        if len(self._points) < 2:
            return None
        arrived = 0.0
        previous = self._points[0][1]
        for _at, depth in list(self._points)[1:]:
            arrived += max(0.0, depth - previous)
            previous = depth
        span = self._points[-1][0] - self._points[0][0]
        return arrived * 60.0 / span
