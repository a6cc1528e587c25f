"""Server-rendered line charts as inline SVG: no script, no CDN, no build step.

The page's Content-Security-Policy forbids inline styles, so the SVG uses presentation
attributes and CSS classes only (`chart__line--0..2` in flow.css). Every chart carries a
`<title>`/`<desc>` and the page shows the latest values as text, so the numbers are readable
without seeing the picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 200
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    points: Sequence[tuple[datetime, float]]


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    unit: str
    lines: Sequence[Line]
    start: datetime
    end: datetime
    floor: float = 0.0  # the y axis starts here unless a value is lower
    ceiling: float | None = None  # e.g. 100 for percentages

    @property
    def empty(self) -> bool:
        return not any(line.points for line in self.lines)


def _y_range(chart: Chart) -> tuple[float, float]:
    values = [value for line in chart.lines for _, value in line.points]
    low = min([chart.floor, *values])
    high = max([chart.ceiling or 0.0, *values])
    if high <= low:  # all values equal (an all-zero KPI): a unit span, not a 1e-09 axis
        high = low + 1.0
    if chart.ceiling is None:
        high = _nice(high)
    return low, high


def _nice(value: float) -> float:
    """Round an axis maximum up to 1, 2 or 5 x a power of ten, so ticks read well."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= value))


def _format(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def render(chart: Chart, *, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    low, high = _y_range(chart)
    span = (chart.end - chart.start).total_seconds() or 1.0

    def x(moment: datetime) -> float:
        return MARGIN_LEFT + plot_w * (moment - chart.start).total_seconds() / span

    def y(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(chart.title)} ({escape(chart.unit)})" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(chart.title)}</title>",
        f"<desc>{escape(_describe(chart))}</desc>",
    ]
    parts += _grid(low, high, y, width)
    parts += _time_axis(chart, x, height)
    for index, line in enumerate(chart.lines):
        if line.points:
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in line.points)
            parts.append(
                f'<polyline class="chart__line chart__line--{index % 3}" fill="none" '
                f'points="{coords}"><title>{escape(line.label)}</title></polyline>'
            )
    if chart.empty:
        parts.append(
            f'<text class="chart__empty" x="{width / 2:.0f}" y="{height / 2:.0f}" '
            'text-anchor="middle">No samples in this range</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def _grid(low: float, high: float, y: Callable[[float], float], width: int) -> list[str]:
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        value = low + (high - low) * fraction
        pos = y(value)
        parts.append(
            f'<line class="chart__grid" x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" '
            f'y1="{pos:.1f}" y2="{pos:.1f}"/>'
            f'<text class="chart__tick" x="{MARGIN_LEFT - 6}" y="{pos + 4:.1f}" '
            f'text-anchor="end">{escape(_format(value))}</text>'
        )
    return parts


def _time_axis(chart: Chart, x: Callable[[datetime], float], height: int) -> list[str]:
    short = (chart.end - chart.start).total_seconds() <= 2 * 86400
    pattern = "%H:%M" if short else "%d %b"
    parts = []
    for moment, anchor in ((chart.start, "start"), (chart.end, "end")):
        parts.append(
            f'<text class="chart__tick" x="{x(moment):.1f}" y="{height - 8}" '
            f'text-anchor="{anchor}">{escape(moment.strftime(pattern))} UTC</text>'
        )
    return parts


def _describe(chart: Chart) -> str:
    if chart.empty:
        return f"{chart.title}: no samples in the selected range."
    latest = [
        f"{line.label} latest {_format(line.points[-1][1])} {chart.unit}"
        for line in chart.lines
        if line.points
    ]
    return f"{chart.title}: " + "; ".join(latest)
