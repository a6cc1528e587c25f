"""RedisCache keeps what it read in the process for a few seconds (one round trip per hit)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from intuitivus_flow.kit.cache import READ_ALONG_KEY, RedisCache, cached
from tests.conftest import REDIS_URL, _redis_reachable, require_service


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    problem = await _redis_reachable()
    if problem:
        require_service("Redis", problem)
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_a_value_read_once_is_served_from_the_process(redis: Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    writer, reader = RedisCache(redis, prefix=prefix), RedisCache(redis, prefix=prefix)
    await writer.set("view:1", {"n": 1}, ttl_seconds=60)
    assert await reader.get("view:1") == {"n": 1}
    await redis.delete(prefix + "view:1")
    assert await reader.get("view:1") == {"n": 1}  # no second trip to Redis
    assert await RedisCache(redis, prefix=prefix).get("view:1") is None


async def test_a_bump_seen_by_another_process_still_recomputes(redis: Redis) -> None:
    # Keys carry the data version, so the kept copy can never answer for newer data.
    prefix = f"test:{uuid.uuid4().hex}:"
    first, second = RedisCache(redis, prefix=prefix), RedisCache(redis, prefix=prefix)
    workspace, calls = uuid.uuid4(), 0

    async def compute() -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"n": calls}

    assert (await cached(second, workspace, "view", compute, ttl_seconds=60))[0] == {"n": 1}
    await first.bump([workspace])
    assert await cached(second, workspace, "view", compute, ttl_seconds=60) == ({"n": 2}, False)


async def test_kept_values_expire(redis: Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    cache = RedisCache(redis, prefix=prefix, local_seconds=0)
    await cache.set("view:1", {"n": 1}, ttl_seconds=60)
    await redis.delete(prefix + "view:1")
    assert await cache.get("view:1") is None


async def test_a_version_read_along_is_used_once_and_never_while_bumps_are_owed(
    redis: Redis,
) -> None:
    # The principal cache reads the view version in its own MGET (auth/principal_cache.py).
    from redis.exceptions import ConnectionError as RedisConnectionError

    from intuitivus_flow.auth.principal_cache import RedisVersions

    prefix = f"test:{uuid.uuid4().hex}:"
    views = RedisCache(redis, prefix=prefix)
    versions = RedisVersions(redis, prefix=prefix + "auth:", views=views)
    workspace, info = uuid.uuid4(), {}
    await views.bump([workspace])
    assert await versions.read(workspace, info) == (0, 0)
    assert await cached(views, workspace, "view", _constant, ttl_seconds=60, info=info) == (
        {"n": 1},
        False,
    )
    # Used once: the next call of the same unit of work reads the version itself.
    assert await cached(views, workspace, "view", _constant, ttl_seconds=60, info=info) == (
        {"n": 1},
        True,
    )

    # A bump this process still owes Redis must be sent before any version is trusted, so
    # the read goes through `version()` (which sends it), not along with authentication.
    views._pending.add(workspace)
    assert views.version_key(workspace) is None
    await versions.read(workspace, info)
    assert info[READ_ALONG_KEY] == {}
    assert await cached(views, workspace, "view", _constant, ttl_seconds=60, info=info) == (
        {"n": 1},
        False,
    )
    assert int(await redis.get(f"{prefix}v:{workspace}") or 0) == 2

    # Paused after an outage: not read along either.
    views.outage.failed(RedisConnectionError("refused"))
    assert views.version_key(workspace) is None

    # Versions without a view cache (none on that Redis) read only their own keys.
    alone, alone_info = RedisVersions(redis, prefix=prefix + "auth:"), {}
    assert await alone.read(workspace, alone_info) == (0, 0)
    assert READ_ALONG_KEY not in alone_info


async def _constant() -> dict[str, int]:
    return {"n": 1}
