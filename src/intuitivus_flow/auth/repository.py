from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from intuitivus_flow.auth.models import AuthSession, RefreshToken
from intuitivus_flow.kit.repository import Repository
from intuitivus_flow.users.models import User


class AuthSessionRepository(Repository[AuthSession]):
    """Sessions are found by the id inside a signed token, then checked against their user."""

    model = AuthSession

    async def with_user(self, session_id: uuid.UUID) -> tuple[AuthSession, User] | None:
        statement = (
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.id == session_id)
        )
        row = (await self.session.execute(statement)).first()
        return (row[0], row[1]) if row else None

    async def revoke_for_user(
        self,
        user_id: uuid.UUID,
        *,
        reason: str,
        now: datetime,
        keep: uuid.UUID | None = None,
    ) -> None:
        statement = (
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        if keep is not None:
            statement = statement.where(AuthSession.id != keep)
        await self.session.execute(statement)


class RefreshTokenRepository(Repository[RefreshToken]):
    model = RefreshToken

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        return await self.first(select(RefreshToken).where(RefreshToken.token_hash == token_hash))

    async def claim(self, token_id: uuid.UUID, now: datetime) -> bool:
        """Mark a token used if nobody has: one conditional UPDATE, so two concurrent refreshes
        with the same token cannot both win."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
