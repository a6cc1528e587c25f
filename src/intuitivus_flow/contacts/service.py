"""Contacts: CRUD with tags and opt-in, and the audience segments campaigns select."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.contacts.models import (
    ConsentChannel,
    ConsentSource,
    Contact,
    ContactConsentChange,
    ContactTag,
    OptIn,
)
from intuitivus_flow.contacts.repository import ConsentChangeRepository, ContactRepository
from intuitivus_flow.contacts.schemas import (
    ConsentChange,
    ContactCreate,
    ContactUpdate,
    normalize_tags,
)
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict, InvalidInput, NotFound
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page, hold_write_lock

PHONE_TAKEN = "Another contact already has this phone number"


async def create(session: AsyncSession, principal: Principal, *, data: ContactCreate) -> Contact:
    principal.require_scope(Scope.contacts_write)
    repository = ContactRepository(session, principal.workspace_id)
    # The check and the insert as one step on SQLite; PostgreSQL's unique index decides a
    # race there, and `_phone_unique` turns the loser's violation into the same 409.
    await hold_write_lock(session)
    if data.phone:
        await _refuse_taken_phone(repository, data.phone)
    contact = Contact(
        name=data.name.strip(),
        phone=data.phone,
        email=str(data.email) if data.email else None,
        attributes=data.attributes,
        tag_rows=[],
    )
    set_tags(contact, principal.workspace_id, data.tags)
    with _phone_unique():
        await repository.add(contact)
    for channel, state in _consents(data.opt_in, data.email_opt_in):
        change_consent(
            session,
            contact,
            channel,
            state,
            reason="Given when the contact was created",
            source=ConsentSource.created,
            actor=principal.actor,
        )
    await session.flush()
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
    # Locked: parallel edits of one contact apply one after the other (on SQLite this is the
    # database's write lock, so the phone check below and the write are one step).
    contact = await _locked(repository, contact_id)
    fields = changes.model_dump(exclude_unset=True)
    if "phone" in fields and fields["phone"] and fields["phone"] != contact.phone:
        await _refuse_taken_phone(repository, fields["phone"])
    if "tags" in fields:
        set_tags(contact, principal.workspace_id, fields.pop("tags") or [])
    for field_name, channel in (("opt_in", ConsentChannel.whatsapp), ("email_opt_in", None)):
        if field_name in fields:
            change_consent(
                session,
                contact,
                channel or ConsentChannel.email,
                OptIn(fields.pop(field_name) or OptIn.unknown),
                reason="",
                source=ConsentSource.edit,
                actor=principal.actor,
            )
    for name, value in fields.items():
        if value is None and name in {"name", "attributes"}:
            raise InvalidInput(f"{name} cannot be null", field=name)
        if name == "name":
            value = value.strip()
        setattr(contact, name, str(value) if name == "email" and value else value)
    with _phone_unique():
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


async def set_consent(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID, *, change: ConsentChange
) -> Contact:
    """Record a consent decision on one channel with its reason; the same state again
    changes nothing (and leaves no trail entry)."""
    principal.require_scope(Scope.contacts_write)
    contact = await _locked(ContactRepository(session, principal.workspace_id), contact_id)
    changed = change_consent(
        session,
        contact,
        change.channel,
        OptIn(change.state),
        reason=change.reason.strip(),
        source=ConsentSource.edit,
        actor=principal.actor,
    )
    await session.flush()
    if changed:
        await events.record(
            session,
            workspace_id=principal.workspace_id,
            user_id=principal.user_id,
            name=catalog.CONTACT_CONSENT_CHANGED,
            properties={
                "contact_id": str(contact.id),
                "channel": change.channel.value,
                "state": str(change.state),
            },
        )
    return contact


async def consent_history(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID, *, limit: int, offset: int
) -> Page[ContactConsentChange]:
    """The contact's consent changes on every channel, newest first."""
    await get(session, principal, contact_id)
    repository = ConsentChangeRepository(session, principal.workspace_id)
    return await repository.paginate(repository.of_contact(contact_id), limit=limit, offset=offset)


def change_consent(
    session: AsyncSession,
    contact: Contact,
    channel: ConsentChannel,
    state: OptIn,
    *,
    reason: str,
    source: ConsentSource,
    actor: str,
) -> bool:
    """Set the channel's consent on the contact and append the change to its trail (flushed
    with the contact). False, and nothing written, when the state is already that."""
    previous = contact.consent(channel)
    if previous == state:
        return False
    now = utcnow()
    if channel is ConsentChannel.whatsapp:
        contact.opt_in, contact.opt_in_changed_at = state, now
    else:
        contact.email_opt_in, contact.email_opt_in_changed_at = state, now
    session.add(
        ContactConsentChange(
            workspace_id=contact.workspace_id,
            contact_id=contact.id,
            channel=channel,
            previous=previous,
            state=state,
            reason=reason[:500],
            source=source,
            actor=actor[:80],
            created_at=now,
        )
    )
    return True


def marketing_refusal(contact: Contact, channel: ConsentChannel) -> str | None:
    """Why a marketing message (a campaign send) may not go to the contact on `channel`, or
    None when it may. Only an explicit opt-in is consent: `unknown` is not (docs/contacts.md)."""
    state = contact.consent(channel)
    if state is OptIn.opted_in:
        return None
    if state is OptIn.opted_out:
        return f"The contact opted out of {channel.label} messages"
    return f"No {channel.label} marketing consent: the contact has not opted in"


async def marketing_consent_refusal(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID, channel: ConsentChannel
) -> str | None:
    """`marketing_refusal` for a contact by id (worker side, no principal); a contact that no
    longer exists is refused too."""
    contact = await ContactRepository(session, workspace_id).get(contact_id)
    if contact is None:
        return "The contact no longer exists"
    return marketing_refusal(contact, channel)


def _consents(whatsapp: OptIn, email: OptIn) -> Iterator[tuple[ConsentChannel, OptIn]]:
    if whatsapp is not OptIn.unknown:
        yield ConsentChannel.whatsapp, whatsapp
    if email is not OptIn.unknown:
        yield ConsentChannel.email, email


async def _locked(repository: ContactRepository, contact_id: uuid.UUID) -> Contact:
    contact = await repository.get_for_update(contact_id)
    if contact is None:
        raise NotFound(repository.not_found_message)
    return contact


@contextmanager
def _phone_unique() -> Iterator[None]:
    """A phone taken by a concurrent transaction after our check: the same 409 as the check
    (the unique index is the arbiter). Other integrity errors go on to the edge's handler."""
    try:
        yield
    except IntegrityError as exc:
        if "phone" in str(exc.orig):
            raise Conflict(PHONE_TAKEN, field="phone") from None
        raise


def _valid_tags(tags: Sequence[str]) -> list[str]:
    try:
        return normalize_tags(list(tags))
    except ValueError as error:
        raise InvalidInput(str(error), field="tags") from None


def set_tags(contact: Contact, workspace_id: uuid.UUID, tags: Sequence[str]) -> None:
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
        raise Conflict(PHONE_TAKEN, field="phone")


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
