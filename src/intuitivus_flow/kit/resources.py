"""Long-lived plumbing of a running instance, opened at start-up and closed at shutdown.

Only what every layer may use (engine, sessions, Redis, counters, cache, secret box, outbound
rule). The app's composition root (`intuitivus_flow/context.py`) extends it with the domains'
runtime state, such as the auth policy, so kit never imports a domain.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.config import ConfigurationError, Settings
from intuitivus_flow.kit.cache import Cache, MemoryCache, RedisCache
from intuitivus_flow.kit.crypto import SecretBox, derive_key
from intuitivus_flow.kit.db import (
    SessionFactory,
    create_engine,
    create_session_factory,
    on_commit,
)
from intuitivus_flow.kit.outbound import OutboundPolicy
from intuitivus_flow.kit.ratelimit import CounterStore, MemoryCounterStore, RedisCounterStore


@dataclass(slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    redis: Redis | None
    counters: CounterStore
    cache: Cache
    secrets: SecretBox
    # Where outbound requests to URLs chosen by workspaces may go (FLOW_OUTBOUND_ALLOW).
    outbound: OutboundPolicy

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        engine = create_engine(settings)
        redis = open_redis(settings) if settings.redis_url else None
        counters: CounterStore = RedisCounterStore(redis) if redis else MemoryCounterStore()
        cache: Cache = RedisCache(redis) if redis else MemoryCache()
        sessions = create_session_factory(engine)
        on_commit(sessions, cache.bump)  # writes invalidate cached views of their workspace
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            redis=redis,
            counters=counters,
            cache=cache,
            secrets=secret_box_for(settings),
            outbound=OutboundPolicy.parse(settings.outbound_allow),
        )

    def parts(self) -> dict[str, Any]:
        """The fields by name, for a subclass that adds its own to already opened resources."""
        return {field.name: getattr(self, field.name) for field in fields(Resources)}

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def open_redis(settings: Settings) -> Redis:
    """A client whose pool makes callers wait their turn for a connection.

    redis-py's default pool refuses a command outright (MaxConnectionsError) once 100 are in
    use. Under a burst of concurrent requests that refusal read as "Redis unreachable": every
    request fell back to the database at once and emptied its pool (503s at 1,000 users/s).
    Commands take well under a millisecond, so waiting briefly for a connection is cheaper than
    any fallback; only a wait longer than the Redis timeout counts as an outage."""
    assert settings.redis_url is not None
    pool = BlockingConnectionPool.from_url(
        settings.redis_url.get_secret_value(),
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_seconds,
        # Short: a hanging Redis must cost a request little before the fallback.
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
    )
    return Redis.from_pool(pool)


def secret_box_for(settings: Settings) -> SecretBox:
    configured = [key.get_secret_value() for key in settings.encryption_keys]
    try:
        return SecretBox(configured or [derive_key(settings.resolved_secret_key())])
    except ValueError as exc:
        raise ConfigurationError(f"FLOW_ENCRYPTION_KEYS: {exc}") from None
