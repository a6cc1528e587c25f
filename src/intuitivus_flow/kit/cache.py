"""Read-through caching of per-workspace views (the dashboard), invalidated by writes.

Every committed unit of work that touched a workspace's rows bumps that workspace's data
version; cached values are keyed by the version, so a write makes the old entry unreachable at
once, whatever domain wrote. A TTL bounds staleness from writes that bypass the ORM (bulk
UPDATEs) and bounds memory.

Redis holds versions and values when configured (shared by every worker and instance);
otherwise both live in this process, which is right for the single-process embedded default.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from intuitivus_flow.kit.redis_outage import REDIS_ERRORS, RedisOutage

TOUCHED_KEY = "touched_workspaces"
# A request's info (kit/db.LazyUnitOfWork.info): workspace id -> its data version, read in
# another component's round trip (the principal cache's, see RedisCache.version_key) for this
# request only.
READ_ALONG_KEY = "view_versions_read_along"
# How long a value read from Redis is also kept in the process (see RedisCache).
LOCAL_SECONDS = 5


class CacheOutcome(StrEnum):
    hit = "hit"
    miss = "miss"
    bypass = "bypass"  # the cache could not be trusted (Redis away): computed, not stored


@dataclass(slots=True)
class CacheStats:
    """How `cached` reads went, counted in this process. `listener` forwards each outcome (the
    observability layer, which kit may not import, counts them as a Prometheus counter so
    every worker's reads add up)."""

    hits: int = 0
    misses: int = 0
    bypasses: int = 0
    listener: Callable[[CacheOutcome], None] | None = None

    def record(self, outcome: CacheOutcome) -> None:
        if outcome is CacheOutcome.hit:
            self.hits += 1
        elif outcome is CacheOutcome.miss:
            self.misses += 1
        else:
            self.bypasses += 1
        if self.listener is not None:
            self.listener(outcome)


class Cache(Protocol):
    async def version(self, workspace_id: uuid.UUID) -> int | None:
        """The workspace's data version, or None when it cannot be trusted now (then the
        cache is bypassed: values are computed and not stored)."""
        ...

    async def bump(self, workspace_ids: Iterable[uuid.UUID]) -> None: ...

    async def get(self, key: str) -> Any | None: ...

    async def set(self, key: str, value: Any, ttl_seconds: int) -> None: ...


class MemoryCache:
    def __init__(self, max_entries: int = 10_000) -> None:
        self.stats = CacheStats()
        self._versions: dict[uuid.UUID, int] = {}
        self._values: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._max_entries = max_entries

    async def version(self, workspace_id: uuid.UUID) -> int:
        return self._versions.get(workspace_id, 0)

    async def bump(self, workspace_ids: Iterable[uuid.UUID]) -> None:
        for workspace_id in workspace_ids:
            self._versions[workspace_id] = self._versions.get(workspace_id, 0) + 1

    async def get(self, key: str) -> Any | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._values[key]
            return None
        self._values.move_to_end(key)
        return entry[1]

    async def set(self, key: str, value: Any, ttl_seconds: int) -> None:
        self._values[key] = (time.monotonic() + ttl_seconds, value)
        self._values.move_to_end(key)
        while len(self._values) > self._max_entries:
            self._values.popitem(last=False)


class RedisCache:
    """Values are stored as JSON; callers cache plain data (dicts of numbers and strings).

    A value read is also kept in this process for a few seconds: its key holds the data
    version, so no write can make it stale (only the TTL's bulk-UPDATE bound applies), and a
    hit then costs the version's round trip to Redis instead of two.

    While Redis is away (kit/redis_outage.py) the cache is bypassed: views are computed from
    the database. Bumps that failed are kept and sent before any version is trusted again,
    so a write made during the outage cannot leave an older cached view servable after it.
    """

    def __init__(
        self, redis: Redis, prefix: str = "flow:cache:", local_seconds: int = LOCAL_SECONDS
    ) -> None:
        self.stats = CacheStats()
        self._redis = redis
        self._prefix = prefix
        self._local = MemoryCache(max_entries=1_000)
        self._local_seconds = local_seconds
        self._pending: set[uuid.UUID] = set()
        self.outage = RedisOutage("the view cache")

    async def version(self, workspace_id: uuid.UUID) -> int | None:
        if not self.outage.worth_trying():
            return None
        try:
            await self._send_pending()
            found = int(await self._redis.get(f"{self._prefix}v:{workspace_id}") or 0)
        except REDIS_ERRORS as error:
            self.outage.failed(error)
            return None
        self.outage.succeeded()
        return found

    def version_key(self, workspace_id: uuid.UUID) -> str | None:
        """The Redis key of the workspace's version, for a caller that reads it in the same
        round trip as its own keys (authentication reads the auth versions on every request:
        one MGET then serves both), or None when `version()` must read it itself: bumps are
        owed to Redis first, or Redis is being given a pause."""
        if self._pending or not self.outage.worth_trying():
            return None
        return f"{self._prefix}v:{workspace_id}"

    def read_along(self, info: dict[str, Any], workspace_id: uuid.UUID, raw: Any) -> None:
        """Keep the version read at `version_key` for the request whose `info` this is
        (kit/db.LazyUnitOfWork): `cached(..., info=...)` uses it instead of another round
        trip."""
        self.outage.succeeded()
        info.setdefault(READ_ALONG_KEY, {})[workspace_id] = int(raw or 0)

    async def bump(self, workspace_ids: Iterable[uuid.UUID]) -> None:
        self._pending.update(workspace_ids)
        if not self._pending or not self.outage.worth_trying():
            return
        try:
            await self._send_pending()
        except REDIS_ERRORS as error:
            self.outage.failed(error)

    async def _send_pending(self) -> None:
        if not self._pending:
            return
        ids = list(self._pending)
        async with self._redis.pipeline(transaction=False) as pipe:
            for workspace_id in ids:
                pipe.incr(f"{self._prefix}v:{workspace_id}")
            await pipe.execute()
        self._pending.difference_update(ids)

    async def get(self, key: str) -> Any | None:
        found = await self._local.get(key)
        if found is not None:
            return found
        try:
            raw = await self._redis.get(self._prefix + key)
        except REDIS_ERRORS as error:
            self.outage.failed(error)
            return None
        if raw is None:
            return None
        value = json.loads(raw)
        await self._local.set(key, value, self._local_seconds)
        return value

    async def set(self, key: str, value: Any, ttl_seconds: int) -> None:
        encoded = json.dumps(value, default=str)
        try:
            await self._redis.set(self._prefix + key, encoded, ex=ttl_seconds)
        except REDIS_ERRORS as error:
            self.outage.failed(error)
            return
        # What other processes will read back: JSON's types, not the caller's.
        await self._local.set(key, json.loads(encoded), min(ttl_seconds, self._local_seconds))


async def cached(
    cache: Cache,
    workspace_id: uuid.UUID,
    name: str,
    compute: Callable[[], Awaitable[Any]],
    *,
    ttl_seconds: int,
    refresh: bool = False,
    info: dict[str, Any] | None = None,
) -> tuple[Any, bool]:
    """The cached value of `name` for the workspace's current data, or a fresh one
    (always fresh with `refresh`, which still stores it). Returns (value, hit).

    `info` is the request's (kit/db.LazyUnitOfWork.info): a version read along with its
    authentication (`RedisCache.read_along`) is used once, instead of reading it again.
    """
    stats: CacheStats | None = getattr(cache, "stats", None)  # a test double may keep none
    read_along: dict[uuid.UUID, int] = (info or {}).get(READ_ALONG_KEY, {})
    version = read_along.pop(workspace_id, None)
    if version is None:
        version = await cache.version(workspace_id)
    if version is None:  # the cache is away: the view is still served, from the database
        if stats is not None:
            stats.record(CacheOutcome.bypass)
        return await compute(), False
    key = f"{name}:{workspace_id}:{version}"
    found = None if refresh else await cache.get(key)
    if found is not None:
        if stats is not None:
            stats.record(CacheOutcome.hit)
        return found, True
    if stats is not None:
        stats.record(CacheOutcome.miss)
    if refresh:
        return await _compute_and_store(cache, key, compute, ttl_seconds), False
    return await _compute_once(cache, key, compute, ttl_seconds), False


# Misses of one key in one process share one computation. When a popular view expires or a
# write bumps its workspace's version, every request waiting on it misses at once; each used to
# take its own database connection to compute the same value, and under the 1000-user load test
# that herd exhausted the pool (503s). Keyed by the cache too: tests run several instances in
# one process.
_in_flight: dict[tuple[int, str], asyncio.Future[Any]] = {}


async def _compute_once(
    cache: Cache, key: str, compute: Callable[[], Awaitable[Any]], ttl_seconds: int
) -> Any:
    slot = (id(cache), key)
    leader = _in_flight.get(slot)
    if leader is not None:
        try:
            return await asyncio.shield(leader)
        except asyncio.CancelledError:
            if not leader.cancelled():
                raise  # this request was cancelled, not the one computing
            # The computing request went away (its client disconnected): compute here instead.
            return await _compute_and_store(cache, key, compute, ttl_seconds)
    shared: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _in_flight[slot] = shared
    try:
        value = await _compute_and_store(cache, key, compute, ttl_seconds)
    except asyncio.CancelledError:
        shared.cancel()
        raise
    except BaseException as exc:
        shared.set_exception(exc)  # the followers fail the same way (e.g. database unavailable)
        shared.exception()  # retrieved: no "exception was never retrieved" when nobody waited
        raise
    else:
        shared.set_result(value)
        return value
    finally:
        del _in_flight[slot]


async def _compute_and_store(
    cache: Cache, key: str, compute: Callable[[], Awaitable[Any]], ttl_seconds: int
) -> Any:
    value = await compute()
    await cache.set(key, value, ttl_seconds)
    return value


@event.listens_for(Session, "after_flush")
def _remember_touched_workspaces(session: Session, _: object) -> None:
    # Collected at flush time (sync), bumped after commit by the unit of work (async).
    touched: set[uuid.UUID] = session.info.setdefault(TOUCHED_KEY, set())
    for row in (*session.new, *session.dirty, *session.deleted):
        workspace_id = getattr(row, "workspace_id", None)
        if getattr(row, "__tablename__", None) == "workspaces":
            workspace_id = row.id  # the workspace row itself (a rename shows on its dashboard)
        if isinstance(workspace_id, uuid.UUID):
            touched.add(workspace_id)


@event.listens_for(Session, "after_rollback")
def _forget_touched_workspaces(session: Session) -> None:
    session.info.pop(TOUCHED_KEY, None)
