from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, event, inspect, update
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, utcnow
from intuitivus_flow.users.models import User


class SessionKind(StrEnum):
    api = "api"  # bearer access + rotating refresh tokens
    web = "web"  # httpOnly cookie of the server-rendered UI


class AuthSession(IdMixin, TimestampMixin, Base):
    """One sign-in. Its id is the refresh-token family: revoking it ends every token in it."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class RefreshToken(IdMixin, TimestampMixin, Base):
    """A refresh token, stored as its digest. `used_at` set means it was rotated away."""

    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class PasswordResetToken(IdMixin, TimestampMixin, Base):
    """A password-reset link, stored as the digest of its secret. Found by that digest (like a
    refresh token), never listed by workspace. `used_at` ends it when the password is set;
    `revoked_at` when a newer link is sent or another link of the user is used."""

    __tablename__ = "password_reset_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


@event.listens_for(Session, "after_flush")
def revoke_sessions_of_deactivated_users(session: Session, _context: UOWTransaction) -> None:
    """Deactivation means "out now", whoever deactivates: every session of the user is revoked
    in the same transaction. Here rather than in the users service because auth sits above
    users (it signs their accounts in); users change the row, auth reacts."""
    deactivated = [
        user.id for user in session.dirty if isinstance(user, User) and _was_deactivated(user)
    ]
    if deactivated:
        session.connection().execute(
            update(AuthSession)
            .where(AuthSession.user_id.in_(deactivated), AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason="deactivated")
        )


def _was_deactivated(user: User) -> bool:
    history = inspect(user).attrs.active.history
    return list(history.deleted) == [True] and user.active is False
