"""Fixtures of the fuzzing tests: the app served per engine and a fully scoped API key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.identity.scopes import Scope
from tests.conftest import Database, empty_tables
from tests.fuzz.served import serve
from tests.helpers import PASSWORD, unique_email


@dataclass(frozen=True)
class ServedApp:
    base_url: str
    engine: str
    openapi: dict[str, Any]
    api_key: str  # an owner's key holding every scope

    @property
    def key_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def _owner_key(http: httpx.AsyncClient) -> str:
    """A new workspace, its owner, and an API key with every scope, made through the API."""
    registered = await http.post(
        "/api/auth/register",
        json={
            "email": unique_email("fuzz"),
            "password": PASSWORD,
            "workspace_name": "Fuzz",
            "name": "Fuzz owner",
        },
    )
    assert registered.status_code == 201, registered.text
    bearer = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    created = await http.post(
        "/api/api-keys",
        json={"name": "fuzz", "scopes": [scope.value for scope in Scope]},
        headers=bearer,
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


@pytest.fixture(scope="module")
async def served(database: Database, data_root: Path) -> AsyncIterator[ServedApp]:
    """The app on `database`'s engine, served for the whole module; tables emptied after."""
    settings = Settings(env="test", data_dir=data_root, database_url=database.url, seed_demo=False)
    app = create_app(settings)
    try:
        with serve(app) as base_url:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                openapi = (await http.get("/openapi.json")).json()
                api_key = await _owner_key(http)
            yield ServedApp(base_url, database.kind, openapi, api_key)
    finally:
        await empty_tables(database.engine)


@pytest.fixture
def http(served: ServedApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=30) as client:
        yield client
