"""The request's unit of work (kit/db.lazy_unit_of_work) on both engines: no session at all
when nothing uses it, and otherwise the same commit, rollback and after-commit hooks as
`unit_of_work`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from intuitivus_flow.kit.db import (
    SessionFactory,
    create_session_factory,
    lazy_unit_of_work,
    on_commit,
    unit_of_work,
)
from intuitivus_flow.kit.errors import FlowError, NotFound
from intuitivus_flow.workspaces.models import Workspace
from tests.conftest import Database, empty_tables

pytestmark = pytest.mark.asyncio


class Kept(FlowError):
    keeps_work = True


class CountingFactory:
    """The session factory, counting the sessions it constructs."""

    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory
        self.constructed = 0

    def __call__(self, **options: Any) -> Any:
        self.constructed += 1
        return self.factory(**options)


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


async def workspace_names(sessions: SessionFactory) -> list[str]:
    async with unit_of_work(sessions) as session:
        return list((await session.scalars(select(Workspace.name))).all())


@pytest.fixture
def commits(sessions: SessionFactory) -> list[set[uuid.UUID]]:
    """What the after-commit hooks were told, one set of touched workspaces per commit."""
    told: list[set[uuid.UUID]] = []

    async def note(touched: set[uuid.UUID]) -> None:
        told.append(touched)

    on_commit(sessions, note)
    return told


async def test_unused_work_constructs_no_session_and_runs_no_hooks(
    sessions: SessionFactory, commits: list[set[uuid.UUID]]
) -> None:
    counting = CountingFactory(sessions)
    async with lazy_unit_of_work(counting) as work:  # type: ignore[arg-type]
        work.info["read along"] = 1
        assert work.session_if_used is None
    assert counting.constructed == 0
    assert commits == []


async def test_used_work_commits_once_and_tells_the_hooks(
    sessions: SessionFactory, commits: list[set[uuid.UUID]]
) -> None:
    counting = CountingFactory(sessions)
    async with lazy_unit_of_work(counting) as work:  # type: ignore[arg-type]
        workspace = Workspace(name="kept")
        work.session.add(workspace)
        assert work.session is work.session_if_used  # one session for the whole request
        await work.session.flush()
    assert counting.constructed == 1
    assert commits == [{workspace.id}]
    assert await workspace_names(sessions) == ["kept"]


async def add_then_fail(sessions: SessionFactory, name: str, error: FlowError) -> None:
    async with lazy_unit_of_work(sessions) as work:
        work.session.add(Workspace(name=name))
        await work.session.flush()
        raise error


async def test_work_is_rolled_back_when_the_handler_raises(sessions: SessionFactory) -> None:
    with pytest.raises(NotFound):
        await add_then_fail(sessions, "lost", NotFound("gone"))
    assert await workspace_names(sessions) == []


async def test_an_error_that_keeps_its_work_still_commits(sessions: SessionFactory) -> None:
    with pytest.raises(Kept):
        await add_then_fail(sessions, "revoked family", Kept("refused, the revocation stands"))
    assert await workspace_names(sessions) == ["revoked family"]


async def fail_before_any_use(sessions: Any) -> None:
    async with lazy_unit_of_work(sessions):
        raise NotFound("refused from the cache")


async def test_an_error_before_any_use_constructs_no_session(sessions: SessionFactory) -> None:
    counting = CountingFactory(sessions)
    with pytest.raises(NotFound):
        await fail_before_any_use(counting)
    assert counting.constructed == 0
