"""Server-rendered SVG line charts: item characteristic curves, information and conditional SEM.

Written by hand rather than with a plotting library because the charts are simple polylines and the page
needs inline, accessible SVG (a title and description for screen readers, no scripts, nothing to download);
matplotlib would add a heavy dependency to produce the same few paths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

from item_bank.irt.information import information_curves
from item_bank.irt.models import ItemParameters, category_probabilities

# Colour-blind-safe palette (Okabe-Ito), dark enough against white for graphics contrast (WCAG 1.4.11).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
THETA = np.linspace(-4.0, 4.0, 81)


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    dashed: bool = False


def _nice_max(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * 10**exponent
        if top >= value:
            return top
    return 10 ** (exponent + 1)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    x_label: str,
    y_label: str,
    y_max: float | None = None,
    width: int = 460,
    height: int = 260,
) -> Markup:
    """An inline SVG chart of several series sharing the x axis."""
    left, right, top, bottom = 52, 12, 30, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for s in series for x in s.x]
    x_min, x_max = min(xs), max(xs)
    finite = [y for s in series for y in s.y if math.isfinite(y)]
    y_top = y_max if y_max is not None else _nice_max(max(finite, default=1.0))

    def px(x: float) -> float:
        return left + (x - x_min) / (x_max - x_min) * plot_w

    def py(y: float) -> float:
        return top + plot_h - min(max(y, 0.0), y_top) / y_top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#8c959f"/>',
    ]
    for i in range(5):
        value = y_top * i / 4
        y = py(value)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>')
        if i % 2 == 0:  # label every other grid line: 0, half, top
            parts.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value:g}</text>'
            )
    for tick in range(math.ceil(x_min), math.floor(x_max) + 1):
        x = px(tick)
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11">{tick}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" font-size="12">'
        f"{escape(x_label)}</text>"
    )
    parts.append(
        f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {top + plot_h / 2})">{escape(y_label)}</text>'
    )
    for n, s in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(
            f"{px(x):.1f},{py(y):.1f}" for x, y in zip(s.x, s.y, strict=True) if math.isfinite(y)
        )
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{points}"/>')
        lx, ly = left + 8 + (n % 3) * 130, top + 14 + (n // 3) * 14
        parts.append(
            f'<line x1="{lx}" x2="{lx + 16}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" '
            f'stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{lx + 20}" y="{ly}" font-size="11">{escape(s.label)}</text>')
    parts.append("</svg>")
    # Every text that came from outside went through escape() above; the rest is our own markup.
    return Markup("".join(parts))  # noqa: S704


def item_characteristic_curves(
    params: ItemParameters, item_id: str, *, title: str, x_label: str, y_label: str, category_label: str
) -> Markup:
    """Probability of each score category of one item along theta."""
    one = params.subset([item_id])
    probs = category_probabilities(one, THETA)[:, 0, :]
    k = int(one.n_categories[0])
    if k == 2:
        series = [Series(f"{category_label} 1", THETA, probs[:, 1])]
    else:
        series = [Series(f"{category_label} {c}", THETA, probs[:, c]) for c in range(k)]
    description = ", ".join(f"{s.label}: {float(np.interp(0.0, THETA, s.y)):.2f} at theta 0" for s in series)
    return line_chart(
        series, title=title, description=description, x_label=x_label, y_label=y_label, y_max=1.0
    )


def information_chart(
    params: ItemParameters,
    item_ids: Sequence[str] | None,
    *,
    title: str,
    x_label: str,
    y_label: str,
    test_label: str,
) -> Markup:
    """Information of the named items (or of the whole test) along theta."""
    curves = information_curves(params, THETA)
    if item_ids:
        series = [Series(i, THETA, curves.item[:, params.index(i)]) for i in item_ids]
    else:
        series = [Series(test_label, THETA, curves.test)]
    peak = max(series, key=lambda s: float(np.max(s.y)))
    description = (
        f"highest: {peak.label}, {float(np.max(peak.y)):.2f} at theta {float(THETA[np.argmax(peak.y)]):.1f}"
    )
    return line_chart(series, title=title, description=description, x_label=x_label, y_label=y_label)


def sem_chart(params: ItemParameters, *, title: str, x_label: str, y_label: str, label: str) -> Markup:
    """Conditional standard error of measurement of the whole set of items along theta."""
    curves = information_curves(params, THETA)
    sem = np.where(np.isfinite(curves.sem), curves.sem, np.nan)
    lowest = float(np.nanmin(sem))
    description = f"lowest SEM {lowest:.2f} at theta {float(THETA[np.nanargmin(sem)]):.1f}"
    return line_chart(
        [Series(label, THETA, sem)],
        title=title,
        description=description,
        x_label=x_label,
        y_label=y_label,
        y_max=_nice_max(min(float(np.nanmax(sem)), 3.0)),
    )
