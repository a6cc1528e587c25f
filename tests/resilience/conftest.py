"""Fixtures over throw-away servers (tests/resilience/processes.py): each test may stop them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from tests.resilience.processes import (
    ProcessError,
    ThrowawayPostgres,
    ThrowawayRedis,
    postgres_bin,
    throwaway_postgres,
    throwaway_redis,
)

# Short bounds so an outage is answered in about a second; the defaults are for production.
OUTAGE_SETTINGS: dict[str, Any] = {
    "database_timeout_seconds": 1.0,
    "database_statement_timeout_seconds": 2.0,
    "redis_timeout_seconds": 0.5,
    "principal_cache_seconds": 0,  # every request checks its credential in the database
}


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """One cluster per module (initdb costs seconds); each test that stops it starts it."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    try:
        with throwaway_postgres() as cluster:
            yield cluster
    except ProcessError as error:
        pytest.skip(f"cannot start a throw-away PostgreSQL: {error}")


@pytest.fixture
def own_redis() -> Iterator[ThrowawayRedis]:
    try:
        with throwaway_redis() as server:
            yield server
    except ProcessError as error:
        pytest.skip(f"cannot start a throw-away Redis: {error}")


async def migrate(url: str) -> None:
    engine = create_async_engine(url)
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def outage_app(own_postgres: ThrowawayPostgres, tmp_path: Path) -> AsyncIterator[Any]:
    if not own_postgres.running():  # a test that failed mid-outage left it stopped
        own_postgres.start()
    await migrate(own_postgres.url)
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=own_postgres.url,
        seed_demo=False,
        **OUTAGE_SETTINGS,
    )
    application = create_app(settings)
    yield application
    await application.state.context.close()


@pytest.fixture
async def outage_client(outage_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=outage_app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
