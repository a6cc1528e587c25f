"""The forecast chart as inline SVG: history, seasonal forecast with its band, anomalies,
threshold and the predicted crossing (a vertical line, its 80 % time band shaded).

Same rules as `metrics_history/charts.py`: no script, no inline style (the CSP forbids it),
only presentation attributes and `forecast-chart__*` classes from web/static/flow.css, and a
`<title>`/`<desc>` that says in words what the picture shows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape

from markupsafe import Markup

from intuitivus_flow.forecasting.schemas import Forecast
from intuitivus_flow.metrics_history.charts import (
    HEIGHT,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    MARGIN_TOP,
    WIDTH,
)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _y_range(forecast: Forecast) -> tuple[float, float]:
    values = [p.value for p in forecast.history]
    values += [v for p in forecast.forecast for v in (p.lower, p.upper)]
    if forecast.threshold is not None:
        values.append(forecast.threshold.value)
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or 1.0
    return low - pad, high + pad


def _x_range(forecast: Forecast) -> tuple[datetime, datetime]:
    moments = [p.time for p in forecast.history] + [p.time for p in forecast.forecast]
    if not moments:
        return forecast.generated_at, forecast.generated_at
    return min(moments), max(moments)


def render(forecast: Forecast, *, title: str, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    low, high = _y_range(forecast)
    start, end = _x_range(forecast)
    span = (end - start).total_seconds() or 1.0

    def x(moment: datetime) -> float:
        return MARGIN_LEFT + plot_w * (moment - start).total_seconds() / span

    def y(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg class="chart forecast-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(describe(forecast))}</desc>",
    ]
    parts += _axes(low, high, start, end, x, y, width, height)
    parts += _band(forecast, x, y)
    parts += _crossing(forecast, x, height, (start, end))
    parts += _lines(forecast, x, y)
    parts += _threshold(forecast, y, width)
    parts += _anomalies(forecast, x, y)
    if not forecast.history:
        parts.append(
            f'<text class="chart__empty" x="{width / 2:.0f}" y="{height / 2:.0f}" '
            'text-anchor="middle">No samples in this range</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


Scale = Callable[[float], float]
TimeScale = Callable[[datetime], float]


def _axes(
    low: float, high: float, start: datetime, end: datetime, x: TimeScale, y: Scale, w: int, h: int
) -> list[str]:
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        value = low + (high - low) * fraction
        pos = y(value)
        parts.append(
            f'<line class="chart__grid" x1="{MARGIN_LEFT}" x2="{w - MARGIN_RIGHT}" '
            f'y1="{pos:.1f}" y2="{pos:.1f}"/>'
            f'<text class="chart__tick" x="{MARGIN_LEFT - 6}" y="{pos + 4:.1f}" '
            f'text-anchor="end">{escape(_fmt(value))}</text>'
        )
    for moment, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text class="chart__tick" x="{x(moment):.1f}" y="{h - 8}" '
            f'text-anchor="{anchor}">{escape(moment.strftime("%d %b %H:%M"))} UTC</text>'
        )
    return parts


def _band(forecast: Forecast, x: TimeScale, y: Scale) -> list[str]:
    if not forecast.forecast:
        return []
    upper = [f"{x(p.time):.1f},{y(p.upper):.1f}" for p in forecast.forecast]
    lower = [f"{x(p.time):.1f},{y(p.lower):.1f}" for p in reversed(forecast.forecast)]
    return [
        f'<polygon class="forecast-chart__band" points="{" ".join(upper + lower)}">'
        "<title>80 % forecast band</title></polygon>"
    ]


def _crossing(
    forecast: Forecast, x: TimeScale, height: int, span: tuple[datetime, datetime]
) -> list[str]:
    breach = forecast.breach
    if breach is None:
        return []
    start, end = span
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    # The band's late end may lie beyond the drawn horizon (or be "never"): clip to the plot.
    early = x(max(start, min(end, breach.earliest)))
    late = x(end if breach.latest is None else max(start, min(end, breach.latest)))
    at = x(max(start, min(end, breach.predicted_at)))
    label = f"predicted crossing {breach.predicted_at:%d %b %H:%M} UTC"
    return [
        f'<rect class="forecast-chart__crossing-band" x="{early:.1f}" y="{top}" '
        f'width="{max(late - early, 1.0):.1f}" height="{bottom - top}">'
        "<title>80 % band of the crossing time</title></rect>",
        f'<line class="forecast-chart__crossing" x1="{at:.1f}" x2="{at:.1f}" '
        f'y1="{top}" y2="{bottom}"><title>{escape(label)}</title></line>',
    ]


def _lines(forecast: Forecast, x: TimeScale, y: Scale) -> list[str]:
    parts = []
    for css, label, points in (
        ("forecast-chart__history", "history", [(p.time, p.value) for p in forecast.history]),
        ("forecast-chart__forecast", "forecast", [(p.time, p.value) for p in forecast.forecast]),
    ):
        if points:
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
            parts.append(
                f'<polyline class="{css}" fill="none" points="{coords}">'
                f"<title>{label}</title></polyline>"
            )
    return parts


def _threshold(forecast: Forecast, y: Scale, width: int) -> list[str]:
    if forecast.threshold is None:
        return []
    pos = y(forecast.threshold.value)
    label = f"threshold {forecast.threshold.operator} {_fmt(forecast.threshold.value)}"
    return [
        f'<line class="forecast-chart__threshold" x1="{MARGIN_LEFT}" '
        f'x2="{width - MARGIN_RIGHT}" y1="{pos:.1f}" y2="{pos:.1f}">'
        f"<title>{escape(label)}</title></line>"
    ]


def _anomalies(forecast: Forecast, x: TimeScale, y: Scale) -> list[str]:
    return [
        f'<circle class="forecast-chart__anomaly" cx="{x(a.time):.1f}" cy="{y(a.value):.1f}" '
        f'r="5"><title>{escape(f"anomaly at {a.time:%H:%M} UTC: {_fmt(a.value)}")}</title>'
        "</circle>"
        for a in forecast.anomalies
    ]


def describe(forecast: Forecast) -> str:
    """The chart in words (for the <desc> and screen readers)."""
    if not forecast.history:
        return f"{forecast.name}: no samples in the selected range."
    words = [f"{forecast.name}: latest {_fmt(forecast.history[-1].value)}"]
    if forecast.forecast:
        last = forecast.forecast[-1]
        seasons = " and ".join(forecast.seasonality) or "no"
        words.append(
            f"forecast with {seasons} seasonality {_fmt(last.value)} "
            f"({_fmt(last.lower)} to {_fmt(last.upper)}) "
            f"at {last.time:%d %b %H:%M} UTC"
        )
    if forecast.threshold is not None:
        words.append(f"threshold {forecast.threshold.operator} {_fmt(forecast.threshold.value)}")
    if forecast.breach is not None:
        words.append(f"predicted to cross at {forecast.breach.predicted_at:%d %b %H:%M} UTC")
    words.append(f"{len(forecast.anomalies)} anomalies")
    return "; ".join(words)
