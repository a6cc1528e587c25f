"""Charts people can read (issue 17): the data behind the interactive charts, the server's
fallback without JavaScript, empty states, and the chart library loaded only where charts are."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import httpx

from intuitivus_flow.alerts.models import Alert, AlertState, AlertTransition
from intuitivus_flow.analytics.schemas import Period, RetentionCohort, RetentionKind
from intuitivus_flow.analytics.schemas import RetentionResult as Retention
from intuitivus_flow.kit import chart_data
from intuitivus_flow.kit.bar_chart import Bar, render_bars
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.web.analytics_event_pages import retention_curve
from intuitivus_flow.web.templating import templates
from tests.web.browsing import Web, sign_up, text_of

UPLOT = "/static/vendor/uplot/1.6.32/uPlot.iife.min.js"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_DATA = re.compile(r'<script type="application/json" id="([\w-]+)">(.*?)</script>', re.S)


def _charts_of(html: str) -> dict[str, dict[str, object]]:
    return {name: json.loads(body) for name, body in _DATA.findall(html)}


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


class TestTimeChart:
    def test_series_are_aligned_on_the_union_of_their_times(self) -> None:
        chart = chart_data.TimeChart(
            title="Response time",
            unit="ms",
            series=[
                chart_data.Series("p50", [(_at(0), 10.0), (_at(10), 12.0)]),
                chart_data.Series("p95", [(_at(5), 40.0), (_at(10), math.nan)]),
            ],
            thresholds=[("threshold > 50", 50.0)],
            markers=[chart_data.Marker("crossing", _at(7), _at(6), None)],
        )
        data = chart_data.time_chart(chart)
        assert data["x"] == [int(_at(m).timestamp()) for m in (0, 5, 10)]
        series = data["series"]
        assert isinstance(series, list)
        assert [s["label"] for s in series] == ["p50", "p95", "threshold > 50"]
        assert series[0]["values"] == [10.0, None, 12.0]  # a gap is null: a break in the line
        assert series[1]["values"] == [None, 40.0, None]  # NaN is no JSON number
        assert series[2] == {
            "label": "threshold > 50",
            "style": "threshold",
            "values": [50.0, 50.0, 50.0],
        }
        assert data["markers"] == [
            {
                "label": "crossing",
                "at": int(_at(7).timestamp()),
                "from": int(_at(6).timestamp()),
                "to": None,
            }
        ]
        assert data["unit"] == "ms"
        assert data["summary"] == (
            "Response time (ms): p50 latest 12, lowest 10, highest 12; "
            "p95 latest 40, lowest 40, highest 40"
        )
        json.dumps(data, allow_nan=False)  # what the page embeds is strict JSON

    def test_a_band_is_two_hidden_series_filled_between(self) -> None:
        chart = chart_data.TimeChart(
            title="Forecast",
            unit="",
            series=[chart_data.Series("forecast", [(_at(0), 5.0)], style="forecast")],
            bands=[
                chart_data.Band(
                    "80 % band",
                    chart_data.Series("low", [(_at(0), 4.0)]),
                    chart_data.Series("high", [(_at(0), 6.0)]),
                )
            ],
        )
        data = chart_data.time_chart(chart)
        assert data["bands"] == [{"label": "80 % band", "lower": 1, "upper": 2}]
        series = data["series"]
        assert isinstance(series, list)
        assert [(s["label"], s["style"], s["values"]) for s in series] == [
            ("forecast", "forecast", [5.0]),
            ("low", "hidden", [4.0]),
            ("high", "hidden", [6.0]),
        ]

    def test_no_points_is_the_empty_state(self) -> None:
        chart = chart_data.TimeChart(
            "CPU", "%", [chart_data.Series("CPU", [])], thresholds=[("limit", 90.0)]
        )
        data = chart_data.time_chart(chart)
        assert data["x"] == []
        assert data["series"] == [{"label": "CPU", "style": "line", "values": []}]  # no threshold
        assert data["empty"] == "No data yet in this period"
        assert data["summary"] == "CPU: no data yet in this period."


def test_retention_curve_weights_cohorts_and_leaves_out_periods_not_begun() -> None:
    today = date(2026, 3, 20)
    result = Retention(
        period=Period.week,
        kind=RetentionKind.first_time,
        cohorts=[
            RetentionCohort(
                cohort="2026-03-02", size=30, retained=[30, 15, 6], rates=[1, 0.5, 0.2]
            ),
            # Its week 2 starts on 2026-03-23, after `today`: unknown, not 0 %.
            RetentionCohort(cohort="2026-03-09", size=10, retained=[10, 3, 0], rates=[1, 0.3, 0]),
            RetentionCohort(cohort="2026-03-16", size=0, retained=[0, 0, 0], rates=[0, 0, 0]),
        ],
    )
    curve = retention_curve(result, today=today)
    assert curve["kind"] == "category"
    assert curve["labels"] == ["week 0", "week 1", "week 2"]
    assert curve["unit"] == "%"
    series = curve["series"]
    assert isinstance(series, list)
    overall, first, second = series  # the empty cohort draws no line
    assert overall["label"] == "all cohorts"
    assert overall["values"] == [100.0, 45.0, 20.0]  # (30*50 + 10*30) / 40 = 45
    assert first["values"] == [100.0, 50.0, 20.0]
    assert second == {"label": "from 2026-03-09", "style": "line", "values": [100.0, 30.0, None]}

    nothing = retention_curve(
        Retention(period=Period.day, kind=RetentionKind.first_time, cohorts=[]), today=today
    )
    assert nothing["x"] == []
    assert nothing["empty"] == "No cohorts yet in this period"


class TestBars:
    def test_text_keeps_its_size_and_values_sit_beside_labels(self) -> None:
        svg = str(
            render_bars(
                "Spend <by> platform",
                [
                    Bar("meta (BRL)", 250_00, "R$ 250,00 · ROAS 3.10"),
                    Bar("google & co", 0, "R$ 0,00"),
                ],
            )
        )
        assert "viewBox" not in svg  # a scaled viewBox shrank labels to 6 px
        assert 'width="100%"' in svg
        assert 'height="92"' in svg
        assert 'width="100.0%"' in svg  # the largest bar spans the width
        assert svg.count('class="bars__bar ') == 1  # a zero draws no bar
        assert "R$ 250,00 · ROAS 3.10</tspan>" in svg  # whole, never clipped
        assert "google &amp; co" in svg
        assert "Spend &lt;by&gt; platform" in svg
        assert "style=" not in svg

    def test_no_bars_say_so(self) -> None:
        assert str(render_bars("x", [])) == '<p class="empty">Nothing to show yet.</p>'


def test_embedded_data_cannot_close_its_script_element() -> None:
    data = chart_data.time_chart(
        chart_data.TimeChart(
            "t", "u", [chart_data.Series("</script><script>alert(1)</script>", [(T0, 1.0)])]
        )
    )
    macros = templates.env.get_template("_charts.html").make_module({"static_url": str})
    figure = macros.figure  # type: ignore[attr-defined]  # a template macro
    html = str(figure("x", data))
    assert "</script><script>" not in html
    assert len(_DATA.findall(html)) == 1
    assert _charts_of(html)["x-data"]["series"][0]["label"].startswith("</script>")  # type: ignore[index]


async def test_service_health_embeds_the_chart_data_and_keeps_a_fallback(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    now = datetime.now(UTC).replace(microsecond=0)
    samples = [
        MetricSample(name=name, time=now - timedelta(minutes=m), instance="i", value=v)
        for name, series in (
            ("response_time_p95_ms", ((30, 120.0), (20, 480.0), (10, 250.0))),
            ("cpu_usage_percent", ((20, 35.5),)),
        )
        for m, v in series
    ]
    async with unit_of_work(web.app.state.context.sessions) as session:
        await history.record(session, samples)
    page = await browser.get("/service-health?range=1h")
    assert page.status_code == 200
    html = page.text
    charts = _charts_of(html)
    assert sorted(charts) == ["health-1-data", "health-4-data"]  # latency and CPU have samples

    latency = charts["health-1-data"]
    assert latency["title"] == "Response time"
    assert latency["unit"] == "ms"
    series = latency["series"]
    assert isinstance(series, list)
    assert [s["label"] for s in series] == ["p50", "p95", "p99"]
    assert [v for v in series[1]["values"] if v is not None] == [120.0, 480.0, 250.0]
    assert all(v is None for v in series[0]["values"])  # no p50 samples: gaps, not zeros
    assert len(latency["x"]) == 3  # type: ignore[arg-type]
    assert "p95 latest 250" in str(latency["summary"])
    cpu = charts["health-4-data"]
    assert cpu["unit"] == "%"
    assert cpu["range"] == {"floor": 0.0, "ceiling": 100.0}

    # Without JavaScript: the SVG, a heading, the figures as a table and the empty states.
    assert html.count('<svg class="chart"') == 2
    assert '<figcaption id="health-1-caption" class="flow-chart__caption">Response time' in html
    words = text_of(html)
    assert "Line Latest Lowest Highest p95 250 120 480" in words
    empty = '<p class="empty flow-chart__empty">No data yet in this period</p>'
    assert html.count(empty) == 5  # requests, errors, memory, disk, pool
    assert "style=" not in html  # the CSP forbids inline styles

    # The library and the script load once, deferred, from fingerprinted or versioned URLs.
    assert html.count(f'<script src="{UPLOT}" defer></script>') == 1
    assert re.search(r'<script src="/static/charts\.js\?v=\w{16}" defer></script>', html)
    assert "<script>" not in html  # no inline script: the data is application/json


async def test_the_library_loads_only_on_pages_with_interactive_charts(
    browser: httpx.AsyncClient,
) -> None:
    await sign_up(browser)
    weights: dict[str, int] = {}
    for path in ("/dashboard", "/agents", "/contacts", "/service-health", "/forecasts"):
        page = await browser.get(path)
        assert page.status_code == 200, path
        html = page.text
        has_charts = path in {"/service-health", "/forecasts"}
        assert (UPLOT in html) is has_charts, path
        assert ("charts.js" in html) is has_charts, path
        assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js)[^"]*)"', html)
        sizes = [len((await browser.get(unescape(asset))).content) for asset in assets]
        weights[path] = len(page.content) + sum(sizes)
    # The heaviest page (a chart page) stays small: uPlot is 51 KB before gzip.
    heaviest = max(weights.values())
    assert heaviest == max(weights["/service-health"], weights["/forecasts"])
    assert heaviest < 180_000, weights
    assert weights["/dashboard"] < heaviest - 50_000, weights  # its bars are SVG, no library


async def test_dashboard_bars_are_readable_without_a_script(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    page = await browser.get("/dashboard")
    html = page.text
    assert '<svg class="bars" width="100%"' in html  # the tasks chart: three bars, real text
    assert "viewBox" not in html.split('<svg class="bars"', 1)[1].split("</svg>", 1)[0]
    assert 'href="/static/charts.css?v=' in html
    words = text_of(html)
    assert "Tasks in the last 24 hours" in words
    assert "server" not in words.split("Recent activity", 1)[1]  # no raw event source


async def test_alerts_page_charts_alerts_fired_and_resolved_per_day(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    empty = await browser.get("/alerts")
    assert empty.status_code == 200
    assert _charts_of(empty.text) == {}  # a quiet fortnight is the empty state, not zero lines
    quiet = '<p class="empty flow-chart__empty">No alert fired or resolved in the last 14 days</p>'
    assert quiet in empty.text

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    changes = [  # (when, from, to)
        (today, AlertState.pending, AlertState.firing),
        (today, AlertState.firing, AlertState.resolved),
        (today - timedelta(days=3, hours=-5), AlertState.pending, AlertState.firing),
        (today - timedelta(days=3, hours=-6), AlertState.pending, AlertState.firing),
        (today - timedelta(days=3, hours=-7), AlertState.inactive, AlertState.pending),  # no
        (today - timedelta(days=13), AlertState.firing, AlertState.resolved),  # oldest day
        (today - timedelta(days=14), AlertState.pending, AlertState.firing),  # too old
    ]
    async with unit_of_work(web.app.state.context.sessions) as session:
        alert = Alert(
            fingerprint="f" * 32,
            name="HighCpuUsage",
            labels={},
            annotations={},
            severity="warning",
            state=AlertState.resolved,
            evaluated_at=today,
        )
        session.add(alert)
        await session.flush()
        session.add_all(
            AlertTransition(
                alert_id=alert.id,
                fingerprint=alert.fingerprint,
                name=alert.name,
                labels={},
                from_state=before,
                to_state=after,
                at=at,
            )
            for at, before, after in changes
        )
    page = await browser.get("/alerts")
    assert page.status_code == 200
    html = page.text
    chart = _charts_of(html)["alert-changes-data"]
    assert chart["unit"] == "alerts"
    assert chart["period"] == "day"  # ticks and tooltips read as dates
    assert chart["integers"] is True  # whole-number ticks: counts of alerts
    assert chart["x"] == [int((today - timedelta(days=d)).timestamp()) for d in range(13, -1, -1)]
    series = chart["series"]
    assert isinstance(series, list)
    fired, resolved = series
    assert fired["label"] == "fired"
    assert fired["values"] == [0.0] * 10 + [2.0, 0.0, 0.0, 1.0]  # zeros are days, not gaps
    assert resolved["label"] == "resolved"
    assert resolved["values"] == [1.0] + [0.0] * 12 + [1.0]
    assert chart["range"] == {"floor": 0.0, "ceiling": None}

    # Without JavaScript: the SVG with both lines, a caption with the unit, the figures.
    assert html.count('<svg class="chart"') == 1
    assert 'class="chart__line chart__line--0"' in html
    assert 'class="chart__line chart__line--1"' in html
    caption = '<figcaption id="alert-changes-caption" class="flow-chart__caption">'
    assert caption + "Alerts fired and resolved per day, last 14 days" in html
    words = text_of(html)
    assert "Figures (alerts)" in words
    assert "Line Latest Lowest Highest fired 1 0 2 resolved 1 0 1" in words
    assert words.index("Firing (0)") < words.index("Alerts fired and resolved per day")
    assert html.count(f'<script src="{UPLOT}" defer></script>') == 1
    assert "style=" not in html  # the CSP forbids inline styles
