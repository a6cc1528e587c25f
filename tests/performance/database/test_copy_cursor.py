"""The analytics copy's cursor as a row comparison (the index-friendly form the advisor's
benchmark measured): it returns exactly the rows after (received_at, id), on both engines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from intuitivus_flow.analytics.repository import CopySource
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.db import SessionFactory, create_session_factory, unit_of_work
from intuitivus_flow.workspaces.models import Workspace
from tests.conftest import Database, empty_tables

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


async def test_rows_after_the_cursor_in_order(sessions: SessionFactory) -> None:
    ids = sorted(uuid.uuid4() for _ in range(4))
    async with unit_of_work(sessions) as session:
        workspace = Workspace(id=uuid.uuid4(), name="w")
        session.add(workspace)
        await session.flush()
        # Four events share the cursor's received_at (one transaction), two come later.
        for event_id in ids:
            session.add(Event(id=event_id, workspace_id=workspace.id, name="e", received_at=AT))
        for minutes in (1, 2):
            session.add(
                Event(
                    workspace_id=workspace.id, name="e", received_at=AT + timedelta(minutes=minutes)
                )
            )
        session.add(Event(workspace_id=workspace.id, name="e", received_at=AT - timedelta(days=1)))
    async with unit_of_work(sessions) as session:
        rows = await CopySource(session).product_events((AT, ids[1]), limit=10)
        first = await CopySource(session).product_events((AT, None), limit=10)
    assert [row.id for row in rows[:2]] == ids[2:]
    assert [row.received_at for row in rows[2:]] == [
        AT + timedelta(minutes=1),
        AT + timedelta(minutes=2),
    ]
    assert len(first) == 6  # without an id the cursor's own instant is included
