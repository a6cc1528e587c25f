"""Turn the cumulative Prometheus registry into the metric-history signals, every interval.

Prometheus counters and histograms only ever grow, so a signal for "the last 15 seconds" is the
difference between two readings of the registry. The sampler keeps the previous reading
(a `RegistrySnapshot`) and derives, from the deltas:

- p50/p95/p99 response time by interpolating inside the histogram bucket that holds the rank,
  exactly as PromQL's `histogram_quantile` does over `rate(..._bucket[15s])`;
- error rate (5xx / all), requests per second, and the SLO counts: all, 5xx, and for the
  latency SLO the requests it covers and those slower than their route's threshold
  (`observability/latency_slo.py`: 0.5 s for most, 2 s where a password is hashed, docs and
  exports not covered);

and, from gauges read as they are: CPU, memory, disk, database-pool use, queue lag, and whether
the database and Redis are up. A signal whose inputs are absent is not written (a gap, never a
made-up zero), except the request rates, for which "no traffic" really is zero.

Where the numbers come from is a `SignalSource`, so tests (and a filled-disk drill) can feed a
registry of their own or override one gauge without touching the real process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.metrics_history.signals import Signal
from intuitivus_flow.observability.latency_slo import threshold_for

# Names from docs/operations-contract.md (declared by observability/metrics.py).
HTTP_DURATION = "flow_http_request_duration_seconds"
QUANTILES = {
    Signal.response_time_p50_ms: 0.50,
    Signal.response_time_p95_ms: 0.95,
    Signal.response_time_p99_ms: 0.99,
}
# Gauge name -> how several samples of it (one per worker in multiprocess mode) combine.
GAUGE_AGGREGATION: dict[str, Callable[[Iterable[float]], float]] = {
    "flow_process_cpu_ratio": sum,  # each worker's share of the machine adds up
    "flow_process_memory_ratio": sum,
    "flow_data_dir_disk_used_ratio": max,  # one disk, seen by every worker
    "flow_db_pool_size": sum,  # one pool per worker
    "flow_db_pool_checked_out": sum,
    "flow_job_queue_lag_seconds": max,  # the worst queue is the one that matters
}
DEPENDENCY_UP = "flow_dependency_up"


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """One cumulative reading of the registry.

    `latency_buckets` are (upper bound, cumulative count) over every route and status,
    ascending, ending with +Inf. `gauges` holds the aggregated gauges by Prometheus name and the
    dependency states as `flow_dependency_up:<component>`; a missing key means "not reported".
    `latency_covered` counts the requests the latency SLO covers, `latency_fast` those of them
    within their route's threshold (both cumulative, like the histogram they come from).
    """

    latency_buckets: tuple[tuple[float, float], ...] = ()
    requests_total: float = 0.0
    requests_5xx: float = 0.0
    latency_covered: float = 0.0
    latency_fast: float = 0.0
    gauges: Mapping[str, float] = field(default_factory=dict)


class SignalSource(Protocol):
    """Where the sampler reads the process's numbers from."""

    def snapshot(self) -> RegistrySnapshot: ...


class PrometheusSource:
    """Reads a `CollectorRegistry` (the multiprocess aggregate in production)."""

    def __init__(self, registry: Callable[[], CollectorRegistry]) -> None:
        self._registry = registry

    def snapshot(self) -> RegistrySnapshot:
        return snapshot_from_metrics(self._registry().collect())


def snapshot_from_metrics(metrics: Iterable[Metric]) -> RegistrySnapshot:
    buckets: dict[float, float] = {}
    http = _HttpCounts()
    gauge_values: dict[str, list[float]] = {}
    for metric in metrics:
        if metric.name == HTTP_DURATION:
            http = _read_histogram(metric, buckets)
        elif metric.name in GAUGE_AGGREGATION:
            gauge_values.setdefault(metric.name, []).extend(s.value for s in metric.samples)
        elif metric.name == DEPENDENCY_UP:
            for sample in metric.samples:
                key = f"{DEPENDENCY_UP}:{sample.labels.get('component', '')}"
                gauge_values.setdefault(key, []).append(sample.value)
    gauges = {
        name: GAUGE_AGGREGATION.get(name, min)(values)  # dependency: down if any worker says so
        for name, values in gauge_values.items()
        if values
    }
    return RegistrySnapshot(
        latency_buckets=tuple(sorted(buckets.items())),
        requests_total=http.total,
        requests_5xx=http.errors,
        latency_covered=http.covered,
        latency_fast=http.fast,
        gauges=gauges,
    )


@dataclass(slots=True)
class _HttpCounts:
    total: float = 0.0
    errors: float = 0.0
    covered: float = 0.0
    fast: float = 0.0


def _read_histogram(metric: Metric, buckets: dict[float, float]) -> _HttpCounts:
    counts = _HttpCounts()
    for sample in metric.samples:
        threshold = threshold_for(sample.labels.get("route", ""))
        if sample.name.endswith("_bucket"):
            bound = float(sample.labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + sample.value
            if threshold is not None and math.isclose(bound, threshold):
                counts.fast += sample.value
        elif sample.name.endswith("_count"):
            counts.total += sample.value
            if sample.labels.get("status_class") == "5xx":
                counts.errors += sample.value
            if threshold is not None:
                counts.covered += sample.value
    return counts


class OverrideSource:
    """A source with some gauges replaced: how a drill fakes a full disk or a dead database."""

    def __init__(self, inner: SignalSource) -> None:
        self._inner = inner
        self.overrides: dict[str, float] = {}

    def snapshot(self) -> RegistrySnapshot:
        real = self._inner.snapshot()
        if not self.overrides:
            return real
        return RegistrySnapshot(
            latency_buckets=real.latency_buckets,
            requests_total=real.requests_total,
            requests_5xx=real.requests_5xx,
            latency_covered=real.latency_covered,
            latency_fast=real.latency_fast,
            gauges={**real.gauges, **self.overrides},
        )


# --- maths ------------------------------------------------------------------------------------


def bucket_deltas(
    previous: tuple[tuple[float, float], ...], current: tuple[tuple[float, float], ...]
) -> tuple[tuple[float, float], ...]:
    """Cumulative bucket counts of the interval between two readings.

    A count lower than before means the counter restarted (a worker died and its file was
    cleaned up); like Prometheus' `rate`, take the new value as the increase then.
    """
    before = dict(previous)
    deltas = []
    for bound, count in current:
        earlier = before.get(bound, 0.0)
        deltas.append((bound, count - earlier if count >= earlier else count))
    return tuple(deltas)


def quantile_from_buckets(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated linearly inside its bucket.

    The same estimate as PromQL's `histogram_quantile`: the lowest bucket starts at 0, and a
    rank that lands in the +Inf bucket answers the highest finite bound. None without data.
    """
    if not buckets or not 0.0 <= q <= 1.0:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, count_below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank and cumulative > count_below:
            if math.isinf(bound):
                return lower_bound
            in_bucket = cumulative - count_below
            return lower_bound + (bound - lower_bound) * (rank - count_below) / in_bucket
        if not math.isinf(bound):
            lower_bound = bound
        count_below = cumulative
    return lower_bound


@dataclass(frozen=True, slots=True)
class PoolCapacity:
    """What the pool may hold per worker: `pool size + max overflow` in the contract's formula."""

    pool_size: int
    max_overflow: int

    def percent(self, checked_out: float, reported_size: float) -> float | None:
        if reported_size <= 0 or self.pool_size <= 0:
            return None
        # The size gauge is summed over workers; it tells how many pools (workers) there are.
        pools = max(1, round(reported_size / self.pool_size))
        capacity = reported_size + self.max_overflow * pools
        return checked_out / capacity * 100.0


def compute_signals(
    previous: RegistrySnapshot | None,
    current: RegistrySnapshot,
    *,
    interval_seconds: float,
    pool: PoolCapacity,
) -> dict[Signal, float]:
    signals = gauge_signals(current.gauges, pool)
    if previous is not None and interval_seconds > 0:
        signals.update(traffic_signals(previous, current, interval_seconds))
    return signals


def traffic_signals(
    previous: RegistrySnapshot, current: RegistrySnapshot, interval_seconds: float
) -> dict[Signal, float]:
    deltas = bucket_deltas(previous.latency_buckets, current.latency_buckets)
    total = _increase(previous.requests_total, current.requests_total)
    errors = _increase(previous.requests_5xx, current.requests_5xx)
    covered = _increase(previous.latency_covered, current.latency_covered)
    fast = _increase(previous.latency_fast, current.latency_fast)
    signals = {
        Signal.requests_total_count: total,
        Signal.requests_errors_count: errors,
        Signal.requests_latency_count: covered,
        Signal.requests_slow_count: max(0.0, covered - fast),
        Signal.requests_per_second: total / interval_seconds,
        # No traffic, no errors: 0 keeps the chart continuous and cannot fire an alert.
        Signal.error_rate_ratio: errors / total if total > 0 else 0.0,
    }
    for signal, q in QUANTILES.items():
        seconds = quantile_from_buckets(q, deltas)
        if seconds is not None:
            signals[signal] = seconds * 1000.0
    return signals


def _increase(before: float, after: float) -> float:
    return after - before if after >= before else after


def gauge_signals(gauges: Mapping[str, float], pool: PoolCapacity) -> dict[Signal, float]:
    signals: dict[Signal, float] = {}
    ratios = {
        Signal.cpu_usage_percent: "flow_process_cpu_ratio",
        Signal.memory_usage_percent: "flow_process_memory_ratio",
        Signal.disk_usage_percent: "flow_data_dir_disk_used_ratio",
    }
    for signal, gauge in ratios.items():
        if gauge in gauges:
            signals[signal] = gauges[gauge] * 100.0
    if "flow_job_queue_lag_seconds" in gauges:
        signals[Signal.queue_lag_seconds] = gauges["flow_job_queue_lag_seconds"]
    if "flow_db_pool_checked_out" in gauges and "flow_db_pool_size" in gauges:
        percent = pool.percent(gauges["flow_db_pool_checked_out"], gauges["flow_db_pool_size"])
        if percent is not None:
            signals[Signal.db_connections_percent] = percent
    for signal, component in ((Signal.database_up, "database"), (Signal.redis_up, "redis")):
        key = f"{DEPENDENCY_UP}:{component}"
        if key in gauges:
            signals[signal] = 1.0 if gauges[key] >= 1 else 0.0
    return signals


# --- the sampler ------------------------------------------------------------------------------


class Sampler:
    """Keeps the previous reading and turns each new one into rows for the `metrics` table."""

    def __init__(self, source: SignalSource, *, instance: str, pool: PoolCapacity) -> None:
        self.source = source
        self.instance = instance
        self.pool = pool
        self._previous: RegistrySnapshot | None = None
        self._previous_at: datetime | None = None

    def sample(self, now: datetime) -> list[MetricSample]:
        current = self.source.snapshot()
        interval = (now - self._previous_at).total_seconds() if self._previous_at else 0.0
        signals = compute_signals(
            self._previous, current, interval_seconds=interval, pool=self.pool
        )
        self._previous, self._previous_at = current, now
        return [
            MetricSample(name=signal.value, time=now, instance=self.instance, value=value)
            for signal, value in signals.items()
            if math.isfinite(value)
        ]
