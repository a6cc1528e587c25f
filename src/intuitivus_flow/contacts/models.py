from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, str_enum, utcnow


class OptIn(StrEnum):
    unknown = "unknown"
    opted_in = "opted_in"
    opted_out = "opted_out"


class Contact(IdMixin, TimestampMixin, Base):
    """Someone the workspace talks to. The phone (E.164) is unique per workspace, because
    inbound WhatsApp messages find their contact by it."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "phone", name="uq_contacts_workspace_id_phone"),
        Index("ix_contacts_workspace_id_created_at", "workspace_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(16), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opt_in: Mapped[OptIn] = mapped_column(str_enum(OptIn), default=OptIn.unknown)
    opt_in_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Tags live in their own table so that "contacts with all these tags" is one portable,
    # indexed query on SQLite and PostgreSQL alike (no dialect-specific JSON operators).
    tag_rows: Mapped[list[ContactTag]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ContactTag.tag"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


class ContactTag(IdMixin, Base):
    __tablename__ = "contact_tags"
    __table_args__ = (
        UniqueConstraint("contact_id", "tag", name="uq_contact_tags_contact_id_tag"),
        Index("ix_contact_tags_workspace_id_tag", "workspace_id", "tag"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(64))
