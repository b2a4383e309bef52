"""Help ▸ About: what this build is (versions from package metadata), its licence and links."""

from __future__ import annotations

import html
import importlib.metadata
import platform
from dataclasses import dataclass

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

DISTRIBUTION = "eventdesk"
LICENCE_URLS = {"Apache-2.0": "https://www.apache.org/licenses/LICENSE-2.0"}


@dataclass(frozen=True)
class AboutFacts:
    version: str
    licence: str
    links: tuple[tuple[str, str], ...]  # (label, url)
    qt_version: str
    pyside_version: str
    python_version: str


def about_facts(distribution: str = DISTRIBUTION) -> AboutFacts:
    """Read from the installed package's metadata, so About never disagrees with pip."""
    try:
        metadata = importlib.metadata.metadata(distribution)
        version = metadata["Version"]
        licence = metadata.get("License-Expression") or metadata.get("License") or "unknown"
        urls = [u.split(",", 1) for u in metadata.get_all("Project-URL") or []]
        links = [(label.strip(), url.strip()) for label, url in urls if url.strip()]
    except importlib.metadata.PackageNotFoundError:
        version, licence, links = "unknown (not installed as a package)", "unknown", []
    if licence in LICENCE_URLS:
        links.append((f"{licence} licence", LICENCE_URLS[licence]))
    return AboutFacts(
        version=version,
        licence=licence,
        links=tuple(links),
        qt_version=qVersion(),
        pyside_version=PySide6.__version__,
        python_version=platform.python_version(),
    )


def _html(facts: AboutFacts) -> str:
    links = "<br>".join(
        f"<a href='{html.escape(url, quote=True)}'>{html.escape(label)}</a>"
        for label, url in facts.links
    )
    return (
        f"<h2>Eventdesk {html.escape(facts.version)}</h2>"
        "<p>A desktop console for the people who run event-driven systems: dead-letter"
        " queues, replay and live lag for Kafka, RabbitMQ, SQS/SNS and NATS JetStream.</p>"
        f"<p>Licence: {html.escape(facts.licence)}</p>"
        f"<p>Qt {html.escape(facts.qt_version)} · PySide6 {html.escape(facts.pyside_version)}"
        f" · Python {html.escape(facts.python_version)}</p>"
        f"<p>{links}</p>"
    )


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Eventdesk")
        self.facts = about_facts()
        self.icon_label = QLabel(self)
        window_icon = parent.windowIcon() if parent is not None else QIcon()
        if not window_icon.isNull():
            self.icon_label.setPixmap(window_icon.pixmap(64, 64))
        self.text_label = QLabel(_html(self.facts), self)
        self.text_label.setTextFormat(Qt.TextFormat.RichText)
        self.text_label.setWordWrap(True)
        self.text_label.setOpenExternalLinks(True)
        self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.text_label)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)
