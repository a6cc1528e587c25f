"""Shared fixtures: real SQLite and PostgreSQL databases, Redis, and the app over ASGI.

Every API test runs once per database engine. PostgreSQL gets one database per test run,
created here and dropped at the end; tables are emptied after each test. Under CI=true a
missing PostgreSQL or Redis fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings, get_settings
from intuitivus_flow.kit import migrations, security
from intuitivus_flow.models import Base
from tests.contract import status_hook

PG_HOST = os.environ.get("FLOW_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("FLOW_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("FLOW_TEST_PG_USER", "postgres")
# pytest-xdist workers (gw0, gw1, ...) each get their own Redis database, counting down from 15,
# so one worker's FLUSHDB never wipes another's keys.
_XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = os.environ.get("FLOW_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - _XDIST_WORKER}")
# Opt-in: hold every API response of the suite to the documented statuses (tests/contract.py).
CONTRACT_CHECK = os.environ.get("FLOW_CONTRACT_CHECK") == "1"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(name: str, reason: str) -> None:
    """Skip on a developer machine without the service; fail in CI, where it must exist."""
    message = f"{name} is not reachable ({reason})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(f"{message}; start it to run these tests")


async def _postgres_reachable() -> str | None:
    try:
        connection = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=3
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return str(exc) or type(exc).__name__
    await connection.close()
    return None


async def _redis_reachable() -> str | None:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        return str(exc) or type(exc).__name__
    finally:
        await client.aclose()
    return None


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres"
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@dataclass
class Database:
    kind: str
    url: str
    engine: AsyncEngine


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flow")


async def _create_postgres_database() -> str:
    problem = await _postgres_reachable()
    if problem:
        require_service("PostgreSQL", problem)
    name = f"flow_test_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    return name


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, data_root: Path) -> AsyncIterator[Database]:
    """A migrated database per engine for the whole run."""
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{data_root / 'api.db'}"
    else:
        pg_name = await _create_postgres_database()
        url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{pg_name}"
    settings = Settings(env="test", data_dir=data_root, database_url=url)
    from intuitivus_flow.kit.db import create_engine

    engine = create_engine(settings)
    await migrations.upgrade(engine)
    yield Database(request.param, url, engine)
    await engine.dispose()
    if pg_name:
        await _admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


async def empty_tables(engine: AsyncEngine) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    # DELETE, not TRUNCATE: on PostgreSQL a TRUNCATE of ~50 tables costs a new file per table
    # and took 2.2 s per test against 0.1-0.2 s for DELETE on these nearly empty tables.
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # One round trip: asyncpg runs a multi-statement script when it has no parameters.
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.execute(";".join(f"DELETE FROM {t}" for t in tables))
        else:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Tests override settings by redefining this fixture (or parametrizing it)."""
    return {}


@pytest.fixture
async def app(
    database: Database, data_root: Path, settings_overrides: dict[str, Any]
) -> AsyncIterator[Any]:
    settings = Settings(
        env="test",
        data_dir=data_root,
        database_url=database.url,
        seed_demo=False,
        **settings_overrides,
    )
    application = create_app(settings)
    yield application
    await application.state.context.close()
    await empty_tables(database.engine)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    # With FLOW_CONTRACT_CHECK=1 (`make contract`) every response is also held to the OpenAPI
    # document's statuses (tests/contract.py).
    hooks = {"response": [status_hook(app)]} if CONTRACT_CHECK else {}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", event_hooks=hooks
    ) as http:
        yield http


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    problem = await _redis_reachable()
    if problem:
        require_service("Redis", problem)
    yield REDIS_URL
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    await client.aclose()


# argon2id still, at the lowest costs: the recommended ones (64 MiB, ~0.2-1.7 s of CPU per hash
# here) made sign-ups most of the suite's time. Not the profile of `test_weak_hash_is_upgraded`.
_TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked `real_password_hashing` (the ones about hashing itself) keep real costs."""
    if request.node.get_closest_marker("real_password_hashing"):
        yield
        return
    with security.password_hasher_in_use(_TEST_HASHER):
        yield


@pytest.fixture(autouse=True)
def _settings_read_afresh() -> Iterator[None]:
    """The CLI reads its settings once per process (`get_settings` is cached); a test that sets
    FLOW_* variables must not get an earlier test's settings on the same xdist worker (a backup
    written to another test's data directory was seen once the file order changed)."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deal the long test files to the workers first.

    `make test` keeps each file on one xdist worker (`--dist loadfile`). Left to itself, xdist
    deals files largest-first by *test count*, so a file of one or two long tests (a browser
    journey, a chaos experiment, a throw-away cluster) came last and ran alone for minutes while
    the other worker idled. Files marked `slow` now go first, then the rest largest-first; the
    Makefile passes `--no-loadscope-reorder` so xdist keeps this order.
    """
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(tests: list[pytest.Item]) -> tuple[bool, int]:
        return (tests[0].get_closest_marker("slow") is None, -len(tests))

    items[:] = [item for tests in sorted(files.values(), key=weight) for item in tests]
