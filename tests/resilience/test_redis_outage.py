"""Redis killed (or hanging) under a running app: the API keeps serving on its fallbacks
(views from the database, throttling on in-process counters) and goes back to Redis alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from intuitivus_flow.kit import redis_outage
from tests.helpers import PASSWORD, register
from tests.resilience.processes import ThrowawayRedis, silent_listener

# redis_timeout_seconds is 0.5 here: the first request of an outage pays it once, the
# breaker spares the others; nothing waits for the default TCP timeouts.
BOUND_SECONDS = 3.0


@pytest.fixture(autouse=True)
def quick_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_outage, "RETRY_SECONDS", 0.2)


@pytest.fixture
def settings_overrides(own_redis: ThrowawayRedis) -> dict[str, Any]:
    return {
        "redis_url": own_redis.url,
        "redis_timeout_seconds": 0.5,
        "login_max_failures_per_account": 3,
    }


async def _get(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> httpx.Response:
    started = time.perf_counter()
    response = await client.get(path, headers=headers)
    assert time.perf_counter() - started < BOUND_SECONDS
    return response


async def _wrong_logins(client: httpx.AsyncClient, email: str, times: int) -> list[int]:
    statuses = []
    for _ in range(times):
        response = await client.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD + "x"}
        )
        statuses.append(response.status_code)
    return statuses


async def test_the_api_keeps_serving_while_redis_is_killed_and_uses_it_again_after(
    client: httpx.AsyncClient, app: Any, own_redis: ThrowawayRedis
) -> None:
    account = await register(client)
    assert (await _get(client, "/api/dashboard", account.headers)).status_code == 200

    own_redis.kill()
    for path in ("/api/workspace", "/api/dashboard", "/api/contacts"):
        response = await _get(client, path, account.headers)
        assert response.status_code == 200, response.text
    created = await client.post(
        "/api/contacts", json={"name": "Ada", "phone": "+5511999990002"}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    # Throttling still stops a guessing run, on this process's own counters.
    assert await _wrong_logins(client, account.email, 4) == [401, 401, 401, 429]
    assert app.state.context.counters.outage.down

    own_redis.start()
    await asyncio.sleep(0.3)  # past the breaker's pause: the next command tries Redis again
    dashboard = await _get(client, "/api/dashboard", account.headers)
    assert dashboard.status_code == 200
    assert not app.state.context.cache.outage.down
    await _wrong_logins(client, account.email, 1)
    assert not app.state.context.counters.outage.down


@pytest.fixture
async def hanging_redis_port() -> AsyncIterator[int]:
    async with silent_listener() as port:
        yield port


async def test_a_hanging_redis_does_not_hang_requests(
    client: httpx.AsyncClient, hanging_redis_port: int, app: Any
) -> None:
    account = await register(client)
    context = app.state.context
    # Point the running app's Redis client at a server that accepts and never answers.
    kwargs = context.redis.connection_pool.connection_kwargs
    real_port, kwargs["port"] = kwargs["port"], hanging_redis_port
    await context.redis.connection_pool.disconnect()
    try:
        for path in ("/api/workspace", "/api/dashboard"):
            response = await _get(client, path, account.headers)
            assert response.status_code == 200, response.text
    finally:  # the app's shutdown talks to Redis too
        kwargs["port"] = real_port
        await context.redis.connection_pool.disconnect()
