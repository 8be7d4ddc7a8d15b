"""Progress chart as server-side SVG: no CDN, no JavaScript, readable when printed (greys and
black, band names written on the chart, every point labelled with its total).

Infusion dates are drawn as dashed vertical lines from `infusion_dates`; infusion sessions arrive
with issue 7, so callers pass an empty list for now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .models import AssessmentSource
from .scoring import InstrumentSpec

WIDTH, HEIGHT = 720, 280
CLINIC, HOME = AssessmentSource.CLINIC.value, AssessmentSource.HOME_CHECKIN.value
SOURCE_WORDS = {CLINIC: "in clinic", HOME: "home check-in"}
LEFT, RIGHT, TOP, BOTTOM = 44, 130, 16, 40
# Light to dark greys: bands stay distinguishable in black-and-white print.
BAND_FILLS = ("#f7f7f7", "#ebebeb", "#dedede", "#d0d0d0", "#c2c2c2", "#b4b4b4")


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def progress_chart_svg(
    *,
    spec: InstrumentSpec,
    points: Sequence[tuple[datetime, int]],
    tz: tzinfo,
    infusion_dates: Sequence[date] = (),
    sources: Sequence[str] | None = None,
) -> SafeString:
    """One instrument's totals over time (oldest first) with its severity bands shaded.

    With `sources` (one `AssessmentSource` value per point, issue 18 section 1) home check-ins
    are drawn as hollow squares and clinic scores as filled circles, each point's title says
    which it is, and a legend under the plot names both: one line, two kinds of mark, readable
    in black-and-white print."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    lo, hi = spec.total_min, spec.total_max
    span = max(hi - lo, 1)

    def y(total: float) -> float:
        return TOP + plot_h - (total - lo) / span * plot_h

    local = [(when.astimezone(tz), total) for when, total in points]
    times = [when.timestamp() for when, _ in local]
    infusion_times = [
        datetime(d.year, d.month, d.day, 12, tzinfo=tz).timestamp() for d in infusion_dates
    ]
    t_all = times + infusion_times
    t0, t1 = (min(t_all), max(t_all)) if t_all else (0.0, 1.0)

    def x(t: float) -> float:
        if t1 == t0:
            return LEFT + plot_w / 2
        return LEFT + (t - t0) / (t1 - t0) * plot_w

    title = f"{spec.code} total over time"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'class="progress-chart" font-family="sans-serif" role="img" '
        f'aria-labelledby="chart-{escape(spec.code)}-title">',
        f'<title id="chart-{escape(spec.code)}-title">{escape(title)}</title>',
    ]
    for index, band in enumerate(spec.bands):
        top, bottom = (
            y(band.max + 0.5 if band.max < hi else hi),
            y(band.min - 0.5 if band.min > lo else lo),
        )
        fill = BAND_FILLS[min(index, len(BAND_FILLS) - 1)]
        parts.append(
            f'<rect class="band" x="{LEFT}" y="{_fmt(top)}" width="{plot_w}" '
            f'height="{_fmt(bottom - top)}" fill="{fill}" stroke="#9a9a9a" stroke-width="0.5"/>'
        )
        parts.append(
            f'<text x="{LEFT + plot_w + 6}" y="{_fmt((top + bottom) / 2 + 4)}" font-size="11" '
            f'fill="#222">{escape(band.label)} ({band.min}-{band.max})</text>'
        )
    # Axes with the range's ends and the band edges as ticks.
    ticks = sorted({lo, hi, *(b.min for b in spec.bands)})
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#222"/>'
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="#222"/>'
    )
    for tick in ticks:
        parts.append(
            f'<text x="{LEFT - 6}" y="{_fmt(y(tick) + 4)}" font-size="11" text-anchor="end" '
            f'fill="#222">{tick}</text>'
        )
    for when in infusion_times:
        parts.append(
            f'<line class="infusion" x1="{_fmt(x(when))}" y1="{TOP}" x2="{_fmt(x(when))}" '
            f'y2="{TOP + plot_h}" stroke="#555" stroke-dasharray="4 3"/>'
        )
    if local:
        coords = " ".join(
            f"{_fmt(x(t))},{_fmt(y(total))}" for t, (_, total) in zip(times, local, strict=True)
        )
        parts.append(f'<polyline points="{coords}" fill="none" stroke="#111" stroke-width="2"/>')
        label_every = max(1, len(local) // 8)
        kinds = list(sources) if sources is not None else [None] * len(local)
        for index, (t, (when, total), kind) in enumerate(zip(times, local, kinds, strict=True)):
            day = when.strftime("%Y-%m-%d")
            cx, cy = x(t), y(total)
            if kind == HOME:
                mark = (
                    f'<rect x="{_fmt(cx - 4)}" y="{_fmt(cy - 4)}" width="8" height="8" '
                    'fill="#fff" stroke="#111" stroke-width="2"/>'
                )
            else:
                mark = f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="4" fill="#111"/>'
            where = "" if kind is None else f" ({SOURCE_WORDS.get(kind, kind)})"
            css = "point" if kind is None else f"point {escape(kind)}"
            parts.append(
                f'<g class="{css}"><title>{total} on {day}{escape(where)}</title>{mark}'
                f'<text x="{_fmt(cx)}" y="{_fmt(cy - 8)}" font-size="11" '
                f'text-anchor="middle" fill="#111">{total}</text></g>'
            )
            if index % label_every == 0 or index == len(local) - 1:
                parts.append(
                    f'<text x="{_fmt(x(t))}" y="{TOP + plot_h + 16}" font-size="10" '
                    f'text-anchor="middle" fill="#222">{day}</text>'
                )
        if sources is not None:
            legend_y = TOP + plot_h + 32
            parts.append(
                f'<g class="legend"><circle cx="{LEFT + 4}" cy="{legend_y - 4}" r="4" '
                f'fill="#111"/><text x="{LEFT + 12}" y="{legend_y}" font-size="11" '
                f'fill="#222">{SOURCE_WORDS[CLINIC]}</text>'
                f'<rect x="{LEFT + 100}" y="{legend_y - 8}" width="8" height="8" fill="#fff" '
                f'stroke="#111" stroke-width="2"/><text x="{LEFT + 114}" y="{legend_y}" '
                f'font-size="11" fill="#222">{SOURCE_WORDS[HOME]}</text></g>'
            )
    else:
        parts.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
            'font-size="13" fill="#222">No submitted responses yet</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text piece above is escaped
