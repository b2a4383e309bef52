"""Process-level guards: GC on the GUI thread, and a PySide6 that keeps its references."""

from __future__ import annotations

import gc
import sys
import weakref

from eventdesk.gui.garbage_collector import GuiThreadGarbageCollector
from PySide6.QtCore import QObject, Signal

from .conftest import LoopDriver


def test_cycles_are_collected_by_the_gui_thread_timer(driver: LoopDriver):
    class Node:
        me: object = None

    enabled_before = gc.isenabled()
    collector = GuiThreadGarbageCollector(interval_ms=10)
    collector.start()
    try:
        assert not gc.isenabled()
        collected: list[bool] = []
        probe = Node()
        probe.me = probe  # a cycle: only the cyclic collector frees it
        weakref.finalize(probe, collected.append, True)
        del probe
        # Allocations push generation 0 past its threshold, as a busy app would.
        filler = [[] for _ in range(5 * gc.get_threshold()[0])]

        driver.until(lambda: collected == [True], message="the timer to collect the cycle")
        del filler
    finally:
        collector.stop()
    assert gc.isenabled() == enabled_before


def test_a_cycle_that_reached_the_oldest_generation_is_freed_by_the_timed_full_collection(
    driver: LoopDriver,
):
    class Node:
        me: object = None

    collector = GuiThreadGarbageCollector(interval_ms=10, full_every_s=0.2)
    collector.start()
    try:
        freed: list[bool] = []
        probe = Node()
        probe.me = probe
        weakref.finalize(probe, freed.append, True)
        gc.collect(1)  # survives the young generations while still held: now it is old
        del probe
        # No allocations cross a threshold meanwhile: only the timed full collection runs.
        driver.until(lambda: freed == [True], timeout=5, message="the full collection")
    finally:
        collector.stop()


def test_qt_calls_keep_the_references_they_hand_out():
    """PySide6 6.12 on Python 3.11 drops a reference to None/True per emit or parent() and
    aborts the process after a few thousand; pyproject pins PySide6 < 6.12 there."""

    class Emitter(QObject):
        fired = Signal()

    emitter = Emitter()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(20_000):
        emitter.fired.emit()
        assert emitter.parent() is None
    # Immortal on 3.12+ (constant counts); on 3.11 a leak would show as a drop of ~20,000.
    assert sys.getrefcount(None) > none_before - 1_000
    assert sys.getrefcount(True) > true_before - 1_000


def test_start_up_is_settled_once_after_the_delay_and_its_garbage_first(driver: LoopDriver):
    class Node:
        me: object = None

    freed: list[bool] = []
    garbage = Node()
    garbage.me = garbage  # a start-up cycle nobody holds: it must be freed, not frozen
    weakref.finalize(garbage, freed.append, True)
    del garbage
    kept = Node()
    kept.me = kept  # alive at the settle: frozen, out of every later collection
    frozen_before = gc.get_freeze_count()
    collector = GuiThreadGarbageCollector(interval_ms=60_000)  # no timed collection meanwhile
    collector.start(settle_after_ms=50)
    try:
        assert gc.get_freeze_count() == frozen_before  # not before the delay
        driver.until(lambda: gc.get_freeze_count() > frozen_before, message="the start-up settle")
        assert freed == [True]
        # Frozen: still tracked, yet in no generation a collection walks.
        assert gc.is_tracked(kept)
        assert all(obj is not kept for obj in gc.get_objects())
    finally:
        collector.stop()
        gc.unfreeze()
