from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status

from intuitivus_flow.contacts import csv_import, schemas
from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.contacts.exceptions import ContactImportRejected, ContactImportTooLarge
from intuitivus_flow.contacts.models import Contact, ContactConsentChange
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict
from intuitivus_flow.kit.http.deps import DbSession, Paging
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.pagination import Page

router = APIRouter(prefix="/api/contacts", tags=["contacts"])


@router.post(
    "",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.contacts_write)],
    response_model=schemas.ContactRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a contact",
)
async def create_contact(
    body: schemas.ContactCreate, session: DbSession, principal: CurrentPrincipal
) -> Contact:
    """A contact; the phone (E.164) is unique in the workspace (409 when taken)."""
    return await contacts.create(session, principal, data=body)


@router.get(
    "",
    dependencies=[requires(Scope.contacts_read)],
    response_model=schemas.ContactPage,
    summary="List contacts",
)
async def list_contacts(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    tag: Annotated[list[str], Query(max_length=20, description="Has all these tags")] = [],  # noqa: B006
    q: Annotated[str | None, Query(max_length=100, description="Name, email or phone")] = None,
) -> Page[Contact]:
    """Oldest first; repeat `tag` to keep contacts having every one of them."""
    return await contacts.list_contacts(
        session, principal, tags=tag, search=q, limit=paging.limit, offset=paging.offset
    )


@router.post(
    "/import",
    openapi_extra=route_errors(ContactImportTooLarge, ContactImportRejected, Conflict),
    dependencies=[requires(Scope.contacts_write)],
    response_model=schemas.ImportReport,
    summary="Import contacts from CSV",
)
async def import_contacts(
    session: DbSession,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="CSV, UTF-8, the first row naming columns.")],
    dry_run: Annotated[bool, Query(description="Check and report only; write nothing.")] = False,
    tag: Annotated[
        list[str], Query(max_length=20, description="Tags added to every imported contact")
    ] = [],  # noqa: B006
) -> schemas.ImportReport:
    """Columns by header name: `name`, `phone`, `email`, `tags`, `whatsapp_opt_in`,
    `email_opt_in`, `opt_in_reason` and `attr.<name>` (aliases in docs/contacts.md); an empty
    cell changes nothing. Rows match existing contacts by phone, else e-mail, so uploading the
    same file again creates nothing twice. `dry_run=true` answers what would be created,
    updated or left unchanged and every problem (row, column, message). A real run writes all
    rows in one transaction, or none: any problem answers 422 listing them. Unknown columns:
    422 and nothing changes. Over 5 MiB or 10,000 rows: 413."""
    data = await file.read(csv_import.MAX_BYTES + 1)
    return await csv_import.import_csv(
        session,
        principal,
        data=data,
        file_name=file.filename or "",
        dry_run=dry_run,
        extra_tags=tag,
    )


@router.get(
    "/{contact_id}",
    dependencies=[requires(Scope.contacts_read)],
    response_model=schemas.ContactRead,
    summary="One contact",
)
async def get_contact(
    contact_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Contact:
    """A contact of this workspace; other workspaces' ids answer 404."""
    return await contacts.get(session, principal, contact_id)


@router.patch(
    "/{contact_id}",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.contacts_write)],
    response_model=schemas.ContactRead,
    summary="Change a contact",
)
async def update_contact(
    contact_id: uuid.UUID,
    body: schemas.ContactUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Contact:
    """Change any field; `tags` replaces the whole set."""
    return await contacts.update(session, principal, contact_id, changes=body)


@router.delete(
    "/{contact_id}",
    dependencies=[requires(Scope.contacts_write)],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a contact",
)
async def delete_contact(
    contact_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Delete the contact with its conversations and messages."""
    await contacts.delete(session, principal, contact_id)


@router.post(
    "/{contact_id}/consent",
    dependencies=[requires(Scope.contacts_write)],
    response_model=schemas.ContactRead,
    summary="Record a consent decision",
)
async def set_consent(
    contact_id: uuid.UUID,
    body: schemas.ConsentChange,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Contact:
    """Opt the contact in or out on one channel (`whatsapp`, `email`) with the reason; the
    change, its time and who made it join the contact's consent history. Campaigns only send
    to contacts who opted in on the channel (docs/contacts.md)."""
    return await contacts.set_consent(session, principal, contact_id, change=body)


@router.get(
    "/{contact_id}/consent",
    dependencies=[requires(Scope.contacts_read)],
    response_model=schemas.ConsentHistoryPage,
    summary="Consent history",
)
async def consent_history(
    contact_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[ContactConsentChange]:
    """Every consent change of the contact, on every channel, newest first."""
    return await contacts.consent_history(
        session, principal, contact_id, limit=paging.limit, offset=paging.offset
    )
