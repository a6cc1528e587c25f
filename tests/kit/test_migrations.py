"""Migrations and models must describe the same schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine
from intuitivus_flow.kit.migrations import is_modelled
from intuitivus_flow.metrics_history.partitions import include_object
from intuitivus_flow.models import Base
from tests.conftest import PG_HOST, PG_PORT, PG_USER, _admin, _create_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def blank_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    else:
        pg_name = await _create_postgres_database()
        url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{pg_name}"
    engine = create_engine(Settings(env="test", data_dir=tmp_path, database_url=url))
    yield engine
    await engine.dispose()
    if pg_name:
        await _admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def _diff(connection: Connection) -> list[object]:
    # include_object leaves out the metrics table's monthly partitions (PostgreSQL), which
    # exist only in the database; tests/metrics_history/test_partitions.py checks them. The
    # optional trigram index (is_modelled) has its own test in tests/performance/database.
    def included(
        object_: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
    ) -> bool:
        arguments = (object_, name, type_, reflected, compare_to)
        return include_object(*arguments) and is_modelled(*arguments)

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": included}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    names = set(inspect(connection).get_table_names()) - {"alembic_version"}
    return {name for name in names if include_object(None, name, "table", True, None)}


async def test_models_and_migrations_do_not_drift(blank_engine: AsyncEngine) -> None:
    await migrations.upgrade(blank_engine)
    async with blank_engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def test_downgrade_to_base_and_back(blank_engine: AsyncEngine) -> None:
    await migrations.upgrade(blank_engine)
    await migrations.downgrade(blank_engine, "base")
    async with blank_engine.connect() as connection:
        assert await connection.run_sync(_tables) == set()
    await migrations.upgrade(blank_engine)
    async with blank_engine.connect() as connection:
        assert await connection.run_sync(_tables) == set(Base.metadata.tables)
    assert (await migrations.is_current(blank_engine))[0]


async def test_blank_database_is_not_current(blank_engine: AsyncEngine) -> None:
    current, revision, head = await migrations.is_current(blank_engine)
    assert not current
    assert revision is None
    assert head == migrations.head_revision()
