"""The Redis pool under a burst: callers wait for a connection instead of being refused.

redis-py's default pool raises MaxConnectionsError past its limit, which the caches took for an
outage (and fell back to the database all at once); `open_redis` queues them instead."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from intuitivus_flow.config import Settings
from intuitivus_flow.kit.resources import open_redis


def _settings(tmp_path: Path, redis_url: str, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, redis_url=redis_url, **overrides)  # type: ignore[arg-type]


async def _clients_named(probe_name: str, redis_url: str, tmp_path: Path) -> int:
    observer = open_redis(_settings(tmp_path, redis_url))
    try:
        clients = await observer.client_list()
        return sum(1 for client in clients if client.get("name") == probe_name)
    finally:
        await observer.aclose()


async def test_a_burst_larger_than_the_pool_waits_its_turn(tmp_path: Path, redis_url: str) -> None:
    redis = open_redis(_settings(tmp_path, redis_url, redis_max_connections=4))
    name = f"pool-probe-{uuid.uuid4().hex[:8]}"
    key = f"pool-test:{name}"
    try:
        await redis.set(key, "1")

        async def read_and_count() -> bytes | str | None:
            # Named connections let the server tell how many this client opened.
            await redis.client_setname(name)
            value: bytes | str | None = await redis.get(key)
            return value

        answers = await asyncio.gather(*(read_and_count() for _ in range(300)))

        assert answers == [b"1"] * 300  # none refused, none fell back
        assert await _clients_named(name, redis_url, tmp_path) <= 4
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_a_pool_held_longer_than_the_timeout_is_an_outage(
    tmp_path: Path, redis_url: str
) -> None:
    """Waiting is bounded: past FLOW_REDIS_TIMEOUT_SECONDS it is the usual Redis error, which the
    callers' breaker turns into their fallback."""
    redis = open_redis(
        _settings(tmp_path, redis_url, redis_max_connections=2, redis_timeout_seconds=0.2)
    )
    pool = redis.connection_pool
    held = [await pool.get_connection() for _ in range(2)]  # type: ignore[no-untyped-call]
    try:
        with pytest.raises(RedisConnectionError):
            await redis.ping()
    finally:
        for connection in held:
            await pool.release(connection)
        await redis.aclose()
    # once released, the same client works again
    again = open_redis(_settings(tmp_path, redis_url, redis_max_connections=2))
    try:
        assert await again.ping()
    finally:
        await again.aclose()
