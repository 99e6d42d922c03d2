"""Charts drawn on the server as inline SVG: no script, no library, nothing from a CDN."""

from __future__ import annotations

from datetime import date, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 130
_LEFT, _BOTTOM, _TOP = 34, 18, 8  # room for the scale and the dates


def day_chart(first: date, series: dict[str, list[int]]) -> Markup:
    """Bars side by side per day, one colour (CSS class) per series, from ``first`` on; each
    bar's title says its day and count, for a pointer or a screen reader."""
    names = list(series)
    days = len(next(iter(series.values()), []))
    peak = max((max(values, default=0) for values in series.values()), default=0) or 1
    slot = (WIDTH - _LEFT) / max(days, 1)
    bar = slot * 0.8 / max(len(names), 1)
    plot = HEIGHT - _BOTTOM - _TOP
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(" and ".join(names))} per day, last {days} days">',
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end">{peak}</text>',
        f'<text x="{_LEFT - 4}" y="{_TOP + plot}" text-anchor="end">0</text>',
        f'<line x1="{_LEFT}" y1="{_TOP + plot}" x2="{WIDTH}" y2="{_TOP + plot}"/>',
    ]
    for day in range(days):
        when = first + timedelta(days=day)
        for index, name in enumerate(names):
            count = series[name][day]
            height = plot * count / peak
            x = _LEFT + day * slot + slot * 0.1 + index * bar
            parts.append(
                f'<rect class="{escape(name)}" x="{x:.1f}" y="{_TOP + plot - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}"><title>{when.isoformat()}: '
                f"{count} {escape(name)}</title></rect>"
            )
    for day, anchor in ((0, "start"), (days - 1, "end")):
        label = (first + timedelta(days=day)).strftime("%b %d")
        x = _LEFT if anchor == "start" else WIDTH
        parts.append(f'<text x="{x}" y="{HEIGHT - 4}" text-anchor="{anchor}">{label}</text>')
    return Markup("".join(parts) + "</svg>")
