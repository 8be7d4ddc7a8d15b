"""Server-side SVG bar charts for the analytics page, like outcomes.chart: no JavaScript, no CDN,
no inline style (the CSP forbids it), greys that print, every bar labelled with its value."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 28, 48


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def bar_chart_svg(
    *,
    title: str,
    bars: Sequence[tuple[str, Decimal | int | None]],
    unit: str = "",
    max_value: Decimal | int | None = None,
    height: int = 240,
) -> SafeString:
    """Vertical bars, one per (label, value); a None value is drawn as "n/a" with no bar."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = height - TOP - BOTTOM
    values = [float(v) for _, v in bars if v is not None]
    top = float(max_value) if max_value is not None else max([*values, 1.0])
    top = top or 1.0
    slot = plot_w / max(len(bars), 1)
    bar_w = max(min(slot * 0.7, 48), 2)
    label_every = max(1, len(bars) // 12)
    ident = "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'class="analytics-chart" font-family="sans-serif" role="img" '
        f'aria-labelledby="{escape(ident)}">',
        f'<title id="{escape(ident)}">{escape(title)}</title>',
        f'<text x="{LEFT}" y="16" font-size="13" fill="#111">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="#222"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" font-size="10" text-anchor="end" fill="#222">'
        f"{escape(_number(top))}{escape(unit)}</text>",
        f'<text x="{LEFT - 6}" y="{TOP + plot_h + 4}" font-size="10" text-anchor="end" '
        'fill="#222">0</text>',
    ]
    for index, (label, value) in enumerate(bars):
        centre = LEFT + slot * index + slot / 2
        text = "n/a" if value is None else f"{_number(value)}{unit}"
        bar_h = 0.0 if value is None else min(float(value) / top, 1.0) * plot_h
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {escape(text)}</title>'
            f'<rect x="{_fmt(centre - bar_w / 2)}" y="{_fmt(TOP + plot_h - bar_h)}" '
            f'width="{_fmt(bar_w)}" height="{_fmt(bar_h)}" fill="#555"/>'
            f'<text x="{_fmt(centre)}" y="{_fmt(TOP + plot_h - bar_h - 4)}" font-size="10" '
            f'text-anchor="middle" fill="#111">{escape(text)}</text></g>'
        )
        if index % label_every == 0 or index == len(bars) - 1:
            parts.append(
                f'<text x="{_fmt(centre)}" y="{TOP + plot_h + 16}" font-size="10" '
                f'text-anchor="middle" fill="#222">{escape(label)}</text>'
            )
    if not bars:
        parts.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
            'font-size="13" fill="#222">No data in this range</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text piece above is escaped


def _number(value: Decimal | int | float) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
