"""Hands the C heap's free memory back to the system once a minute (glibc only).

Qt, numpy, SQLite and the Kafka clients free memory all the time, and glibc keeps most of
what is freed inside its heap for reuse rather than returning it. With the Monitor
sampling 5,000 partitions every 2 s, that kept memory grew by 1-2 MB a minute and showed
as RSS growth (tests/benchmarks/RESULTS.md, Monitor, "Tenth round"); `malloc_trim`
returned 3.5-6 MB of it each minute. The trim runs on a worker thread: it walks the
heap (about 10 ms to return 60 MB here) and must not hold up the UI thread's loop.
Elsewhere (macOS, musl) there is nothing to call and nothing is done.

Blocks of 128 KiB and more are also kept out of the heap (`map_large_blocks`). glibc maps
such a block on its own and unmaps it when freed, but raises that bar each time one is
freed, up to 32 MiB, so buffers of a few hundred KiB (network reads, Qt paint buffers)
soon land in the heap, where they leave holes a trim cannot return: glibc's free but
kept memory grew 6 -> 12 MB over ten minutes of the Monitor benchmark. With the bar
fixed it stayed at 2 MB and RSS at 211-213 MB (RESULTS.md, Monitor, eleventh round).
"""

from __future__ import annotations

import ctypes
import threading
import time

from PySide6.QtCore import QObject, QTimer

TRIM_EVERY_MS = 60_000
LARGE_BLOCK = 128 * 1024  # glibc's default bar for a mapped block of its own
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_LIBC = _load_libc()
_MALLOC_TRIM = _LIBC.malloc_trim if _LIBC is not None else None


def trim_heap() -> bool:
    """Returns the heap's free memory to the system now; whether any was returned.
    Blocks for as long as that takes: call it off the UI thread."""
    return _MALLOC_TRIM is not None and bool(_MALLOC_TRIM(0))


def map_large_blocks() -> bool:
    """Blocks of LARGE_BLOCK and more are mapped on their own from now on, never kept in
    the heap once freed; whether that could be set."""
    return _LIBC is not None and bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK))


class HeapTrimmer(QObject):
    """Every `interval_ms`, trims the heap on a worker thread (one at a time)."""

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = TRIM_EVERY_MS) -> None:
        super().__init__(parent)
        self.trims = 0
        self.worst_ms = 0.0
        self._busy = threading.Lock()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.trim_soon)

    @property
    def available(self) -> bool:
        return _MALLOC_TRIM is not None

    def start(self) -> None:
        if self.available:
            map_large_blocks()
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def trim_soon(self) -> None:
        """Starts a trim on a worker thread, unless one is still running."""
        if self._busy.acquire(blocking=False):
            threading.Thread(target=self._trim, name="eventdesk-heap-trim", daemon=True).start()

    def _trim(self) -> None:
        try:
            started = time.perf_counter()
            trim_heap()
            self.worst_ms = max(self.worst_ms, (time.perf_counter() - started) * 1000)
            self.trims += 1
        finally:
            self._busy.release()
