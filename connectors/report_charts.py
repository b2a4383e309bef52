"""Line charts for incident reports as self-contained SVG text: no Qt, no fonts, no assets.

Each chart is one `<svg>` element that can be inlined in HTML, embedded as a data URI in
Markdown, stored in JSON, or rasterised by QtSvg for the PDF.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 64, 16, 32, 40
_LEGEND_LINE = 16


@dataclass(frozen=True, slots=True)
class ChartSeries:
    label: str
    points: Sequence[tuple[float, float]]  # (Unix seconds, value), oldest first


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above value (1 for nothing to show)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(value: float) -> str:
    if value >= 10 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


def line_chart_svg(
    title: str,
    series: Sequence[ChartSeries],
    *,
    start: float,
    end: float,
    unit: str = "",
    width: int = 720,
    height: int = 260,
) -> str:
    """An SVG line chart of the series over [start, end]; says so when there is no data."""
    if end <= start:
        end = start + 1
    legend_height = _LEGEND_LINE * len(series)
    total_height = height + legend_height
    plot_w = width - _MARGIN_LEFT - _MARGIN_RIGHT
    plot_h = height - _MARGIN_TOP - _MARGIN_BOTTOM
    peak = max((v for s in series for _, v in s.points), default=0.0)
    top = nice_ceiling(peak)

    def x(at: float) -> float:
        return _MARGIN_LEFT + (min(max(at, start), end) - start) / (end - start) * plot_w

    def y(value: float) -> float:
        return _MARGIN_TOP + plot_h - (value / top) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_height}" '
        f'viewBox="0 0 {width} {total_height}" font-family="sans-serif" font-size="11" '
        f'role="img" aria-label={quoteattr(title)}>',
        f'<rect width="{width}" height="{total_height}" fill="#ffffff"/>',
        f'<text x="{_MARGIN_LEFT}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i in range(5):  # horizontal grid with value labels
        value = top * i / 4
        gy = y(value)
        parts.append(
            f'<line x1="{_MARGIN_LEFT}" y1="{gy:.1f}" x2="{width - _MARGIN_RIGHT}" '
            f'y2="{gy:.1f}" stroke="#dddddd"/>'
        )
        label = _number(value) + (f" {unit}" if unit and i == 4 else "")
        parts.append(
            f'<text x="{_MARGIN_LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    for i in range(5):  # time axis, UTC; the outer labels kept inside the image
        at = start + (end - start) * i / 4
        anchor = {0: "start", 4: "end"}.get(i, "middle")
        parts.append(
            f'<text x="{x(at):.1f}" y="{_MARGIN_TOP + plot_h + 16}" text-anchor="{anchor}">'
            f"{_clock(at)}</text>"
        )
    parts.append(
        f'<text x="{width - _MARGIN_RIGHT}" y="{_MARGIN_TOP + plot_h + 32}" '
        f'text-anchor="end" fill="#666666">UTC</text>'
    )
    parts.append(
        f'<rect x="{_MARGIN_LEFT}" y="{_MARGIN_TOP}" width="{plot_w}" height="{plot_h}" '
        f'fill="none" stroke="#999999"/>'
    )
    if not any(s.points for s in series):
        parts.append(
            f'<text x="{_MARGIN_LEFT + plot_w / 2:.1f}" y="{_MARGIN_TOP + plot_h / 2:.1f}" '
            f'text-anchor="middle" fill="#666666">No samples in this window</text>'
        )
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        inside = [(at, v) for at, v in s.points if start <= at <= end]
        if len(inside) == 1:
            at, v = inside[0]
            parts.append(f'<circle cx="{x(at):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
        elif inside:
            path = " ".join(f"{x(at):.1f},{y(v):.1f}" for at, v in inside)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        ly = height + _LEGEND_LINE * index + 4
        parts.append(f'<rect x="{_MARGIN_LEFT}" y="{ly}" width="12" height="8" fill="{colour}"/>')
        peak_text = f" (peak {_number(max(v for _, v in inside))})" if inside else " (no samples)"
        parts.append(
            f'<text x="{_MARGIN_LEFT + 18}" y="{ly + 8}">{escape(s.label + peak_text)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


__all__ = ["PALETTE", "ChartSeries", "line_chart_svg", "nice_ceiling"]
