"""Contacts: CRUD with tags and opt-in, and the audience segments campaigns select."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.contacts.models import Contact, ContactTag, OptIn
from intuitivus_flow.contacts.repository import ContactRepository
from intuitivus_flow.contacts.schemas import ContactCreate, ContactUpdate, normalize_tags
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict, InvalidInput
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page


async def create(session: AsyncSession, principal: Principal, *, data: ContactCreate) -> Contact:
    principal.require_scope(Scope.contacts_write)
    repository = ContactRepository(session, principal.workspace_id)
    if data.phone:
        await _refuse_taken_phone(repository, data.phone)
    contact = Contact(
        name=data.name.strip(),
        phone=data.phone,
        email=str(data.email) if data.email else None,
        attributes=data.attributes,
        opt_in=data.opt_in,
        opt_in_changed_at=utcnow() if data.opt_in is not OptIn.unknown else None,
        tag_rows=[],
    )
    _set_tags(contact, principal.workspace_id, data.tags)
    await repository.add(contact)
    await _record(session, principal, catalog.CONTACT_CREATED, contact)
    return contact


async def list_contacts(
    session: AsyncSession,
    principal: Principal,
    *,
    tags: Sequence[str] = (),
    search: str | None = None,
    limit: int,
    offset: int,
) -> Page[Contact]:
    """Oldest first; `tags` keeps contacts having all of them, `search` matches name,
    email or phone."""
    principal.require_scope(Scope.contacts_read)
    repository = ContactRepository(session, principal.workspace_id)
    wanted = _valid_tags(tags)
    return await repository.paginate(
        repository.listing(tags=wanted, search=search), limit=limit, offset=offset
    )


async def get(session: AsyncSession, principal: Principal, contact_id: uuid.UUID) -> Contact:
    principal.require_scope(Scope.contacts_read)
    return await ContactRepository(session, principal.workspace_id).get_or_raise(contact_id)


async def update(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID, *, changes: ContactUpdate
) -> Contact:
    principal.require_scope(Scope.contacts_write)
    repository = ContactRepository(session, principal.workspace_id)
    contact = await repository.get_or_raise(contact_id)
    fields = changes.model_dump(exclude_unset=True)
    if "phone" in fields and fields["phone"] and fields["phone"] != contact.phone:
        await _refuse_taken_phone(repository, fields["phone"])
    if "tags" in fields:
        _set_tags(contact, principal.workspace_id, fields.pop("tags") or [])
    if "opt_in" in fields:
        set_opt_in(contact, OptIn(fields.pop("opt_in") or OptIn.unknown))
    for name, value in fields.items():
        if value is None and name in {"name", "attributes"}:
            raise InvalidInput(f"{name} cannot be null", field=name)
        setattr(contact, name, str(value) if name == "email" and value else value)
    await session.flush()
    await _record(
        session,
        principal,
        catalog.CONTACT_UPDATED,
        contact,
        changed=sorted(changes.model_dump(exclude_unset=True)),
    )
    return contact


async def delete(session: AsyncSession, principal: Principal, contact_id: uuid.UUID) -> None:
    """Delete the contact with its conversations and messages."""
    principal.require_scope(Scope.contacts_write)
    repository = ContactRepository(session, principal.workspace_id)
    contact = await repository.get_or_raise(contact_id)
    await _record(session, principal, catalog.CONTACT_DELETED, contact)
    await repository.delete(contact)


async def select_segment(
    session: AsyncSession, workspace_id: uuid.UUID, *, tags: Sequence[str]
) -> Sequence[Contact]:
    """The audience of a campaign step: contacts of the workspace having *all* `tags`,
    without those who opted out, oldest first. No tags selects every such contact.

    For campaign automation (worker side, no principal): the caller's workspace scopes it.
    """
    repository = ContactRepository(session, workspace_id)
    return await repository.all(repository.segment(_valid_tags(tags)))


async def find_or_create_by_phone(
    session: AsyncSession, workspace_id: uuid.UUID, *, phone: str, name: str
) -> tuple[Contact, bool]:
    """Inbound channels: the contact with this E.164 phone, created on first contact.

    Messages from a new sender arrive in parallel: the insert skips a phone another delivery
    just took (no 409 for a valid delivery), and that delivery's contact is used instead.
    """
    repository = ContactRepository(session, workspace_id)
    found = await repository.by_phone(phone)
    if found is None:
        created = await repository.add_unless_taken(
            Contact(name=name[:200], phone=phone), unique=("workspace_id", "phone")
        )
        if created is not None:
            return created, True
        found = await repository.by_phone(phone)
        if found is None:  # pragma: no cover - the winner's contact was deleted meanwhile
            raise Conflict("The contact changed while this message arrived; retry")
    if not found.name and name:
        found.name = name[:200]
    return found, False


async def create_visitor(
    session: AsyncSession, workspace_id: uuid.UUID, *, name: str, visitor_id: str
) -> Contact:
    """A web-chat visitor becomes a contact without phone, remembered by its visitor id."""
    return await ContactRepository(session, workspace_id).add(
        Contact(name=name[:200], attributes={"webchat_visitor": visitor_id}, tag_rows=[])
    )


def set_opt_in(contact: Contact, state: OptIn) -> None:
    if contact.opt_in != state:
        contact.opt_in, contact.opt_in_changed_at = state, utcnow()


def _valid_tags(tags: Sequence[str]) -> list[str]:
    try:
        return normalize_tags(list(tags))
    except ValueError as error:
        raise InvalidInput(str(error), field="tags") from None


def _set_tags(contact: Contact, workspace_id: uuid.UUID, tags: Sequence[str]) -> None:
    # Change only what differs: deleting and re-inserting the same tag in one flush would
    # trip the (contact, tag) unique constraint, since inserts run before deletes.
    wanted = set(tags)
    contact.tag_rows = [row for row in contact.tag_rows if row.tag in wanted]
    present = {row.tag for row in contact.tag_rows}
    contact.tag_rows.extend(
        ContactTag(workspace_id=workspace_id, tag=tag) for tag in sorted(wanted - present)
    )
    contact.tag_rows.sort(key=lambda row: row.tag)


async def _refuse_taken_phone(repository: ContactRepository, phone: str) -> None:
    if await repository.by_phone(phone) is not None:
        raise Conflict("Another contact already has this phone number", field="phone")


async def _record(
    session: AsyncSession, principal: Principal, name: str, contact: Contact, **extra: object
) -> None:
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=name,
        properties={"contact_id": str(contact.id), **extra},
    )
