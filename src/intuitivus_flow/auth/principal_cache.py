"""A short-lived, revocation-aware cache of who holds a credential (issue 12).

Checking a bearer token or an API key against the database was about 40 % of every
authenticated request: a pool checkout, BEGIN, a join and COMMIT. Here the resulting
`Principal` is kept in the process for up to `FLOW_PRINCIPAL_CACHE_SECONDS`, and served only
while the *auth versions* read with it are still current: the version of its workspace and the
instance-wide one.

Invalidation does not depend on each revoking code path remembering the cache. A flush
listener notes the workspaces whose users, sessions, API keys or workspace row were deleted or
changed in a column that matters (anything but bookkeeping such as `last_used_at`), and a bulk
UPDATE/DELETE of those tables through a session marks every workspace; after the unit of work
commits, their versions are bumped. Logout, refresh-token reuse, deactivation, deletion, role
change, membership removal, key revocation and password change or reset all go through there.

Ordering makes a race harmless: on a miss the versions are read *before* the database, so a
revocation committing during the lookup bumps past them and the entry it stored is never
served. That needs the workspace before the lookup: a token carries it (signed); an API key's
is learned from its first lookup, which is therefore not stored.

Versions live in Redis when configured (shared by every worker and instance; a hit costs one
MGET, which also reads the workspace's view-cache version for the request, so a cached
dashboard costs one round trip in all). Without Redis they live in this process, which is
only right for one process: served by several workers without Redis, the cache is off. When
Redis cannot be reached, requests are authenticated against the database and this process
drops its entries; bumps that failed are retried before this process serves from its cache
again. The one window left is a bump lost with its process while Redis was away, which the
TTL bounds.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.kit.cache import RedisCache
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.redis_outage import REDIS_ERRORS, RedisOutage
from intuitivus_flow.kit.security import TokenClaims

AUTH_TOUCHED_KEY = "auth_touched_workspaces"
EVERY_WORKSPACE = "*"
# Tables whose rows decide who a credential is; workspaces for their deletion.
AUTH_TABLES = frozenset({"users", "auth_sessions", "api_keys", "workspaces"})
# Columns written while authenticating or signing in; they change no one's rights.
BOOKKEEPING_COLUMNS = frozenset({"last_used_at", "last_login_at", "updated_at"})
Versions = tuple[int, int]


class VersionStore(Protocol):
    async def read(self, workspace_id: uuid.UUID, info: dict[str, Any] | None = None) -> Versions:
        """The versions; `info` (the request's `LazyUnitOfWork.info`) receives what else the
        same round trip read for the request (the view cache's version)."""
        ...

    async def bump(self, workspace_ids: Iterable[uuid.UUID], *, everything: bool) -> None: ...


class MemoryVersions:
    """One process's versions: right only when this process is the only one serving."""

    def __init__(self) -> None:
        self._everything = 0
        self._workspaces: dict[uuid.UUID, int] = {}

    async def read(self, workspace_id: uuid.UUID, info: dict[str, Any] | None = None) -> Versions:
        return self._everything, self._workspaces.get(workspace_id, 0)

    async def bump(self, workspace_ids: Iterable[uuid.UUID], *, everything: bool) -> None:
        self._everything += everything
        for workspace_id in workspace_ids:
            self._workspaces[workspace_id] = self._workspaces.get(workspace_id, 0) + 1


class RedisVersions:
    """Versions in Redis. With `views` (the view cache on the same Redis), each read also
    fetches the workspace's view version for the request: on a cached dashboard that was a
    second round trip, which on a busy host costs more than the rest of the request."""

    def __init__(
        self, redis: Redis, prefix: str = "flow:auth:v:", *, views: RedisCache | None = None
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._views = views

    async def read(self, workspace_id: uuid.UUID, info: dict[str, Any] | None = None) -> Versions:
        keys = [self._prefix + EVERY_WORKSPACE, f"{self._prefix}{workspace_id}"]
        view_key = None
        if self._views is not None and info is not None:
            view_key = self._views.version_key(workspace_id)
        values = await self._redis.mget(*keys, *([view_key] if view_key else []))
        if self._views is not None and info is not None and view_key:
            self._views.read_along(info, workspace_id, values[2])
        return int(values[0] or 0), int(values[1] or 0)

    async def bump(self, workspace_ids: Iterable[uuid.UUID], *, everything: bool) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            if everything:
                pipe.incr(self._prefix + EVERY_WORKSPACE)
            for workspace_id in workspace_ids:
                pipe.incr(f"{self._prefix}{workspace_id}")
            await pipe.execute()


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    versions: Versions
    fresh_until: float  # time.monotonic()
    valid_until: datetime  # the credential's own limit (session end, key expiry)


class VerifiedTokens:
    """Access tokens whose signature this process checked, with their claims, until they
    expire. A JWT's bytes cannot change, so the check (HMAC, two JSON decodes and PyJWT's
    key preparation: an eighth of a cached request) is done once per token, not per request.
    Whether its session still stands is the principal cache's question, asked every time."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._claims: OrderedDict[str, TokenClaims] = OrderedDict()
        self._max_entries = max_entries

    def claims(self, token: str, decode: Callable[[str], TokenClaims]) -> TokenClaims:
        found = self._claims.get(token)
        if found is not None and found.expires_at > utcnow():
            return found
        claims = decode(token)  # raises for a bad, expired or wrong-kind token
        self._claims[token] = claims
        while len(self._claims) > self._max_entries:
            self._claims.popitem(last=False)
        return claims


class PrincipalCache:
    def __init__(
        self,
        versions: VersionStore | None,
        *,
        ttl_seconds: float,
        max_entries: int = 10_000,
        redis_retry_seconds: float | None = None,
    ) -> None:
        self._versions = versions
        # The breaker the other Redis users share (kit/redis_outage.py): after a failure,
        # requests go straight to the database for a few seconds instead of each paying the
        # Redis timeout (up to FLOW_REDIS_TIMEOUT_SECONDS per request on a hanging Redis).
        self.outage = RedisOutage("the principal cache", retry_seconds=redis_retry_seconds)
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # Counts the times this process dropped its entries (a bump here, a Redis failure):
        # versions read across one of them may predate it (see `_current`).
        self._generation = 0
        self._workspaces: dict[str, uuid.UUID] = {}  # API key digest -> its workspace
        self._pending: set[uuid.UUID] = set()
        self._pending_everything = False
        self.tokens = VerifiedTokens(max_entries)

    @property
    def enabled(self) -> bool:
        return self._versions is not None and self._ttl > 0

    async def principal(
        self,
        key: str,
        load: Callable[[], Awaitable[tuple[Principal, datetime]]],
        *,
        workspace_id: uuid.UUID | None = None,
        info: dict[str, Any] | None = None,
    ) -> Principal:
        """The principal for `key` (a session id, an API key's digest), from the cache while
        it is current, else from `load()`: the database check, which raises when the
        credential is refused and returns the principal and until when it may be reused.
        `info` (the request's `LazyUnitOfWork.info`) gets what the version read fetched
        along."""
        if not self.enabled:
            return (await load())[0]
        hit = await self._current(key, info)
        if hit is not None:
            return hit
        workspace_id = workspace_id or self._workspaces.get(key)
        generation = self._generation
        versions = await self._read_versions(workspace_id, info) if workspace_id else None
        principal, valid_until = await load()
        self._workspaces[key] = principal.workspace_id
        if (
            versions is not None
            and principal.workspace_id == workspace_id
            and generation == self._generation
        ):
            self._store(key, principal, versions, valid_until)
        return principal

    async def bump(self, workspace_ids: set[uuid.UUID], *, everything: bool) -> None:
        """Make every cached principal of these workspaces (or all) stale, on every process."""
        if self._versions is None:
            return
        self._pending |= workspace_ids
        self._pending_everything |= everything
        self._drop_entries()  # this process re-reads at once, whatever Redis does
        await self._flush_pending()

    async def _current(self, key: str, info: dict[str, Any] | None) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        generation = self._generation
        if (
            entry.fresh_until <= time.monotonic()
            or entry.valid_until <= utcnow()
            or await self._read_versions(entry.principal.workspace_id, info) != entry.versions
        ):
            if self._entries.get(key) is entry:
                self._entries.pop(key)
            return None
        if generation != self._generation:
            # While the versions were read, this process dropped its entries (a bump it owes
            # Redis, a Redis failure): the versions may predate that bump, so not trusted.
            return None
        # Another request may have stored a newer entry for the key meanwhile; this one still
        # matched the versions read during this request, which is what a hit asks. (Refusing
        # it, as before, made every miss under concurrency cause more: at 64 connections
        # about 70 % of /api/auth/me requests went to the database.)
        if self._entries.get(key) is entry:
            self._entries.move_to_end(key)
        return entry.principal

    async def _read_versions(
        self, workspace_id: uuid.UUID, info: dict[str, Any] | None = None
    ) -> Versions | None:
        """The current versions, or None when they cannot be trusted (Redis away, or a bump
        of this process still owed to it): then nothing is served from or put in the cache."""
        assert self._versions is not None
        if not self.outage.worth_trying():
            return None  # the entries were dropped when Redis failed
        try:
            if not await self._flush_pending():
                return None
            versions = await self._versions.read(workspace_id, info)
        except REDIS_ERRORS as error:
            self._redis_failed(error)
            return None
        self.outage.succeeded()
        return versions

    async def _flush_pending(self) -> bool:
        if not (self._pending or self._pending_everything):
            return True
        assert self._versions is not None
        if not self.outage.worth_trying():
            return False  # owed: sent before any version is trusted again
        try:
            await self._versions.bump(self._pending, everything=self._pending_everything)
        except REDIS_ERRORS as error:
            self._redis_failed(error)
            return False
        self._pending.clear()
        self._pending_everything = False
        return True

    def _redis_failed(self, error: Exception) -> None:
        # Versions read before the outage may be stale by the time it ends: nothing cached in
        # this process is served again until they can be read.
        self._drop_entries()
        self.outage.failed(error)  # logs once per outage

    def _drop_entries(self) -> None:
        self._entries.clear()
        self._generation += 1

    def _store(
        self, key: str, principal: Principal, versions: Versions, valid_until: datetime
    ) -> None:
        fresh_until = time.monotonic() + self._ttl
        self._entries[key] = _Entry(principal, versions, fresh_until, valid_until)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        while len(self._workspaces) > self._max_entries:
            self._workspaces.pop(next(iter(self._workspaces)))


def build_principal_cache(
    redis: Redis | None,
    *,
    ttl_seconds: float,
    single_process: bool,
    views: RedisCache | None = None,
) -> PrincipalCache:
    if redis is not None:
        return PrincipalCache(RedisVersions(redis, views=views), ttl_seconds=ttl_seconds)
    return PrincipalCache(MemoryVersions() if single_process else None, ttl_seconds=ttl_seconds)


async def bump_after_commit(cache: PrincipalCache, info: dict[str, Any]) -> None:
    touched: set[uuid.UUID | str] = info.pop(AUTH_TOUCHED_KEY, set())
    if touched:
        workspaces = {item for item in touched if isinstance(item, uuid.UUID)}
        await cache.bump(workspaces, everything=EVERY_WORKSPACE in touched)


def _is_auth_row(row: object) -> bool:
    return getattr(row, "__tablename__", None) in AUTH_TABLES


def _changed_rights(row: object) -> bool:
    return any(
        attribute.key not in BOOKKEEPING_COLUMNS and attribute.history.has_changes()
        for attribute in inspect(row).attrs
    )


def _workspaces_of(row: object) -> set[uuid.UUID | str]:
    """The workspace a row's principals belong to, before and after this flush."""
    column = "id" if getattr(row, "__tablename__", None) == "workspaces" else "workspace_id"
    history = inspect(row).attrs[column].history
    values = [*history.deleted, *history.unchanged, *history.added]
    found: set[uuid.UUID | str] = {value for value in values if isinstance(value, uuid.UUID)}
    return found or {EVERY_WORKSPACE}  # not loaded: which workspace is unknown


@event.listens_for(Session, "after_flush")
def _remember_auth_changes(session: Session, _: object) -> None:
    # New rows are left out: nothing can have cached a principal for them yet.
    changed = [row for row in session.dirty if _is_auth_row(row) and _changed_rights(row)]
    deleted = [row for row in session.deleted if _is_auth_row(row)]
    for row in (*changed, *deleted):
        session.info.setdefault(AUTH_TOUCHED_KEY, set()).update(_workspaces_of(row))


@event.listens_for(Session, "do_orm_execute")
def _remember_bulk_auth_changes(state: ORMExecuteState) -> None:
    # A bulk UPDATE or DELETE names no rows; which workspaces it reached is unknown.
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in AUTH_TABLES:
            state.session.info.setdefault(AUTH_TOUCHED_KEY, set()).add(EVERY_WORKSPACE)


@event.listens_for(Session, "after_soft_rollback")
def _forget_auth_changes(session: Session, previous: SessionTransaction) -> None:
    # Only the whole transaction's rollback: a savepoint's keeps the outer changes, which
    # still commit (an extra bump costs a re-read; a lost one would serve a revoked principal).
    if previous.parent is None:
        session.info.pop(AUTH_TOUCHED_KEY, None)
