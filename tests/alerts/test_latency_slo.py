"""The latency SLO counts the requests people wait on, each against its route's threshold, and a
tiny sample reports "not enough data" instead of an absurd budget (issue 10, item 20: a fresh
install showed -1150 % left after a few sign-ins and one look at the API docs).

Durations are observed straight into a registry, so the tests do not depend on how fast this
machine hashes passwords.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.metrics_history.sampler import PoolCapacity, PrometheusSource, Sampler
from intuitivus_flow.observability.metrics import FlowMetrics
from tests.helpers import register

START = datetime(2026, 11, 24, tzinfo=UTC)


def _observe(metrics: FlowMetrics, method: str, route: str, seconds: float, count: int = 1) -> None:
    histogram = metrics.http_request_duration_seconds.labels(method, route, "2xx")
    for _ in range(count):
        histogram.observe(seconds)


def _interval(observe: Any) -> dict[str, float]:
    """The SLO counts of one sample interval in which `observe(metrics)` happened."""
    metrics = FlowMetrics(CollectorRegistry())
    sampler = Sampler(
        PrometheusSource(lambda: metrics.registry), instance="i", pool=PoolCapacity(10, 5)
    )
    sampler.sample(START)
    observe(metrics)
    return {s.name: s.value for s in sampler.sample(START + timedelta(seconds=15))}


class TestSampledCounts:
    def test_sign_ins_and_the_api_docs_spend_no_latency_budget(self) -> None:
        def fresh_install(metrics: FlowMetrics) -> None:
            _observe(metrics, "POST", "/api/auth/register", 1.3)  # argon2 on a busy machine
            _observe(metrics, "POST", "/api/auth/login", 1.2, count=3)
            _observe(metrics, "POST", "/signin", 0.9)
            _observe(metrics, "GET", "/openapi.json", 0.8)  # built on first use
            _observe(metrics, "GET", "/docs", 0.6)
            _observe(metrics, "GET", "/api/agents", 0.05, count=4)

        counts = _interval(fresh_install)
        assert counts["requests_total_count"] == 11  # availability still sees every request
        assert counts["requests_latency_count"] == 9  # the docs are not covered
        assert counts["requests_slow_count"] == 0

    def test_requests_beyond_their_routes_threshold_are_slow(self) -> None:
        def busy(metrics: FlowMetrics) -> None:
            _observe(metrics, "POST", "/api/auth/login", 2.5)  # over the 2 s of password routes
            _observe(metrics, "GET", "/api/agents", 0.7)  # over the 0.5 s of the others
            _observe(metrics, "GET", "/api/agents", 0.4)
            _observe(metrics, "POST", "/api/llm/complete", 8.0)  # the vendor's model: 10 s
            _observe(metrics, "GET", "/api/data/export", 30.0)  # a long download: not covered

        counts = _interval(busy)
        assert (counts["requests_latency_count"], counts["requests_slow_count"]) == (4, 2)


async def _record(app: Any, counts: dict[str, float]) -> None:
    now = datetime.now(UTC)
    samples = [
        MetricSample(name=name, time=now - timedelta(minutes=5), instance="i", value=value)
        for name, value in counts.items()
    ]
    async with unit_of_work(app.state.context.sessions) as session:
        await history.record(session, samples)


async def _latency_status(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/alerts/slos", headers=headers)
    assert response.status_code == 200, response.text
    return next(slo for slo in response.json() if slo["kind"] == "latency")


class TestReportedBudget:
    async def test_a_tiny_sample_is_not_enough_data(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        # The fresh install: 8 requests, one of them slow.
        await _record(
            app, {"requests_latency_count": 8, "requests_total_count": 8, "requests_slow_count": 1}
        )
        status = await _latency_status(client, owner.headers)
        assert status["remaining_error_budget"] is None  # was -11.5 (-1150 %)
        assert (status["total_requests"], status["bad_requests"]) == (8, 1)
        assert status["min_requests"] == 1000  # the budget allows 10 bad requests at 99 %

    @pytest.mark.parametrize(
        ("slow", "remaining"),
        [(0, 1.0), (5, 0.5), (30, 0.0)],  # 30 slow of 10 allowed: spent, never -200 %
    )
    async def test_enough_data_reports_between_spent_and_untouched(
        self, client: httpx.AsyncClient, app: Any, slow: int, remaining: float
    ) -> None:
        owner = await register(client)
        await _record(
            app,
            {
                "requests_latency_count": 1000,
                "requests_total_count": 1000,
                "requests_slow_count": slow,
            },
        )
        status = await _latency_status(client, owner.headers)
        assert status["remaining_error_budget"] == pytest.approx(remaining)
        assert (status["bad_requests"], status["allowed_bad_requests"]) == (
            slow,
            pytest.approx(10),
        )
