"""Consumer group health over a sliding window, in the spirit of Burrow's rules.

Pure functions over a group's recent points; the reason says why, in one sentence.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass


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


def evaluate(points: Iterable[HealthPoint], *, window: float, min_points: int = 3) -> Health:
    """The health of a group from its points (oldest first) over the last `window` seconds.

    Offsets count as "not moving" only if the points cover the whole window, so a group
    just sampled for the first time is never called stalled.
    """
    history = list(points)
    if not history:
        return Health(HealthState.OK, "No samples yet.")
    latest = history[-1]
    if not latest.reachable:
        return Health(HealthState.ERROR, "The broker cannot be reached; values are the last seen.")
    if not latest.present:
        return Health(HealthState.STOPPED, "The consumer group is gone: no member, no offsets.")

    start = latest.at - window
    # The last point at or before the window start anchors it; everything after is inside.
    anchor = max((i for i, p in enumerate(history) if p.at <= start), default=0)
    recent = [p for p in history[anchor:] if p.reachable and p.present]
    if len(recent) < 2:
        return Health(HealthState.OK, "Too few samples to judge yet.")
    first = recent[0]
    covered = first.at <= start
    moved = any(b.committed != a.committed for a, b in itertools.pairwise(recent))
    span = latest.at - first.at

    if not moved and covered and all(p.lag > 0 for p in recent):
        if latest.members == 0:
            return Health(
                HealthState.STOPPED,
                f"No commits for {span:.0f} s with {latest.lag} messages of lag, and no "
                "consumer is joined.",
            )
        return Health(
            HealthState.STALLED,
            f"Offsets have not moved for {span:.0f} s while {latest.lag} messages wait; "
            f"{latest.members} consumer(s) joined but not committing.",
        )
    if (
        moved
        and len(recent) >= min_points
        and latest.lag > first.lag
        and all(b.lag >= a.lag for a, b in itertools.pairwise(recent))
    ):
        return Health(
            HealthState.WARNING,
            f"Lag grew from {first.lag} to {latest.lag} over {span:.0f} s while offsets "
            "moved: consumers are slower than producers.",
        )
    if latest.lag == 0:
        return Health(HealthState.OK, "Caught up.")
    return Health(HealthState.OK, f"Consuming; {latest.lag} messages of lag.")
