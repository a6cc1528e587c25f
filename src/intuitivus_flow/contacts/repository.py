from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, or_, select

from intuitivus_flow.contacts.models import Contact, ContactConsentChange, ContactTag, OptIn
from intuitivus_flow.kit.repository import WorkspaceRepository


class ContactRepository(WorkspaceRepository[Contact]):
    model = Contact
    not_found_message = "Contact not found"

    def listing(self, *, tags: Sequence[str] = (), search: str | None = None) -> Select[Contact]:
        statement = self.scoped().order_by(Contact.created_at, Contact.id)
        if tags:
            statement = statement.where(Contact.id.in_(self._having_all(tags)))
        if search:
            # A typed % or _ is a character, not a wildcard. The expressions are exactly those
            # of the pg_trgm index (migration trgm_contact_search): a NULL email or phone just
            # fails its branch, so no coalesce, which would hide the expression from the index.
            escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            statement = statement.where(
                or_(
                    func.lower(Contact.name).like(pattern, escape="\\"),
                    func.lower(Contact.email).like(pattern, escape="\\"),
                    Contact.phone.like(pattern, escape="\\"),
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

    async def with_phones(self, phones: Sequence[str]) -> Sequence[Contact]:
        return await self.all(self.scoped().where(Contact.phone.in_(phones)))

    async def with_emails(self, emails: Sequence[str]) -> Sequence[Contact]:
        """Contacts whose e-mail is one of `emails` (lower case), compared case-insensitively."""
        return await self.all(self.scoped().where(func.lower(Contact.email).in_(emails)))


class ConsentChangeRepository(WorkspaceRepository[ContactConsentChange]):
    model = ContactConsentChange
    not_found_message = "Consent change not found"

    def of_contact(self, contact_id: uuid.UUID) -> Select[ContactConsentChange]:
        return (
            self.scoped()
            .where(ContactConsentChange.contact_id == contact_id)
            .order_by(ContactConsentChange.created_at.desc(), ContactConsentChange.id)
        )


class ContactTagRepository(WorkspaceRepository[ContactTag]):
    """Tags are written through their contact's collection; this scopes any direct read."""

    model = ContactTag
    not_found_message = "Tag not found"
