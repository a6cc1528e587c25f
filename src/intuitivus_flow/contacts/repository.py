from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, or_, select

from intuitivus_flow.contacts.models import Contact, ContactTag, OptIn
from intuitivus_flow.kit.repository import WorkspaceRepository


class ContactRepository(WorkspaceRepository[Contact]):
    model = Contact
    not_found_message = "Contact not found"

    def listing(self, *, tags: Sequence[str] = (), search: str | None = None) -> Select[Contact]:
        statement = self.scoped().order_by(Contact.created_at, Contact.id)
        if tags:
            statement = statement.where(Contact.id.in_(self._having_all(tags)))
        if search:
            pattern = f"%{search.lower()}%"
            statement = statement.where(
                or_(
                    func.lower(Contact.name).like(pattern),
                    func.lower(func.coalesce(Contact.email, "")).like(pattern),
                    func.coalesce(Contact.phone, "").like(pattern),
                )
            )
        return statement

    def segment(self, tags: Sequence[str]) -> Select[Contact]:
        """Contacts with every tag who have not opted out (campaign audiences)."""
        return self.listing(tags=tags).where(Contact.opt_in != OptIn.opted_out)

    def _having_all(self, tags: Sequence[str]) -> Select[uuid.UUID]:
        wanted = sorted(set(tags))
        return (
            select(ContactTag.contact_id)
            .where(ContactTag.tag.in_(wanted))
            .group_by(ContactTag.contact_id)
            .having(func.count(func.distinct(ContactTag.tag)) == len(wanted))
        )

    async def by_phone(self, phone: str) -> Contact | None:
        return await self.first(self.scoped().where(Contact.phone == phone))


class ContactTagRepository(WorkspaceRepository[ContactTag]):
    """Tags are written through their contact's collection; this scopes any direct read."""

    model = ContactTag
    not_found_message = "Tag not found"
