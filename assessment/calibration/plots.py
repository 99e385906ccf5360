"""Server-rendered SVG charts: item characteristic curves, information, conditional SEM, and the comparison of
new estimates with the bank's (expected score curves overlaid, scatter plots against the identity line).

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
from item_bank.irt.models import ItemParameters, category_probabilities, expected_score

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


def expected_score_comparison(
    new: ItemParameters,
    bank: ItemParameters,
    item_id: str,
    *,
    title: str,
    x_label: str,
    y_label: str,
    new_label: str,
    bank_label: str,
) -> Markup:
    """One item's expected score curve (its ICC when dichotomous) from the new estimates over the bank's."""
    fresh = expected_score(new.subset([item_id]), THETA)[:, 0]
    old = expected_score(bank.subset([item_id]), THETA)[:, 0]
    top = float(max(new.n_categories[new.index(item_id)], bank.n_categories[bank.index(item_id)]) - 1)
    gap = np.abs(fresh - old)
    description = (
        f"{new_label}: {float(np.interp(0.0, THETA, fresh)):.2f} at theta 0, "
        f"{bank_label}: {float(np.interp(0.0, THETA, old)):.2f}; largest difference "
        f"{float(gap.max()):.2f} at theta {float(THETA[np.argmax(gap)]):.1f}"
    )
    return line_chart(
        [Series(new_label, THETA, fresh), Series(bank_label, THETA, old, dashed=True)],
        title=title,
        description=description,
        x_label=x_label,
        y_label=y_label,
        y_max=top,
    )


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    highlighted: bool = False


def _nice_step(span: float) -> float:
    raw = span / 5 if span > 0 else 1.0
    exponent = math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        if step * 10**exponent >= raw:
            return float(step * 10**exponent)
    return float(10 ** (exponent + 1))


def scatter_chart(
    points: Sequence[Point],
    *,
    title: str,
    x_label: str,
    y_label: str,
    identity_label: str,
    highlight_label: str = "",
    size: int = 320,
) -> Markup:
    """Square scatter plot of ``points`` (bank on x, new on y) with the identity line y = x.

    Both axes share one range so that distance from the diagonal reads as the difference; highlighted points
    (e.g. drift) are drawn as filled squares, so the mark does not rely on colour alone.
    """
    left, right, top, bottom = 52, 12, 30, 44
    plot = size - left - max(right, 0)
    height = plot + top + bottom
    values = [v for p in points for v in (p.x, p.y) if math.isfinite(v)] or [0.0, 1.0]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    step = _nice_step(hi - lo)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step

    def px(x: float) -> float:
        return left + (x - lo) / (hi - lo) * plot

    def py(y: float) -> float:
        return top + plot - (y - lo) / (hi - lo) * plot

    finite = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
    diffs = [p.y - p.x for p in finite]
    description = (
        f"{len(finite)} points; mean difference {sum(diffs) / len(diffs):.2f}, largest "
        f"{max(diffs, key=abs):.2f} ({finite[max(range(len(diffs)), key=lambda n: abs(diffs[n]))].label})"
        if finite
        else "no points"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {height}" width="{size}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" class="chart scatter">',
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot}" height="{plot}" fill="#fff" stroke="#8c959f"/>',
    ]
    n_ticks = round((hi - lo) / step)
    for i in range(n_ticks + 1):
        value = lo + i * step
        x, y = px(value), py(value)
        parts.append(f'<line x1="{left}" x2="{left + plot}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>')
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot}" stroke="#eaeef2"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value:g}</text>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot + 16}" text-anchor="middle" font-size="11">{value:g}</text>'
        )
    parts.append(
        f'<line x1="{px(lo):.1f}" y1="{py(lo):.1f}" x2="{px(hi):.1f}" y2="{py(hi):.1f}" stroke="#57606a" '
        f'stroke-dasharray="5 4" class="identity"><title>{escape(identity_label)}</title></line>'
    )
    parts.append(
        f'<text x="{left + plot / 2}" y="{height - 6}" text-anchor="middle" font-size="12">'
        f"{escape(x_label)}</text>"
    )
    parts.append(
        f'<text x="14" y="{top + plot / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {top + plot / 2})">{escape(y_label)}</text>'
    )
    for p in finite:
        x, y = px(p.x), py(p.y)
        tip = f"<title>{escape(p.label)}: {p.x:.3f} → {p.y:.3f}</title>"
        if p.highlighted:
            parts.append(
                f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{PALETTE[1]}" '
                f'class="point highlighted">{tip}</rect>'
            )
        else:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="none" stroke="{PALETTE[0]}" '
                f'stroke-width="1.5" class="point">{tip}</circle>'
            )
        if len(finite) <= 20:
            parts.append(f'<text x="{x + 6:.1f}" y="{y - 5:.1f}" font-size="9">{escape(p.label)}</text>')
    legend_y = top + 14
    parts.append(
        f'<line x1="{left + 8}" x2="{left + 24}" y1="{legend_y - 4}" y2="{legend_y - 4}" stroke="#57606a" '
        f'stroke-dasharray="5 4"/><text x="{left + 28}" y="{legend_y}" font-size="11">'
        f"{escape(identity_label)}</text>"
    )
    if highlight_label and any(p.highlighted for p in finite):
        parts.append(
            f'<rect x="{left + 12}" y="{legend_y + 6}" width="8" height="8" fill="{PALETTE[1]}"/>'
            f'<text x="{left + 28}" y="{legend_y + 14}" font-size="11">{escape(highlight_label)}</text>'
        )
    parts.append("</svg>")
    # Every text that came from outside went through escape() above; the rest is our own markup.
    return Markup("".join(parts))  # noqa: S704
