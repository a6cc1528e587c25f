"""Tables of the collection API in the application database (the source of truth; the
analytics store gets a copy): write keys, collected events, identities."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, utcnow


class WriteKey(IdMixin, TimestampMixin, Base):
    """A per-workspace key for the Segment-compatible collection API. Only its SHA-256 digest
    is stored; the key is shown once, at creation."""

    __tablename__ = "analytics_write_keys"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # Written at most once a minute (collection.LAST_USED_RESOLUTION), not on every call.
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class CollectedEvent(IdMixin, Base):
    """A track or identify call received through the collection API."""

    __tablename__ = "analytics_events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "message_id"),
        Index("ix_analytics_events_received_at_id", "received_at", "id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[str] = mapped_column(String(200))
    anonymous_id: Mapped[str | None] = mapped_column(String(200), default=None)
    user_id: Mapped[str | None] = mapped_column(String(200), default=None)
    timestamp: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Identity(Base):
    """An id seen by the collection API (anonymousId or userId) and the person it belongs to:
    a contact's id when one matched, else the userId."""

    __tablename__ = "analytics_identities"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    distinct_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
