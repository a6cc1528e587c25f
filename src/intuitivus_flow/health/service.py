"""Readiness checks: each component answers ok/fail with how long it took."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.kit import migrations

CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    ok: bool
    latency_ms: float
    detail: dict[str, Any] = field(default_factory=dict)


async def check_database(engine: AsyncEngine) -> ComponentStatus:
    return await _timed("database", _database_probe(engine))


async def check_migrations(engine: AsyncEngine) -> ComponentStatus:
    return await _timed("migrations", _migrations_probe(engine))


async def check_redis(redis: Redis) -> ComponentStatus:
    return await _timed("redis", _redis_probe(redis))


async def _database_probe(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return {"engine": engine.dialect.name}


async def _migrations_probe(engine: AsyncEngine) -> dict[str, Any]:
    current, revision, head = await migrations.is_current(engine)
    if not current:
        raise RuntimeError(f"database at {revision or 'no revision'}, code expects {head}")
    return {"revision": revision}


async def _redis_probe(redis: Redis) -> dict[str, Any]:
    await redis.ping()
    return {}


async def _timed(name: str, probe: Any) -> ComponentStatus:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe, timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return ComponentStatus(name, False, _ms(started), {"error": "timed out"})
    except Exception as exc:
        return ComponentStatus(name, False, _ms(started), {"error": _describe(exc)})
    return ComponentStatus(name, True, _ms(started), detail)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _describe(exc: Exception) -> str:
    # Class name plus first line: enough to act on, without echoing connection strings.
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first_line}"[:200]
