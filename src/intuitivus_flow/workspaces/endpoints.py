from __future__ import annotations

from fastapi import APIRouter

from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.workspaces import schemas
from intuitivus_flow.workspaces import service as workspaces
from intuitivus_flow.workspaces.models import Workspace

router = APIRouter(prefix="/api/workspace", tags=["workspace"])


@router.get(
    "",
    dependencies=[requires(Scope.workspace_read)],
    response_model=schemas.WorkspaceRead,
    summary="Current workspace",
)
async def get_workspace(session: DbSession, principal: CurrentPrincipal) -> Workspace:
    """The workspace the credential belongs to."""
    return await workspaces.get_current(session, principal)


@router.patch(
    "",
    dependencies=[requires(Scope.workspace_write)],
    response_model=schemas.WorkspaceRead,
    summary="Rename the workspace",
)
async def update_workspace(
    body: schemas.WorkspaceUpdate, session: DbSession, principal: CurrentPrincipal
) -> Workspace:
    """Admins and owners can rename the workspace."""
    return await workspaces.rename(session, principal, name=body.name)
