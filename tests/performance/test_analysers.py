"""The analysers' rules on exact inputs: windows, regressions, errors, loop lag, reports."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from intuitivus_flow.observability.loop_lag import LoopLagProbe
from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.performance.analyze import Analysis
from intuitivus_flow.performance.cache import analyze_cache, view_cache_reads
from intuitivus_flow.performance.findings import Area, AreaReport, Finding, Severity, Skipped, Table
from intuitivus_flow.performance.process import Trend, analyze_process, loop_lags
from intuitivus_flow.performance.report import Format, render
from intuitivus_flow.performance.requests import (
    InjectedFault,
    RouteHistory,
    analyze_requests,
    read_routes,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def observe(metrics: FlowMetrics, route: str, seconds: float, times: int, status: str = "2xx"):
    histogram = metrics.http_request_duration_seconds
    for _ in range(times):
        histogram.labels(method="GET", route=route, status_class=status).observe(seconds)


def test_a_window_is_the_difference_of_two_readings_and_regressions_compare_windows() -> None:
    metrics = FlowMetrics(CollectorRegistry())
    history = RouteHistory()
    observe(metrics, "/api/contacts", 0.02, 10)
    history.record(NOW - timedelta(hours=2), read_routes(metrics.registry.collect()))
    observe(metrics, "/api/contacts", 0.03, 20)  # the previous window: fast
    history.record(NOW - timedelta(hours=1), read_routes(metrics.registry.collect()))
    observe(metrics, "/api/contacts", 0.4, 20)  # this window: slower, still within 0.5 s

    report = analyze_requests(
        metrics.registry.collect(), now=NOW, window=timedelta(hours=1), history=history
    )

    table = report.tables[0]
    assert table.title == "Routes by total time (last 1.0 h)"
    route, requests, rate, _p50, p95, *_ = table.rows[0]
    assert (route, requests) == ("GET /api/contacts", 20)  # only this window's requests
    assert rate == round(20 / 3600, 2)
    assert 250 < float(p95) <= 500
    [regression] = report.findings
    assert regression.code == "endpoints.regression"
    assert regression.evidence["previous_requests"] == 20


def test_without_an_earlier_reading_the_figures_cover_the_process_lifetime() -> None:
    metrics = FlowMetrics(CollectorRegistry())
    observe(metrics, "/api/dashboard", 0.01, 8)
    observe(metrics, "/api/dashboard", 0.01, 2, status="5xx")
    report = analyze_requests(metrics.registry.collect(), now=NOW, window=timedelta(hours=1))
    assert report.tables[0].title.endswith("(since the process started)")
    [errors] = report.findings
    assert errors.code == "endpoints.errors"
    assert errors.severity is Severity.CRITICAL
    assert errors.evidence == {"requests": 10, "errors_5xx": 2, "error_rate": 0.2}


def test_a_slow_route_under_a_fault_plan_says_to_end_the_drill() -> None:
    metrics = FlowMetrics(CollectorRegistry())
    observe(metrics, "/api/agents", 0.9, 20)
    observe(metrics, "/api/auth/me", 0.9, 20)  # hashing no password: 0.5 s target too
    observe(metrics, "/docs", 3.0, 20)  # not covered by the latency SLO: never "slow"
    observe(metrics, "/api/contacts", 3.0, 19)  # too few requests for a p95 to mean much
    fault = InjectedFault("/api/agents", latency_ms=900, error_rate=0.0)
    report = analyze_requests(
        metrics.registry.collect(), now=NOW, window=timedelta(hours=1), fault=fault
    )
    by_subject = {f.subject: f for f in report.findings}
    assert set(by_subject) == {"GET /api/agents", "GET /api/auth/me"}
    assert "DELETE /api/ops/faults" in by_subject["GET /api/agents"].recommendation
    assert "DELETE /api/ops/faults" not in by_subject["GET /api/auth/me"].recommendation


def test_no_histogram_is_reported_as_not_analysed() -> None:
    report = analyze_requests([], now=NOW, window=timedelta(hours=1))
    assert report.findings == ()
    assert "no request-duration histogram" in report.skipped[0].reason


async def test_the_loop_lag_probe_sees_a_blocked_loop() -> None:
    metrics = FlowMetrics(CollectorRegistry())
    probe = LoopLagProbe(metrics, interval=0.05)
    task = asyncio.create_task(probe.run_forever())
    await asyncio.sleep(0.01)
    time.sleep(0.3)  # noqa: ASYNC251 - the point: block the loop as bad code would
    await asyncio.sleep(0.1)
    task.cancel()
    lag = metrics.registry.get_sample_value("flow_event_loop_lag_max_seconds")
    assert lag is not None
    assert lag >= 0.2


def sample_analysis() -> Analysis:
    finding = Finding(
        area=Area.WEB,
        code="web.uncompressed",
        title="/contacts <b>is</b> sent uncompressed | 50 kB",
        severity=Severity.WARNING,
        impact=0.6,
        evidence={"sent_bytes": 50_000, "gzip_bytes": 5_000},
        recommendation="Turn on compression: FLOW_HTTP_COMPRESSION=true",
        subject="/contacts",
    )
    table = Table(
        title="Page weight",
        columns=("page", "sent"),
        rows=(("/contacts", 50_000), ("/", 9_000)),
        chart="sent",
        unit="bytes",
    )
    return Analysis(
        started_at=NOW,
        seconds=1.25,
        window=timedelta(hours=1),
        engine="sqlite",
        areas=(
            AreaReport(Area.WEB, findings=(finding,), tables=(table,)),
            AreaReport(Area.CACHE, skipped=(Skipped(Area.CACHE, "no Redis configured"),)),
        ),
    )


def test_every_report_format_carries_the_ranked_findings() -> None:
    analysis = sample_analysis()
    data = json.loads(render(analysis, Format.json))
    assert data["findings"][0]["rank"] == 1
    assert data["findings"][0]["code"] == "web.uncompressed"
    assert data["skipped"] == [{"area": "cache", "reason": "no Redis configured"}]
    assert data["tables"][0]["rows"] == [["/contacts", 50000], ["/", 9000]]

    markdown = render(analysis, Format.md)
    assert r"| 1 | warning | web | /contacts <b>is</b> sent uncompressed \| 50 kB |" in markdown
    assert "- cache: no Redis configured" in markdown

    html = render(analysis, Format.html)
    assert html.count("<svg") == 2  # the findings' impact and the page weights
    assert "&lt;b&gt;is&lt;/b&gt;" in html  # titles are escaped
    assert "<b>is</b>" not in html

    text = render(analysis, Format.table, width=200)
    assert "FLOW_HTTP_COMPRESSION=true" in text
    assert "not analysed (cache): no Redis configured" in text


async def test_redis_hit_ratio_and_evictions_come_from_info(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await redis.set("perf:probe", "1")
        await redis.get("perf:probe")  # a hit
        await redis.get("perf:absent")  # a miss
        metrics = FlowMetrics(CollectorRegistry())
        metrics.view_cache_requests_total.labels(outcome="miss").inc(30)
        report = await analyze_cache(metrics.registry.collect(), redis)
    finally:
        await redis.aclose()
    rows = {row[0]: row for row in report.tables[0].rows}
    assert rows["view cache (dashboard, /api/auth/me)"][1:3] == (30, 0.0)
    _, lookups, ratio, evicted = rows["Redis (server-wide)"]
    assert isinstance(lookups, int)
    assert lookups >= 2
    assert 0 < float(ratio) < 1
    assert isinstance(evicted, int)
    [finding] = [f for f in report.findings if f.code == "cache.view_hit_ratio"]
    assert finding.evidence["misses"] == 30


def test_a_scraped_metrics_page_reads_like_the_registry() -> None:
    # `perf analyze --metrics-url` parses a server's /metrics text instead of a registry.
    metrics = FlowMetrics(CollectorRegistry())
    observe(metrics, "/api/agents", 0.2, 20)
    metrics.view_cache_requests_total.labels(outcome="hit").inc(7)
    scraped = list(text_string_to_metric_families(generate_latest(metrics.registry).decode()))
    assert read_routes(scraped) == read_routes(metrics.registry.collect())
    assert view_cache_reads(scraped) == {"hit": 7.0}


async def test_a_scraped_loop_lag_belongs_to_the_server_not_to_the_cli() -> None:
    metrics = FlowMetrics(CollectorRegistry())
    LoopLagProbe(metrics).record(0.7)
    scraped = list(text_string_to_metric_families(generate_latest(metrics.registry).decode()))
    assert loop_lags(scraped, own="") == {"": 0.7}
    report = await analyze_process(scraped, cpu=Trend(), memory=Trend(), in_server=False)
    [finding] = report.findings
    assert finding.title == "The server's event loop was blocked for 700 ms"
    assert finding.severity is Severity.CRITICAL
    assert all(str(row[0]) != str(os.getpid()) for row in report.tables[0].rows)
