from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.kit.repository import Repository, hold_write_lock
from intuitivus_flow.workspaces.models import Workspace


class WorkspaceRepository(Repository[Workspace]):
    """A workspace seen from inside: the only row reachable is the caller's own."""

    model = Workspace
    not_found_message = "Workspace not found"

    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        super().__init__(session)
        self.workspace_id = workspace_id

    def scoped(self) -> Select[Workspace]:
        return super().scoped().where(Workspace.id == self.workspace_id)

    async def current(self) -> Workspace:
        return await self.get_or_raise(self.workspace_id)


class FirstWorkspaceRepository(Repository[Workspace]):
    """The first workspace created on the instance (the installer's): it operates the instance
    unless FLOW_OPERATOR_WORKSPACES names others (auth/operators.py). Deliberately unscoped."""

    model = Workspace

    async def first_created_id(self) -> uuid.UUID | None:
        statement = select(Workspace.id).order_by(Workspace.created_at, Workspace.id).limit(1)
        found: uuid.UUID | None = await self.session.scalar(statement)
        return found


async def lock_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Hold the workspace's lock until this transaction ends, so a check over the workspace
    (a plan-limit count, "another active owner remains") and the write it allows are one
    step: a concurrent check in the same workspace waits here, then sees what this
    transaction wrote.

    PostgreSQL locks the workspace row FOR NO KEY UPDATE: it excludes other holders of this
    lock but not the KEY SHARE locks that inserts referencing the workspace take, so the
    workspace's ordinary writes go on. SQLite has no row locks: the transaction takes the
    database's write lock now (BEGIN IMMEDIATE) instead of at its first write, after the
    check.
    """
    if session.get_bind().dialect.name == "postgresql":
        statement = select(Workspace.id).where(Workspace.id == workspace_id)
        await session.execute(statement.with_for_update(key_share=True))
        return
    await hold_write_lock(session)
