"""The heap trimmer hands glibc's kept free memory back, on its own thread, on a timer."""

from __future__ import annotations

import os
import threading

import pytest
from eventdesk.gui import heap_trim
from eventdesk.gui.heap_trim import HeapTrimmer, map_large_blocks, trim_heap

pytestmark = pytest.mark.skipif(
    heap_trim._MALLOC_TRIM is None, reason="glibc's malloc_trim: Linux with glibc only"
)


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_trimming_returns_freed_heap_memory_to_the_system():
    # 4 KB buffers come from glibc's heap (Python's own allocator takes only small ones);
    # keeping every tenth leaves the freed ones between them, which glibc cannot give
    # back by shrinking the heap's top.
    buffers = [bytes(4000) + bytes([i % 256]) for i in range(20_000)]
    kept = buffers[::10]
    del buffers
    before = _rss_mb()
    assert trim_heap()
    assert _rss_mb() < before - 20
    assert len(kept) == 2_000


def test_large_blocks_go_back_to_the_system_as_soon_as_they_are_freed():
    assert map_large_blocks()
    # A freed 4 MiB block would raise glibc's bar for mapping blocks on their own to 4 MiB.
    big = bytearray(4 * 2**20)
    del big
    # 50 MiB of 256 KiB blocks, each followed by a small one that stays: freed, the big
    # ones would be holes in the heap that only a trim gives back (79 -> 79 MB here
    # without map_large_blocks, 79 -> 29 MB with it).
    blocks, kept = [], []
    for _ in range(200):
        blocks.append(bytearray(256 * 1024))
        kept.append(bytearray(8192))
    before = _rss_mb()
    del blocks
    assert _rss_mb() < before - 40
    assert len(kept) == 200


def test_the_trimmer_trims_on_its_timer_off_the_ui_thread(qtbot, monkeypatch):
    threads: list[str] = []
    real_trim = heap_trim.trim_heap

    def recorded() -> bool:
        threads.append(threading.current_thread().name)
        return real_trim()

    monkeypatch.setattr(heap_trim, "trim_heap", recorded)
    trimmer = HeapTrimmer(interval_ms=20)
    trimmer.start()
    qtbot.waitUntil(lambda: trimmer.trims >= 2, timeout=5000)
    trimmer.stop()
    assert set(threads) == {"eventdesk-heap-trim"}
    assert trimmer.worst_ms > 0
