from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.workspaces.models import Workspace
from intuitivus_flow.workspaces.repository import WorkspaceRepository


async def get_current(session: AsyncSession, principal: Principal) -> Workspace:
    principal.require_scope(Scope.workspace_read)
    return await WorkspaceRepository(session, principal.workspace_id).current()


async def rename(session: AsyncSession, principal: Principal, *, name: str) -> Workspace:
    principal.require_scope(Scope.workspace_write)
    principal.require_role(Role.admin)
    workspace = await WorkspaceRepository(session, principal.workspace_id).current()
    workspace.name = name.strip()
    return workspace
