from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from intuitivus_flow.kit.errors import TooManyRequests
from intuitivus_flow.kit.ratelimit import (
    CounterStore,
    MemoryCounterStore,
    RedisCounterStore,
    Throttle,
)
from tests.conftest import REDIS_URL, _redis_reachable, require_service


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CounterStore]:
    if request.param == "memory":
        yield MemoryCounterStore()
        return
    problem = await _redis_reachable()
    if problem:
        require_service("Redis", problem)
    client = Redis.from_url(REDIS_URL)
    yield RedisCounterStore(client, prefix=f"test:{uuid.uuid4().hex}:")
    await client.aclose()


async def test_counts_within_a_window(store: CounterStore) -> None:
    assert (await store.increment("k", 60)).count == 1
    second = await store.increment("k", 60)
    assert second.count == 2
    assert 0 < second.retry_after <= 60
    assert (await store.peek("k")).count == 2
    await store.reset("k")
    assert (await store.peek("k")).count == 0


async def test_window_expires(store: CounterStore) -> None:
    await store.increment("short", 1)
    await asyncio.sleep(1.2)
    assert (await store.peek("short")).count == 0


async def test_throttle_refuses_at_the_limit(store: CounterStore) -> None:
    throttle = Throttle(store, "t", limit=2, window_seconds=60)
    await throttle.check("a", "slow down")
    await throttle.hit("a")
    await throttle.hit("a")
    with pytest.raises(TooManyRequests) as raised:
        await throttle.check("a", "slow down")
    assert raised.value.headers["Retry-After"].isdigit()
    await throttle.check("b", "other subjects are separate")
