"""Consumer group health over a sliding window, in the spirit of Burrow's rules.

Pure functions over a group's recent points; the reason says why, in one sentence.
`GroupHistory` keeps a group's points for the sampler in preallocated rows.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .sliding_window import SlidingWindow


class HealthState(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"  # lag grows while offsets move: consumers too slow
    STALLED = "stalled"  # offsets do not move while there is lag, consumers still joined
    STOPPED = "stopped"  # no commits for the whole window and no consumers, or the group is gone
    ERROR = "error"  # the broker cannot be reached


@dataclass(frozen=True, slots=True)
class HealthPoint:
    """A group at one sample: committed offsets and lag summed over its partitions."""

    at: float
    committed: int = 0
    lag: int = 0
    members: int = 0
    present: bool = True  # False once the group is no longer listed
    reachable: bool = True


@dataclass(frozen=True, slots=True)
class Health:
    state: HealthState
    reason: str


# A point's columns in a `GroupHistory` row, after its time.
_COMMITTED, _LAG, _MEMBERS, _PRESENT, _REACHABLE = range(1, 6)


class GroupHistory:
    """One group's points over the window, judged as each is added."""

    def __init__(self, window: float, *, expected_interval: float = 1.0) -> None:
        self.window = window
        self._rows = SlidingWindow(window, columns=5, expected_interval=expected_interval)

    def add(self, point: HealthPoint) -> Health:
        """The group's health with `point` added."""
        self._rows.add(
            point.at, point.committed, point.lag, point.members, point.present, point.reachable
        )
        return judge(self._rows.rows(), window=self.window)

    def oldest_at(self) -> float:
        return float(self._rows.rows()[0, 0])

    def ever_present(self) -> bool:
        return bool(self._rows.rows()[:, _PRESENT].any())


def evaluate(points: Iterable[HealthPoint], *, window: float, min_points: int = 3) -> Health:
    """The health of a group from its points (oldest first) over the last `window` seconds."""
    rows = np.array(
        [(p.at, p.committed, p.lag, p.members, p.present, p.reachable) for p in points],
        dtype=np.float64,
    ).reshape(-1, 6)
    return judge(rows, window=window, min_points=min_points)


def judge(rows: np.ndarray, *, window: float, min_points: int = 3) -> Health:
    """The health of a group from its rows (at, committed, lag, members, present,
    reachable; oldest first) over the last `window` seconds.

    Offsets count as "not moving" only if the rows cover the whole window, so a group
    just sampled for the first time is never called stalled.
    """
    if not len(rows):
        return Health(HealthState.OK, "No samples yet.")
    latest = rows[-1]
    if not latest[_REACHABLE]:
        return Health(HealthState.ERROR, "The broker cannot be reached; values are the last seen.")
    if not latest[_PRESENT]:
        return Health(HealthState.STOPPED, "The consumer group is gone: no member, no offsets.")

    start = latest[0] - window
    # The last row at or before the window start anchors it; everything after is inside.
    before = np.flatnonzero(rows[:, 0] <= start)
    inside = rows[before[-1] if len(before) else 0 :]
    recent = inside[(inside[:, _REACHABLE] != 0) & (inside[:, _PRESENT] != 0)]
    if len(recent) < 2:
        return Health(HealthState.OK, "Too few samples to judge yet.")
    first = recent[0]
    covered = first[0] <= start
    committed, lag = recent[:, _COMMITTED], recent[:, _LAG]
    moved = bool((committed[1:] != committed[:-1]).any())
    span = latest[0] - first[0]
    latest_lag, members = int(latest[_LAG]), int(latest[_MEMBERS])

    if not moved and covered and bool((lag > 0).all()):
        if members == 0:
            return Health(
                HealthState.STOPPED,
                f"No commits for {span:.0f} s with {latest_lag} messages of lag, and no "
                "consumer is joined.",
            )
        return Health(
            HealthState.STALLED,
            f"Offsets have not moved for {span:.0f} s while {latest_lag} messages wait; "
            f"{members} consumer(s) joined but not committing.",
        )
    if (
        moved
        and len(recent) >= min_points
        and latest_lag > first[_LAG]
        and bool((lag[1:] >= lag[:-1]).all())
    ):
        return Health(
            HealthState.WARNING,
            f"Lag grew from {int(first[_LAG])} to {latest_lag} over {span:.0f} s while "
            "offsets moved: consumers are slower than producers.",
        )
    if latest_lag == 0:
        return Health(HealthState.OK, "Caught up.")
    return Health(HealthState.OK, f"Consuming; {latest_lag} messages of lag.")
