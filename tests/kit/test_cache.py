"""Version-keyed caching: a committed write to a workspace invalidates its cached views."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from intuitivus_flow.kit.cache import Cache, MemoryCache, RedisCache, cached
from tests.conftest import REDIS_URL, _redis_reachable, require_service
from tests.helpers import me, register


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield MemoryCache(max_entries=3)
        return
    problem = await _redis_reachable()
    if problem:
        require_service("Redis", problem)
    client = Redis.from_url(REDIS_URL)
    yield RedisCache(client, prefix=f"test:{uuid.uuid4().hex}:")
    await client.aclose()


async def test_read_through_and_version_bump(cache: Cache) -> None:
    workspace = uuid.uuid4()
    calls = 0

    async def compute() -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"n": calls}

    first, hit = await cached(cache, workspace, "view", compute, ttl_seconds=60)
    assert (first, hit) == ({"n": 1}, False)
    again, hit = await cached(cache, workspace, "view", compute, ttl_seconds=60)
    assert (again, hit) == ({"n": 1}, True)
    await cache.bump([uuid.uuid4()])  # another workspace's write changes nothing here
    assert (await cached(cache, workspace, "view", compute, ttl_seconds=60))[1] is True
    await cache.bump([workspace])
    fresh, hit = await cached(cache, workspace, "view", compute, ttl_seconds=60)
    assert (fresh, hit) == ({"n": 2}, False)


async def test_memory_cache_evicts_and_expires() -> None:
    memory = MemoryCache(max_entries=2)
    for key in ("a", "b", "c"):
        await memory.set(key, 1, ttl_seconds=60)
    assert await memory.get("a") is None
    await memory.set("short", 1, ttl_seconds=0)
    assert await memory.get("short") is None


async def test_committed_api_writes_bump_the_workspace_version(
    client: httpx.AsyncClient, app: Any
) -> None:
    owner = await register(client)
    workspace_id = uuid.UUID((await me(client, owner.headers))["workspace"]["id"])
    cache: Cache = app.state.context.cache
    before = await cache.version(workspace_id)
    await client.patch("/api/workspace", json={"name": "Renamed"}, headers=owner.headers)
    assert await cache.version(workspace_id) > before
    unchanged = await cache.version(workspace_id)
    failed = await client.patch("/api/workspace", json={"name": ""}, headers=owner.headers)
    assert failed.status_code == 422
    assert await cache.version(workspace_id) == unchanged
