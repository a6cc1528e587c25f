"""Concurrent misses of one cached view share one computation (kit/cache.py)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from intuitivus_flow.kit.cache import MemoryCache, cached

WORKSPACE = uuid.uuid4()


class Computation:
    """A view computation that blocks until released, counting how often it ran."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.fail = fail

    async def __call__(self) -> dict[str, int]:
        self.runs += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {"run": self.runs}


async def _requests(
    cache: MemoryCache, compute: Computation, n: int
) -> list[asyncio.Task[tuple[object, bool]]]:
    tasks = [
        asyncio.create_task(cached(cache, WORKSPACE, "view", compute, ttl_seconds=60))
        for _ in range(n)
    ]
    await asyncio.sleep(0)  # every request has missed and is waiting
    return tasks


async def test_a_herd_of_misses_computes_once_and_stores_it() -> None:
    cache, compute = MemoryCache(), Computation()
    tasks = await _requests(cache, compute, 50)
    compute.release.set()
    results = await asyncio.gather(*tasks)
    assert compute.runs == 1
    assert [value for value, _ in results] == [{"run": 1}] * 50
    assert not any(hit for _, hit in results)
    # and the value is stored: the next request is a hit without computing
    again = await cached(cache, WORKSPACE, "view", compute, ttl_seconds=60)
    assert again == ({"run": 1}, True)
    assert compute.runs == 1


async def test_a_failed_computation_fails_every_waiting_request_and_is_not_stored() -> None:
    cache, compute = MemoryCache(), Computation(fail=ConnectionError("database unavailable"))
    tasks = await _requests(cache, compute, 5)
    compute.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert compute.runs == 1
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    compute.fail = None  # the database is back: the next request computes afresh
    value, hit = await cached(cache, WORKSPACE, "view", compute, ttl_seconds=60)
    assert (value, hit) == ({"run": 2}, False)


async def test_when_the_computing_request_is_cancelled_a_waiting_one_computes() -> None:
    cache, compute = MemoryCache(), Computation()
    leader, follower = await _requests(cache, compute, 2)
    leader.cancel()
    await asyncio.sleep(0)
    compute.release.set()
    value, hit = await follower
    assert (value, hit) == ({"run": 2}, False)
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_a_cancelled_waiting_request_does_not_disturb_the_computation() -> None:
    cache, compute = MemoryCache(), Computation()
    leader, follower = await _requests(cache, compute, 2)
    follower.cancel()
    await asyncio.sleep(0)
    compute.release.set()
    assert await leader == ({"run": 1}, False)
    with pytest.raises(asyncio.CancelledError):
        await follower


async def test_refresh_always_computes() -> None:
    cache, compute = MemoryCache(), Computation()
    compute.release.set()
    await cached(cache, WORKSPACE, "view", compute, ttl_seconds=60)
    value, hit = await cached(cache, WORKSPACE, "view", compute, ttl_seconds=60, refresh=True)
    assert (value, hit, compute.runs) == ({"run": 2}, False, 2)
