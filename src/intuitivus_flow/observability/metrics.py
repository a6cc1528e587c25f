"""Every Prometheus metric of the service, declared in one place.

Names, types and labels follow docs/operations-contract.md: the `flow_` namespace, the unit in
the name, `_total` on counters and label sets small enough to stay bounded. Code that records a
business event reaches the process-wide instance::

    from intuitivus_flow.observability.metrics import get_metrics

    get_metrics().agent_replies_total.labels(outcome="ok").inc()

Tests build a `FlowMetrics(CollectorRegistry())` of their own and read values back from it.

With several workers (`serve --workers N`) prometheus_client writes each value to a file in
`PROMETHEUS_MULTIPROC_DIR`; `multiprocess_mode` says how gauges from the workers combine
(`livesum`: the sum over live workers; `livemostrecent`: the latest any live worker wrote).
"""

from __future__ import annotations

import os
from functools import lru_cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# 0.5 s and 2 s are the latency targets (latency SLO and HighResponseTimeP95): they must be
# bucket bounds exactly, or the quantiles and the "slow" count would be interpolated.
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
POOL_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class FlowMetrics:
    """The service's metrics, registered on one registry (the process one by default)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self._declare_http(registry)
        self._declare_runtime(registry)
        self._declare_business(registry)

    def _declare_http(self, registry: CollectorRegistry) -> None:
        self.http_request_duration_seconds = Histogram(
            "flow_http_request_duration_seconds",
            "Time from the request to the last byte of the response.",
            ["method", "route", "status_class"],
            buckets=HTTP_DURATION_BUCKETS,
            registry=registry,
        )
        self.http_requests_in_flight = Gauge(
            "flow_http_requests_in_flight",
            "Requests being served now.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.http_responses_total = Counter(
            "flow_http_responses_total",
            "Responses sent, by status code.",
            ["status"],
            registry=registry,
        )

    def _declare_runtime(self, registry: CollectorRegistry) -> None:
        self.db_pool_size = _live_gauge(
            "flow_db_pool_size", "Connections the pool keeps.", registry
        )
        self.db_pool_checked_out = _live_gauge(
            "flow_db_pool_checked_out", "Connections in use.", registry
        )
        self.db_pool_overflow = _live_gauge(
            "flow_db_pool_overflow", "Connections open beyond the pool size.", registry
        )
        self.db_pool_wait_seconds = Histogram(
            "flow_db_pool_wait_seconds",
            "Time to get a connection from the pool (waiting for a free one, or opening one).",
            buckets=POOL_WAIT_BUCKETS,
            registry=registry,
        )
        self.redis_commands_total = Counter(
            "flow_redis_commands_total",
            "Redis commands sent, by command and outcome.",
            ["command", "outcome"],
            registry=registry,
        )
        self.view_cache_requests_total = Counter(
            "flow_view_cache_requests_total",
            "Reads of the per-workspace view cache (kit/cache.py), by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.job_queue_depth = Gauge(
            "flow_job_queue_depth",
            "Jobs waiting in a queue.",
            ["queue"],
            multiprocess_mode="liveall",
            registry=registry,
        )
        self.job_queue_lag_seconds = Gauge(
            "flow_job_queue_lag_seconds",
            "Age of the oldest waiting job.",
            ["queue"],
            multiprocess_mode="max",
            registry=registry,
        )
        # Every instance computes the same value from the shared metric history (autoscaling/).
        self.forecast_desired_replicas = Gauge(
            "flow_forecast_desired_replicas",
            "Web replicas the request rate forecast for the next 15 minutes needs (HPA input).",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.data_dir_disk_used_ratio = Gauge(
            "flow_data_dir_disk_used_ratio",
            "Used share (0..1) of the file system holding the data directory.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.process_cpu_ratio = _live_gauge(
            "flow_process_cpu_ratio",
            "Share (0..1) of the machine's CPU capacity this service uses.",
            registry,
        )
        self.process_memory_ratio = _live_gauge(
            "flow_process_memory_ratio",
            "Resident memory of this service over the machine's total memory (0..1).",
            registry,
        )
        # How late the event loop runs a callback scheduled for now: time spent in code that
        # blocks the loop (CPU-bound work, sync I/O) delays every request of the worker.
        self.event_loop_lag_seconds = Gauge(
            "flow_event_loop_lag_seconds",
            "Delay of the last event-loop probe beyond its scheduled time, per worker.",
            multiprocess_mode="liveall",
            registry=registry,
        )
        self.event_loop_lag_max_seconds = Gauge(
            "flow_event_loop_lag_max_seconds",
            "Largest event-loop delay seen over the last minute of probes, per worker.",
            multiprocess_mode="liveall",
            registry=registry,
        )
        self.dependency_up = Gauge(
            "flow_dependency_up",
            "1 when the last check of a dependency succeeded, 0 when it failed.",
            ["component"],
            multiprocess_mode="livemostrecent",
            registry=registry,
        )

    def _declare_business(self, registry: CollectorRegistry) -> None:
        self.agent_replies_total = Counter(
            "flow_agent_replies_total",
            "Replies produced by AI agents.",
            ["outcome"],
            registry=registry,
        )
        self.llm_tokens_total = Counter(
            "flow_llm_tokens_total",
            "Tokens billed by LLM providers.",
            ["provider", "kind"],
            registry=registry,
        )
        self.payments_total = Counter(
            "flow_payments_total", "Payment attempts.", ["provider", "outcome"], registry=registry
        )
        self.campaign_sends_total = Counter(
            "flow_campaign_sends_total",
            "Campaign messages sent.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.webhook_deliveries_total = Counter(
            "flow_webhook_deliveries_total",
            "Inbound webhook deliveries handled.",
            ["source", "outcome"],
            registry=registry,
        )
        self.slo_objective_ratio = Gauge(
            "flow_slo_objective_ratio",
            "Target of each SLO (e.g. 0.995), so one alert rule serves every SLO.",
            ["slo"],
            multiprocess_mode="max",
            registry=registry,
        )


def _live_gauge(name: str, documentation: str, registry: CollectorRegistry) -> Gauge:
    # Per-process quantities: the service's value is the sum over the workers alive now.
    return Gauge(name, documentation, multiprocess_mode="livesum", registry=registry)


@lru_cache(maxsize=1)
def get_metrics() -> FlowMetrics:
    """The process-wide metrics on the default registry (created on first use, after fork)."""
    return FlowMetrics(REGISTRY)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def collect_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """What to `.collect()` from: every worker's values when running several workers, else
    `registry` (default: the process registry)."""
    if multiprocess_dir():
        aggregate = CollectorRegistry()
        MultiProcessCollector(aggregate)  # type: ignore[no-untyped-call]
        return aggregate
    return registry if registry is not None else REGISTRY
