"""A QTableView for Python models that paints in one hold of Python's GIL.

A view paints by asking its model for every role of every visible cell: a few thousand
calls from C++ into Python per paint. Each call takes the GIL, and while a worker thread
runs Python (a search's reader, boto3, SQLite) each take can wait for that thread to hand
it over. Entering Python once for the whole paint keeps the GIL across those calls: the
worst stall of the window while searching 1,000,000 dead letters fell from 134 ms to 62 ms
(tests/benchmarks/RESULTS.md).
"""

from __future__ import annotations

from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QTableView


class TableView(QTableView):
    def paintEvent(self, event: QPaintEvent) -> None:
        # Not a no-op: this frame holds the GIL while Qt paints and asks the model.
        super().paintEvent(event)
