from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings


async def test_liveness_is_cheap_and_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_each_component(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    components = response.json()["components"]
    assert components["database"]["status"] == "ok"
    assert components["migrations"]["status"] == "ok"
    assert "redis" not in components  # not configured


class TestWithRedis:
    @pytest.fixture
    def settings_overrides(self, redis_url: str) -> dict[str, Any]:
        return {"redis_url": redis_url}

    async def test_ready_checks_redis_when_configured(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ready")
        assert response.status_code == 200
        assert response.json()["components"]["redis"]["status"] == "ok"


async def _ready_of(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/ready")
    await app.state.context.close()
    return response


async def test_unmigrated_database_is_not_ready(tmp_path: Path) -> None:
    response = await _ready_of(Settings(env="test", data_dir=tmp_path))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["migrations"]["status"] == "fail"


async def test_unreachable_services_are_not_ready(tmp_path: Path) -> None:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://nobody:secretpw@127.0.0.1:1/none",
        redis_url="redis://127.0.0.1:1/0",
    )
    response = await _ready_of(settings)
    assert response.status_code == 503
    components = response.json()["components"]
    assert {c["status"] for c in components.values()} == {"fail"}
    assert "secretpw" not in response.text
