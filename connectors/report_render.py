"""Incident reports written out: JSON, Markdown, and one self-contained HTML file.

HTML and Markdown come from Jinja2 templates in resources/report/. HTML autoescapes every
value (payloads, headers, labels, notes); only the charts, which report_charts.py builds
from escaped text, are inlined as they are. PDF is gui/report_pdf.py (it needs Qt).
"""

from __future__ import annotations

import base64
import enum
import json
import os
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import escape

from .errors import ConfigurationError


class ReportFormat(enum.StrEnum):
    HTML = "html"
    PDF = "pdf"
    MARKDOWN = "md"
    JSON = "json"


SUFFIXES = {
    ReportFormat.HTML: ".html",
    ReportFormat.PDF: ".pdf",
    ReportFormat.MARKDOWN: ".md",
    ReportFormat.JSON: ".json",
}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def parse_format(name: str) -> ReportFormat:
    aliases = {"markdown": ReportFormat.MARKDOWN, "htm": ReportFormat.HTML}
    value = name.strip().lower()
    try:
        return aliases.get(value) or ReportFormat(value)
    except ValueError:
        raise ConfigurationError(
            f"Unknown report format {name!r}.", hint="Use html, pdf, md or json."
        ) from None


def _number(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _markdown_text(value: Any) -> str:
    """Inline Markdown text: HTML-escaped (so no tag survives) and Markdown-escaped."""
    text = str(escape("" if value is None else value))
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("\r", " ").replace("\n", "<br>")


def _fence(value: Any) -> str:
    """A fenced code block whose fence is longer than any backtick run inside it."""
    text = "" if value is None else str(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


@cache
def _environment(autoescape: bool) -> jinja2.Environment:
    folder = Path(str(resources.files("eventdesk.resources.report")))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["number"] = _number
    env.filters["md"] = _markdown_text
    env.filters["fence"] = _fence
    env.filters["data_uri"] = _data_uri
    return env


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def render_markdown(report: dict[str, Any]) -> str:
    text = _environment(False).get_template("report.md.j2").render(r=report)
    return re.sub(r"\n{3,}", "\n\n", text)


def render_html(
    report: dict[str, Any],
    *,
    chart_images: dict[str, str] | None = None,
    chart_width: int = 640,
) -> str:
    """The report as one HTML file; charts inline as SVG, or as <img src=chart_images[id]>
    (the PDF writer passes names of images it registered with its QTextDocument)."""
    template = _environment(True).get_template("report.html.j2")
    return template.render(r=report, chart_images=chart_images, chart_width=chart_width)


def render(report: dict[str, Any], fmt: ReportFormat) -> str:
    if fmt is ReportFormat.JSON:
        return render_json(report)
    if fmt is ReportFormat.MARKDOWN:
        return render_markdown(report)
    if fmt is ReportFormat.HTML:
        return render_html(report)
    raise ValueError("PDF is written by eventdesk.gui.report_pdf.write_pdf")


def format_for(path: Path, given: str | None = None) -> ReportFormat:
    """The format asked for, else the one the file name's suffix implies."""
    if given:
        return parse_format(given)
    for fmt, suffix in SUFFIXES.items():
        if Path(path).suffix.lower() == suffix:
            return fmt
    raise ConfigurationError(
        f"Cannot tell the report format from {Path(path).name!r}.",
        hint="Add --format html|pdf|md|json, or end the file name in .html, .pdf, .md or .json.",
    )


def write_report(report: dict[str, Any], fmt: ReportFormat, path: Path) -> Path:
    """Writes HTML, Markdown or JSON; PDF needs Qt (eventdesk.gui.report_pdf.write_pdf)."""
    return write_text(path, render(report, fmt))


def write_text(path: Path, text: str) -> Path:
    """Writes atomically; a clear error if the folder is missing or not writable."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot write the report to {path}: {exc.strerror or exc}.",
            hint="Choose a folder that exists and that you can write to.",
        ) from exc
    return path


__all__ = [
    "SUFFIXES",
    "ReportFormat",
    "format_for",
    "parse_format",
    "render",
    "render_html",
    "render_json",
    "render_markdown",
    "write_report",
    "write_text",
]
