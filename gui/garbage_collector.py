"""Runs Python's cyclic garbage collector on the GUI thread only, from a timer.

Left automatic, the collector runs on whichever thread happens to allocate when a
threshold is crossed: with boto3 working in executor threads, that can be a worker
thread, and a Qt object destroyed there crashes the process (seen here in tests).
pyqtgraph ships the same remedy (pyqtgraph.util.garbage_collector).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 1000) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_if_due)
        self._interval_ms = interval_ms

    def start(self) -> None:
        gc.disable()
        self._timer.start(self._interval_ms)

    def stop(self) -> None:
        self._timer.stop()
        if self._was_enabled:
            gc.enable()

    def collect_if_due(self) -> int:
        """Collects the generations whose counts passed their thresholds, as gc would."""
        counts = gc.get_count()
        found = 0
        for generation in range(3):
            if counts[generation] <= self._thresholds[generation]:
                break
            found = gc.collect(generation)
        return found


def settle_long_lived() -> None:
    """Take everything alive now out of the collector's future scans.

    A full collection walks every tracked object: with 100,000 browsed messages in a
    table that took over 200 ms on the UI thread (tests/benchmarks). Rows live as long as
    their table and hold no cycles, so reference counting still frees them when it is
    cleared; freezing only spares the collector from re-walking them. Young cycles are
    collected first so that no garbage is frozen with them.
    """
    gc.collect(1)
    gc.freeze()
