"""The data behind an interactive chart, as the JSON `web/static/charts.js` draws with uPlot.

Pages render an accessible fallback first (SVG, figures as text) and embed this JSON in a
`<script type="application/json">` (no inline script: the CSP allows none); charts.js upgrades
the fallback when it runs. uPlot wants one shared x array with every series aligned to it, so
the series are aligned here, where the types are known, and the script stays small.

Shape (`kind: "time"`; x in Unix seconds, UTC):
    {"kind", "title", "unit", "empty", "x": [...],
     "series": [{"label", "values": [... or null], "style": "line|forecast|threshold|
                 points|hidden"}],
     "bands": [{"label", "lower": i, "upper": j}]   (indexes into series),
     "markers": [{"label", "at", "from", "to"}],    (vertical lines with an optional shaded
                                                     span, e.g. a predicted crossing)
     "summary": "the chart in words"}
`kind: "category"` has `labels` (one per x position) instead of times, e.g. retention periods.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Style = Literal["line", "forecast", "threshold", "points", "hidden"]

EMPTY = "No data yet in this period"


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: Sequence[tuple[datetime, float]]
    style: Style = "line"


@dataclass(frozen=True, slots=True)
class Band:
    label: str
    lower: Series
    upper: Series


@dataclass(frozen=True, slots=True)
class Marker:
    label: str
    at: datetime
    since: datetime | None = None  # a shaded span around the line (its uncertainty)
    until: datetime | None = None  # None with `since`: to the end of the chart


@dataclass(frozen=True, slots=True)
class TimeChart:
    title: str
    unit: str
    series: Sequence[Series]
    bands: Sequence[Band] = ()
    markers: Sequence[Marker] = ()
    thresholds: Sequence[tuple[str, float]] = ()  # drawn as flat dashed lines across the range
    empty: str = EMPTY
    floor: float | None = None  # the y axis includes this value (0 for counts)
    ceiling: float | None = None  # e.g. 100 for percentages
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not any(s.points for s in self.series)


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they are stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _number(value: float) -> float | None:
    # JSON has no NaN or Infinity; a gap is null, which uPlot draws as a break in the line.
    return float(value) if math.isfinite(value) else None


def time_chart(chart: TimeChart) -> dict[str, Any]:
    """The chart as JSON-ready data: every series aligned on the union of their times."""
    banded = [s for band in chart.bands for s in (band.lower, band.upper)]
    xs = sorted({_seconds(t) for s in [*chart.series, *banded] for t, _ in s.points})
    position = {x: i for i, x in enumerate(xs)}

    def aligned(s: Series, style: Style) -> dict[str, Any]:
        values: list[float | None] = [None] * len(xs)
        for moment, value in s.points:
            values[position[_seconds(moment)]] = _number(value)
        return {"label": s.label, "style": style, "values": values}

    series = [aligned(s, s.style) for s in chart.series]
    bands = []
    for band in chart.bands:  # the band's edges are series uPlot fills between, not lines
        bands.append({"label": band.label, "lower": len(series), "upper": len(series) + 1})
        series += [aligned(band.lower, "hidden"), aligned(band.upper, "hidden")]
    if xs:
        series += [
            {"label": label, "style": "threshold", "values": [_number(level)] * len(xs)}
            for label, level in chart.thresholds
        ]
    return {
        "kind": "time",
        "title": chart.title,
        "unit": chart.unit,
        "empty": chart.empty,
        "x": xs,
        "series": series,
        "bands": bands,
        "markers": [
            {
                "label": m.label,
                "at": _seconds(m.at),
                "from": None if m.since is None else _seconds(m.since),
                "to": None if m.until is None else _seconds(m.until),
            }
            for m in chart.markers
        ],
        "range": {"floor": chart.floor, "ceiling": chart.ceiling},
        "summary": summary(chart),
        **chart.extra,
    }


def category_chart(
    title: str,
    unit: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    empty: str = EMPTY,
    ceiling: float | None = None,
) -> dict[str, Any]:
    """Lines over named positions (retention periods, funnel steps): x is 0..n-1."""
    if not series:
        labels = []
    drawn = [
        {
            "label": label,
            "style": "line",
            "values": [None if v is None else _number(v) for v in values],
        }
        for label, values in series
    ]
    described = "; ".join(
        f"{label}: " + ", ".join(f"{at} {_shown(v)}" for at, v in zip(labels, values, strict=False))
        for label, values in series
    )
    return {
        "kind": "category",
        "title": title,
        "unit": unit,
        "empty": empty,
        "labels": list(labels),
        "x": list(range(len(labels))),
        "series": drawn,
        "bands": [],
        "markers": [],
        "range": {"floor": 0, "ceiling": ceiling},
        "summary": f"{title} ({unit}): {described}" if labels and series else f"{title}: {empty}",
    }


def _shown(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def summary(chart: TimeChart) -> str:
    """The chart in words, for screen readers once the canvas replaces the fallback."""
    if chart.is_empty:
        return f"{chart.title}: {chart.empty.lower()}."
    parts = []
    for s in chart.series:
        if not s.points or s.style == "hidden":
            continue
        values = [v for _, v in s.points if math.isfinite(v)]
        if values:
            parts.append(
                f"{s.label} latest {_shown(values[-1])}, lowest {_shown(min(values))}, "
                f"highest {_shown(max(values))}"
            )
    return f"{chart.title} ({chart.unit}): " + "; ".join(parts)
