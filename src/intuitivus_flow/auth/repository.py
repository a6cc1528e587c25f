from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from intuitivus_flow.auth.models import AuthSession, PasswordResetToken, RefreshToken
from intuitivus_flow.kit.repository import Repository, hold_write_lock
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


class PasswordResetTokenRepository(Repository[PasswordResetToken]):
    """Reset links are found by the digest of the secret in the link, with their user."""

    model = PasswordResetToken

    async def with_user(self, token_hash: str) -> tuple[PasswordResetToken, User] | None:
        statement = (
            select(PasswordResetToken, User)
            .join(User, User.id == PasswordResetToken.user_id)
            .where(PasswordResetToken.token_hash == token_hash)
        )
        row = (await self.session.execute(statement)).first()
        return (row[0], row[1]) if row else None

    async def lock_user(self, user_id: uuid.UUID) -> None:
        """Hold the user's row until this transaction ends, so two reset requests of one user
        take turns and the later one sees (and revokes) the earlier one's link."""
        await hold_write_lock(self.session)
        await self.session.execute(select(User.id).where(User.id == user_id).with_for_update())

    async def claim(self, token_id: uuid.UUID, now: datetime) -> bool:
        """Use the link if it is still live: one conditional UPDATE, so of two submissions of
        one link exactly one changes the row (PostgreSQL re-checks the condition after the
        first commits; SQLite's single writer orders them)."""
        result = await self.session.execute(
            update(PasswordResetToken)
            .where(
                PasswordResetToken.id == token_id,
                PasswordResetToken.used_at.is_(None),
                PasswordResetToken.revoked_at.is_(None),
                PasswordResetToken.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def revoke_for_user(
        self, user_id: uuid.UUID, *, now: datetime, keep: uuid.UUID | None = None
    ) -> None:
        statement = (
            update(PasswordResetToken)
            .where(
                PasswordResetToken.user_id == user_id,
                PasswordResetToken.used_at.is_(None),
                PasswordResetToken.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        if keep is not None:
            statement = statement.where(PasswordResetToken.id != keep)
        await self.session.execute(statement)
