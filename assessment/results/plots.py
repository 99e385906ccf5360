"""Confidence-band charts (estimate with its band, one row each) as inline, accessible SVG.

Hand-written like the calibration charts (see assessment/calibration/plots.py for why): a band chart is a few
lines and dots. The same SVG goes into the page and, through fpdf2, into the PDF report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

BAND = "#0072B2"  # Okabe-Ito blue
MUTED = "#6e7781"  # too few items / removed: drawn, but visibly not to be read as precise
CUT = "#D55E00"


@dataclass(frozen=True)
class BandRow:
    label: str
    estimate: float | None
    lower: float | None
    upper: float | None
    muted: bool = False


def _ticks(low: float, high: float) -> list[float]:
    span = high - low
    raw = span / 5
    exponent = math.floor(math.log10(raw)) if raw > 0 else 0
    step = next(s * 10**exponent for s in (1, 2, 2.5, 5, 10) if s * 10**exponent >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def band_chart(
    rows: Sequence[BandRow],
    *,
    title: str,
    description: str,
    axis_label: str,
    cut: float | None = None,
    cut_label: str = "",
    width: int = 560,
    row_height: int = 22,
) -> Markup:
    """One row per estimate: a dot on its confidence band; an optional vertical cut line."""
    left, right, top, bottom = 150, 16, 30, 40
    height = top + bottom + row_height * max(len(rows), 1)
    plot_w = width - left - right
    values = [v for r in rows for v in (r.lower, r.upper, r.estimate) if v is not None and math.isfinite(v)]
    if cut is not None:
        values.append(cut)
    low, high = (min(values), max(values)) if values else (-1.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad

    def px(x: float) -> float:
        return left + (x - low) / (high - low) * plot_w

    plot_h = row_height * max(len(rows), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#8c959f"/>',
    ]
    for tick in _ticks(low, high):
        x = px(tick)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#eaeef2"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" font-size="11" text-anchor="middle">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="11" text-anchor="middle">'
        f"{escape(axis_label)}</text>"
    )
    for i, row in enumerate(rows):
        y = top + row_height * i + row_height / 2
        colour = MUTED if row.muted else BAND
        label = escape(row.label)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{label}</text>')
        if row.lower is not None and row.upper is not None:
            dash = ' stroke-dasharray="4 3"' if row.muted else ""
            parts.append(
                f'<line x1="{px(row.lower):.1f}" x2="{px(row.upper):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="3"{dash}/>'
            )
        if row.estimate is not None:
            parts.append(f'<circle cx="{px(row.estimate):.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
    if cut is not None:
        x = px(cut)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{top + plot_h}" stroke="{CUT}" '
            f'stroke-width="2" stroke-dasharray="6 3"/>'
        )
        parts.append(
            f'<text x="{x + 4:.1f}" y="{top - 6}" font-size="11" fill="{CUT}">{escape(cut_label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()
