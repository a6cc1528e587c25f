from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, str_enum, utcnow


class OptIn(StrEnum):
    """A contact's consent on one channel. `unknown` is not consent: marketing on a channel
    that requires it (WhatsApp campaigns, e-mail marketing) needs `opted_in` (docs/contacts.md)."""

    unknown = "unknown"
    opted_in = "opted_in"
    opted_out = "opted_out"


class ConsentChannel(StrEnum):
    """The channels a contact gives or withdraws consent on."""

    whatsapp = "whatsapp"
    email = "email"

    @property
    def label(self) -> str:
        return "WhatsApp" if self is ConsentChannel.whatsapp else "e-mail"


class ConsentSource(StrEnum):
    """How a consent change came in (with `actor`, who made it)."""

    edit = "edit"  # a member on the contact's page, or an API client
    contact_import = "import"  # a CSV import
    created = "created"  # given with the contact when it was created


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
    # WhatsApp consent (the field predates e-mail's, hence its plain name); every change of
    # either channel is kept in `contact_consent_changes` with its reason and author.
    opt_in: Mapped[OptIn] = mapped_column(str_enum(OptIn), default=OptIn.unknown)
    opt_in_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    email_opt_in: Mapped[OptIn] = mapped_column(str_enum(OptIn), default=OptIn.unknown)
    email_opt_in_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Tags live in their own table so that "contacts with all these tags" is one portable,
    # indexed query on SQLite and PostgreSQL alike (no dialect-specific JSON operators).
    tag_rows: Mapped[list[ContactTag]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ContactTag.tag"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    def consent(self, channel: ConsentChannel) -> OptIn:
        return self.opt_in if channel is ConsentChannel.whatsapp else self.email_opt_in

    def consent_changed_at(self, channel: ConsentChannel) -> datetime | None:
        if channel is ConsentChannel.whatsapp:
            return self.opt_in_changed_at
        return self.email_opt_in_changed_at


class ContactTag(IdMixin, Base):
    __tablename__ = "contact_tags"
    __table_args__ = (
        UniqueConstraint("contact_id", "tag", name="uq_contact_tags_contact_id_tag"),
        Index("ix_contact_tags_workspace_id_tag", "workspace_id", "tag"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(64))


class ContactConsentChange(IdMixin, TimestampMixin, Base):
    """One change of a contact's consent on a channel: the audit trail behind the current
    state on the contact (what it was, what it became, why, how and by whom)."""

    __tablename__ = "contact_consent_changes"
    __table_args__ = (
        Index("ix_contact_consent_changes_contact_id_created_at", "contact_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[ConsentChannel] = mapped_column(str_enum(ConsentChannel))
    previous: Mapped[OptIn] = mapped_column(str_enum(OptIn))
    state: Mapped[OptIn] = mapped_column(str_enum(OptIn))
    reason: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[ConsentSource] = mapped_column(str_enum(ConsentSource))
    # `user:<id>`, `api_key:<id>` or `system` (Principal.actor): kept as text, so the trail
    # outlives the member or key that made the change.
    actor: Mapped[str] = mapped_column(String(80))
