"""Members and invitations of the caller's workspace, under `/api/workspace` (the users
domain's routes: the workspace routes beside them sit below users and billing)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, status

from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict
from intuitivus_flow.kit.http.deps import Context, DbSession, Paging
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.pagination import Page
from intuitivus_flow.users import schemas as user_schemas
from intuitivus_flow.users import service as members
from intuitivus_flow.users.models import Invitation, User

router = APIRouter(prefix="/api/workspace", tags=["workspace"])


@router.get(
    "/members",
    dependencies=[requires(Scope.members_read)],
    response_model=user_schemas.MemberPage,
    summary="List members",
)
async def list_members(
    session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[User]:
    """Everyone in the workspace, oldest first."""
    return await members.list_members(session, principal, limit=paging.limit, offset=paging.offset)


@router.get(
    "/members/{member_id}",
    dependencies=[requires(Scope.members_read)],
    response_model=user_schemas.MemberRead,
    summary="One member",
)
async def get_member(member_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> User:
    """A member of this workspace; ids from other workspaces answer 404."""
    return await members.get_member(session, principal, member_id)


@router.put(
    "/members/{member_id}/role",
    dependencies=[requires(Scope.members_write)],
    response_model=user_schemas.MemberRead,
    summary="Change a role",
)
async def change_role(
    member_id: uuid.UUID,
    body: user_schemas.RoleChange,
    session: DbSession,
    principal: CurrentPrincipal,
) -> User:
    """Admins manage members and admins; only owners grant or remove ownership."""
    return await members.change_role(session, principal, member_id, role=body.role)


@router.post(
    "/members/{member_id}/deactivate",
    dependencies=[requires(Scope.members_write)],
    response_model=user_schemas.MemberRead,
    summary="Deactivate a member",
)
async def deactivate_member(
    member_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> User:
    """The member can no longer sign in, and every session and token of theirs stops working."""
    return await members.set_active(session, principal, member_id, active=False)


@router.post(
    "/members/{member_id}/reactivate",
    dependencies=[requires(Scope.members_write)],
    response_model=user_schemas.MemberRead,
    summary="Reactivate a member",
)
async def reactivate_member(
    member_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> User:
    """Let a deactivated member sign in again."""
    return await members.set_active(session, principal, member_id, active=True)


@router.post(
    "/invitations",
    openapi_extra=route_errors(Conflict, PlanLimitReached),
    dependencies=[requires(Scope.members_write)],
    response_model=user_schemas.InvitationCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Invite a member",
)
async def invite(
    body: user_schemas.InvitationCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
) -> user_schemas.InvitationCreated:
    """Create an invitation with a role. The token is returned once: pass the link on."""
    issued = await members.invite(
        session,
        principal,
        email=body.email,
        role=body.role,
        # The auth policy's invitation lifetime, from the same setting (auth sits above).
        lifetime=timedelta(days=context.settings.invitation_days),
    )
    return user_schemas.InvitationCreated(
        **user_schemas.InvitationRead.model_validate(issued.invitation).model_dump(),
        token=issued.token,
        accept_url=f"{context.settings.public_url.rstrip('/')}/invite/{issued.token}",
    )


@router.get(
    "/invitations",
    dependencies=[requires(Scope.members_read)],
    response_model=user_schemas.InvitationPage,
    summary="Pending invitations",
)
async def list_invitations(
    session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[Invitation]:
    """Invitations not yet accepted, revoked or expired."""
    return await members.list_pending_invitations(
        session, principal, limit=paging.limit, offset=paging.offset
    )


@router.delete(
    "/invitations/{invitation_id}",
    openapi_extra=route_errors(Conflict),  # an invitation already accepted
    dependencies=[requires(Scope.members_write)],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an invitation",
)
async def revoke_invitation(
    invitation_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> None:
    """The invitation link stops working."""
    await members.revoke_invitation(session, principal, invitation_id)
