"""Long-lived resources of a running instance, created at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.auth.policy import AuthPolicy
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
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    redis: Redis | None
    counters: CounterStore
    cache: Cache
    auth: AuthPolicy
    secrets: SecretBox
    # Where outbound requests to URLs chosen by workspaces may go (FLOW_OUTBOUND_ALLOW).
    outbound: OutboundPolicy

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        engine = create_engine(settings)
        redis = (
            Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=2.0)
            if settings.redis_url
            else None
        )
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
            auth=AuthPolicy.from_settings(settings, counters),
            secrets=secret_box_for(settings),
            outbound=OutboundPolicy.parse(settings.outbound_allow),
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def secret_box_for(settings: Settings) -> SecretBox:
    configured = [key.get_secret_value() for key in settings.encryption_keys]
    try:
        return SecretBox(configured or [derive_key(settings.resolved_secret_key())])
    except ValueError as exc:
        raise ConfigurationError(f"FLOW_ENCRYPTION_KEYS: {exc}") from None
