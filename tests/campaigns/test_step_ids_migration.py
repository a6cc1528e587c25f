"""The migration to step ids, with data: branches that continued at positions continue at the
same steps by id, and back; the step deliveries survive both ways (SQLite copies the table on
the way down)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine
from intuitivus_flow.kit.models import JSONType, UTCDateTime
from tests.conftest import PG_HOST, PG_PORT, PG_USER, _admin, _create_postgres_database

BEFORE = "0021_job_retention_index"
AFTER = "0022_campaign_step_ids"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'steps.db'}"
    else:
        pg_name = await _create_postgres_database()
        url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{pg_name}"
    created = create_engine(Settings(env="test", data_dir=tmp_path, database_url=url))
    yield created
    await created.dispose()
    if pg_name:
        await _admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


# The columns these tests write and read, typed as the models type them (reflection would see
# SQLite's storage types, not UUIDs and JSON).
COLUMNS: dict[str, Any] = {
    "id": sa.Uuid(),
    "workspace_id": sa.Uuid(),
    "campaign_id": sa.Uuid(),
    "step_id": sa.Uuid(),
    "contact_id": sa.Uuid(),
    "if_true_step_id": sa.Uuid(),
    "if_false_step_id": sa.Uuid(),
    "position": sa.Integer(),
    "config": JSONType,
    "detail": JSONType,
    "targeting": JSONType,
    "creatives": JSONType,
    "audience_tags": JSONType,
    "created_at": UTCDateTime(),
    "updated_at": UTCDateTime(),
}


def _table(connection: Connection, name: str) -> sa.TableClause:
    present = sa.inspect(connection).get_columns(name)
    return sa.table(
        name,
        *(sa.column(c["name"], COLUMNS.get(c["name"], sa.String())) for c in present),
    )


def _seed(connection: Connection) -> dict[str, uuid.UUID]:
    """A campaign of four steps, the first a branch to step 3 (yes) and step 4 (no), as the
    schema before the migration stored it, and a delivery of step 1."""
    ids = {name: uuid.uuid4() for name in ("workspace", "campaign", "s1", "s2", "s3", "s4")}
    connection.execute(
        sa.insert(_table(connection, "workspaces")),
        {"id": ids["workspace"], "name": "Acme", "created_at": NOW},
    )
    connection.execute(
        sa.insert(_table(connection, "campaigns")),
        {
            "id": ids["campaign"],
            "workspace_id": ids["workspace"],
            "name": "Spring",
            "platform": "whatsapp",
            "status": "draft",
            "currency": "USD",
            "targeting": {},
            "creatives": [],
            "audience_tags": [],
            "created_at": NOW,
            "updated_at": NOW,
        },
    )
    configs: list[tuple[str, dict[str, Any]]] = [
        ("branch", {"on": "reply", "if_true": 3, "if_false": 4}),
        ("wait", {"seconds": 60}),
        ("send_message", {"text": "hi"}),
        ("branch", {"on": "conversion", "if_true": None, "if_false": None}),
    ]
    connection.execute(
        sa.insert(_table(connection, "campaign_steps")),
        [
            {
                "id": ids[f"s{position}"],
                "workspace_id": ids["workspace"],
                "campaign_id": ids["campaign"],
                "position": position,
                "kind": kind,
                "config": config,
                "created_at": NOW,
            }
            for position, (kind, config) in enumerate(configs, start=1)
        ],
    )
    connection.execute(
        sa.insert(_table(connection, "campaign_step_deliveries")),
        {
            "id": uuid.uuid4(),
            "workspace_id": ids["workspace"],
            "campaign_id": ids["campaign"],
            "step_id": ids["s1"],
            "contact_id": uuid.uuid4(),
            "status": "branched",
            "detail": {},
            "created_at": NOW,
        },
    )
    return ids


def _steps(connection: Connection) -> list[dict[str, Any]]:
    table = _table(connection, "campaign_steps")
    rows = connection.execute(sa.select(table).order_by(table.c.position)).mappings()
    return [dict(row) for row in rows]


def _deliveries(connection: Connection) -> int:
    table = _table(connection, "campaign_step_deliveries")
    return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


async def test_position_targets_become_step_ids_and_back(engine: AsyncEngine) -> None:
    await migrations.upgrade(engine, BEFORE)
    async with engine.begin() as connection:
        ids = await connection.run_sync(_seed)

    await migrations.upgrade(engine, AFTER)
    async with engine.connect() as connection:
        steps = await connection.run_sync(_steps)
        assert await connection.run_sync(_deliveries) == 1
    first, last = steps[0], steps[3]
    assert first["config"] == {"on": "reply"}
    assert (first["if_true_step_id"], first["if_false_step_id"]) == (ids["s3"], ids["s4"])
    assert last["config"] == {"on": "conversion"}
    assert (last["if_true_step_id"], last["if_false_step_id"]) == (None, None)
    assert [step["id"] for step in steps] == [ids[f"s{n}"] for n in range(1, 5)]

    await migrations.downgrade(engine, BEFORE)
    async with engine.connect() as connection:
        steps = await connection.run_sync(_steps)
        assert await connection.run_sync(_deliveries) == 1
    assert steps[0]["config"] == {"on": "reply", "if_true": 3, "if_false": 4}
    assert steps[3]["config"] == {"on": "conversion", "if_true": None, "if_false": None}
    assert "if_true_step_id" not in steps[0]
