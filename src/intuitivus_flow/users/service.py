"""Members of a workspace: invitations, roles, deactivation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.plans import Limit
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.kit.security import digest, new_secret
from intuitivus_flow.users.models import Invitation, User
from intuitivus_flow.users.repository import (
    AccountRepository,
    InvitationRepository,
    MemberRepository,
    normalize_email,
)
from intuitivus_flow.workspaces.repository import lock_workspace


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    invitation: Invitation
    token: str


async def list_members(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> Page[User]:
    principal.require_scope(Scope.members_read)
    repository = MemberRepository(session, principal.workspace_id)
    return await repository.paginate(repository.listing(), limit=limit, offset=offset)


async def get_member(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    principal.require_scope(Scope.members_read)
    return await MemberRepository(session, principal.workspace_id).get_or_raise(user_id)


async def invite(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    role: Role,
    lifetime: timedelta,
) -> IssuedInvitation:
    _require_member_manager(principal)
    _require_can_grant(principal.role, role)
    if await AccountRepository(session).email_taken(email):
        raise Conflict("A user with this email already exists", field="email")
    repository = InvitationRepository(session, principal.workspace_id)
    now = utcnow()
    for stale in await repository.pending_for_email(normalize_email(email), now):
        stale.revoked_at = now  # a new invitation replaces any earlier one
    await billing.check_room(
        session, principal.workspace_id, Limit.members, count=count_members_and_invitations
    )
    token = new_secret()
    invitation = await repository.add(
        Invitation(
            email=email.strip(),
            email_normalized=normalize_email(email),
            role=role,
            token_hash=digest(token),
            invited_by_id=principal.user_id,
            expires_at=now + lifetime,
        )
    )
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.MEMBER_INVITED,
        properties={"invitation_id": str(invitation.id), "role": role.value},
    )
    return IssuedInvitation(invitation=invitation, token=token)


async def list_pending_invitations(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> Page[Invitation]:
    principal.require_scope(Scope.members_read)
    repository = InvitationRepository(session, principal.workspace_id)
    return await repository.paginate(repository.pending(utcnow()), limit=limit, offset=offset)


async def revoke_invitation(
    session: AsyncSession, principal: Principal, invitation_id: uuid.UUID
) -> None:
    _require_member_manager(principal)
    invitation = await InvitationRepository(session, principal.workspace_id).get_or_raise(
        invitation_id
    )
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was already accepted")
    invitation.revoked_at = invitation.revoked_at or utcnow()
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.INVITATION_REVOKED,
        properties={"invitation_id": str(invitation.id)},
    )


async def set_active(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, *, active: bool
) -> User:
    """Deactivate (or reactivate) a member. Deactivation means "out now": every session of
    theirs is revoked in the same transaction."""
    _require_member_manager(principal)
    change = await _lock_role_change(session, principal, user_id)
    member = change.member
    if member.id == change.actor_id:
        raise Forbidden("You cannot deactivate yourself")
    _require_outranks(change.actor_role, member)
    if member.active == active:
        return member
    if not active and member.role is Role.owner:
        await _ensure_another_owner(change.repository)
    member.active = active
    # Deactivation revokes their sessions when this change is flushed (auth/models.py).
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.MEMBER_REACTIVATED if active else catalog.MEMBER_DEACTIVATED,
        properties={"member_id": str(member.id)},
    )
    return member


async def change_role(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, *, role: Role
) -> User:
    _require_member_manager(principal)
    _require_can_grant(principal.role, role)
    change = await _lock_role_change(session, principal, user_id)
    _require_can_grant(change.actor_role, role)
    member = change.member
    _require_outranks(change.actor_role, member)
    if member.role is role:
        return member
    if member.role is Role.owner and member.active:
        await _ensure_another_owner(change.repository)
    previous, member.role = member.role, role
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.MEMBER_ROLE_CHANGED,
        properties={"member_id": str(member.id), "from": previous.value, "to": role.value},
    )
    return member


@dataclass(frozen=True, slots=True)
class _RoleChange:
    """A role or activation change holding the workspace's role lock, with the member and the
    acting person's role as they are now (not as they were when the request authenticated)."""

    repository: MemberRepository
    member: User
    actor_id: uuid.UUID | None
    actor_role: Role


async def _lock_role_change(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> _RoleChange:
    repository = MemberRepository(session, principal.workspace_id)
    await lock_workspace(session, principal.workspace_id)
    # Re-read under the lock: an owner demoted by a change that committed while this request
    # waited must not still act, or count, as an owner.
    actor_id = principal.user_id or principal.key_creator_id
    actor_role = principal.role
    if actor_id is not None:
        actor = await repository.get_fresh(actor_id)
        if actor is None or not actor.active:
            raise Forbidden("Your membership of this workspace has ended")
        actor_role = min(actor_role, actor.role, key=lambda role: role.rank)
    member = await repository.get_fresh(user_id)
    if member is None:
        raise NotFound(repository.not_found_message)
    return _RoleChange(repository, member, actor_id, actor_role)


def _require_member_manager(principal: Principal) -> None:
    principal.require_scope(Scope.members_write)
    principal.require_role(Role.admin)


def _require_can_grant(actor_role: Role, role: Role) -> None:
    if role.rank > actor_role.rank:
        raise Forbidden(f"Only an {role.value} can grant the {role.value} role")


def _require_outranks(actor_role: Role, member: User) -> None:
    if member.role.rank > actor_role.rank:
        raise Forbidden("You cannot change a member with a higher role than yours")


async def _ensure_another_owner(repository: MemberRepository) -> None:
    """Called with the role lock held (`_lock_role_change`), so the count cannot go stale
    before the caller's write."""
    if await repository.count_active_owners() <= 1:
        raise InvalidInput("A workspace must keep at least one active owner")


async def count_active_members(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """Active members, as billing's member limit counts them."""
    members = MemberRepository(session, workspace_id)
    return await members.count(members.scoped().where(User.active.is_(True)))


async def count_members_and_invitations(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """Active members plus pending invitations: each pending invitation may become a member."""
    invitations = InvitationRepository(session, workspace_id)
    pending = await invitations.count(invitations.pending(utcnow()))
    return await count_active_members(session, workspace_id) + pending
