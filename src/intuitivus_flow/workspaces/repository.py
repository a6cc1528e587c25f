from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.kit.repository import Repository
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
