from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from redis.asyncio import Redis

from intuitivus_flow.kit.errors import TooManyRequests
from intuitivus_flow.kit.ratelimit import (
    CounterStore,
    MemoryCounterStore,
    RedisCounterStore,
    Throttle,
    WindowCount,
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


async def test_throttle_refuses_over_the_limit(store: CounterStore) -> None:
    throttle = Throttle(store, "t", limit=2, window_seconds=60)
    await throttle.acquire("a", "slow down")
    await throttle.acquire("a", "slow down")
    with pytest.raises(TooManyRequests) as raised:
        await throttle.acquire("a", "slow down")
    assert raised.value.headers["Retry-After"].isdigit()
    await throttle.acquire("b", "other subjects are separate")


async def test_parallel_acquires_let_exactly_the_limit_through(store: CounterStore) -> None:
    throttle = Throttle(store, "t", limit=5, window_seconds=60)

    async def attempt() -> bool:
        try:
            await throttle.acquire("a", "slow down")
        except TooManyRequests:
            return False
        await asyncio.sleep(0.01)  # the guarded work: others run meanwhile
        return True

    outcomes = await asyncio.gather(*(attempt() for _ in range(50)))
    assert outcomes.count(True) == 5


def _run_now(coroutine: Coroutine[Any, Any, WindowCount]) -> WindowCount:
    """Run a coroutine that never suspends, on the calling thread (no event loop needed)."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        result: WindowCount = finished.value
        return result
    raise AssertionError("the memory store never waits")


THREADS, INCREMENTS_PER_THREAD = 8, 5000


def _increment_many(store: MemoryCounterStore) -> None:
    for _ in range(INCREMENTS_PER_THREAD):
        _run_now(store.increment("k", 60))


def test_memory_increments_from_many_threads_are_all_counted() -> None:
    store = MemoryCounterStore()
    previous = sys.getswitchinterval()
    # Switch threads as often as possible, so an unlocked read-modify-write would lose updates.
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            futures = [pool.submit(_increment_many, store) for _ in range(THREADS)]
            for future in futures:
                future.result()
    finally:
        sys.setswitchinterval(previous)
    assert _run_now(store.peek("k")).count == THREADS * INCREMENTS_PER_THREAD


async def test_release_gives_back_one_but_never_goes_below_zero(store: CounterStore) -> None:
    throttle = Throttle(store, "t", limit=1, window_seconds=60)
    await throttle.acquire("a", "slow down")
    await throttle.release("a")
    await throttle.acquire("a", "the released attempt is free again")
    await throttle.release("a")
    await throttle.release("a")
    await throttle.release("never-counted")
    assert (await store.peek("t:a")).count == 0
    assert (await store.peek("t:never-counted")).count == 0
    await throttle.acquire("a", "still one allowed")
    with pytest.raises(TooManyRequests):
        await throttle.acquire("a", "but only one")
