"""Workers need the app context they run jobs for; these tests build one on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from intuitivus_flow.config import Settings
from intuitivus_flow.context import AppContext
from tests.conftest import Database


@pytest.fixture
async def context(database: Database, data_root: Path) -> AsyncIterator[AppContext]:
    settings = Settings(env="test", data_dir=data_root, database_url=database.url, seed_demo=False)
    app_context = AppContext.build(settings)
    yield app_context
    await app_context.close()
