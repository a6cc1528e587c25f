"""HTTP, pool and runtime metrics, read back from the app's own registry after real requests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from intuitivus_flow.observability.metrics import HTTP_DURATION_BUCKETS
from tests.helpers import me, register
from tests.observability.conftest import sample

DURATION = "flow_http_request_duration_seconds"
CONTRACT_NAMES = {
    "flow_http_request_duration_seconds",
    "flow_http_requests_in_flight",
    "flow_http_responses",
    "flow_db_pool_size",
    "flow_db_pool_checked_out",
    "flow_db_pool_overflow",
    "flow_db_pool_wait_seconds",
    "flow_redis_commands",
    "flow_job_queue_depth",
    "flow_job_queue_lag_seconds",
    "flow_data_dir_disk_used_ratio",
    "flow_process_cpu_ratio",
    "flow_process_memory_ratio",
    "flow_dependency_up",
    "flow_agent_replies",
    "flow_llm_tokens",
    "flow_payments",
    "flow_campaign_sends",
    "flow_webhook_deliveries",
    "flow_slo_objective_ratio",
}


def bucket_bounds(registry: CollectorRegistry) -> set[str]:
    return {
        s.labels["le"]
        for family in registry.collect()
        if family.name == DURATION
        for s in family.samples
        if s.name.endswith("_bucket")
    }


async def test_duration_buckets_include_the_latency_targets_exactly(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    assert (await client.get("/health")).status_code == 200
    bounds = bucket_bounds(registry)
    assert {"0.5", "2.0"} <= bounds
    assert bounds == {str(float(b)) for b in HTTP_DURATION_BUCKETS} | {"+Inf"}


async def test_route_label_is_the_template_not_the_path(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    owner = await register(client)
    member_id = (await me(client, owner.headers))["id"]
    for _ in range(3):
        response = await client.get(f"/api/workspace/members/{member_id}", headers=owner.headers)
        assert response.status_code == 200
    template = "/api/workspace/members/{member_id}"
    labels = {"method": "GET", "route": template, "status_class": "2xx"}
    assert sample(registry, f"{DURATION}_count", **labels) == 3
    routes = {s.labels.get("route") for family in registry.collect() for s in family.samples} - {
        None
    }
    assert not any(member_id in route for route in routes)
    assert "/api/auth/register" in routes


async def test_unknown_paths_share_one_unmatched_series(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    for path in ("/no/such/page", "/wp-admin.php", "/.env"):
        assert (await client.get(path)).status_code == 404
    labels = {"method": "GET", "route": "unmatched", "status_class": "4xx"}
    assert sample(registry, f"{DURATION}_count", **labels) == 3
    assert sample(registry, "flow_http_responses_total", status="404") == 3


@pytest.mark.parametrize("settings_overrides", [{"fault_injection": True}])
async def test_in_flight_counts_a_slow_request_and_returns_to_zero(
    client: httpx.AsyncClient, registry: CollectorRegistry, app: Any
) -> None:
    # The fault plan is set directly: this test is about the gauge, not the ops API.
    from intuitivus_flow.observability.faults import FaultPlan

    app.state.observability.faults.plan = FaultPlan(latency_ms=400, path_prefix="/api/auth/me")
    request = asyncio.create_task(client.get("/api/auth/me"))
    peak = 0.0
    while not request.done():
        peak = max(peak, sample(registry, "flow_http_requests_in_flight"))
        await asyncio.sleep(0.02)
    assert (await request).status_code == 401
    assert peak == 1
    assert sample(registry, "flow_http_requests_in_flight") == 0
    slow = {"method": "GET", "route": "/api/auth/me", "status_class": "4xx"}
    # 0.4 s of injected latency: above the 0.25 bucket (its upper side depends on the load).
    assert sample(registry, f"{DURATION}_bucket", le="0.25", **slow) == 0
    assert sample(registry, f"{DURATION}_bucket", le="+Inf", **slow) == 1
    assert sample(registry, f"{DURATION}_sum", **slow) >= 0.4


async def test_pool_gauges_follow_checkouts(
    client: httpx.AsyncClient, registry: CollectorRegistry, app: Any
) -> None:
    await register(client)
    pool = app.state.context.engine.sync_engine.pool
    assert sample(registry, "flow_db_pool_size") == pool.size()
    assert sample(registry, "flow_db_pool_checked_out") == 0  # every request gave its back
    assert sample(registry, "flow_db_pool_wait_seconds_count") >= 1


async def test_metrics_endpoint_exposes_every_contract_metric(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert set(families) >= CONTRACT_NAMES
    values = {s.name: s.value for f in families.values() for s in f.samples if not s.labels}
    assert 0 <= values["flow_process_cpu_ratio"] <= 1
    assert 0 < values["flow_process_memory_ratio"] < 1
    assert 0 < values["flow_data_dir_disk_used_ratio"] <= 1
    assert sample(registry, "flow_dependency_up", component="database") == 1


async def test_redis_commands_are_counted(
    make_settings: Any, telemetry: Any, registry: CollectorRegistry, redis_url: str
) -> None:
    from intuitivus_flow.app import create_app

    app = create_app(make_settings(redis_url=redis_url), telemetry=telemetry)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            failed = await client.post(
                "/api/auth/login", json={"email": "nobody@example.com", "password": "wrong pw!"}
            )
            assert failed.status_code == 401
            await app.state.observability.runtime.refresh()
    finally:
        await app.state.context.close()
    # A failed sign-in counts a failure per account and per address (redis-py sends INCRBY).
    assert sample(registry, "flow_redis_commands_total", command="incrby", outcome="ok") >= 2
    assert sample(registry, "flow_redis_commands_total", command="ping", outcome="ok") == 1
    assert sample(registry, "flow_dependency_up", component="redis") == 1
