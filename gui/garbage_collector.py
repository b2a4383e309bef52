"""Runs Python's cyclic garbage collector on the GUI thread only, from a timer.

Left automatic, the collector runs on whichever thread happens to allocate when a
threshold is crossed: with boto3 working in executor threads, that can be a worker
thread, and a Qt object destroyed there crashes the process (seen here in tests).
pyqtgraph ships the same remedy (pyqtgraph.util.garbage_collector).
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

# When the app settles what start-up made (see GuiThreadGarbageCollector.start): after the
# window is up and its first listings are in.
STARTUP_SETTLE_MS = 5000
# A full collection at least this often. Counted as gc counts them, full collections come
# after a hundred young ones, and young ones only when tracked objects outnumber those
# freed by 700: a steady app rarely gets there, so cycles that outlived two young
# collections (aiokafka's partition states from each listing's peek, asyncio's failed
# futures) waited for minutes and the Monitor's memory crept up (RESULTS.md, Monitor).
# With start-up frozen (settle_start_up), a full collection walks only what came after.
FULL_EVERY_S = 60.0


class GuiThreadGarbageCollector(QObject):
    def __init__(
        self,
        parent: QObject | None = None,
        *,
        interval_ms: int = 1000,
        full_every_s: float = FULL_EVERY_S,
    ) -> None:
        super().__init__(parent)
        self._full_every_s = full_every_s
        self._last_full = time.monotonic()
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_if_due)
        self._interval_ms = interval_ms
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.timeout.connect(settle_start_up)

    def start(self, *, settle_after_ms: int | None = None) -> None:
        """Collect from the timer from now on; with `settle_after_ms`, once that long has
        passed, also take what start-up made out of every later full collection.

        The app's imports and window are about 140,000 tracked objects (PySide6,
        pyqtgraph, numpy, botocore), alive until it quits. Every full collection walked them: one
        took 114 ms on the UI thread in minute 14 of tests/benchmarks/bench_monitor.py.
        """
        gc.disable()
        self._timer.start(self._interval_ms)
        if settle_after_ms is not None:
            self._settle.start(settle_after_ms)

    def stop(self) -> None:
        self._timer.stop()
        self._settle.stop()
        if self._was_enabled:
            gc.enable()

    def collect_if_due(self) -> int:
        """Collects the generations whose counts passed their thresholds, as gc would,
        and all of them once `full_every_s` has passed since the last full collection."""
        now = time.monotonic()
        if now - self._last_full >= self._full_every_s:
            self._last_full = now
            return gc.collect(2)
        counts = gc.get_count()
        found = 0
        for generation in range(3):
            if counts[generation] <= self._thresholds[generation]:
                break
            found = gc.collect(generation)
            if generation == 2:
                self._last_full = now
        return found


def settle_start_up() -> None:
    """settle_long_lived after a full collection: start-up's old garbage cycles must not
    be frozen, since a frozen cycle is never freed."""
    settle_long_lived(generation=2)


def settle_long_lived(*, generation: int = 1) -> None:
    """Take everything alive now out of the collector's future scans.

    A full collection walks every tracked object: with 100,000 browsed messages in a
    table that took over 200 ms on the UI thread (tests/benchmarks). Rows live as long as
    their table and hold no cycles, so reference counting still frees them when it is
    cleared; freezing only spares the collector from re-walking them. Cycles up to
    `generation` are collected first so that no garbage is frozen with them.
    """
    gc.collect(generation)
    gc.freeze()
