"""A database host that accepts connections and never answers: bounded 503s, then recovery."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from tests.helpers import register
from tests.resilience.conftest import OUTAGE_SETTINGS, migrate
from tests.resilience.processes import FreezableProxy, ThrowawayPostgres, freezable_proxy

# Statement timeout 2 s plus a connect timeout of 1 s is the worst a request may wait.
BOUND_SECONDS = 5.0


@pytest.fixture
async def proxy(own_postgres: ThrowawayPostgres) -> AsyncIterator[FreezableProxy]:
    await migrate(own_postgres.url)
    async with freezable_proxy(own_postgres.port) as running:
        yield running


@pytest.fixture
async def client(proxy: FreezableProxy, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/postgres",
        seed_demo=False,
        **OUTAGE_SETTINGS,
    )
    app: Any = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.context.close()


async def test_a_hanging_database_costs_a_bounded_wait_then_503(
    client: httpx.AsyncClient, proxy: FreezableProxy
) -> None:
    account = await register(client)
    proxy.freeze()
    for _ in range(2):  # a pooled connection (statement timeout), then a new one (connect)
        started = time.perf_counter()
        response = await client.get("/api/workspace", headers=account.headers)
        took = time.perf_counter() - started
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"]
        assert took < BOUND_SECONDS
    assert (await client.get("/health")).status_code == 200

    proxy.thaw()
    back = await client.get("/api/workspace", headers=account.headers)
    assert back.status_code == 200, back.text
