"""Event retention: the hourly prune deletes events received before the cutoff, in batches,
and keeps the rest (both engines)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from intuitivus_flow.events import tasks
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.db import SessionFactory, create_session_factory, unit_of_work
from intuitivus_flow.workspaces.models import Workspace
from tests.conftest import Database, empty_tables

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


async def _events(sessions: SessionFactory, ages_in_days: list[int]) -> None:
    async with unit_of_work(sessions) as session:
        workspace = Workspace(id=uuid.uuid4(), name="w")
        session.add(workspace)
        await session.flush()
        for age in ages_in_days:
            at = NOW - timedelta(days=age)
            session.add(Event(workspace_id=workspace.id, name="e", occurred_at=at, received_at=at))


async def _remaining(sessions: SessionFactory) -> int:
    async with unit_of_work(sessions) as session:
        return int((await session.execute(select(func.count()).select_from(Event))).scalar_one())


async def test_events_past_the_cutoff_go_in_batches(sessions: SessionFactory) -> None:
    await _events(sessions, [400, 300, 200, 100, 31, 29, 1, 0])
    deleted = await tasks.prune(sessions, cutoff=NOW - timedelta(days=30), batch=2)
    assert deleted == 5
    assert await _remaining(sessions) == 3


async def test_a_run_stops_after_its_batches(sessions: SessionFactory) -> None:
    await _events(sessions, [90, 80, 70, 60, 50])
    deleted = await tasks.prune(sessions, cutoff=NOW, batch=2, max_batches=2)
    assert deleted == 4  # the next run carries on
    assert await _remaining(sessions) == 1


def test_the_prune_is_registered_hourly() -> None:
    from intuitivus_flow.task_registry import DOMAIN_TASKS

    specs = [spec for task_list in DOMAIN_TASKS for spec in task_list]
    (prune,) = [spec for spec in specs if spec.kind == tasks.PRUNE]
    assert prune.every == timedelta(hours=1)
