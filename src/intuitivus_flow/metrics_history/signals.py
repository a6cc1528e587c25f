"""The names of the sampled signals (docs/operations-contract.md), in one place."""

from __future__ import annotations

from enum import StrEnum


class Signal(StrEnum):
    response_time_p50_ms = "response_time_p50_ms"
    response_time_p95_ms = "response_time_p95_ms"
    response_time_p99_ms = "response_time_p99_ms"
    error_rate_ratio = "error_rate_ratio"
    requests_per_second = "requests_per_second"
    cpu_usage_percent = "cpu_usage_percent"
    memory_usage_percent = "memory_usage_percent"
    disk_usage_percent = "disk_usage_percent"
    db_connections_percent = "db_connections_percent"
    queue_lag_seconds = "queue_lag_seconds"
    database_up = "database_up"
    redis_up = "redis_up"
    # SLO inputs: counts per sample interval, summed over a window by the burn-rate maths.
    requests_total_count = "requests_total_count"
    requests_errors_count = "requests_errors_count"
    requests_slow_count = "requests_slow_count"  # of the latency-covered requests
    requests_latency_count = "requests_latency_count"  # requests the latency SLO covers


SIGNAL_NAMES = frozenset(signal.value for signal in Signal)
