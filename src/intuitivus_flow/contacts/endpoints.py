from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from intuitivus_flow.contacts import schemas
from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.contacts.models import Contact
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
