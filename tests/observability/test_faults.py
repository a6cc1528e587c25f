"""Fault injection: latency and 500s on chosen paths, driven over the ops API, never in
production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from intuitivus_flow.app import create_app
from intuitivus_flow.config import ConfigurationError, Settings
from tests.helpers import assert_problem, invite_and_join, register
from tests.observability.conftest import sample

FAULTS = "/api/ops/faults"
TOKEN = "ops-token-0123456789abcdef"
ENABLED = {"fault_injection": True, "metrics_token": TOKEN}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return ENABLED


async def timed_get(client: httpx.AsyncClient, path: str, **kwargs: Any) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.get(path, **kwargs)
    return response.status_code, time.perf_counter() - started


async def test_latency_applies_under_the_prefix_only(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    put = await client.put(
        FAULTS, json={"latency_ms": 300, "path_prefix": "/api/workspace"}, headers=owner.headers
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"latency_ms": 300, "error_rate": 0.0, "path_prefix": "/api/workspace"}
    status, slow = await timed_get(client, "/api/workspace", headers=owner.headers)
    assert status == 200
    assert slow >= 0.3
    _, other = await timed_get(client, "/api/auth/me", headers=owner.headers)
    assert other < 0.3
    # Everything is under "/", yet probes, scrapes and the ops API stay fast.
    await client.put(FAULTS, json={"latency_ms": 300}, headers=owner.headers)
    token = {"Authorization": f"Bearer {TOKEN}"}
    for exempt, headers in (("/health", {}), ("/ready", {}), ("/metrics", token), (FAULTS, token)):
        _, fast = await timed_get(client, exempt, headers=headers)
        assert fast < 0.3, exempt
    _, slow_page = await timed_get(client, "/signin")
    assert slow_page >= 0.3


async def test_injected_errors_are_500s_measured_like_real_ones(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    owner = await register(client)
    await client.put(
        FAULTS, json={"error_rate": 1.0, "path_prefix": "/api/"}, headers=owner.headers
    )
    for _ in range(4):
        failed = await client.get("/api/workspace", headers=owner.headers)
        assert_problem(failed, 500, "injected-fault")
    assert (await client.get("/health")).status_code == 200
    labels = {"method": "GET", "route": "unmatched", "status_class": "5xx"}
    # Injected before routing, so the route is unknown; what matters is the 5xx count.
    assert sample(registry, "flow_http_request_duration_seconds_count", **labels) == 4
    assert sample(registry, "flow_http_responses_total", status="500") == 4
    cleared = await client.delete(FAULTS, headers=owner.headers)
    assert cleared.status_code == 204
    assert (await client.get("/api/workspace", headers=owner.headers)).status_code == 200
    assert (await client.get(FAULTS, headers=owner.headers)).json() is None


async def test_half_error_rate_fails_about_half(client: httpx.AsyncClient, app: Any) -> None:
    app.state.observability.faults.rng.seed(5)
    await client.put(
        FAULTS,
        json={"error_rate": 0.5, "path_prefix": "/health-not"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    statuses = [(await client.get("/health-not-exempt")).status_code for _ in range(200)]
    assert 70 <= statuses.count(500) <= 130
    assert set(statuses) == {404, 500}


async def test_only_owners_or_the_metrics_token(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    admin = await invite_and_join(client, owner, role="admin")
    plan = {"latency_ms": 10}
    assert_problem(await client.put(FAULTS, json=plan), 401)
    assert_problem(await client.put(FAULTS, json=plan, headers=admin.headers), 403)
    by_token = await client.put(FAULTS, json=plan, headers={"Authorization": f"Bearer {TOKEN}"})
    assert by_token.status_code == 200
    bad = await client.put(FAULTS, json={"error_rate": 2}, headers=owner.headers)
    assert_problem(bad, 422, "invalid-input")
    bad_prefix = await client.put(FAULTS, json={"path_prefix": "api"}, headers=owner.headers)
    assert_problem(bad_prefix, 422)


async def test_a_tenant_owner_cannot_inject_faults_for_everyone(
    client: httpx.AsyncClient,
) -> None:
    """Only owners of the operator workspaces (by default the first one created) drive faults."""
    operator = await register(client, workspace="Operators")
    tenant = await register(client, workspace="Customer")
    everyone_fails = {"error_rate": 1.0, "path_prefix": "/api/"}
    assert_problem(await client.put(FAULTS, json=everyone_fails, headers=tenant.headers), 403)
    assert_problem(await client.delete(FAULTS, headers=tenant.headers), 403)
    assert_problem(await client.get(FAULTS, headers=tenant.headers), 403)
    assert (await client.get(FAULTS, headers=operator.headers)).json() is None


async def test_api_keys_never_inject_faults(client: httpx.AsyncClient) -> None:
    """Keys act as admins at most (owner-only actions stay with people); reading the plan
    needs `operations:read`."""
    owner = await register(client)
    headers = {}
    for scopes in (["agents:read"], ["operations:read", "operations:write"]):
        created = await client.post(
            "/api/api-keys", json={"name": "ops", "scopes": scopes}, headers=owner.headers
        )
        headers[scopes[0]] = {"Authorization": f"Bearer {created.json()['key']}"}
    for key in headers.values():
        assert_problem(await client.put(FAULTS, json={"latency_ms": 10}, headers=key), 403)
    assert_problem(await client.get(FAULTS, headers=headers["agents:read"]), 403)
    assert (await client.get(FAULTS, headers=headers["operations:read"])).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{}])
async def test_absent_unless_enabled(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    assert (await client.put(FAULTS, json={}, headers=owner.headers)).status_code == 404


def test_refused_in_production(tmp_path: Path) -> None:
    settings = Settings(
        env="production", data_dir=tmp_path, secret_key="x" * 48, fault_injection=True
    )
    with pytest.raises(ConfigurationError, match="FLOW_FAULT_INJECTION"):
        create_app(settings)
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOW_")}
    env.update(
        FLOW_DATA_DIR=str(tmp_path),
        FLOW_ENV="production",
        FLOW_SECRET_KEY="y" * 48,
        FLOW_FAULT_INJECTION="true",
    )
    result = subprocess.run(
        [sys.executable, "-m", "intuitivus_flow", "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: FLOW_FAULT_INJECTION=true is refused")
    assert "Traceback" not in result.stderr
