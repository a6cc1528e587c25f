"""An app on its own SQLite file per test (fast, independent), and a browser-like client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from tests.web.browsing import Web


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db",
        seed_demo=False,
    )
    app = create_app(settings)
    await migrations.upgrade(app.state.context.engine)
    yield Web(app)
    await app.state.context.close()


@pytest.fixture
async def browser(web: Web) -> AsyncIterator[httpx.AsyncClient]:
    async with web.client() as client:
        yield client
