"""Incident reports as PDF through Qt's own text layout and PDF writer: no browser needed.

The report's HTML (report_render.py) is laid out by QTextDocument and printed by
QPdfWriter. QTextDocument draws no SVG, so each chart is rasterised with QtSvg first and
registered with the document as an image resource.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.report_render import render_html
from PySide6.QtCore import QByteArray, QMarginsF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
)
from PySide6.QtSvg import QSvgRenderer

_RESOLUTION = 150  # dpi of the PDF and of the chart images
_CHART_SCALE = 2  # charts are drawn at twice their size, so they stay sharp when printed


def ensure_gui_application() -> QGuiApplication:
    """The running Qt application, or a headless one for the command line."""
    app = QGuiApplication.instance()
    if app is None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication([])
    return app  # type: ignore[return-value]


def svg_image(svg: str, *, scale: float = _CHART_SCALE) -> QImage:
    """The SVG drawn into a white image `scale` times its own size."""
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    if not renderer.isValid():
        raise ValueError("the chart is not valid SVG")
    size = renderer.defaultSize()
    image = QImage(
        int(size.width() * scale), int(size.height() * scale), QImage.Format.Format_ARGB32
    )
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    try:
        renderer.render(painter)
    finally:
        painter.end()
    return image


def report_document(report: dict[str, Any], *, width: float = 510.0) -> QTextDocument:
    """The report laid out as a QTextDocument `width` points wide, charts as images."""
    document = QTextDocument()
    names: dict[str, str] = {}
    for chart in report.get("charts", []):
        name = f"chart-{chart['id']}.png"
        document.addResource(
            QTextDocument.ResourceType.ImageResource, QUrl(name), svg_image(chart["svg"])
        )
        names[chart["id"]] = name
    # Charts a little narrower than the text, so they never overflow the page.
    document.setHtml(render_html(report, chart_images=names, chart_width=int(width * 0.9)))
    return document


def write_pdf(report: dict[str, Any], path: Path | str) -> Path:
    """Writes the report as an A4 PDF; a clear error if the file cannot be written."""
    ensure_gui_application()
    path = Path(path)
    if not path.parent.is_dir():
        raise ConfigurationError(
            f"Cannot write the report to {path}: the folder does not exist.",
            hint="Choose a folder that exists and that you can write to.",
        )
    writer = QPdfWriter(str(path))
    writer.setResolution(_RESOLUTION)
    writer.setTitle(str(report.get("title", "Incident report")))
    writer.setCreator("Eventdesk")
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(15, 15, 15, 15),
            QPageLayout.Unit.Millimeter,
        )
    )
    # Lay the text out at the page's width in points, so fonts print at their own size.
    layout = writer.pageLayout().paintRect(QPageLayout.Unit.Point)
    document = report_document(report, width=layout.width())
    document.setPageSize(QSizeF(layout.width(), layout.height()))
    document.print_(writer)
    if not path.exists() or path.stat().st_size == 0:
        raise ConfigurationError(
            f"Qt could not write the PDF to {path}.",
            hint="Check that the folder is writable and the disk is not full.",
        )
    return path


__all__ = ["ensure_gui_application", "report_document", "svg_image", "write_pdf"]
