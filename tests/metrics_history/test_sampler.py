"""The sampler's maths, checked against values computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from intuitivus_flow.metrics_history.sampler import (
    OverrideSource,
    PoolCapacity,
    PrometheusSource,
    Sampler,
    bucket_deltas,
    quantile_from_buckets,
)
from intuitivus_flow.observability.metrics import FlowMetrics

INF = float("inf")


def test_quantile_interpolates_inside_the_bucket_holding_the_rank() -> None:
    # 100 requests: 50 <= 0.1 s, 40 in (0.1, 0.5], 10 in (0.5, 2].
    buckets = ((0.1, 50.0), (0.5, 90.0), (2.0, 100.0), (INF, 100.0))
    # p50: rank 50 -> the end of the first bucket.
    assert quantile_from_buckets(0.5, buckets) == pytest.approx(0.1)
    # p95: rank 95 -> 5 of the 10 in (0.5, 2] -> 0.5 + 1.5 * 5/10 = 1.25 s.
    assert quantile_from_buckets(0.95, buckets) == pytest.approx(1.25)
    # p99: rank 99 -> 0.5 + 1.5 * 9/10 = 1.85 s.
    assert quantile_from_buckets(0.99, buckets) == pytest.approx(1.85)


def test_quantile_edge_cases() -> None:
    assert quantile_from_buckets(0.95, ((0.1, 0.0), (INF, 0.0))) is None  # no traffic
    # Everything beyond the last finite bound: the highest finite bound (like PromQL).
    assert quantile_from_buckets(0.5, ((1.0, 0.0), (10.0, 0.0), (INF, 4.0))) == 10.0
    # First bucket starts at 0: 4 requests <= 0.2 s, p50 -> 0.2 * 2/4.
    assert quantile_from_buckets(0.5, ((0.2, 4.0), (INF, 4.0))) == pytest.approx(0.1)


def test_bucket_deltas_handle_counter_resets() -> None:
    before = ((0.5, 10.0), (INF, 12.0))
    assert bucket_deltas(before, ((0.5, 15.0), (INF, 20.0))) == ((0.5, 5.0), (INF, 8.0))
    # A worker restarted and its counts dropped: the new value is the increase.
    assert bucket_deltas(before, ((0.5, 3.0), (INF, 4.0))) == ((0.5, 3.0), (INF, 4.0))


def _observe(metrics: FlowMetrics, seconds: float, status: str = "2xx", count: int = 1) -> None:
    histogram = metrics.http_request_duration_seconds.labels("GET", "/x", status)
    for _ in range(count):
        histogram.observe(seconds)


def test_signals_come_from_the_interval_not_the_process_lifetime() -> None:
    metrics = FlowMetrics(CollectorRegistry())
    sampler = Sampler(
        PrometheusSource(lambda: metrics.registry), instance="i", pool=PoolCapacity(10, 5)
    )
    start = datetime(2026, 11, 24, tzinfo=UTC)
    _observe(metrics, 3.0, count=50)  # a slow past must not leak into the next interval
    sampler.sample(start)

    _observe(metrics, 0.05, count=90)  # (0.025, 0.05]
    _observe(metrics, 0.7, count=6)  # (0.5, 1]
    _observe(metrics, 0.3, status="5xx", count=4)  # (0.25, 0.5]
    samples = {s.name: s.value for s in sampler.sample(start + timedelta(seconds=20))}

    assert samples["requests_total_count"] == 100
    assert samples["requests_per_second"] == pytest.approx(5.0)
    assert samples["requests_errors_count"] == 4
    assert samples["error_rate_ratio"] == pytest.approx(0.04)
    assert samples["requests_slow_count"] == 6
    # p95: rank 95 of 100; 94 at or below 0.5 s, 6 in (0.5, 1] -> 0.5 + 0.5 * 1/6 s.
    assert samples["response_time_p95_ms"] == pytest.approx((0.5 + 0.5 / 6) * 1000)
    # p50: rank 50 within the 90 in (0.025, 0.05] -> 0.025 + 0.025 * 50/90 s.
    assert samples["response_time_p50_ms"] == pytest.approx((0.025 + 0.025 * 50 / 90) * 1000)


def test_gauges_become_percentages_and_overrides_fake_a_full_disk() -> None:
    metrics = FlowMetrics(CollectorRegistry())
    metrics.process_cpu_ratio.set(0.25)
    metrics.data_dir_disk_used_ratio.set(0.4)
    metrics.db_pool_size.set(10)
    metrics.db_pool_checked_out.set(12)
    metrics.dependency_up.labels("database").set(0)
    source = OverrideSource(PrometheusSource(lambda: metrics.registry))
    sampler = Sampler(source, instance="i", pool=PoolCapacity(10, 5))
    first = {s.name: s.value for s in sampler.sample(datetime(2026, 11, 24, tzinfo=UTC))}
    assert first["cpu_usage_percent"] == pytest.approx(25)
    assert first["disk_usage_percent"] == pytest.approx(40)
    assert first["db_connections_percent"] == pytest.approx(12 / 15 * 100)
    assert first["database_up"] == 0
    assert "memory_usage_percent" in first  # declared gauges default to 0
    assert "response_time_p95_ms" not in first  # no previous reading: no interval yet
    source.overrides["flow_data_dir_disk_used_ratio"] = 0.97
    second = sampler.sample(datetime(2026, 11, 24, 0, 0, 15, tzinfo=UTC))
    assert {s.name: s.value for s in second}["disk_usage_percent"] == pytest.approx(97)


def test_pool_capacity_counts_one_pool_per_worker() -> None:
    # Two workers, each pool_size 10 + overflow 5: the summed size gauge says 20.
    assert PoolCapacity(10, 5).percent(24, 20) == pytest.approx(80.0)
    assert PoolCapacity(10, 5).percent(3, 0) is None
