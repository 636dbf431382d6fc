"""Charts as server-made SVG: no chart library, no script, and the page renders the same in a
browser, a screenshot or a mail client. Values are escaped; colours come from one palette."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777",
           "#4b5563", "#65a30d", "#9333ea", "#0d9488", "#ea580c")
STATUS_COLOURS = {"sent": "#16a34a", "failed": "#d97706", "dead": "#dc2626",
                  "pending": "#2563eb"}


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def line_chart(
    series: dict[str, list[float]], *, start: datetime, step: timedelta, title: str,
    width: int = 720, height: int = 200, colours: dict[str, str] | None = None,
) -> SafeString:
    """One line per series over equal time steps from ``start`` (values per step)."""
    left, right, top, bottom = 44, 10, 22, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    points = max((len(values) for values in series.values()), default=0)
    peak = max((max(values) for values in series.values() if values), default=0) or 1
    parts = [
        format_html('<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" '
                    'width="100%" preserveAspectRatio="xMidYMid meet" '
                    'xmlns="http://www.w3.org/2000/svg">', title, width, height),
        format_html('<text x="{}" y="14" class="chart-title">{}</text>', left, title),
        format_html('<line x1="{}" y1="{}" x2="{}" y2="{}" class="chart-axis"/>',
                    left, top + plot_h, left + plot_w, top + plot_h),
        format_html('<text x="{}" y="{}" text-anchor="end" class="chart-label">{}</text>',
                    left - 4, top + 8, _number(peak)),
        format_html('<text x="{}" y="{}" text-anchor="end" class="chart-label">0</text>',
                    left - 4, top + plot_h),
    ]
    if points > 1:
        for tick in range(5):  # start, every quarter, now
            index = round(tick * (points - 1) / 4)
            x = left + plot_w * index / (points - 1)
            label = (start + step * index).strftime("%H:%M")
            anchor = "start" if tick == 0 else "end" if tick == 4 else "middle"
            parts.append(format_html(
                '<text x="{}" y="{}" text-anchor="{}" class="chart-label">{}</text>',
                f"{x:.1f}", height - 6, anchor, label))
    palette = iter(PALETTE)
    legend_x = left + plot_w
    for name, values in series.items():
        colour = (colours or {}).get(name) or next(palette, "#4b5563")
        if len(values) > 1:
            coordinates = " ".join(
                f"{left + plot_w * i / (len(values) - 1):.1f},"
                f"{top + plot_h - plot_h * value / peak:.1f}"
                for i, value in enumerate(values)
            )
            parts.append(format_html(
                '<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}" '
                'data-series="{}"><title>{}: {} in all</title></polyline>',
                colour, coordinates, name, name, _number(sum(values))))
        legend_x -= 9 + 7 * len(name)
        parts.append(format_html(
            '<text x="{}" y="14" style="fill: {}" class="chart-legend">{}</text>',
            legend_x, colour, name))
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(parts))


def bar_chart(
    bars: list[tuple[str, float]], *, title: str, unit: str = "", width: int = 340,
    limit: float | None = None,
) -> SafeString:
    """Horizontal bars, one per (label, value); ``limit`` draws a budget line."""
    row, left, top = 24, 120, 24
    height = top + row * max(len(bars), 1) + 8
    plot_w = width - left - 50
    peak = max([value for _, value in bars] + [limit or 0]) or 1
    parts = [
        format_html('<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" '
                    'width="100%" xmlns="http://www.w3.org/2000/svg">', title, width, height),
        format_html('<text x="4" y="14" class="chart-title">{}</text>', title),
    ]
    if not bars:
        parts.append(format_html('<text x="4" y="{}" class="chart-label">none</text>', top + 14))
    for index, (label, value) in enumerate(bars):
        y = top + index * row
        colour = "#dc2626" if limit is not None and value > limit else PALETTE[0]
        parts.append(format_html(
            '<text x="{}" y="{}" text-anchor="end" class="chart-label">{}</text>'
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" data-bar="{}"/>'
            '<text x="{}" y="{}" class="chart-label">{}{}</text>',
            left - 6, y + 14, label, left, y + 2, f"{plot_w * value / peak:.1f}", row - 8,
            colour, label, f"{left + plot_w * value / peak + 4:.1f}",
            y + 14, _number(value), unit))
    if limit:
        x = left + plot_w * limit / peak
        parts.append(format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" class="chart-limit"/>'
            '<text x="{}" y="{}" text-anchor="end" class="chart-label">limit {}</text>',
            f"{x:.1f}", top - 4, f"{x:.1f}", height - 4, f"{x - 3:.1f}", height - 6,
            _number(limit)))
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(parts))



def averaged(values: list[float], size: int) -> list[float]:
    """The mean of each run of ``size`` values (the last run may be shorter)."""
    return [
        sum(values[start : start + size]) / len(values[start : start + size])
        for start in range(0, len(values), size)
    ]
