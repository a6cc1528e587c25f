"""The principal cache (auth/principal_cache.py) never serves a revoked credential.

Two app instances over one PostgreSQL database and one Redis stand for two workers (or two
pods): each has its own in-process cache. Both are warmed (proved by B answering without
reading `auth_sessions` / `api_keys`), the credential is revoked through A, and the very next
request on B must be refused. The embedded default (SQLite, one process, no Redis) is checked
the same way on its single instance.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event

from intuitivus_flow.app import create_app
from intuitivus_flow.auth.principal_cache import MemoryVersions, PrincipalCache, Versions
from intuitivus_flow.config import Settings
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.kit.models import utcnow
from tests.conftest import Database, empty_tables
from tests.helpers import assert_problem, invite_and_join, login, me, register

pytestmark = pytest.mark.asyncio


@contextmanager
def auth_reads(app: Any) -> Iterator[list[str]]:
    """The statements app's engine sends that read sessions or API keys."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        statement = str(args[2]).lower()
        if "from auth_sessions" in statement or "from api_keys" in statement:
            seen.append(statement)

    engine = app.state.context.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def warm(client: httpx.AsyncClient, app: Any, headers: dict[str, str]) -> None:
    for _ in range(2):  # an API key is cached from its second use (see the last test)
        await me(client, headers)
    with auth_reads(app) as reads:
        await me(client, headers)
    assert reads == [], "the second request should be answered from the principal cache"


@pytest.fixture
async def two_instances(
    database: Database, data_root: Path, redis_url: str
) -> AsyncIterator[tuple[Any, Any]]:
    if database.kind != "postgresql":
        pytest.skip("two instances share a server database")
    settings = Settings(
        env="test",
        data_dir=data_root,
        database_url=database.url,
        redis_url=redis_url,
        seed_demo=False,
    )
    apps = create_app(settings), create_app(settings)
    yield apps
    for app in apps:
        await app.state.context.close()
    await empty_tables(database.engine)


def client_for(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_revocations_reach_another_instance_at_once(two_instances: tuple[Any, Any]) -> None:
    app_a, app_b = two_instances
    async with client_for(app_a) as a, client_for(app_b) as b:
        owner = await register(a)
        member = await invite_and_join(a, owner, role="admin")
        member_id = (await me(a, member.headers))["id"]
        other_session = await login(a, owner.email)
        created = await a.post(
            "/api/api-keys",
            json={"name": "ci", "scopes": ["workspace:read"]},
            headers=owner.headers,
        )
        assert created.status_code == 201, created.text
        key = {"X-API-Key": created.json()["key"]}
        for client, app in ((a, app_a), (b, app_b)):
            for headers in (other_session.headers, member.headers, key):
                await warm(client, app, headers)

        logged_out = await a.post("/api/auth/logout", headers=other_session.headers)
        assert logged_out.status_code == 204
        assert_problem(await b.get("/api/auth/me", headers=other_session.headers), 401)

        revoked = await a.delete(f"/api/api-keys/{created.json()['id']}", headers=owner.headers)
        assert revoked.status_code == 200, revoked.text
        assert_problem(await b.get("/api/auth/me", headers=key), 401)

        demoted = await a.put(
            f"/api/workspace/members/{member_id}/role",
            json={"role": "member"},
            headers=owner.headers,
        )
        assert demoted.status_code == 200, demoted.text
        assert (await me(b, member.headers))["role"] == "member"

        deactivated = await a.post(
            f"/api/workspace/members/{member_id}/deactivate", headers=owner.headers
        )
        assert deactivated.status_code == 200, deactivated.text
        assert_problem(await b.get("/api/auth/me", headers=member.headers), 401)


@contextmanager
def redis_commands(app: Any) -> Iterator[list[str]]:
    """The commands app's Redis client sends (pipelines aside: a read sends none)."""
    sent: list[str] = []
    redis = app.state.context.redis
    real = redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return await real(*args, **options)

    redis.execute_command = counted
    try:
        yield sent
    finally:
        redis.execute_command = real


async def test_a_cached_dashboard_is_one_redis_read_that_still_sees_every_change(
    two_instances: tuple[Any, Any],
) -> None:
    # The auth versions and the view cache's version come back in one MGET (issue 12): the
    # request must still see a write and a revocation committed through the other instance.
    app_a, app_b = two_instances
    async with client_for(app_a) as a, client_for(app_b) as b:
        owner = await register(a)
        other_session = await login(a, owner.email)
        for _ in range(2):
            await b.get("/api/dashboard", headers=other_session.headers)
        with redis_commands(app_b) as sent:
            hit = await b.get("/api/dashboard", headers=other_session.headers)
        assert hit.headers["x-cache"] == "hit", hit.text
        assert sent == ["MGET"]

        renamed = await a.patch("/api/workspace", json={"name": "Renamed"}, headers=owner.headers)
        assert renamed.status_code == 200, renamed.text
        after_write = await b.get("/api/dashboard", headers=other_session.headers)
        assert after_write.headers["x-cache"] == "miss"

        logged_out = await a.post("/api/auth/logout", headers=other_session.headers)
        assert logged_out.status_code == 204
        assert_problem(await b.get("/api/dashboard", headers=other_session.headers), 401)


@contextmanager
def sessions_constructed(app: Any) -> Iterator[list[object]]:
    """The database sessions the app's requests construct (kit/db.LazyUnitOfWork)."""
    context = app.state.context
    real = context.sessions
    made: list[object] = []

    def counted(**options: Any) -> Any:
        session = real(**options)
        made.append(session)
        return session

    context.sessions = counted
    try:
        yield made
    finally:
        context.sessions = real


async def test_cached_requests_construct_no_database_session(
    database: Database, data_root: Path, redis_url: str
) -> None:
    # Constructing and closing an AsyncSession was a tenth of a cached request's CPU; a write
    # must still get its session and be committed before the response.
    settings = Settings(
        env="test", data_dir=data_root, database_url=database.url, redis_url=redis_url
    )
    app = create_app(settings)
    try:
        async with client_for(app) as client:
            owner = await register(client)
            await warm(client, app, owner.headers)
            await client.get("/api/dashboard", headers=owner.headers)
            with sessions_constructed(app) as made:
                assert (await me(client, owner.headers))["email"] == owner.email
                hit = await client.get("/api/dashboard", headers=owner.headers)
                assert hit.headers["x-cache"] == "hit", hit.text
            assert made == []

            with sessions_constructed(app) as made:
                renamed = await client.patch(
                    "/api/workspace", json={"name": "Renamed"}, headers=owner.headers
                )
                assert renamed.status_code == 200, renamed.text
            assert len(made) == 1
            assert (await me(client, owner.headers))["workspace"]["name"] == "Renamed"
    finally:
        await app.state.context.close()
        await empty_tables(database.engine)


async def test_refresh_reuse_and_password_change_reach_another_instance(
    two_instances: tuple[Any, Any],
) -> None:
    app_a, app_b = two_instances
    async with client_for(app_a) as a, client_for(app_b) as b:
        owner = await register(a)
        stolen = await login(a, owner.email)
        elsewhere = await login(a, owner.email)
        for headers in (stolen.headers, elsewhere.headers):
            await warm(b, app_b, headers)

        first = await a.post("/api/auth/refresh", json={"refresh_token": stolen.refresh_token})
        assert first.status_code == 200
        replayed = await a.post("/api/auth/refresh", json={"refresh_token": stolen.refresh_token})
        assert_problem(replayed, 401, "refresh-token-reused")
        assert_problem(await b.get("/api/auth/me", headers=stolen.headers), 401)

        # A password change signs out every other session with one bulk UPDATE.
        changed = await a.post(
            "/api/auth/password",
            json={"current_password": "correct horse battery", "new_password": "new horse 12345"},
            headers=owner.headers,
        )
        assert changed.status_code == 204, changed.text
        assert_problem(await b.get("/api/auth/me", headers=elsewhere.headers), 401)
        assert (await me(b, owner.headers))["email"] == owner.email


async def test_embedded_default_refuses_revoked_credentials_at_once(
    database: Database, client: httpx.AsyncClient, app: Any
) -> None:
    if database.kind != "sqlite":
        pytest.skip("the embedded default is SQLite without Redis")
    assert app.state.context.principals.enabled
    owner = await register(client)
    member = await invite_and_join(client, owner)
    member_id = (await me(client, member.headers))["id"]
    created = await client.post(
        "/api/api-keys", json={"name": "ci", "scopes": ["workspace:read"]}, headers=owner.headers
    )
    key = {"X-API-Key": created.json()["key"]}
    for headers in (member.headers, key):
        await warm(client, app, headers)

    await client.delete(f"/api/api-keys/{created.json()['id']}", headers=owner.headers)
    assert_problem(await client.get("/api/auth/me", headers=key), 401)
    await client.post(f"/api/workspace/members/{member_id}/deactivate", headers=owner.headers)
    assert_problem(await client.get("/api/auth/me", headers=member.headers), 401)


@pytest.mark.parametrize(
    "overrides",
    [{"database_url": "postgresql+asyncpg://postgres@127.0.0.1/none"}, {"serving_processes": 2}],
    ids=["postgresql-without-redis", "several-workers-without-redis"],
)
def test_no_in_process_cache_where_siblings_could_revoke(
    data_root: Path, overrides: dict[str, Any]
) -> None:
    app = create_app(Settings(env="test", data_dir=data_root, seed_demo=False, **overrides))
    assert not app.state.context.principals.enabled


class FlakyVersions(MemoryVersions):
    """Versions in memory that can be made to fail like an unreachable Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def read(self, workspace_id: uuid.UUID, info: dict[str, Any] | None = None) -> Versions:
        if self.down:
            raise RedisConnectionError("connection refused")
        return await super().read(workspace_id, info)

    async def bump(self, workspace_ids: Any, *, everything: bool) -> None:
        if self.down:
            raise RedisConnectionError("connection refused")
        await super().bump(workspace_ids, everything=everything)


class Loader:
    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.calls = 0

    async def __call__(self) -> tuple[Principal, Any]:
        self.calls += 1
        return self.principal, utcnow().replace(year=utcnow().year + 1)


def a_principal() -> Principal:
    return Principal(workspace_id=uuid.uuid4(), role=Role.member, scopes=frozenset())


async def test_redis_away_means_the_database_decides() -> None:
    versions = FlakyVersions()
    # Redis is tried again on the next request (no breaker pause), to see the owed bump sent.
    cache = PrincipalCache(versions, ttl_seconds=30, redis_retry_seconds=0)
    principal = a_principal()
    load = Loader(principal)
    workspace = principal.workspace_id
    await cache.principal("session:1", load, workspace_id=workspace)
    await cache.principal("session:1", load, workspace_id=workspace)
    assert load.calls == 1

    versions.down = True
    for _ in range(2):  # every request goes to the database while versions cannot be read
        await cache.principal("session:1", load, workspace_id=workspace)
    assert load.calls == 3

    # A revocation committed while Redis is away: its bump is owed, not lost.
    await cache.bump({workspace}, everything=False)
    versions.down = False
    assert await versions.read(workspace) == (0, 0)
    await cache.principal("session:1", load, workspace_id=workspace)
    assert await versions.read(workspace) == (0, 1)
    assert load.calls == 4


class CountingVersions(FlakyVersions):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def read(self, workspace_id: uuid.UUID, info: dict[str, Any] | None = None) -> Versions:
        self.reads += 1
        return await super().read(workspace_id, info)


async def test_after_a_redis_failure_requests_skip_redis_until_the_breaker_retries() -> None:
    versions = CountingVersions()
    cache = PrincipalCache(versions, ttl_seconds=30, redis_retry_seconds=0.2)
    principal = a_principal()
    load = Loader(principal)
    workspace = principal.workspace_id
    await cache.principal("session:1", load, workspace_id=workspace)
    versions.down = True
    await cache.principal("session:1", load, workspace_id=workspace)  # fails once...
    reads = versions.reads
    for _ in range(5):  # ...then the database decides without asking Redis (no timeout paid)
        await cache.principal("session:1", load, workspace_id=workspace)
    assert versions.reads == reads
    assert cache.outage.down
    assert load.calls == 7

    versions.down = False
    await asyncio.sleep(0.25)  # the breaker's pause is over: Redis is tried and used again
    await cache.principal("session:1", load, workspace_id=workspace)
    await cache.principal("session:1", load, workspace_id=workspace)
    assert not cache.outage.down
    assert load.calls == 8  # cached again from the second request on


async def test_entries_expire_with_the_ttl_and_the_credential() -> None:
    principal = a_principal()
    load = Loader(principal)
    no_reuse = PrincipalCache(MemoryVersions(), ttl_seconds=0)
    for _ in range(2):
        await no_reuse.principal("session:1", load, workspace_id=principal.workspace_id)
    assert load.calls == 2

    ended = Loader(principal)

    async def already_over() -> tuple[Principal, Any]:
        await ended()
        return principal, utcnow()

    cache = PrincipalCache(MemoryVersions(), ttl_seconds=30)
    for _ in range(2):
        await cache.principal("session:2", already_over, workspace_id=principal.workspace_id)
    assert ended.calls == 2


async def test_an_api_key_is_cached_from_its_second_use() -> None:
    # Its workspace is unknown before the first lookup, and versions must be read before it.
    principal = a_principal()
    load = Loader(principal)
    cache = PrincipalCache(MemoryVersions(), ttl_seconds=30)
    for _ in range(4):
        await cache.principal("key:abc", load)
    assert load.calls == 2


class StaleReadVersions(MemoryVersions):
    """Versions whose read answers what Redis held when it was sent, while a bump in the same
    process lands in between (two requests interleaved at the read's await)."""

    def __init__(self) -> None:
        super().__init__()
        self.during_read: Any = None

    async def read(self, workspace_id: uuid.UUID, info: dict[str, Any] | None = None) -> Versions:
        before = await super().read(workspace_id, info)
        if self.during_read is not None:
            hook, self.during_read = self.during_read, None
            await hook()
        return before


async def test_a_bump_during_the_version_read_is_not_served_past() -> None:
    versions = StaleReadVersions()
    cache = PrincipalCache(versions, ttl_seconds=30)
    principal = a_principal()
    load = Loader(principal)
    workspace = principal.workspace_id
    await cache.principal("session:1", load, workspace_id=workspace)

    async def revoke() -> None:
        await cache.bump({workspace}, everything=False)

    versions.during_read = revoke
    # The read returns the versions from before the revocation; the entry was dropped under
    # it, so the cache neither fails (KeyError) nor serves it: the database decides.
    await cache.principal("session:1", load, workspace_id=workspace)
    assert load.calls == 2


class YieldingVersions(MemoryVersions):
    """Versions whose read yields to other requests, as a Redis round trip does."""

    async def read(self, workspace_id: uuid.UUID, info: dict[str, Any] | None = None) -> Versions:
        await asyncio.sleep(0)
        return await super().read(workspace_id, info)


async def test_concurrent_requests_keep_hitting_while_others_store() -> None:
    # 16 connections, each sending 10 requests one after the other. Once an entry is stored,
    # a request whose version read overlaps another's store still hits: refusing it sent that
    # request to the database, whose store sent the next overlapping one there too (under
    # 64 connections about 70 % of /api/auth/me requests were read from the database).
    cache = PrincipalCache(YieldingVersions(), ttl_seconds=30)
    principal = a_principal()

    class SlowLoader(Loader):
        async def __call__(self) -> tuple[Principal, Any]:
            await asyncio.sleep(0)
            return await super().__call__()

    load = SlowLoader(principal)

    async def connection() -> None:
        for _ in range(10):
            await cache.principal("session:1", load, workspace_id=principal.workspace_id)

    await asyncio.gather(*(connection() for _ in range(16)))
    # The first requests all miss (nothing is stored yet); every later one hits.
    assert load.calls == 16
