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
