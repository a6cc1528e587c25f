from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, select

from intuitivus_flow.identity.roles import Role
from intuitivus_flow.kit.repository import Repository, WorkspaceRepository
from intuitivus_flow.users.models import Invitation, User


def normalize_email(email: str) -> str:
    return email.strip().lower()


class MemberRepository(WorkspaceRepository[User]):
    model = User
    not_found_message = "Member not found"

    def listing(self) -> Select[User]:
        return self.scoped().order_by(User.created_at, User.id)

    async def get_fresh(self, user_id: uuid.UUID) -> User | None:
        """The member as the database has it now, not as this session first loaded it."""
        statement = self.scoped().where(User.id == user_id)
        return await self.first(statement.execution_options(populate_existing=True))

    async def count_active_owners(self) -> int:
        statement = (
            select(func.count())
            .select_from(User)
            .where(User.role == Role.owner, User.active.is_(True))
        )
        return int(await self.scalar(statement) or 0)


class InvitationRepository(WorkspaceRepository[Invitation]):
    model = Invitation
    not_found_message = "Invitation not found"

    def pending(self, now: datetime) -> Select[Invitation]:
        return (
            self.scoped()
            .where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
            .where(Invitation.expires_at > now)
            .order_by(Invitation.created_at.desc(), Invitation.id)
        )

    async def pending_for_email(self, email_normalized: str, now: datetime) -> list[Invitation]:
        statement = self.pending(now).where(Invitation.email_normalized == email_normalized)
        return list(await self.all(statement))


class AccountRepository(Repository[User]):
    """Lookups made before any workspace is known: sign-in, sign-up and token checks.

    Deliberately unscoped and deliberately tiny; everything after authentication goes through
    `MemberRepository`.
    """

    model = User

    async def by_email(self, email: str) -> User | None:
        return await self.first(select(User).where(User.email_normalized == normalize_email(email)))

    async def email_taken(self, email: str) -> bool:
        return await self.by_email(email) is not None

    async def by_id(self, user_id: uuid.UUID) -> User | None:
        return await self.get(user_id)


class InvitationTokenRepository(Repository[Invitation]):
    """Finds an invitation by its secret token: the token itself is the proof of access."""

    model = Invitation

    async def by_token_hash(self, token_hash: str) -> Invitation | None:
        return await self.first(select(Invitation).where(Invitation.token_hash == token_hash))
