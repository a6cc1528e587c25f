"""The latency SLO's per-route policy names routes that exist, by the very `route` label the HTTP
histogram records for them, and every threshold is one of the histogram's buckets (so the
sampler and Prometheus can count it exactly)."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from intuitivus_flow.observability.latency_slo import (
    DEFAULT_THRESHOLD_SECONDS,
    EXCLUDED_ROUTES,
    ROUTE_THRESHOLDS,
    threshold_for,
)
from intuitivus_flow.observability.metrics import HTTP_DURATION_BUCKETS

DURATION = "flow_http_request_duration_seconds"


def recorded_routes(registry: CollectorRegistry) -> set[str]:
    return {
        s.labels["route"]
        for family in registry.collect()
        if family.name == DURATION
        for s in family.samples
        if s.name.endswith("_count")
    }


async def test_every_route_of_the_policy_is_a_recorded_route_label(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    named = set(ROUTE_THRESHOLDS) | EXCLUDED_ROUTES
    for template in sorted(named):
        path = template.replace("{token}", "some-token")
        # Any answer will do (401, 403, 422...): only the route the router matched matters.
        await client.get(path)
        await client.post(path)
    assert named <= recorded_routes(registry)


def test_thresholds_are_buckets_of_the_http_histogram() -> None:
    for seconds in {DEFAULT_THRESHOLD_SECONDS, *ROUTE_THRESHOLDS.values()}:
        assert seconds in HTTP_DURATION_BUCKETS


def test_policy() -> None:
    assert threshold_for("/api/agents") == DEFAULT_THRESHOLD_SECONDS
    assert threshold_for("/api/auth/login") == 2.0
    assert threshold_for("/openapi.json") is None
    assert threshold_for("unmatched") == DEFAULT_THRESHOLD_SECONDS
