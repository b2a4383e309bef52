"""Consumer group health rules over synthetic windows (pure logic, no broker)."""

from __future__ import annotations

from eventdesk.connectors.health import HealthPoint, HealthState, evaluate

WINDOW = 60.0


def _points(committed: list[int], lag: list[int], *, members: int = 1, step: float = 10.0):
    return [
        HealthPoint(at=1000.0 + i * step, committed=c, lag=lag_, members=members)
        for i, (c, lag_) in enumerate(zip(committed, lag, strict=True))
    ]


def test_moving_offsets_with_falling_lag_are_ok() -> None:
    health = evaluate(
        _points([0, 10, 20, 30, 40, 50, 60], [60, 50, 40, 30, 20, 10, 0]), window=WINDOW
    )
    assert health.state is HealthState.OK
    assert health.reason == "Caught up."


def test_lag_growing_while_offsets_move_is_a_warning() -> None:
    health = evaluate(
        _points([0, 5, 10, 15, 20, 25, 30], [10, 20, 30, 40, 50, 60, 70]), window=WINDOW
    )
    assert health.state is HealthState.WARNING
    assert "from 10 to 70" in health.reason


def test_lag_that_dips_once_is_not_a_warning() -> None:
    health = evaluate(
        _points([0, 5, 10, 15, 20, 25, 30], [10, 20, 15, 40, 50, 60, 70]), window=WINDOW
    )
    assert health.state is HealthState.OK


def test_offsets_stuck_with_lag_and_members_is_stalled() -> None:
    health = evaluate(_points([40] * 7, [10, 12, 14, 16, 18, 20, 22]), window=WINDOW)
    assert health.state is HealthState.STALLED
    assert "22 messages wait" in health.reason


def test_offsets_stuck_with_lag_and_no_members_is_stopped() -> None:
    health = evaluate(_points([40] * 7, [10] * 7, members=0), window=WINDOW)
    assert health.state is HealthState.STOPPED
    assert "no consumer" in health.reason


def test_stuck_but_window_not_yet_covered_is_not_judged_stalled() -> None:
    # 30 s of samples for a 60 s window: too early to call it stalled.
    health = evaluate(_points([40] * 4, [10] * 4), window=WINDOW)
    assert health.state is HealthState.OK


def test_idle_group_without_lag_is_ok() -> None:
    health = evaluate(_points([40] * 7, [0] * 7, members=0), window=WINDOW)
    assert health.state is HealthState.OK


def test_only_the_window_counts() -> None:
    # Offsets moved long ago, then stuck for longer than the window.
    committed = [0, 10, 20] + [20] * 8
    health = evaluate(_points(committed, [5] * 11), window=WINDOW)
    assert health.state is HealthState.STALLED


def test_group_gone_is_stopped_and_unreachable_is_error() -> None:
    points = _points([0, 10], [5, 5])
    gone = evaluate([*points, HealthPoint(at=2000.0, present=False)], window=WINDOW)
    assert gone.state is HealthState.STOPPED
    assert "gone" in gone.reason
    down = evaluate([*points, HealthPoint(at=2000.0, reachable=False)], window=WINDOW)
    assert down.state is HealthState.ERROR


def test_too_few_points_is_ok() -> None:
    assert evaluate([], window=WINDOW).state is HealthState.OK
    assert evaluate(_points([1], [5]), window=WINDOW).state is HealthState.OK
